//! A tiny blocking FastDFS client for the emulator's tests: frames built with
//! `fdfs_client::proto`, sent and read with `fdfs_client::blocking` (the reply rules of
//! `proto::reply`) over a real socket.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

use fdfs_client::blocking::{self, CallError, Peer};
use fdfs_client::proto::{Header, Request, StreamPrefix, UploadReply, UploadRequest};
use fdfs_emu::{Cluster, ClusterBuilder, ClusterConfig};

/// The socket, and whether the last reply announced that the peer closes it.
pub struct Conn(pub TcpStream, bool);

impl Conn {
    pub fn connect(addr: SocketAddrV4) -> Conn {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Conn(s, false)
    }

    /// After a bare EINVAL reply a FastDFS storage closes the connection (the emulator too):
    /// checks that the peer closed it, then connects again to the same address.
    pub fn reopen_after_einval(&mut self) {
        let addr = self.0.peer_addr().expect("peer address");
        assert!(
            self.1,
            "the reply rules should say the storage closes after a bare EINVAL"
        );
        let mut b = [0u8; 1];
        let n = self.0.read(&mut b).unwrap_or(0);
        assert_eq!(n, 0, "the storage should close the connection after EINVAL");
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        (self.0, self.1) = (s, false);
    }

    /// Sends raw bytes, reads one reply.
    pub fn raw(&mut self, frame: &[u8]) -> (Header, Vec<u8>) {
        blocking::send(&mut self.0, frame).unwrap();
        self.read_reply()
    }

    /// One reply, whatever its status (a non-zero one comes with its error body, if any).
    pub fn read_reply(&mut self) -> (Header, Vec<u8>) {
        // The same helper talks to trackers too; the closing flag is only read by
        // `reopen_after_einval`, which tests call after a storage reply.
        match blocking::recv(&mut self.0, Peer::Storage, u64::MAX) {
            Ok(reply) => reply,
            Err(CallError::Status {
                status,
                closes,
                body,
            }) => {
                self.1 = closes;
                (Header::reply(status, body.len() as u64), body)
            }
            Err(e) => panic!("reply: {e}"),
        }
    }

    /// A whole-body request: returns (status, body).
    pub fn call<R: Request>(&mut self, req: &R) -> (u8, Vec<u8>) {
        let (h, b) = self.raw(&req.to_frame());
        (h.status, b)
    }

    /// A command with an arbitrary body.
    pub fn cmd(&mut self, cmd: u8, body: &[u8]) -> (u8, Vec<u8>) {
        let mut f = Header::new(cmd, body.len() as u64).encode().to_vec();
        f.extend_from_slice(body);
        let (h, b) = self.raw(&f);
        (h.status, b)
    }

    /// A streamed request (upload, append, modify...).
    pub fn stream<P: StreamPrefix>(&mut self, p: &P, content: &[u8]) -> (u8, Vec<u8>) {
        let mut f = p.frame_prefix();
        f.extend_from_slice(content);
        let (h, b) = self.raw(&f);
        (h.status, b)
    }
}

/// Seeded pseudo-random bytes.
pub fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

// The vectors' location rule is the integration harness's, shared by every crate's tests (this crate
// cannot depend on the harness, which depends on it). A missing vector fails the test, never skips it.
#[path = "../../../integration/src/vectors.rs"]
mod vectors;
#[allow(unused_imports)]
pub use vectors::vectors_dir;

pub fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

pub const LONG: Duration = Duration::from_secs(20);

/// Logs to the test output with `FDFS_EMU_LOG=debug`.
pub fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FDFS_EMU_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Starts a cluster from the builder's defaults as changed by `configure` (`|b| b` for none).
pub fn start_cluster(configure: impl FnOnce(ClusterBuilder) -> ClusterBuilder) -> Cluster {
    Cluster::start(configure(ClusterConfig::builder()).build())
        .unwrap_or_else(|e| panic!("start cluster: {e}"))
}

/// Uploads `data` to store path 0 on `c`, checks the status is 0 and returns the new name.
pub fn upload(c: &mut Conn, data: &[u8], ext: &str, appender: bool) -> UploadReply {
    let req = UploadRequest {
        store_path_index: 0,
        file_size: data.len() as u64,
        ext: ext.into(),
        appender,
    };
    let (st, body) = c.stream(&req, data);
    assert_eq!(st, 0, "upload status");
    UploadReply::decode(&body).unwrap()
}
