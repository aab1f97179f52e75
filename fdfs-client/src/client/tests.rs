//! Connection layer, pool and tracker failover against tiny fake servers on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::proto::{self, Header, Reply as _, HEADER_LEN};

/// What a fake server does with one request.
#[derive(Clone)]
enum Act {
    /// Send these bytes and keep the connection.
    Send(Vec<u8>),
    /// Send these bytes and close.
    SendClose(Vec<u8>),
    /// Say nothing, keep the connection open.
    Hang,
}

type Handler = Arc<dyn Fn(Header, &[u8]) -> Act + Send + Sync>;

struct Fake {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    cmds: Arc<Mutex<Vec<u8>>>,
}

impl Fake {
    fn server_addr(&self) -> ServerAddr {
        ServerAddr::from(self.addr)
    }

    fn cmds(&self) -> Vec<u8> {
        self.cmds.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

async fn fake(handler: Handler) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let cmds = Arc::new(Mutex::new(Vec::new()));
    let (c2, m2) = (conns.clone(), cmds.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            c2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(sock, handler.clone(), m2.clone()));
        }
    });
    Fake { addr, conns, cmds }
}

async fn serve(mut sock: TcpStream, handler: Handler, cmds: Arc<Mutex<Vec<u8>>>) {
    loop {
        let mut h = [0u8; HEADER_LEN];
        if sock.read_exact(&mut h).await.is_err() {
            return;
        }
        let header = Header::decode(&h);
        // Test requests are small.
        let mut body = vec![0u8; header.body_len.min(1 << 20) as usize];
        if sock.read_exact(&mut body).await.is_err() {
            return;
        }
        if let Ok(mut c) = cmds.lock() {
            c.push(header.cmd);
        }
        if header.cmd == proto::cmd::ACTIVE_TEST {
            let _ = sock.write_all(&Header::reply(0, 0).encode()).await;
            continue;
        }
        match handler(header, &body) {
            Act::Send(b) => {
                if sock.write_all(&b).await.is_err() {
                    return;
                }
            }
            Act::SendClose(b) => {
                let _ = sock.write_all(&b).await;
                return;
            }
            Act::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

fn store_reply() -> Vec<u8> {
    proto::StoreServer {
        group: "group1".into(),
        ip: "127.0.0.11".into(),
        port: 23000,
        store_path_index: 0,
        addr_width: proto::AddrWidth::V4,
    }
    .to_frame()
}

fn good_tracker() -> Handler {
    Arc::new(|_, _| Act::Send(store_reply()))
}

/// An address nobody listens on (bound, then released).
async fn dead_addr() -> ServerAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    ServerAddr::from(a)
}

/// A tracker that sends every query to `storage` (group1), and a client of it; keep the tracker.
async fn client_via_tracker_to(storage: &Fake) -> (Fake, Client) {
    let sa = storage.server_addr();
    let fetch = proto::FetchServer {
        group: "group1".into(),
        ip: sa.host().to_owned(),
        port: sa.port(),
        addr_width: proto::AddrWidth::V4,
    }
    .to_frame();
    let tracker = fake(Arc::new(move |_, _| Act::Send(fetch.clone()))).await;
    let c = client_for(vec![tracker.server_addr()]);
    (tracker, c)
}

fn client_for(trackers: Vec<ServerAddr>) -> Client {
    Client::builder()
        .trackers(trackers)
        .connect_timeout(Duration::from_secs(5))
        .network_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn query_store_decodes_reply_and_reuses_connection() {
    let t = fake(good_tracker()).await;
    let c = client_for(vec![t.server_addr()]);
    for _ in 0..5 {
        let s = c.query_store(None).await.unwrap();
        assert_eq!(s.group, "group1");
        assert_eq!(s.addr.to_string(), "127.0.0.11:23000");
        assert_eq!(s.store_path_index, Some(0));
    }
    assert_eq!(
        t.conns.load(Ordering::SeqCst),
        1,
        "one pooled connection for five calls"
    );
    assert_eq!(c.idle_connections(Role::Tracker, &t.server_addr()), 1);
}

#[tokio::test]
async fn failover_to_the_second_tracker_and_cool_down() {
    let dead = dead_addr().await;
    let t = fake(good_tracker()).await;
    let c = client_for(vec![dead.clone(), t.server_addr()]);
    for _ in 0..20 {
        c.query_store(None).await.unwrap();
    }
    assert!(c.tracker_is_down(&dead));
    assert!(!c.tracker_is_down(&t.server_addr()));
}

#[tokio::test]
async fn all_trackers_down_is_no_tracker() {
    let c = client_for(vec![dead_addr().await, dead_addr().await]);
    let e = c.query_store(None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoTracker, "{e}");
    assert!(matches!(&e, Error::NoTracker { count: 2, .. }));
    // A cooling-down tracker is still tried when nothing else is left.
    let e = c.query_store(None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoTracker);
}

#[tokio::test]
async fn silent_server_times_out() {
    let t = fake(Arc::new(|_, _| Act::Hang)).await;
    let c = Client::builder()
        .tracker(t.server_addr())
        .network_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = c.query_store(None).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(e.addr(), Some(t.server_addr().to_string().as_str()));
}

#[tokio::test]
async fn status_reply_is_an_answer_not_a_failover() {
    let t = fake(Arc::new(|_, _| {
        Act::Send(Header::reply(2, 0).encode().to_vec())
    }))
    .await;
    let t2 = fake(good_tracker()).await;
    let c = client_for(vec![t.server_addr(), t2.server_addr()]);
    let e = c.query_store(Some("nosuchgroup")).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("ENOENT (2)"), "{e}");
    assert!(!c.tracker_is_down(&t.server_addr()));
    // The connection stays usable after a status reply.
    assert_eq!(c.idle_connections(Role::Tracker, &t.server_addr()), 1);
}

#[tokio::test]
async fn hostile_replies_are_errors() {
    let huge = Header::reply(0, 1 << 63).encode().to_vec();
    let mut truncated = Header::reply(0, 40).encode().to_vec();
    truncated.extend_from_slice(b"group1\0\0\0\0");
    let wrong_cmd = Header {
        body_len: 0,
        cmd: proto::cmd::UPLOAD_FILE,
        status: 0,
    }
    .encode()
    .to_vec();
    let mut bad_len = Header::reply(0, 7).encode().to_vec();
    bad_len.extend_from_slice(b"1234567");
    let huge_err = Header::reply(5, 1 << 40).encode().to_vec();
    for (name, bytes, close, kind) in [
        ("2^63 length", huge, false, ErrorKind::Protocol),
        ("truncated body", truncated, true, ErrorKind::Io),
        ("wrong command", wrong_cmd, false, ErrorKind::Protocol),
        (
            "impossible body length",
            bad_len,
            false,
            ErrorKind::Protocol,
        ),
        ("huge error body", huge_err, false, ErrorKind::Protocol),
    ] {
        let t = fake(Arc::new(move |_, _| {
            if close {
                Act::SendClose(bytes.clone())
            } else {
                Act::Send(bytes.clone())
            }
        }))
        .await;
        let c = client_for(vec![t.server_addr()]);
        let e = c.query_store(None).await.unwrap_err();
        let Error::NoTracker { last, .. } = &e else {
            panic!("{name}: {e}")
        };
        assert_eq!(last.kind(), kind, "{name}: {e}");
        assert_eq!(
            c.idle_connections(Role::Tracker, &t.server_addr()),
            0,
            "{name}: connection dropped"
        );
    }
}

#[tokio::test]
async fn stale_pooled_connection_is_replaced() {
    // The server closes after every reply: the pooled connection is dead when reused.
    let t = fake(Arc::new(|_, _| Act::SendClose(store_reply()))).await;
    let c = Client::builder()
        .tracker(t.server_addr())
        .pool_check_after(Duration::from_secs(3600))
        .build()
        .unwrap();
    for _ in 0..3 {
        c.query_store(None).await.unwrap();
    }
    assert!(!c.tracker_is_down(&t.server_addr()));
    assert!(t.conns.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn old_connection_gets_active_test() {
    let t = fake(good_tracker()).await;
    let c = Client::builder()
        .tracker(t.server_addr())
        .pool_check_after(Duration::ZERO)
        .build()
        .unwrap();
    c.query_store(None).await.unwrap();
    c.query_store(None).await.unwrap();
    assert_eq!(
        t.cmds(),
        vec![
            proto::cmd::QUERY_STORE_WITHOUT_GROUP_ONE,
            proto::cmd::ACTIVE_TEST,
            proto::cmd::QUERY_STORE_WITHOUT_GROUP_ONE
        ]
    );
    assert_eq!(t.conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn storage_connection_is_not_reused_after_einval() {
    // A real FastDFS 6.16 storage closes the connection after a bare EINVAL reply (and keeps it after
    // ENOENT). This fake keeps it open either way, so only the client's own rule avoids the reuse.
    let storage = fake(Arc::new(|h, _| {
        let st = if h.cmd == proto::cmd::DELETE_FILE {
            proto::status::ENOENT
        } else {
            proto::status::EINVAL
        };
        Act::Send(Header::reply(st, 0).encode().to_vec())
    }))
    .await;
    let sa = storage.server_addr();
    let (_tracker, c) = client_via_tracker_to(&storage).await;
    let id = "group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg";
    for _ in 0..2 {
        let e = c.delete(id).await.unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }
    assert_eq!(storage.conns.load(Ordering::SeqCst), 1, "kept after ENOENT");
    assert_eq!(c.idle_connections(Role::Storage, &sa), 1);
    let e = c.get_metadata(id).await.unwrap_err();
    assert_eq!(e.status(), Some(proto::status::EINVAL), "{e}");
    assert_eq!(
        c.idle_connections(Role::Storage, &sa),
        0,
        "dropped after EINVAL"
    );
    let e = c.get_metadata(id).await.unwrap_err();
    assert_eq!(e.status(), Some(proto::status::EINVAL), "{e}");
    assert_eq!(
        storage.conns.load(Ordering::SeqCst),
        2,
        "a new connection after EINVAL"
    );
}

#[tokio::test]
async fn huge_download_header_is_refused_for_a_range() {
    // A storage that claims more content than the range asked for.
    let storage = fake(Arc::new(|_, _| {
        Act::Send(Header::reply(0, 1 << 62).encode().to_vec())
    }))
    .await;
    let sa = storage.server_addr();
    let (_tracker, c) = client_via_tracker_to(&storage).await;
    let e = c
        .download_range("group1/M00/00/00/x.jpg", 0, Some(100))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("storage {sa}: download group1/M00/00/00/x.jpg")),
        "{e}"
    );
}

#[tokio::test]
async fn invalid_arguments_fail_before_the_network() {
    let c = client_for(vec![dead_addr().await]);
    for id in ["nogroup", "/M00/x", "group1/"] {
        let e = c.delete(id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{id}: {e}");
    }
    let e = c
        .upload(b"x", &UploadOptions::new().ext("toolong"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(Client::builder().build().is_err());
}

#[tokio::test]
async fn ipv6_tracker_and_ipv6_storage_addresses() {
    // Skip where the host has no IPv6 loopback.
    let Ok(listener) = TcpListener::bind("[::1]:0").await else {
        eprintln!("SKIP ipv6: no ::1");
        return;
    };
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let reply = proto::StoreServer {
        group: "group1".into(),
        ip: "fe80::1".into(),
        port: 23000,
        store_path_index: 1,
        addr_width: proto::AddrWidth::V6,
    }
    .to_frame();
    let l = TcpListener::bind(addr).await.unwrap();
    let handler: Handler = Arc::new(move |_, _| Act::Send(reply.clone()));
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            tokio::spawn(serve(
                sock,
                handler.clone(),
                Arc::new(Mutex::new(Vec::new())),
            ));
        }
    });
    let tracker: ServerAddr = format!("[::1]:{}", addr.port()).parse().unwrap();
    let c = client_for(vec![tracker]);
    let s = c.query_store(None).await.unwrap();
    assert_eq!(s.addr.host(), "fe80::1");
    assert_eq!(s.addr.to_string(), "[fe80::1]:23000");
    assert_eq!(s.store_path_index, Some(1));
}

#[tokio::test]
async fn a_hung_tracker_is_skipped_after_one_timeout() {
    let hung = fake(Arc::new(|_, _| Act::Hang)).await;
    let good = fake(good_tracker()).await;
    let c = Client::builder()
        .trackers([hung.server_addr(), good.server_addr()])
        .network_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for _ in 0..20 {
        c.query_store(None).await.unwrap();
    }
    assert!(c.tracker_is_down(&hung.server_addr()));
    // Asked once, then skipped during the cool-down.
    assert_eq!(hung.cmds().len(), 1);
}

#[tokio::test]
async fn upload_with_bad_metadata_sends_nothing() {
    // Before, the file was stored and only the SET_METADATA after it was refused.
    let t = fake(good_tracker()).await;
    let s = fake(Arc::new(|_, _| Act::Hang)).await;
    let c = client_for(vec![t.server_addr()]);
    for opts in [
        UploadOptions::new().meta("", "v"),
        UploadOptions::new().meta("k", "a\x02b"),
        UploadOptions::new()
            .storage(s.server_addr())
            .meta("n".repeat(65), "v"),
    ] {
        let e = c.upload(b"data", &opts).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    assert!(t.cmds().is_empty() && s.cmds().is_empty());
}

/// Every public call can run on a multi-threaded runtime (`tokio::spawn`).
#[allow(dead_code, clippy::let_underscore_future)]
fn futures_are_send(
    c: Client,
    mut sink: Vec<u8>,
    mut src: &'static [u8],
    mut s: DownloadStream,
    mut pieces: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
) {
    fn send<T: Send>(_: T) {}
    let o = UploadOptions::new();
    send(c.upload(b"", &o));
    send(c.upload_file("/x", &o));
    send(c.upload_reader(&mut src, 0, &o));
    send(c.upload_chunks(&mut pieces, 0, &o));
    send(c.download(""));
    send(c.download_range("", 0, None));
    send(c.download_to("", 0, None, &mut sink));
    send(c.download_stream("", 0, None));
    send(s.next_chunk());
    send(c.delete(""));
    send(c.set_metadata("", [("a", "b")], MetaOp::Merge));
    send(c.get_metadata(""));
    send(c.file_info(""));
    send(c.append("", b""));
    send(c.append_chunks("", &mut pieces, 0));
    send(c.modify("", 0, b""));
    send(c.truncate("", 0));
    send(c.regenerate_appender_filename(""));
    send(c.query_store(None));
    send(c.query_fetch_all(""));
    send(c.cluster());
    send(c.storage_ids());
    send(c.storage_parameters());
}
