//! Hostile input: every command with random bodies gets an answer (or a clean close), never a
//! crashed connection task, and the servers keep working.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{bytes, start_cluster, Conn};
use fdfs_client::proto::{cmd, Header, HEADER_LEN};

/// Sends `frame` on a new connection; returns the reply header, or `None` if the server closed
/// the connection without one.
fn probe(addr: SocketAddrV4, frame: &[u8]) -> Option<Header> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer and close before reading everything: write errors are fine.
    let _ = s.write_all(frame);
    // Half-close: a request that wants more content than sent sees EOF instead of waiting.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut hb = [0u8; HEADER_LEN];
    match s.read_exact(&mut hb) {
        Ok(()) => Some(Header::decode(&hb)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            None
        }
        Err(e) => panic!("no answer and no close: {e}"),
    }
}

static EMU_PANICS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn random_frames_never_break_the_servers() {
    common::init_log();
    // Count panics on the emulator's runtime threads (a panicking connection task would only
    // look like a closed connection from outside).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("fdfs-emu"))
        {
            EMU_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        default_hook(info)
    }));
    let c = start_cluster(|b| b.storages_per_group(2).trunk(true));
    let storage = c.storages()[0].addr();
    let tracker = c.trackers()[0];
    let storage_cmds = [
        cmd::UPLOAD_FILE,
        cmd::UPLOAD_APPENDER_FILE,
        cmd::UPLOAD_SLAVE_FILE,
        cmd::APPEND_FILE,
        cmd::MODIFY_FILE,
        cmd::TRUNCATE_FILE,
        cmd::DOWNLOAD_FILE,
        cmd::DELETE_FILE,
        cmd::SET_METADATA,
        cmd::GET_METADATA,
        cmd::QUERY_FILE_INFO,
        cmd::REGENERATE_APPENDER_FILENAME,
        cmd::ACTIVE_TEST,
        0,
        255,
    ];
    let tracker_cmds = [
        cmd::QUERY_STORE_WITHOUT_GROUP_ONE,
        cmd::QUERY_STORE_WITH_GROUP_ONE,
        cmd::QUERY_STORE_WITH_GROUP_ALL,
        cmd::QUERY_FETCH_ONE,
        cmd::QUERY_FETCH_ALL,
        cmd::QUERY_UPDATE,
        cmd::SERVER_LIST_ONE_GROUP,
        cmd::SERVER_LIST_ALL_GROUPS,
        cmd::SERVER_LIST_STORAGE,
        cmd::STORAGE_PARAMETER_REQ,
        cmd::STORAGE_FETCH_STORAGE_IDS,
        cmd::SERVER_GET_LEADER,
        cmd::SERVER_TRACKER_CLUSTER_STAT,
        7,
    ];
    let mut seed = 1u32;
    for (addr, cmds) in [(storage, &storage_cmds[..]), (tracker, &tracker_cmds[..])] {
        for &code in cmds {
            for len in [0usize, 1, 5, 16, 17, 40, 60, 77, 200] {
                seed += 1;
                let mut body = bytes(len, seed);
                // Half the time, make it look like a name-bearing request.
                if seed.is_multiple_of(2) && len >= 60 {
                    body[..6].copy_from_slice(b"group1");
                    body[6..16].fill(0);
                    body[16..26].copy_from_slice(b"M00/00/00/");
                }
                let mut frame = Header::new(code, len as u64).encode().to_vec();
                frame.extend_from_slice(&body);
                if let Some(h) = probe(addr, &frame) {
                    assert_eq!(h.cmd, cmd::RESP);
                }
                // Lying lengths: declared longer than sent.
                let mut frame = Header::new(code, len as u64 + 1000).encode().to_vec();
                frame.extend_from_slice(&body);
                if let Some(h) = probe(addr, &frame) {
                    assert_eq!(h.cmd, cmd::RESP);
                }
            }
        }
    }
    assert_eq!(
        EMU_PANICS.load(Ordering::SeqCst),
        0,
        "emulator tasks panicked"
    );
    // Still alive and well.
    assert_eq!(Conn::connect(storage).cmd(cmd::ACTIVE_TEST, &[]).0, 0);
    assert_eq!(Conn::connect(tracker).cmd(cmd::ACTIVE_TEST, &[]).0, 0);
}
