//! End-to-end tests of `fdfs-edge`: the real binary, real sockets, tiny HTTP origins standing in for
//! the storages. See `fdfs_integration::edge` for how the binary is found.
//!
//! Nothing here asserts on timing. Where a test waits for something asynchronous (an active health
//! check noticing a dead storage) it polls with a generous deadline.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fdfs_emu::{Cluster, ClusterConfig};
use fdfs_integration::cluster::TestCluster;
use fdfs_integration::edge::{
    cluster_client, pattern_byte, small_body, trackers_table, Edge, EdgeConfig, Origin, MODE_502,
};
use fdfs_integration::http::{fnv, http, http_streamed, Response};
use fdfs_integration::wait::eventually_async;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

async fn get(edge: &Edge, path: &str) -> Response {
    http(edge.listen, "GET", path, &[], None)
        .await
        .expect("GET")
}

async fn req(edge: &Edge, method: &str, path: &str, extra: &[&str]) -> Response {
    http(edge.listen, method, path, extra, None)
        .await
        .expect("request")
}

fn body_of(path: &str) -> Vec<u8> {
    small_body("0.0.0.0:0".parse().expect("addr"), path)
}

/// The bytes the origin serves for `?size=<len>`.
fn pattern_body(len: u64) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

/// The text of the edge's `/metrics`.
async fn metrics_text(edge: &Edge) -> String {
    let m = http(edge.admin, "GET", "/metrics", &[], None)
        .await
        .expect("metrics");
    String::from_utf8_lossy(&m.body).to_string()
}

/// Opens a connection and sends `GET path` on it (Connection: close); the caller reads the answer.
async fn send_get(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn miss_then_hit_with_same_bytes_and_headers() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/00/00/a.txt";

    let r1 = http(
        edge.listen,
        "GET",
        p,
        &["X-Forwarded-For: 198.51.100.7", "Host: files.example.com"],
        None,
    )
    .await
    .expect("GET");
    assert_eq!(r1.status, 200);
    assert_eq!(r1.cache_status(), "MISS");
    assert_eq!(r1.body, body_of(p));
    assert_eq!(r1.header("cache-control"), Some("max-age=2592000"));
    assert!(r1.header("expires").is_some());
    // Host passed through, X-Real-IP and X-Forwarded-For like nginx
    assert_eq!(o.last_header("host").as_deref(), Some("files.example.com"));
    assert_eq!(o.last_header("x-real-ip").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        o.last_header("x-forwarded-for").as_deref(),
        Some("198.51.100.7, 127.0.0.1")
    );

    let r2 = get(&edge, p).await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.cache_status(), "HIT");
    assert_eq!(r2.body, r1.body);
    assert_eq!(o.count(p), 1);

    // a third request is served from memory: same headers, spelled as nginx spells them
    let r_mem = get(&edge, p).await;
    assert_eq!(r_mem.cache_status(), "HIT");
    assert_eq!(r_mem.body, r1.body);
    for r in [&r1, &r2, &r_mem] {
        for name in [
            "X-Cache-Status",
            "Expires",
            "Cache-Control",
            "Content-Length",
        ] {
            assert!(
                r.headers.iter().any(|(k, _)| k == name),
                "{name} not spelled so in {:?}",
                r.headers
            );
        }
    }
    assert!(r_mem.headers.iter().any(|(k, _)| k == "Age"));

    // HEAD on a cached object: headers only, still a hit
    let h = req(&edge, "HEAD", p, &[]).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.cache_status(), "HIT");
    assert!(h.body.is_empty());

    // query string is part of the key
    let r3 = get(&edge, "/group1/M00/00/00/a.txt?v=2").await;
    assert_eq!(r3.cache_status(), "MISS");
    assert_eq!(o.count("/group1/M00/00/00/a.txt?v=2"), 1);

    // POST is not cached
    let r4 = req(&edge, "POST", p, &["Content-Length: 0"]).await;
    assert_eq!(r4.status, 200);
    assert_eq!(r4.cache_status(), "BYPASS");

    // conditional request answered from cache
    let etag = r2.header("etag").expect("etag").to_string();
    let inm = format!("If-None-Match: {etag}");
    let r5 = req(&edge, "GET", p, &[&inm]).await;
    assert_eq!(r5.status, 304);
    assert_eq!(o.count(p), 2, "one GET (then cached) and the POST");

    let log = edge.access_log();
    assert!(log.contains(&format!("\"GET {p} HTTP/1.1\" 200")), "{log}");
    assert!(log.contains("cache=HIT"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_method_and_path_form() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/00/01/b.jpg";

    assert_eq!(
        req(&edge, "PURGE", p, &[]).await.status,
        404,
        "nothing cached yet"
    );
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
    assert_eq!(get(&edge, p).await.cache_status(), "HIT");
    assert_eq!(req(&edge, "PURGE", p, &[]).await.status, 200);
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
    assert_eq!(get(&edge, p).await.cache_status(), "HIT");
    assert_eq!(get(&edge, &format!("/purge{p}")).await.status, 200);
    assert_eq!(get(&edge, &format!("/purge{p}")).await.status, 404);
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
    assert_eq!(o.count(p), 3);

    // with a query string: the key includes it; a purge of the path takes its query variants
    // with it, and one of a key with a query that key alone
    let path = "/group1/M00/00/01/c.jpg";
    let q = "/group1/M00/00/01/c.jpg?w=100";
    for k in [path, q, "/group1/M00/00/01/c.jpg?w=200"] {
        assert_eq!(get(&edge, k).await.cache_status(), "MISS", "{k}");
    }
    assert_eq!(req(&edge, "PURGE", q, &[]).await.status, 200);
    assert_eq!(get(&edge, path).await.cache_status(), "HIT");
    let all = req(&edge, "PURGE", path, &[]).await;
    assert_eq!(all.status, 200);
    let text = String::from_utf8_lossy(&all.body);
    assert!(text.contains("2 object(s)"), "{text}");
    assert_eq!(
        get(&edge, "/group1/M00/00/01/c.jpg?w=200")
            .await
            .cache_status(),
        "MISS"
    );
    assert_eq!(req(&edge, "PURGE", q, &[]).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prefix_purge_and_purge_all() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(
        &EdgeConfig::default()
            .group("group1", &[o.addr])
            .group("group2", &[o.addr]),
    );
    let keys = [
        "/group1/M00/00/0A/x1",
        "/group1/M00/00/0A/x2",
        "/group1/M00/00/0B/y1",
        "/group2/M00/00/0A/z1",
    ];
    for k in keys {
        assert_eq!(get(&edge, k).await.cache_status(), "MISS");
    }
    assert_eq!(
        req(&edge, "PURGE", "/group1/M00/00/0A/*", &[]).await.status,
        200
    );
    assert_eq!(get(&edge, keys[0]).await.cache_status(), "MISS");
    assert_eq!(get(&edge, keys[1]).await.cache_status(), "MISS");
    assert_eq!(get(&edge, keys[2]).await.cache_status(), "HIT");
    assert_eq!(get(&edge, keys[3]).await.cache_status(), "HIT");
    assert_eq!(req(&edge, "PURGE", "/group9/*", &[]).await.status, 404);
    // purge all, path form
    assert_eq!(get(&edge, "/purge/*").await.status, 200);
    for k in keys {
        assert_eq!(get(&edge, k).await.cache_status(), "MISS", "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_from_a_not_allowed_address_is_forbidden() {
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.purge_allow = vec!["127.0.0.1/32".into()];
    let edge = Edge::start(&cfg);
    let p = "/group1/M00/00/02/c.png";
    get(&edge, p).await;
    let other = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let r = http(edge.listen, "PURGE", p, &[], other)
        .await
        .expect("purge");
    assert_eq!(r.status, 403);
    let r = http(edge.listen, "GET", &format!("/purge{p}"), &[], other)
        .await
        .expect("purge");
    assert_eq!(r.status, 403);
    // still cached; normal GETs from that address are fine
    let r = http(edge.listen, "GET", p, &[], other).await.expect("get");
    assert_eq!(r.cache_status(), "HIT");
    assert_eq!(req(&edge, "PURGE", p, &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn groups_route_only_to_their_storages() {
    let a1 = Origin::start(LO).await;
    let a2 = Origin::start(LO).await;
    let b1 = Origin::start(LO).await;
    let edge = Edge::start(
        &EdgeConfig::default()
            .group("group1", &[a1.addr, a2.addr])
            .group("group2", &[b1.addr]),
    );
    for i in 0..10 {
        assert_eq!(
            get(&edge, &format!("/group1/M00/00/00/f{i}")).await.status,
            200
        );
        assert_eq!(
            get(&edge, &format!("/group2/M00/00/00/f{i}")).await.status,
            200
        );
    }
    assert_eq!(a1.total() + a2.total(), 10);
    assert_eq!(b1.total(), 10);
    // round robin spreads group1 over both storages
    assert_eq!(a1.total(), 5);
    assert_eq!(a2.total(), 5);
    // unknown group: 404, no upstream call
    let r = get(&edge, "/group3/M00/00/00/f0").await;
    assert_eq!(r.status, 404);
    assert_eq!(get(&edge, "/").await.status, 404);
    assert_eq!(a1.total() + a2.total() + b1.total(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storage_killed_during_a_run_loses_no_request() {
    let o1 = Origin::start(LO).await;
    let mut o2 = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o1.addr, o2.addr]));
    for i in 0..60 {
        if i == 20 {
            o2.kill();
        }
        let p = format!("/group1/M00/01/00/k{i}");
        let r = get(&edge, &p).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body, body_of(&p));
    }
    // failed tries reach nobody, so every request was served by exactly one storage
    assert_eq!(o1.total() + o2.total(), 60);
    let text = metrics_text(&edge).await;
    assert!(
        text.contains(&format!(
            "fdfs_edge_upstream_failures_total{{group=\"group1\",storage=\"{}\"}}",
            o2.addr
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn next_upstream_on_502() {
    let good = Origin::start(LO).await;
    let bad = Origin::start(LO).await;
    bad.mode.store(MODE_502, Ordering::SeqCst);
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[bad.addr, good.addr]));
    for i in 0..8 {
        let p = format!("/group1/M00/02/00/n{i}");
        let r = get(&edge, &p).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body, body_of(&p));
    }
    assert_eq!(good.total(), 8);
    // a group whose only storage answers 502: the 502 goes through, not cached
    let edge2 = Edge::start(&EdgeConfig::default().group("group1", &[bad.addr]));
    let r = get(&edge2, "/group1/M00/02/00/z").await;
    assert_eq!(r.status, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_storages_down_cached_objects_still_served() {
    let mut o1 = Origin::start(LO).await;
    let mut o2 = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o1.addr, o2.addr]));
    let paths: Vec<String> = (0..6).map(|i| format!("/group1/M00/03/00/s{i}")).collect();
    for p in &paths {
        assert_eq!(get(&edge, p).await.cache_status(), "MISS");
    }
    o1.kill();
    o2.kill();
    for p in &paths {
        let r = get(&edge, p).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.cache_status(), "HIT");
        assert_eq!(r.body, body_of(p));
    }
    // not cached: 502
    assert_eq!(get(&edge, "/group1/M00/03/00/never").await.status, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_if_error_when_the_group_is_down() {
    let mut o = Origin::start(LO).await;
    o.extra_headers
        .lock()
        .expect("lock")
        .push("Cache-Control: max-age=0".into());
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/04/00/stale";
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
    // expired at once: the next request revalidates with the storage (If-None-Match -> 304)
    let r = get(&edge, p).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_status(), "REVALIDATED");
    assert_eq!(r.body, body_of(p));
    assert_eq!(o.count(p), 2);
    o.kill();
    let r = get(&edge, p).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_status(), "STALE");
    assert_eq!(r.body, body_of(p));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_survives_restart() {
    let o = Origin::start(LO).await;
    let mut edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/05/00/r.bin?size=300000";
    let r1 = get(&edge, p).await;
    assert_eq!(r1.cache_status(), "MISS");
    get(&edge, "/group1/M00/05/00/other").await;
    edge.restart();
    let r2 = get(&edge, p).await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.cache_status(), "HIT");
    assert_eq!(r2.body, r1.body);
    assert_eq!(o.count(p), 1);
    // prefix purge knows the entries found on disk at start
    assert_eq!(
        req(&edge, "PURGE", "/group1/M00/05/*", &[]).await.status,
        200
    );
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn hundred_concurrent_cold_requests_one_upstream_fetch() {
    let o = Origin::start(LO).await;
    o.delay_ms.store(300, Ordering::SeqCst);
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/06/00/hot.bin?size=100000";
    let listen = edge.listen;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        tasks.push(tokio::spawn(async move {
            http(listen, "GET", p, &[], None).await.expect("GET")
        }));
    }
    let expected = pattern_body(100_000u64);
    for t in tasks {
        let r = t.await.expect("task");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, expected);
    }
    assert_eq!(o.count(p), 1, "exactly one upstream fetch");
}

/// Readers of an object still being fetched are served from the fill as it is written: while the
/// storage is stalled halfway, a second reader already has the header and the first half, and one
/// upstream fetch serves everybody (nginx's `proxy_cache_lock` makes them wait for the whole body,
/// then after `proxy_cache_lock_timeout` sends each to the storage).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_stream_an_object_while_it_is_fetched() {
    let o = Origin::start(LO).await;
    o.hold.store(true, Ordering::SeqCst);
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let size = 4u64 << 20;
    let p = format!("/group1/M00/06/01/stalled.bin?size={size}&hold=1");
    let listen = edge.listen;
    let first = {
        let p = p.clone();
        tokio::spawn(async move { http(listen, "GET", &p, &[], None).await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    eventually_async(
        Duration::from_secs(30),
        "the fetch never reached the origin",
        || async { o.count(&p) > 0 },
    )
    .await;
    // A second reader gets the header and the first half while the storage is stalled.
    let mut s = send_get(listen, &p).await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let half = (size / 2) as usize;
    let body_start = loop {
        if let Some(h) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if got.len() >= h + 4 + half {
                break h + 4;
            }
        }
        let n = tokio::time::timeout_at(deadline.into(), s.read(&mut buf))
            .await
            .expect("the first half never came while the storage was stalled")
            .expect("read");
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    };
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got[..40])
    );
    let text = metrics_text(&edge).await;
    assert!(
        text.contains("\nfdfs_edge_cache_fills_in_progress 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\nfdfs_edge_requests_in_flight 2\n"),
        "{text}"
    );
    o.hold.store(false, Ordering::SeqCst);
    s.read_to_end(&mut got).await.expect("read the rest");
    let expected = pattern_body(size);
    assert!(
        got[body_start..] == expected[..],
        "second reader's body differs"
    );
    let r = first.await.expect("task").expect("first GET");
    assert_eq!(r.status, 200);
    assert!(r.body == expected, "first reader's body differs");
    assert_eq!(o.count(&p), 1, "one upstream fetch for both readers");
    let r = get(&edge, &p).await;
    assert_eq!(r.cache_status(), "HIT");
    assert!(r.body == expected);
}

/// The client whose request fetches an object goes away halfway: the fill goes on for the reader
/// that shares it, and the object ends up cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fill_survives_its_first_client_leaving() {
    let o = Origin::start(LO).await;
    o.hold.store(true, Ordering::SeqCst);
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let size = 4u64 << 20;
    let p = format!("/group1/M00/06/02/left.bin?size={size}&hold=1");
    let mut first = send_get(edge.listen, &p).await;
    let mut buf = vec![0u8; 64 << 10];
    let n = first.read(&mut buf).await.expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let listen = edge.listen;
    let second = {
        let p = p.clone();
        tokio::spawn(async move { http(listen, "GET", &p, &[], None).await })
    };
    eventually_async(
        Duration::from_secs(30),
        "the second reader never started",
        || async {
            metrics_text(&edge)
                .await
                .contains("\nfdfs_edge_requests_in_flight 2\n")
        },
    )
    .await;
    drop(first);
    o.hold.store(false, Ordering::SeqCst);
    let r = second.await.expect("task").expect("second GET");
    let expected = pattern_body(size);
    assert_eq!(r.status, 200);
    assert!(
        r.body == expected,
        "second reader's body differs ({} bytes)",
        r.body.len()
    );
    assert_eq!(o.count(&p), 1);
    let r = get(&edge, &p).await;
    assert_eq!(r.cache_status(), "HIT");
    assert!(r.body == expected);
}

/// A HEAD for a cold object (nginx converts it to a GET upstream and caches the answer), then a
/// GET, a GET for a large one while its HEAD fill may still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn head_of_a_cold_object_then_get() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    for (p, len) in [
        ("/group1/M00/0E/00/small.bin?size=3000", 3000u64),
        ("/group1/M00/0E/00/large.bin?size=3000000", 3_000_000),
    ] {
        let h = req(&edge, "HEAD", p, &[]).await;
        assert_eq!(h.status, 200);
        assert!(h.body.is_empty());
        assert_eq!(h.header("content-length"), Some(len.to_string().as_str()));
        let g = get(&edge, p).await;
        assert_eq!(g.status, 200);
        let expected = pattern_body(len);
        assert!(
            g.body == expected,
            "{p}: body differs ({} bytes)",
            g.body.len()
        );
        let g = get(&edge, p).await;
        assert_eq!(g.cache_status(), "HIT");
        assert!(g.body == expected);
    }
}

/// `[response] gzip` as nginx `gzip on`: text types for clients that accept gzip, from the cache
/// (the stored copy stays plain), never other types.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gzip_for_text_types_and_clients_that_accept_it() {
    use std::io::Read;
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.response_extra = "gzip = true\ngzip_types = [\"text/plain\"]\n".into();
    let edge = Edge::start(&cfg);
    let p = "/group1/M00/0D/00/notes.txt";
    let gunzip = |body: &[u8]| {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("gzip body");
        out
    };
    let gz = ["Accept-Encoding: gzip, deflate"];
    // MISS, then a hit read from disk, then a hit from memory (the fast path)
    for expected_status in ["MISS", "HIT", "HIT"] {
        let r = req(&edge, "GET", p, &gz).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.cache_status(), expected_status);
        assert_eq!(
            r.header("content-encoding"),
            Some("gzip"),
            "{expected_status}"
        );
        assert!(r
            .header("vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
        assert_eq!(gunzip(&r.body), body_of(p));
        let plain = req(&edge, "GET", p, &[]).await;
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(plain.body, body_of(p));
    }
    assert_eq!(o.count(p), 1);
    // not a gzip type: sent as it is
    let bin = "/group1/M00/0D/00/photo.bin?size=5000";
    for _ in 0..2 {
        let r = req(&edge, "GET", bin, &gz).await;
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.body.len(), 5000);
    }
    // a Range is answered from the plain bytes
    let r = req(
        &edge,
        "GET",
        p,
        &["Accept-Encoding: gzip", "Range: bytes=0-9"],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, &body_of(p)[..10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn range_request_on_a_cached_object() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/07/00/range.bin?size=500000";
    let full = get(&edge, p).await;
    assert_eq!(full.body.len(), 500_000);
    let r = req(&edge, "GET", p, &["Range: bytes=100000-100099"]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.cache_status(), "HIT");
    assert_eq!(r.body, &full.body[100_000..100_100]);
    assert_eq!(
        r.header("content-range"),
        Some("bytes 100000-100099/500000")
    );
    let r = req(&edge, "GET", p, &["Range: bytes=-10"]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &full.body[499_990..]);
    let r = req(&edge, "GET", p, &["Range: bytes=600000-"]).await;
    assert_eq!(r.status, 416);
    assert_eq!(o.count(p), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn big_object_streams_with_bounded_memory() {
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.threads = 1;
    let edge = Edge::start(&cfg);
    let n: u64 = 300 << 20;
    let p = format!("/group1/M00/08/00/big.bin?size={n}");
    let mut want = 0xcbf29ce484222325u64;
    for i in 0..n {
        want = (want ^ u64::from(pattern_byte(i))).wrapping_mul(0x100000001b3);
    }
    let (st, h, len, hash) = http_streamed(edge.listen, &p).await.expect("GET big");
    assert_eq!(st, 200);
    assert_eq!(len, n);
    assert_eq!(hash, want);
    assert!(h
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-cache-status") && v == "MISS"));
    let (st, h, len, hash) = http_streamed(edge.listen, &p).await.expect("GET big again");
    assert_eq!(st, 200);
    assert_eq!((len, hash), (n, want));
    assert!(h
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-cache-status") && v == "HIT"));
    let peak = edge.peak_rss_kib();
    eprintln!("fdfs-edge peak RSS after 2 x 300 MiB: {peak} KiB");
    assert!(peak > 0 && peak < 150 * 1024, "peak RSS {peak} KiB");
    assert_eq!(o.count(&p), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    assert_eq!(get(&edge, "/nothing/here").await.status, 404);
    assert_eq!(get(&edge, "/group1/../etc/passwd").await.status, 400);
    assert_eq!(
        get(&edge, "/group1/M00/%2e%2e/%2e%2e/etc/passwd")
            .await
            .status,
        400
    );
    let huge = format!("X-Big: {}", "a".repeat(200 * 1024));
    let r = http(edge.listen, "GET", "/group1/M00/00/00/a", &[&huge], None).await;
    match r {
        Ok(r) => assert!(r.status == 431 || r.status == 400, "status {}", r.status),
        // a server may also just close the connection on an oversized header
        Err(e) => eprintln!("oversized header: connection error {e}"),
    }
    let big_body = "Content-Length: 400000000";
    let r = req(&edge, "POST", "/group1/M00/00/00/a", &[big_body]).await;
    assert_eq!(r.status, 413);
    assert_eq!(o.total(), 0, "no bad request reached a storage");
    // still serving
    assert_eq!(get(&edge, "/group1/M00/00/00/ok").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_endpoints_metrics_and_check() {
    let mut o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    get(&edge, "/group1/M00/09/00/m").await;
    // The client may have the whole body before the fill is stored: wait for it, so that the
    // next GET is a hit of the stored object (read from disk into memory), not one of the fill.
    eventually_async(Duration::from_secs(30), "the fill never ended", || async {
        series(
            &metrics_text(&edge).await,
            "fdfs_edge_cache_fills_in_progress",
        ) == Some(0.0)
    })
    .await;
    get(&edge, "/group1/M00/09/00/m").await;
    let h = http(edge.admin, "GET", "/healthz", &[], None)
        .await
        .expect("healthz");
    assert_eq!(h.status, 200);
    let r = http(edge.admin, "GET", "/readyz", &[], None)
        .await
        .expect("readyz");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let out = edge.run_cli(&["check"]);
    assert!(out.status.success(), "{out:?}");
    let text = metrics_text(&edge).await;
    for needle in [
        "fdfs_edge_requests_total{status=\"200\",cache=\"MISS\"} 1",
        "fdfs_edge_requests_total{status=\"200\",cache=\"HIT\"} 1",
        "fdfs_edge_upstream_attempts_total{group=\"group1\"",
        "fdfs_edge_upstream_healthy{group=\"group1\"",
        "fdfs_edge_cache_objects 1",
        "fdfs_edge_cache_size_bytes",
        "fdfs_edge_cache_evictions_total 0",
        "fdfs_edge_cache_purged_total 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // The memory tier: the first hit read the small object from disk (a memory miss) into
    // memory, from which the next GET is answered (a memory hit).
    let memory = |text: &str| {
        let v = |name| series(text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
        (
            v("fdfs_edge_cache_memory_hits_total"),
            v("fdfs_edge_cache_memory_misses_total"),
        )
    };
    assert_eq!(memory(&text), (0.0, 1.0), "after a MISS and a HIT");
    assert_eq!(
        get(&edge, "/group1/M00/09/00/m").await.cache_status(),
        "HIT"
    );
    assert_eq!(
        memory(&metrics_text(&edge).await),
        (1.0, 1.0),
        "a repeated small GET is a memory hit"
    );
    // the only storage dies: the active check notices, /readyz and `check` say not ready
    o.kill();
    let r = eventually_async(
        Duration::from_secs(60),
        "readyz never turned 503",
        || async {
            let r = http(edge.admin, "GET", "/readyz", &[], None)
                .await
                .expect("readyz");
            (r.status == 503).then_some(r)
        },
    )
    .await;
    assert!(String::from_utf8_lossy(&r.body).contains("no healthy storage"));
    let out = edge.run_cli(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // cached content is still served
    assert_eq!(
        get(&edge, "/group1/M00/09/00/m").await.cache_status(),
        "HIT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_test_flag() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let out = edge.run_cli(&["-t"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("test is successful"));

    let good = std::fs::read_to_string(&edge.conf_path).expect("read conf");
    let cases = [
        ("threads = 2", "threads = 2\nbogus_key = 1", "bogus_key"),
        ("valid = \"12h\"", "valid = \"12 parsecs\"", "duration"),
        ("max_size = \"1GiB\"", "max_size = \"1 lightyear\"", "size"),
        ("127.0.0.1/32", "127.0.0.1/99", "CIDR"),
    ];
    for (from, to, needle) in cases {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        let path = edge.dir.path().join("bad.toml");
        std::fs::write(&path, &bad).expect("write");
        let line = bad
            .lines()
            .position(|l| l.contains(to.lines().last().unwrap_or(to)))
            .map(|i| i + 1)
            .expect("line");
        let out = std::process::Command::new(fdfs_integration::edge::edge_bin())
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("bad.toml:{line}:")),
            "line {line} not in: {err}"
        );
        assert!(err.contains(needle), "{needle} not in: {err}");
        assert!(err.contains("test failed"), "{err}");
    }
    let _ = fnv(b"");
}

/// `-t` names the line of the value that is wrong when its key (or its value) is written more
/// than once in the file: the second group's `weight`, not the first line that says `weight`.
#[test]
fn config_test_names_the_line_of_a_repeated_key() {
    let edge = Edge::with_toml(|d, listen, admin| {
        format!(
            "[server]\nlisten = [\"{listen}\"]\npid_file = \"{}\"\nupgrade_sock = \"{}\"\n\n\
             [admin]\nlisten = \"{admin}\"\n\n\
             [[group]]\nname = \"group1\"\nstorages = [{{ addr = \"10.0.9.1:80\", weight = 2 }}]\n\n\
             [[group]]\nname = \"group2\"\nstorages = [\n    \"10.0.9.2:80\",\n    \
             {{ addr = \"10.0.9.3:80\", weight = 3 }},\n]\n\n\
             [trackers]\nservers = [\"127.0.0.1:22122\"]\ntimeout = \"1s\"\n\n\
             [health]\ntimeout = \"1s\"\n\n\
             [cache]\ndir = \"{}\"\n",
            d.join("edge.pid").display(),
            d.join("upgrade.sock").display(),
            d.join("cache").display(),
        )
    });
    let out = edge.run_cli(&["-t"]);
    assert!(out.status.success(), "{out:?}");
    let good = std::fs::read_to_string(&edge.conf_path).expect("read conf");
    // (replace, with, the line that must be named: the `nth` line containing `at`, from 0)
    let cases = [
        ("weight = 3", "weight = 0", "weight", 1),
        ("weight = 2", "weight = 0", "weight", 0),
        ("\"group2\"", "\"group1\"", "\"group1\"", 1),
        ("\"10.0.9.3:80\"", "\"10.0.9.2:80\"", "\"10.0.9.2:80\"", 1),
        (
            "[health]\ntimeout = \"1s\"",
            "[health]\ntimeout = \"0s\"",
            "timeout",
            1,
        ),
    ];
    for (from, to, at, nth) in cases {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        let line = 1 + bad
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(at))
            .nth(nth)
            .map(|(i, _)| i)
            .expect("line");
        let (code, err) = config_test(&edge, &bad);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains(&format!("variant.toml:{line}:")),
            "{to}: line {line} not in: {err}"
        );
        assert!(err.contains("test failed"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracker_discovery_routes_by_group_and_survives_tracker_outage() {
    let cluster = Cluster::start(
        ClusterConfig::builder()
            .groups(2)
            .storages_per_group(2)
            .first_storage_ip(Ipv4Addr::new(127, 0, 7, 11))
            .build(),
    )
    .expect("emulator");
    // One HTTP origin per storage IP, all on the same port (trackers do not report HTTP ports).
    let ips: Vec<(String, Ipv4Addr)> = cluster
        .storages()
        .iter()
        .map(|s| (s.group.clone(), s.ip))
        .collect();
    let mut origins = Vec::new();
    let mut port = 0;
    for _ in 0..50 {
        port = fdfs_integration::net::free_port(ips[0].1);
        origins.clear();
        for (_, ip) in &ips {
            match Origin::start_on((*ip, port).into()).await {
                Ok(o) => origins.push(o),
                Err(_) => break,
            }
        }
        if origins.len() == ips.len() {
            break;
        }
    }
    assert_eq!(origins.len(), ips.len(), "no common free port");
    let trackers: Vec<String> = cluster
        .tracker_socket_addrs()
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    let cfg = EdgeConfig {
        extra: format!(
            "[trackers]\nservers = [{}]\nrefresh = \"1s\"\ntimeout = \"1s\"\nhttp_port = {port}\n",
            trackers.join(", ")
        ),
        ..EdgeConfig::default()
    };
    let edge = Edge::start(&cfg);
    let count_group = |g: &str| -> u64 {
        ips.iter()
            .zip(&origins)
            .filter(|((grp, _), _)| grp == g)
            .map(|(_, o)| o.total())
            .sum()
    };
    for i in 0..6 {
        assert_eq!(
            get(&edge, &format!("/group1/M00/00/00/d{i}")).await.status,
            200
        );
        assert_eq!(
            get(&edge, &format!("/group2/M00/00/00/d{i}")).await.status,
            200
        );
    }
    assert_eq!(count_group("group1"), 6);
    assert_eq!(count_group("group2"), 6);
    assert_eq!(get(&edge, "/group3/M00/00/00/d0").await.status, 404);

    // every tracker down: the last topology stays
    for i in 0..cluster.trackers().len() {
        cluster.kill_tracker(i).expect("kill tracker");
    }
    eventually_async(
        Duration::from_secs(60),
        "no failed refresh logged",
        || async { edge.logs().contains("tracker discovery failed") },
    )
    .await;
    for i in 0..4 {
        assert_eq!(
            get(&edge, &format!("/group1/M00/00/01/e{i}")).await.status,
            200
        );
        assert_eq!(
            get(&edge, &format!("/group2/M00/00/01/e{i}")).await.status,
            200
        );
    }
    assert_eq!(count_group("group1"), 10);
    assert_eq!(count_group("group2"), 10);
}

/// Fresh connections every request, so some are accepted by the old process just as it stops
/// accepting: each must still be answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_upgrade_loses_no_request_and_keeps_the_cache() {
    let o = Origin::start(LO).await;
    let mut edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let cached = "/group1/M00/0A/00/kept";
    assert_eq!(get(&edge, cached).await.cache_status(), "MISS");
    let old_pid = edge.pid();
    let listen = edge.listen;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let load = tokio::spawn(async move {
        let (mut ok, mut failed) = (0u64, Vec::new());
        let mut i = 0u64;
        while !stop2.load(Ordering::SeqCst) || ok < 20 {
            i += 1;
            match http(
                listen,
                "GET",
                &format!("/group1/M00/0A/01/u{}", i % 50),
                &[],
                None,
            )
            .await
            {
                Ok(r) if r.status == 200 => ok += 1,
                Ok(r) => failed.push(format!("status {}", r.status)),
                Err(e) => failed.push(e.to_string()),
            }
        }
        (ok, failed)
    });
    let blocking = tokio::task::spawn_blocking(move || {
        edge.upgrade();
        edge
    });
    let edge = blocking.await.expect("upgrade");
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = load.await.expect("load");
    assert!(
        failed.is_empty(),
        "{} failed of {}: {:?}",
        failed.len(),
        ok + failed.len() as u64,
        failed
    );
    assert_ne!(edge.pid(), old_pid);
    let r = get(&edge, cached).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.cache_status(),
        "HIT",
        "disk cache kept across the upgrade"
    );
    assert_eq!(o.count(cached), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_request_finish_then_exits() {
    let o = Origin::start(LO).await;
    let mut edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    o.delay_ms.store(2000, Ordering::SeqCst);
    let path = "/group1/M00/0A/02/slow";
    let listen = edge.listen;
    let slow = tokio::spawn(async move { http(listen, "GET", path, &[], None).await });
    eventually_async(
        Duration::from_secs(30),
        "the request never reached the origin",
        || async { o.count(path) > 0 },
    )
    .await;
    let stopped = tokio::task::spawn_blocking(move || edge.stop());
    let r = slow.await.expect("task").expect("slow request answered");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body_of(path));
    assert!(
        stopped.await.expect("stop"),
        "fdfs-edge did not exit by itself once the request was done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_on_sigusr2_and_not_ready_after_sigterm() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let readyz = || async { http(edge.admin, "GET", "/readyz", &[], None).await };
    assert_eq!(readyz().await.expect("readyz").status, 200);
    edge.signal("USR2");
    let r = eventually_async(
        Duration::from_secs(30),
        "readyz never said draining",
        || async {
            let r = readyz().await.expect("readyz");
            (r.status == 503).then_some(r)
        },
    )
    .await;
    assert!(String::from_utf8_lossy(&r.body).contains("draining"));
    assert_eq!(edge.run_cli(&["check"]).status.code(), Some(1));
    // still serving while draining
    assert_eq!(get(&edge, "/group1/M00/0B/00/g").await.status, 200);
    edge.signal("USR2");
    eventually_async(
        Duration::from_secs(30),
        "readyz never came back",
        || async { readyz().await.expect("readyz").status == 200 },
    )
    .await;
    assert!(edge.run_cli(&["check"]).status.success());
    // SIGTERM closes the listeners: `check` fails
    edge.signal("TERM");
    eventually_async(
        Duration::from_secs(30),
        "check still succeeds after SIGTERM",
        || async { !edge.run_cli(&["check"]).status.success() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_size_evicts_least_recently_used() {
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.max_size = "350KiB".into();
    let edge = Edge::start(&cfg);
    let key = |i: u32| format!("/group1/M00/0C/00/e{i}?size=100000");
    for i in 0..3 {
        assert_eq!(get(&edge, &key(i)).await.cache_status(), "MISS");
    }
    // e0 becomes the most recently used, so e1 is the victim of the next fill
    assert_eq!(get(&edge, &key(0)).await.cache_status(), "HIT");
    assert_eq!(get(&edge, &key(3)).await.cache_status(), "MISS");
    assert_eq!(get(&edge, &key(0)).await.cache_status(), "HIT");
    assert_eq!(get(&edge, &key(1)).await.cache_status(), "MISS");
    let text = metrics_text(&edge).await;
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in {text}"))
    };
    assert!(value("fdfs_edge_cache_evictions_total") >= 2);
    assert!(value("fdfs_edge_cache_size_bytes") <= 350 * 1024);
    assert_eq!(value("fdfs_edge_cache_objects"), 3);
}

/// Reads one response with a Content-Length body from `s`; returns (status, X-Cache-Status, body).
async fn read_one(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> (u16, String, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let hv = |name: &str| {
                head.lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_string())
            };
            let len: usize = hv("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.expect("read body");
                assert!(n > 0, "closed in the body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return (status, hv("x-cache-status").unwrap_or_default(), body);
        }
        let n = s.read(&mut chunk).await.expect("read header");
        assert!(n > 0, "closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keepalive_connection_serves_misses_and_hits() {
    use tokio::io::AsyncWriteExt;
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    let mut buf = Vec::new();
    let paths = [
        "/group1/M00/0D/00/k1",
        "/group1/M00/0D/00/k1",
        "/group1/M00/0D/00/k2",
    ];
    let mut seen = Vec::new();
    for _round in 0..3 {
        for p in paths {
            let req = format!("GET {p} HTTP/1.1\r\nHost: edge\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("write");
            let (status, cs, body) = read_one(&mut s, &mut buf).await;
            assert_eq!(status, 200);
            assert_eq!(body, body_of(p));
            seen.push(cs);
        }
    }
    assert_eq!(seen[0], "MISS");
    assert_eq!(seen[1], "HIT");
    assert_eq!(seen[2], "MISS");
    assert!(seen[3..].iter().all(|c| c == "HIT"), "{seen:?}");
    assert_eq!(o.total(), 2);
}

// ----- issue 9: hostile clients, metrics, request-path details -----

/// Reads from `s` until EOF, an error or `deadline`; returns the bytes and whether the edge
/// closed the connection (EOF or reset) before the deadline.
async fn read_until_closed(s: &mut tokio::net::TcpStream, deadline: Instant) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Value of an unlabelled (or fully spelled) series in `/metrics` text.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Item 11: a client that sends a header line every second is closed after
/// `client_header_timeout` (Pingora alone restarts its 60 s timeout at every read).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_header_is_closed_after_client_header_timeout() {
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.server_extra = "client_header_timeout = \"2s\"\n".into();
    let edge = Edge::start(&cfg);
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    s.write_all(b"GET /group1/M00/00/00/slow HTTP/1.1\r\nHost: edge\r\n")
        .await
        .expect("write");
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut closed = false;
    while Instant::now() < deadline {
        let (_, gone) = read_until_closed(&mut s, Instant::now() + Duration::from_secs(1)).await;
        if gone || s.write_all(b"X-Slow: 1\r\n").await.is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "a header trickling in for 40 s kept its connection");
    assert_eq!(o.total(), 0);
    let logs = edge.logs();
    assert!(logs.contains("client_header_timeout"), "{logs}");
    let m = metrics_text(&edge).await;
    assert_eq!(
        series(
            &m,
            "fdfs_edge_connections_closed_total{reason=\"header_timeout\"}"
        ),
        Some(1.0),
        "{m}"
    );
    // the edge still serves
    assert_eq!(get(&edge, "/group1/M00/00/00/ok").await.status, 200);
}

/// Item 11: with `max_connections = 4`, a fifth connection is closed at once with a log line,
/// and requests are served again once the slow connections are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connection_cap_refuses_then_recovers() {
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.server_extra = "max_connections = 4\n".into();
    let edge = Edge::start(&cfg);
    // The harness's start-up probe connected to the listener too: the cap must see it closed before
    // the four slow connections take every slot.
    eventually_async(
        Duration::from_secs(30),
        "the start-up probe's connection never closed",
        || async {
            let m = metrics_text(&edge).await;
            (series(&m, "fdfs_edge_connections_open") == Some(0.0))
                .then_some(())
                .ok_or(m)
        },
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(edge.listen)
            .await
            .expect("connect");
        s.write_all(b"GET /group1/M00/00/00/x HTTP/1.1\r\n")
            .await
            .expect("write");
        slow.push(s);
    }
    eventually_async(
        Duration::from_secs(30),
        "4 connections never open",
        || async {
            let m = metrics_text(&edge).await;
            if series(&m, "fdfs_edge_connections_open") == Some(4.0) {
                Ok(())
            } else {
                Err(m)
            }
        },
    )
    .await;
    let mut fifth = send_get(edge.listen, "/group1/M00/00/00/x").await;
    let (answer, closed) =
        read_until_closed(&mut fifth, Instant::now() + Duration::from_secs(20)).await;
    assert!(closed, "the fifth connection stayed open");
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "the fifth connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    let logs = edge.logs();
    assert!(logs.contains("connection limit reached"), "{logs}");
    let m = metrics_text(&edge).await;
    assert!(
        series(
            &m,
            "fdfs_edge_connections_closed_total{reason=\"max_connections\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{m}"
    );
    drop(slow);
    eventually_async(
        Duration::from_secs(30),
        "not serving after the slow connections left",
        || async {
            let r = http(edge.listen, "GET", "/group1/M00/00/00/x", &[], None).await;
            r.is_ok_and(|r| r.status == 200)
        },
    )
    .await;
}

/// Item 12: a request header over `max_header_size` (32 KiB) is answered 431 as soon as the
/// limit is passed, without waiting for the rest of the header (Pingora reads up to 1 MiB
/// first); on the admin listener too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_header_answered_before_it_ends() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    for addr in [edge.listen, edge.admin] {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut head = b"GET /group1/M00/00/00/big HTTP/1.1\r\nHost: edge\r\nX-Big: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 40 * 1024));
        // the header is not finished: an answer can only come from the size limit
        s.write_all(&head).await.expect("write");
        let (answer, closed) =
            read_until_closed(&mut s, Instant::now() + Duration::from_secs(20)).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 431"), "{addr}: {text:?}");
        assert!(closed, "{addr}: connection left open after 431");
    }
    assert_eq!(o.total(), 0);
    let m = metrics_text(&edge).await;
    assert_eq!(
        series(
            &m,
            "fdfs_edge_connections_closed_total{reason=\"header_too_large\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

/// Item 15: every spelling of a URL (`/./`, `//`, escaped unreserved letters, an empty query)
/// is one cache entry, so a purge removes what any of them would have served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_spelling_of_a_purged_url_is_fetched_again() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let canonical = "/group1/M00/00/0F/spell.txt";
    let spellings = [
        "/group1/M00/00/0F/./spell.txt",
        "/group1/M00//00/0F/spell.txt",
        "/group1/M00/00/0F/sp%65ll.txt",
        "/group1/M00/00/0F/spell.txt?",
        "/group1/./M00/00//0F/%73pell.txt?",
    ];
    assert_eq!(get(&edge, canonical).await.cache_status(), "MISS");
    for sp in spellings {
        let r = get(&edge, sp).await;
        assert_eq!(r.status, 200, "{sp}");
        assert_eq!(r.body, body_of(canonical), "{sp}");
    }
    assert_eq!(req(&edge, "PURGE", canonical, &[]).await.status, 200);
    for sp in spellings {
        let r = get(&edge, sp).await;
        assert_ne!(r.cache_status(), "HIT", "{sp} still served after the purge");
        // a purge under another spelling removes the same entry
        assert_eq!(req(&edge, "PURGE", sp, &[]).await.status, 200, "{sp}");
    }
    // the storage only ever saw the canonical spelling
    assert_eq!(o.total(), o.count(canonical), "{:?}", o.per_path);
}

/// Item 16: `Vary` is honoured: `Vary: *` is not cached, a compressed body that varies on
/// Accept-Encoding is not served to others, a plain one is cached; the storage is asked
/// without Accept-Encoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vary_is_honoured() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    *o.extra_headers.lock().expect("lock") = vec!["Vary: *".into()];
    let p = "/group1/M00/00/10/star.txt";
    get(&edge, p).await;
    assert_ne!(get(&edge, p).await.cache_status(), "HIT", "Vary: * cached");
    assert_eq!(o.count(p), 2);

    *o.extra_headers.lock().expect("lock") = vec![
        "Content-Encoding: gzip".into(),
        "Vary: Accept-Encoding".into(),
    ];
    let gz = "/group1/M00/00/10/gz.txt";
    let r = req(&edge, "GET", gz, &["Accept-Encoding: gzip"]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        o.last_header("accept-encoding"),
        None,
        "Accept-Encoding forwarded"
    );
    let plain = get(&edge, gz).await;
    assert_ne!(
        plain.cache_status(),
        "HIT",
        "a gzip body was served from the cache to a client that did not ask for it"
    );

    *o.extra_headers.lock().expect("lock") = vec!["Vary: Accept-Encoding".into()];
    let id = "/group1/M00/00/10/identity.txt";
    req(&edge, "GET", id, &["Accept-Encoding: gzip"]).await;
    let r = get(&edge, id).await;
    assert_eq!(
        r.cache_status(),
        "HIT",
        "a plain body varying on Accept-Encoding"
    );
    assert_eq!(r.body, body_of(id));
}

/// Item 16: the edge's own gzip honours q-values: `gzip;q=0` refuses gzip.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gzip_q0_is_not_gzip() {
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.response_extra = "gzip = true\ngzip_types = [\"text/plain\"]\n".into();
    let edge = Edge::start(&cfg);
    let p = "/group1/M00/00/11/q.txt";
    for _ in 0..3 {
        for ae in [
            "Accept-Encoding: gzip;q=0",
            "Accept-Encoding: gzip; q=0.000, br",
            "Accept-Encoding: *;q=0",
        ] {
            let r = req(&edge, "GET", p, &[ae]).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-encoding"), None, "{ae}");
            assert_eq!(r.body, body_of(p), "{ae}");
        }
        let r = req(&edge, "GET", p, &["Accept-Encoding: gzip;q=0.5"]).await;
        assert_eq!(r.header("content-encoding"), Some("gzip"));
    }
}

/// Item 18: a purge that cannot remove the cached files (read-only cache) says so with a 500;
/// the object is then still cached, consistently.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_on_a_read_only_cache_reports_failure() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/00/12/ro.txt";
    get(&edge, p).await;
    assert_eq!(get(&edge, p).await.cache_status(), "HIT");
    let cache = edge.dir.path().join("cache");
    let object = walk(&cache)
        .into_iter()
        .find(|f| !f.starts_with(cache.join("tmp")))
        .expect("a cached object on disk");
    let dir = object.parent().expect("dir").to_path_buf();
    let _ro = ReadOnly::new(&dir);
    let r = req(&edge, "PURGE", p, &[]).await;
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&edge, p).await.cache_status(), "HIT");
    drop(_ro);
    assert_eq!(req(&edge, "PURGE", p, &[]).await.status, 200);
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Makes a directory's entries impossible to remove, even for root (`chattr +i`; a plain
/// `chmod` where that is not available), until dropped.
struct ReadOnly(std::path::PathBuf, bool);

impl ReadOnly {
    fn new(dir: &std::path::Path) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt;
        let immutable = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !immutable {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        }
        ReadOnly(dir.to_path_buf(), immutable)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.1 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        } else {
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

/// Item 18: a chunked request body over `client_max_body_size` gets 413 (nginx does), and the
/// storage does not get the whole body.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunked_body_over_client_max_body_size_is_413() {
    // a storage that reads everything and never answers
    let sink = tokio::net::TcpListener::bind((LO, 0)).await.expect("bind");
    let sink_addr = sink.local_addr().expect("addr");
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let got = received.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = sink.accept().await {
            let got = got.clone();
            tokio::spawn(async move {
                let mut b = vec![0u8; 65536];
                while let Ok(n) = c.read(&mut b).await {
                    if n == 0 {
                        break;
                    }
                    got.fetch_add(n as u64, Ordering::SeqCst);
                }
            });
        }
    });
    let mut cfg = EdgeConfig::default().group("group1", &[sink_addr]);
    cfg.server_extra = "client_max_body_size = \"1MiB\"\n".into();
    cfg.health = "enabled = false\n".into();
    let edge = Edge::start(&cfg);
    let s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let head = "POST /group1/M00/00/13/up HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n";
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..48 {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            wr.write_all(&chunk).await?;
            wr.write_all(b"\r\n").await?;
        }
        wr.write_all(b"0\r\n\r\n").await
    });
    let mut answer = Vec::new();
    let mut b = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), rd.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text:?}");
    let forwarded = received.load(Ordering::SeqCst);
    assert!(forwarded < 2 << 20, "{forwarded} bytes reached the storage");
}

/// Item 18: requests pipelined on one connection are all answered, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipelined_requests_are_all_answered() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let paths = [
        "/group1/M00/00/14/p1",
        "/group1/M00/00/14/p2",
        "/group1/M00/00/14/p1",
    ];
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    let all: String = paths
        .iter()
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: edge\r\n\r\n"))
        .collect();
    s.write_all(all.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    for p in paths {
        let (status, _, body) =
            tokio::time::timeout(Duration::from_secs(30), read_one(&mut s, &mut buf))
                .await
                .expect("an answer to each pipelined request");
        assert_eq!(status, 200, "{p}");
        assert_eq!(body, body_of(p), "{p}");
    }
}

/// Item 18: `Range: bytes=-0` is unsatisfiable: 416 with `Content-Range: bytes */<length>`,
/// from the storage's answer and from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zero_suffix_range_is_416() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/00/15/r.bin?size=1000";
    for expected in ["MISS", "HIT"] {
        let r = req(&edge, "GET", p, &["Range: bytes=-0"]).await;
        assert_eq!(r.status, 416, "{expected}: {:?}", r.headers);
        assert_eq!(
            r.header("content-range"),
            Some("bytes */1000"),
            "{expected}"
        );
        assert_eq!(r.cache_status(), expected);
    }
    let r = req(&edge, "GET", p, &["Range: bytes=-1"]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &pattern_body(1000)[999..]);
}

/// Item 10: latency histograms, bytes, connections and build info in `/metrics`; a purge is
/// counted by its outcome, not as a 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_an_operator_expects() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/00/16/m.bin?size=3000";
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
    assert_eq!(get(&edge, p).await.cache_status(), "HIT");
    assert_eq!(req(&edge, "PURGE", p, &[]).await.status, 200);
    // A request is counted in the edge's logging phase, after its last byte is sent, so the client
    // can read /metrics before the HIT is counted: wait for both, then check every series exactly.
    let m = eventually_async(
        Duration::from_secs(10),
        "the MISS and the HIT counted in /metrics",
        || async {
            let m = metrics_text(&edge).await;
            let counted = series(&m, "fdfs_edge_request_duration_seconds_count");
            counted.is_some_and(|n| n >= 2.0).then_some(m)
        },
    )
    .await;
    let v = |name: &str| series(&m, name).unwrap_or_else(|| panic!("no {name} in\n{m}"));
    assert_eq!(v("fdfs_edge_request_duration_seconds_count"), 2.0);
    assert_eq!(
        v("fdfs_edge_request_duration_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert!(v("fdfs_edge_request_duration_seconds_sum") > 0.0);
    assert_eq!(v("fdfs_edge_upstream_response_seconds_count"), 1.0);
    assert_eq!(v("fdfs_edge_upstream_connect_seconds_count"), 1.0);
    assert_eq!(v("fdfs_edge_sent_bytes_total{cache=\"HIT\"}"), 3000.0);
    assert_eq!(v("fdfs_edge_sent_bytes_total{cache=\"MISS\"}"), 3000.0);
    assert_eq!(v("fdfs_edge_received_bytes_total"), 0.0);
    assert!(v("fdfs_edge_connections_accepted_total") >= 3.0);
    assert!(v("fdfs_edge_connections_open") >= 0.0);
    assert!(
        m.contains("fdfs_edge_build_info{version=\"")
            && m.contains("# TYPE fdfs_edge_request_duration_seconds histogram"),
        "{m}"
    );
    assert_eq!(v("fdfs_edge_purge_requests_total{outcome=\"purged\"}"), 1.0);
    assert!(
        !m.contains("fdfs_edge_requests_total{status=\"200\",cache=\"-\"}"),
        "the purge counted as a plain 200: {m}"
    );
    assert_eq!(
        v("fdfs_edge_requests_total{status=\"200\",cache=\"HIT\"}"),
        1.0
    );
}

/// Issue 14: `/metrics` says where the resident memory goes: the process collector's series, and
/// parts (memory tier bodies, their meta and headers, the index, the rest of the heap, outside the
/// heap) that add up to the RSS. The memory tier's charge includes more than the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_is_accounted_in_metrics() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let p = "/group1/M00/00/17/mem.bin?size=3000";
    assert_eq!(get(&edge, p).await.cache_status(), "MISS");
    // the first hit takes the object into memory
    assert_eq!(get(&edge, p).await.cache_status(), "HIT");
    let m = eventually_async(
        Duration::from_secs(10),
        "the index loaded and the object in memory",
        || async {
            let m = metrics_text(&edge).await;
            let loaded = series(&m, "fdfs_edge_cache_index_loading") == Some(0.0);
            let in_memory = series(&m, "fdfs_edge_memory_bytes{part=\"cache_memory_bodies\"}");
            (loaded && in_memory == Some(3000.0)).then_some(m)
        },
    )
    .await;
    let v = |name: &str| series(&m, name).unwrap_or_else(|| panic!("no {name} in\n{m}"));
    let rss = v("process_resident_memory_bytes");
    assert!(rss > 1e6 && v("process_virtual_memory_bytes") >= rss, "{m}");
    assert!(v("process_cpu_seconds_total") > 0.0);
    assert!(v("process_open_fds") > 0.0 && v("process_max_fds") >= v("process_open_fds"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = v("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 600.0,
        "{started} vs {now}"
    );
    let parts: f64 = [
        "cache_memory_bodies",
        "cache_memory_meta_and_headers",
        "cache_index",
        "heap_other",
        "outside_heap",
    ]
    .iter()
    .map(|part| v(&format!("fdfs_edge_memory_bytes{{part=\"{part}\"}}")))
    .sum();
    assert_eq!(parts, rss, "the parts add up to the RSS:\n{m}");
    assert!(v("fdfs_edge_heap_bytes") > 3000.0);
    assert!(v("fdfs_edge_memory_bytes{part=\"cache_index\"}") > 0.0);
    let charged = v("fdfs_edge_cache_memory_bytes");
    assert_eq!(
        charged,
        3000.0 + v("fdfs_edge_memory_bytes{part=\"cache_memory_meta_and_headers\"}")
    );
    assert!(
        charged > 3000.0,
        "the meta and header are charged too: {charged}"
    );
    assert_eq!(v("fdfs_edge_cache_memory_objects"), 1.0);
}

/// Issue 14: after a restart the index is loaded in the background; hits are hits meanwhile (an
/// object not indexed yet is found through its file), and every object is indexed in the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_loads_the_index_in_the_background() {
    let o = Origin::start(LO).await;
    let mut edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let paths: Vec<String> = (0..200)
        .map(|i| format!("/group1/M00/00/18/obj{i}.bin?size={}", 100 + i))
        .collect();
    let mut bodies = Vec::new();
    for p in &paths {
        let r = get(&edge, p).await;
        assert_eq!(r.cache_status(), "MISS");
        bodies.push(r.body);
    }
    edge.restart();
    assert!(
        edge.logs()
            .contains("the index is loaded in the background"),
        "{}",
        edge.logs()
    );
    let r = get(&edge, &paths[7]).await;
    assert_eq!((r.status, r.cache_status()), (200, "HIT"));
    assert_eq!(r.body, bodies[7]);
    eventually_async(
        Duration::from_secs(20),
        "every object indexed after the restart",
        || async {
            let m = metrics_text(&edge).await;
            (series(&m, "fdfs_edge_cache_index_loading") == Some(0.0)
                && series(&m, "fdfs_edge_cache_objects") == Some(200.0))
            .then_some(())
        },
    )
    .await;
    wait_for_log(&edge, "index loaded in").await;
    for p in &paths {
        assert_eq!(get(&edge, p).await.cache_status(), "HIT", "{p}");
    }
    let fetched: u64 = paths.iter().map(|p| o.count(p)).sum();
    assert_eq!(fetched, 200, "nothing fetched again");
}

// ----- start-up, configuration and operations (issue 9, items 6, 7, 8, 9, 14, 17) -----

/// A stderr line of the edge contains `needle` (polls: the log is written by another process).
async fn wait_for_log(edge: &Edge, needle: &str) {
    eventually_async(
        Duration::from_secs(30),
        format!("`{needle}` never logged"),
        || async { edge.logs().contains(needle) },
    )
    .await;
}

/// Runs `fdfs-edge -t` on `toml` (written next to `edge`'s own file); returns exit code and stderr.
fn config_test(edge: &Edge, toml: &str) -> (Option<i32>, String) {
    let path = edge.dir.path().join("variant.toml");
    std::fs::write(&path, toml).expect("write variant");
    let out = std::process::Command::new(fdfs_integration::edge::edge_bin())
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run -t");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Item 6: the shipped `deploy/edge.toml`, with only its addresses and directories changed, starts
/// on a fresh node (no log, run or cache directory yet) and serves both groups of the seed
/// deployment: group1 from the first two storages, group2 from the other two.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shipped_edge_toml_serves_both_groups_of_an_emulator_cluster() {
    let cluster = Cluster::start(
        ClusterConfig::builder()
            .groups(2)
            .storages_per_group(2)
            .first_storage_ip(Ipv4Addr::new(127, 0, 8, 11))
            .build(),
    )
    .expect("emulator");
    let storages = cluster.storages().to_vec();
    let groups: Vec<&str> = storages.iter().map(|s| s.group.as_str()).collect();
    assert_eq!(groups, ["group1", "group1", "group2", "group2"]);
    // One HTTP origin per storage IP, on one port (the shipped file names port 8888 for all).
    let mut origins = Vec::new();
    let mut port = 0;
    for _ in 0..50 {
        port = fdfs_integration::net::free_port(storages[0].ip);
        origins.clear();
        for s in &storages {
            match Origin::start_on((s.ip, port).into()).await {
                Ok(o) => origins.push(o),
                Err(_) => break,
            }
        }
        if origins.len() == storages.len() {
            break;
        }
    }
    assert_eq!(origins.len(), storages.len(), "no common free port");
    let shipped = include_str!("../../../edge-proxy/deploy/edge.toml");
    let mut edge = Edge::with_toml(|dir, listen, admin| {
        let d = |name: &str| dir.join(name).display().to_string();
        let mut t = shipped
            .replace("0.0.0.0:80", &listen.to_string())
            .replace("127.0.0.1:9180", &admin.to_string())
            .replace("/run/fdfs-edge", &d("run"))
            .replace("/var/log/fdfs-edge", &d("log"))
            .replace("/var/cache/fdfs-edge", &d("cache"))
            .replace(":8888", &format!(":{port}"));
        for (i, s) in storages.iter().enumerate() {
            t = t.replace(&format!("192.168.1.{}:", 11 + i), &format!("{}:", s.ip));
        }
        t
    });
    edge.launch(&[]);
    for s in &storages {
        let id = cluster
            .upload(s.index, format!("from {}", s.ip).as_bytes(), "jpg")
            .expect("upload");
        let path = format!("/{id}");
        let r = get(&edge, &path).await;
        assert_eq!(r.status, 200, "{path}");
        // served by a storage of the file's group, never by one of the other group
        let served: Vec<&str> = storages
            .iter()
            .zip(&origins)
            .filter(|(_, o)| o.count(&path) > 0)
            .map(|(st, _)| st.group.as_str())
            .collect();
        assert_eq!(served, [s.group.as_str()], "{path}");
    }
    let log = std::fs::read_to_string(edge.dir.path().join("log/access.log")).expect("access log");
    assert!(log.contains("cache=MISS"), "{log}");
    // a group the edge does not know: 404, and the error log says why
    assert_eq!(get(&edge, "/group3/M00/00/00/x.jpg").await.status, 404);
    wait_for_log(
        &edge,
        "group `group3` is not configured (groups: group1, group2)",
    )
    .await;
}

/// Items 6 and 14: `-t` checks what a start needs (directories a start writes to, writable by the
/// user the edge runs as; an upgrade socket no other user can bind first) and explains a storage
/// written as a host name; a `-d` start whose child could not start exits non-zero, and one that
/// succeeds exits 0 once the edge listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_test_and_daemon_start_check_what_a_start_needs() {
    let o = Origin::start(LO).await;
    let mut edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let good = std::fs::read_to_string(&edge.conf_path).expect("conf");
    let in_server = |line: &str| good.replacen("[server]\n", &format!("[server]\n{line}\n"), 1);
    assert_eq!(config_test(&edge, &good).0, Some(0));

    // SAFETY: geteuid cannot fail.
    if unsafe { libc_geteuid() } == 0 {
        // the cache directory is in a 0700 directory of root: `nobody` could not write it
        let (code, err) = config_test(&edge, &in_server("user = \"nobody\""));
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("cache directory") && err.contains("nobody"),
            "{err}"
        );
    }
    let (code, err) = config_test(
        &edge,
        &good.replacen(
            "access_log = \"",
            &format!(
                "access_log = \"{}/sub/access.log\"\n#",
                edge.conf_path.display()
            ),
            1,
        ),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("access log directory") && err.contains("cannot be created"),
        "{err}"
    );

    // item 14: another user could bind a socket in /tmp first and receive the listeners
    let sock = edge.dir.path().join("upgrade.sock").display().to_string();
    let (code, err) = config_test(&edge, &good.replace(&sock, "/tmp/fdfs-edge-upgrade.sock"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("writable by other users"), "{err}");

    // item 9: a storage written as a host name
    let bad = good.replacen(&o.addr.to_string(), "storage1.example:8888", 1);
    let (code, err) = config_test(&edge, &bad);
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains("untagged"), "{err}");
    assert!(
        err.contains("host name") && err.contains("storage1.example"),
        "{err}"
    );

    // `-d` whose child could not write its pid file: the start fails, with the reason
    edge.stop();
    let pid_line = format!(
        "pid_file = \"{}\"",
        edge.dir.path().join("edge.pid").display()
    );
    let conf = edge.conf_path.clone();
    let bad_pid = format!("pid_file = \"{}/run/edge.pid\"", conf.display());
    std::fs::write(&conf, good.replace(&pid_line, &bad_pid)).expect("write");
    let (code, err) = edge.run_to_exit(&["-d"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("pid file directory"), "{err}");

    // a good `-d` start: the parent exits 0 once the child listens
    std::fs::write(&conf, &good).expect("write");
    let (code, err) = edge.run_to_exit(&["-d"]);
    let pid: i32 = std::fs::read_to_string(edge.dir.path().join("edge.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    let _kill = KillOnDrop(pid);
    assert_eq!(code, Some(0), "{err}");
    assert!(pid > 0);
    assert!(
        std::net::TcpStream::connect(edge.listen).is_ok(),
        "not listening when -d returned"
    );
    let r = http(edge.admin, "GET", "/readyz", &[], None)
        .await
        .expect("readyz");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Ends a daemonized edge (SIGKILL) when the test ends, however it ends.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 {
            // SAFETY: kill(2) has no memory effects.
            unsafe { libc_kill(self.0, 9) };
        }
    }
}

/// Item 7: a listen port held by another process is a start-up failure with a non-zero exit (and
/// the reason), in the foreground and with `-d`, not a process that says ready and serves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_port_held_by_another_process_fails_the_start() {
    let o = Origin::start(LO).await;
    let mut edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    edge.stop();
    let holder = std::net::TcpListener::bind(edge.listen).expect("hold the port");
    for args in [&[][..], &["-d"][..]] {
        let (code, err) = edge.run_to_exit(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("bind() to {} failed", edge.listen)),
            "{args:?}: {err}"
        );
    }
    drop(holder);
    edge.launch(&[]);
    let r = http(edge.admin, "GET", "/readyz", &[], None)
        .await
        .expect("readyz");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// Item 8: the edge's default health check asks the `location = /healthz` of the shipped storage
/// nginx.conf, which nginx answers itself: the storage's error log stays empty (a probe of `/`
/// wrote an `[error]` line every 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn default_health_check_uses_the_storage_nginx_healthz_location() {
    let shipped = include_str!("../../../nginx-conf/storage/nginx.conf");
    let start = shipped
        .find("location = /healthz")
        .expect("no /healthz location in the shipped storage nginx.conf");
    let end = start + shipped[start..].find('}').expect("end of location") + 1;
    // counted through an access log of its own (the shipped location logs nothing)
    let location =
        shipped[start..end].replace("access_log off;", "access_log {prefix}/logs/health.log;");
    let prefix = fdfs_integration::nginx::make_prefix().expect("prefix");
    let p = prefix.path().display().to_string();
    let port = fdfs_integration::net::free_port(LO);
    let storage = std::net::SocketAddr::from((LO, port));
    std::fs::create_dir_all(prefix.path().join("html")).expect("html");
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nuser root;\npid {p}/logs/nginx.pid;\n\
         error_log {p}/logs/error.log info;\nevents {{ worker_connections 64; }}\n\
         http {{\n client_body_temp_path {p}/tmp/body;\n proxy_temp_path {p}/tmp/proxy;\n\
         fastcgi_temp_path {p}/tmp/fastcgi;\n uwsgi_temp_path {p}/tmp/uwsgi;\n scgi_temp_path {p}/tmp/scgi;\n\
         access_log {p}/logs/access.log;\n server {{\n  listen {storage};\n  root {p}/html;\n  {}\n }}\n}}\n",
        location.replace("{prefix}", &p)
    );
    std::fs::write(prefix.path().join("conf/nginx.conf"), conf).expect("conf");
    let mut nginx = std::process::Command::new(fdfs_integration::nginx::NGINX_BIN)
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(prefix.path().join("conf/nginx.conf"))
        .arg("-e")
        .arg(prefix.path().join("logs/error.log"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nginx");
    // one process (master_process off): killing it leaves no worker behind
    struct Stop<'a>(&'a mut std::process::Child);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _stop = Stop(&mut nginx);
    // the edge with its default [health] path (the harness sets interval, timeout and counts only)
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[storage]));
    let health_log = prefix.path().join("logs/health.log");
    eventually_async(Duration::from_secs(60), "no probes of /healthz", || async {
        let log = std::fs::read_to_string(&health_log).unwrap_or_default();
        if log.matches("\"GET /healthz HTTP/1.0\" 200").count() >= 3 {
            Ok(())
        } else {
            Err(format!("health log:\n{log}"))
        }
    })
    .await;
    let errors = std::fs::read_to_string(prefix.path().join("logs/error.log")).unwrap_or_default();
    let errors: Vec<&str> = errors.lines().filter(|l| l.contains("[error]")).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let r = http(edge.admin, "GET", "/readyz", &[], None)
        .await
        .expect("readyz");
    assert_eq!(r.status, 200);
}

/// Item 9 (and 18's access-log escaping): the storages' `Server` header is not passed on, a 502
/// made by the edge has a body and no `Server: Pingora`, the access log's time is nginx's and a
/// quote cannot end a field, and normal operation (a cache write, an upgrade that waits for
/// SIGQUIT) logs no warning or error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn headers_and_logs_are_like_nginx_and_quiet() {
    let o = Origin::start(LO).await;
    o.extra_headers
        .lock()
        .expect("lock")
        .push("Server: nginx/1.22.1".into());
    let mut dead = Origin::start(LO).await;
    let dead_addr = dead.addr;
    dead.kill();
    let mut edge = Edge::start(
        &EdgeConfig::default()
            .group("group1", &[o.addr])
            .group("group2", &[dead_addr]),
    );
    let p = "/group1/M00/00/00/server.txt";
    for expect in ["MISS", "HIT", "HIT"] {
        let r = req(&edge, "GET", p, &["User-Agent: evil\" \"agent"]).await;
        assert_eq!(r.cache_status(), expect);
        assert_eq!(r.header("server"), None, "{:?}", r.headers);
    }
    let r = get(&edge, "/group2/M00/00/00/nothing.txt").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("server"), None, "{:?}", r.headers);
    assert_eq!(String::from_utf8_lossy(&r.body), "502 Bad Gateway\n");

    let log = edge.access_log();
    let line = log
        .lines()
        .find(|l| l.contains("server.txt"))
        .expect("logged");
    // [03/Dec/2026:13:16:10 +0000]
    let time = line
        .split('[')
        .nth(1)
        .and_then(|t| t.split(']').next())
        .expect("time");
    let b = time.as_bytes();
    assert!(
        time.len() == 26
            && b[2] == b'/'
            && b[6] == b'/'
            && b[11] == b':'
            && time.ends_with(" +0000"),
        "not nginx's $time_local: {line}"
    );
    assert!(line.contains("\"evil\\x22 \\x22agent\""), "{line}");

    edge.upgrade_after(Duration::from_millis(1500));
    assert_eq!(get(&edge, p).await.cache_status(), "HIT");
    let logs = edge.logs();
    for noise in [
        "compression dictionary",
        "No incoming socket transfer",
        "Some(",
    ] {
        assert!(!logs.contains(noise), "`{noise}` in the logs:\n{logs}");
    }
    let new = edge.last_stderr();
    assert!(!new.contains("ERROR"), "{new}");
}

/// Item 17: values that passed `-t` and then broke the edge (every request panicking on a date past
/// the year 9999, a zero refresh interval killing the background service) are refused by `-t`,
/// with their line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_test_refuses_values_that_break_the_edge() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let good = std::fs::read_to_string(&edge.conf_path).expect("conf");
    let expires = good.replace("expires = \"30d\"", "expires = \"3000000d\"");
    let trackers = format!(
        "{good}\n[trackers]\nservers = [\"127.0.0.1:9\"]\nrefresh = \"0s\"\ntimeout = \"1s\"\n"
    );
    for (bad, key) in [(&expires, "expires"), (&trackers, "refresh")] {
        let line = 1 + bad
            .lines()
            .position(|l| l.starts_with(key))
            .expect("key line");
        let (code, err) = config_test(&edge, bad);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains(&format!("variant.toml:{line}:")),
            "line {line}: {err}"
        );
        assert!(err.contains("out of range"), "{err}");
    }
}

/// Item 11: an idle keep-alive connection is closed after `keepalive_timeout` (Pingora keeps an
/// HTTP/1.1 connection open forever once it has served a request on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_keepalive_connection_is_closed() {
    let o = Origin::start(LO).await;
    let mut cfg = EdgeConfig::default().group("group1", &[o.addr]);
    cfg.server_extra = "keepalive_timeout = \"2s\"\n".into();
    let edge = Edge::start(&cfg);
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    s.write_all(b"GET /group1/M00/00/17/k HTTP/1.1\r\nHost: edge\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let (status, _, _) = read_one(&mut s, &mut buf).await;
    assert_eq!(status, 200);
    let (rest, closed) = read_until_closed(&mut s, Instant::now() + Duration::from_secs(40)).await;
    assert!(closed, "an idle keep-alive connection stayed open for 40 s");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

/// Item 11: a request body that stops arriving is answered 408 after `client_body_timeout`
/// (nginx's answer), and the storage is not left waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_request_body_gets_408_after_client_body_timeout() {
    // a storage that reads everything and never answers
    let sink = tokio::net::TcpListener::bind((LO, 0)).await.expect("bind");
    let sink_addr = sink.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut c, _)) = sink.accept().await {
            tokio::spawn(async move {
                let mut b = vec![0u8; 65536];
                while matches!(c.read(&mut b).await, Ok(n) if n > 0) {}
            });
        }
    });
    let mut cfg = EdgeConfig::default().group("group1", &[sink_addr]);
    cfg.server_extra = "client_body_timeout = \"2s\"\n".into();
    cfg.health = "enabled = false\n".into();
    let edge = Edge::start(&cfg);
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    s.write_all(b"POST /group1/M00/00/18/up HTTP/1.1\r\nHost: edge\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .expect("write");
    let (answer, _) = read_until_closed(&mut s, Instant::now() + Duration::from_secs(40)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
}

/// logrotate moves the access log away and sends SIGUSR1 (the package's postrotate): the edge keeps
/// running and writes the next lines to a new file at the configured path; no line is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_reopens_the_access_log_after_logrotate() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig::default().group("group1", &[o.addr]));
    let before = "/group1/M00/00/00/before-rotate.txt";
    assert_eq!(get(&edge, before).await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    eventually_async(
        Duration::from_secs(30),
        format!("no access log line for {before}"),
        || async { edge.access_log().contains(before) },
    )
    .await;
    let log = edge.dir.path().join("access.log");
    let rotated = edge.dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    edge.signal("USR1");
    // Requests until one lands in the new file (the signal is handled asynchronously).
    let mut sent = 0;
    let after = loop {
        assert!(
            Instant::now() < deadline,
            "no new access.log after SIGUSR1:\n{}",
            edge.logs()
        );
        let path = format!("/group1/M00/00/00/after-rotate-{sent}.txt");
        let r = get(&edge, &path).await;
        assert_eq!(r.status, 200, "the edge still serves after SIGUSR1");
        sent += 1;
        if edge.access_log().contains(&path) {
            break path;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let old = std::fs::read_to_string(&rotated).expect("rotated file");
    let new = edge.access_log();
    assert!(
        old.contains(before) && !new.contains(before),
        "{old}\n---\n{new}"
    );
    assert!(new.contains(&after));
    let lines = |s: &str| s.lines().filter(|l| l.contains("after-rotate-")).count();
    assert_eq!(
        lines(&old) + lines(&new),
        sent,
        "every request is logged once, in the old or the new file"
    );
}

/// `[access]` of the signed-URL tests: group1 signed, group2 FastDFS tokens, group3 public.
const ACCESS: &str = r#"
[access]
[[access.key]]
id = "k2"
secret = "0123456789abcdef-second"
[[access.key]]
id = "k1"
secret = "0123456789abcdef-first"
[access.token]
secret_key = "FastDFS1234567890"
[[access.rule]]
group = "group1"
policy = "signed"
[[access.rule]]
group = "group2"
policy = "token"
[access.storage_bypass_header]
name = "X-Fdfs-Bypass"
value = "from-the-edge"
"#;

/// `fdfs-edge sign` against the edge's own configuration.
fn sign(edge: &Edge, args: &[&str]) -> String {
    let out = edge.run_cli(&[&["sign"], args].concat());
    assert!(
        out.status.success(),
        "sign {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn denied(metrics: &str, reason: &str) -> Option<f64> {
    series(
        metrics,
        &format!("fdfs_edge_access_denied_total{{reason=\"{reason}\"}}"),
    )
}

/// Signed URLs: checked before the cache (a cached object is never served unchecked), one cached
/// copy whatever the signature, the signature's parameters never sent to the storage, which gets
/// the bypass header instead; every bad signature a 403 whose reason is logged, not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_urls_are_checked_before_the_cache() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig {
        extra: ACCESS.into(),
        ..EdgeConfig::default()
            .group("group1", &[o.addr])
            .group("group2", &[o.addr])
            .group("group3", &[o.addr])
    });
    let p = "/group1/M00/00/00/signed.txt";
    let unsigned = get(&edge, p).await;
    assert_eq!(unsigned.status, 403);
    assert_eq!(unsigned.body, b"403 Forbidden\n", "no reason in the body");
    assert_eq!(o.total(), 0);

    let url = sign(&edge, &[p]);
    assert!(url.starts_with(&format!("{p}?exp=")), "{url}");
    let first = get(&edge, &url).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.cache_status(), "MISS");
    assert_eq!(first.body, body_of(p));
    assert_eq!(o.count(p), 1, "the storage is asked without the signature");
    assert_eq!(
        o.last_header("x-fdfs-bypass").as_deref(),
        Some("from-the-edge")
    );
    assert_eq!(get(&edge, &url).await.cache_status(), "HIT");
    // cached now, and still refused without a signature
    assert_eq!(get(&edge, p).await.status, 403);
    // another key, another expiry, a HEAD: the same cached copy
    let other = sign(&edge, &["--kid", "k1", "--expires", "10m", p]);
    assert_ne!(other, url);
    assert_eq!(get(&edge, &other).await.cache_status(), "HIT");
    assert_eq!(req(&edge, "HEAD", &url, &[]).await.status, 200);
    // a query of the application's own stays in the key
    let own = sign(&edge, &[&format!("{p}?filename=a.txt")]);
    assert!(
        own.starts_with(&format!("{p}?filename=a.txt&exp=")),
        "{own}"
    );
    assert_eq!(get(&edge, &own).await.status, 200);
    assert_eq!(o.count(&format!("{p}?filename=a.txt")), 1);
    assert_eq!(o.count(p), 1);

    // hostile: replayed on another path, expired, tampered, empty, unknown key, wrong address
    let query = url
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap_or_default();
    let elsewhere = format!("/group1/M00/00/00/other.txt?{query}");
    let expired = sign(&edge, &["--until", "1000000000", p]);
    let sig = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sig="))
        .expect("sig")
        .to_string();
    // another first character: still valid base64url, another signature
    let first_char = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = url.replace(&sig, &format!("{first_char}{}", &sig[1..]));
    let empty = url.replace(&sig, "");
    let unknown = url.replace("kid=k2", "kid=k9");
    let elsewhere_ip = sign(&edge, &["--ip", "198.51.100.0/24", p]);
    let scope = sign(&edge, &["--scope", "/group1/M00/00/01/", p]);
    for (bad, reason) in [
        (p, "missing"),
        (&elsewhere, "bad_signature"),
        (&expired, "expired"),
        (&tampered, "bad_signature"),
        (&empty, "missing"),
        (&unknown, "unknown_key"),
        (&elsewhere_ip, "wrong_address"),
        (&scope, "out_of_scope"),
    ] {
        let before = denied(&metrics_text(&edge).await, reason).expect("listed");
        let r = get(&edge, bad).await;
        assert_eq!(r.status, 403, "{bad}");
        assert_eq!(r.body, b"403 Forbidden\n");
        let after = denied(&metrics_text(&edge).await, reason);
        assert_eq!(after, Some(before + 1.0), "{bad}: {reason}");
    }
    assert_eq!(o.count("/group1/M00/00/00/other.txt"), 0);
    let log = edge.logs();
    assert!(
        log.contains(&format!("403 GET {p}: signature expired at 1000000000")),
        "{log}"
    );
    assert!(log.contains("no key `k9`"), "{log}");
    // a scope signed for the directory covers its files
    let dir = sign(
        &edge,
        &["--scope", "/group1/M00/00/01/", "/group1/M00/00/01/x.txt"],
    );
    let in_dir = dir.replace("/group1/M00/00/01/x.txt", "/group1/M00/00/01/y.txt");
    assert_eq!(get(&edge, &in_dir).await.status, 200);
}

/// FastDFS's anti-steal token at the edge: what the storages' module accepts, checked once at the
/// edge; empty values refused (fastdfs issue 405); public groups untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fastdfs_tokens_are_checked_at_the_edge() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig {
        extra: ACCESS.into(),
        ..EdgeConfig::default()
            .group("group1", &[o.addr])
            .group("group2", &[o.addr])
            .group("group3", &[o.addr])
    });
    let p = "/group2/M00/00/00/token.txt";
    let url = sign(&edge, &["--token", p]);
    let ts: i64 = url
        .split("ts=")
        .nth(1)
        .and_then(|t| t.parse().ok())
        .expect("ts");
    let expected = fdfs_client::token::generate("M00/00/00/token.txt", "FastDFS1234567890", ts);
    assert_eq!(url, format!("{p}?token={expected}&ts={ts}"));
    let r = get(&edge, &url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body_of(p));
    assert_eq!(o.count(p), 1, "token and ts are not sent on");
    assert_eq!(
        o.last_header("x-fdfs-bypass").as_deref(),
        Some("from-the-edge")
    );
    let zero = fdfs_client::token::generate("M00/00/00/token.txt", "FastDFS1234567890", 0);
    for bad in [
        format!("{p}?token=&ts="),
        format!("{p}?token={zero}&ts="),
        format!("{p}?token={zero}&ts=0"),
        format!("{p}?token={expected}&ts={}", ts - 601),
        format!("{p}?token={zero}&ts={ts}"),
        p.to_string(),
    ] {
        assert_eq!(get(&edge, &bad).await.status, 403, "{bad}");
    }
    assert_eq!(o.count(p), 1);
    let m = metrics_text(&edge).await;
    assert_eq!(denied(&m, "token_expired"), Some(2.0), "{m}");
    assert_eq!(denied(&m, "bad_token"), Some(1.0), "{m}");
    // public: the query goes to the storage as it is, without the bypass header
    let public = "/group3/M00/00/00/open.txt?token=abc&ts=1";
    assert_eq!(get(&edge, public).await.status, 200);
    assert_eq!(o.count(public), 1);
    assert_eq!(o.last_header("x-fdfs-bypass"), None);
}

/// Two edges of a pair, each listing the other in `[peers]` (not started).
fn edge_pair(origin: std::net::SocketAddr) -> (Edge, Edge) {
    let cfg = EdgeConfig::default().group("group1", &[origin]);
    let mut a = Edge::with_toml(|d, l, ad| Edge::render(&cfg, d, l, ad));
    let mut b = Edge::with_toml(|d, l, ad| Edge::render(&cfg, d, l, ad));
    for (me, other) in [(&a, b.listen), (&b, a.listen)] {
        let peers = format!(
            "\n[peers]\nedges = [\"{other}\"]\nsecret = \"shared-by-the-pair-0123\"\nqueue_dir = \"{}\"\nretry = \"200ms\"\ntimeout = \"1s\"\n",
            me.dir.path().join("peer-purges").display()
        );
        let mut text = std::fs::read_to_string(&me.conf_path).expect("edge.toml");
        text.push_str(&peers);
        std::fs::write(&me.conf_path, text).expect("edge.toml");
    }
    a.launch(&[]);
    b.launch(&[]);
    (a, b)
}

/// `fdfs_edge_peer_purges_<name>{peer="<peer>"}` of `edge`.
async fn peer_series(edge: &Edge, name: &str, peer: std::net::SocketAddr) -> Option<f64> {
    let m = metrics_text(edge).await;
    series(
        &m,
        &format!("fdfs_edge_peer_purges_{name}{{peer=\"{peer}\"}}"),
    )
}

/// Waits until `from` has nothing left to send to `to`, and returns how many it delivered.
async fn peer_queue_drained(from: &Edge, to: &Edge) -> f64 {
    eventually_async(
        Duration::from_secs(30),
        "the peer purge was never acknowledged",
        || async {
            match peer_series(from, "pending", to.listen).await {
                Some(0.0) => Ok(()),
                other => Err(format!("pending: {other:?}")),
            }
        },
    )
    .await;
    peer_series(from, "delivered_total", to.listen)
        .await
        .expect("delivered series")
}

/// One coherent cache across the pair: a purge on one edge reaches the other (which then misses),
/// a prefix purge too (done there in the background), also when the other was down during the purge and the purging edge restarted meanwhile (the
/// queue is on disk); a peer's purge is not sent back; a bad peer signature is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_reaches_the_peer_edge_even_after_it_was_down() {
    let o = Origin::start(LO).await;
    let (mut a, mut b) = edge_pair(o.addr);
    let p = "/group1/M00/00/00/pair.txt";
    for e in [&a, &b] {
        assert_eq!(get(e, p).await.cache_status(), "MISS");
        assert_eq!(get(e, p).await.cache_status(), "HIT");
    }
    assert_eq!(o.count(p), 2);

    let r = req(&a, "PURGE", p, &[]).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(text.contains("Peers: queued for 1 edge(s)"), "{text}");
    assert_eq!(peer_queue_drained(&a, &b).await, 1.0);
    assert_eq!(
        get(&b, p).await.cache_status(),
        "MISS",
        "purged on the peer"
    );
    assert_eq!(get(&a, p).await.cache_status(), "MISS");
    assert_eq!(o.count(p), 4);
    // the peer did not send it back
    assert_eq!(peer_series(&b, "pending", a.listen).await, Some(0.0));
    assert_eq!(
        peer_series(&b, "delivered_total", a.listen).await,
        Some(0.0)
    );

    // a prefix purge: the peer answers 202 at once and reads its cache's keys in the background
    assert_eq!(get(&a, p).await.cache_status(), "HIT");
    assert_eq!(get(&b, p).await.cache_status(), "HIT");
    let r = req(&a, "PURGE", "/group1/M00/00/00/*", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        peer_queue_drained(&a, &b).await,
        2.0,
        "the 202 acknowledged it"
    );
    eventually_async(
        Duration::from_secs(30),
        "the peer's background purge never ended",
        || async {
            let log = b.logs();
            match log.contains("purged 1 object(s) under /group1/M00/00/00/ in the background") {
                true => Ok(()),
                false => Err(log),
            }
        },
    )
    .await;
    assert_eq!(get(&b, p).await.cache_status(), "MISS");
    assert_eq!(get(&a, p).await.cache_status(), "MISS");
    assert_eq!(o.count(p), 6);

    // the peer is down during the purge; the purging edge restarts before the peer is back
    b.stop();
    assert_eq!(req(&a, "PURGE", p, &[]).await.status, 200);
    assert_eq!(peer_series(&a, "pending", b.listen).await, Some(1.0));
    a.restart();
    assert_eq!(
        peer_series(&a, "pending", b.listen).await,
        Some(1.0),
        "kept on disk"
    );
    b.restart();
    assert_eq!(
        peer_queue_drained(&a, &b).await,
        1.0,
        "delivered after the restarts"
    );
    assert_eq!(get(&b, p).await.cache_status(), "MISS");
    assert_eq!(o.count(p), 7);

    // a purge claiming to come from a peer needs the pair's signature, whatever its address
    let forged = req(&b, "PURGE", p, &["X-Fdfs-Peer-Purge: 1700000000.AAAA"]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(get(&b, p).await.cache_status(), "HIT");
    let log = b.logs();
    assert!(log.contains("bad peer signature"), "{log}");
}

/// `[upload]` of the upload tests: an app token for group1 and `auto`, an ops token for all, a web
/// token for `auto` only, a signing key (group2's downloads are signed), 64 KiB blocks, one upload at a time per client.
const UPLOAD: &str = r#"
[upload]
block_size = "64KiB"
max_concurrent_per_client = 1
[[upload.bearer]]
id = "app"
token = "app-token-0123456789"
groups = ["group1", "auto"]
[[upload.bearer]]
id = "ops"
token = "ops-token-0123456789"
[[upload.bearer]]
id = "web"
token = "web-token-0123456789"
groups = ["auto"]
[access]
[[access.key]]
id = "k"
secret = "0123456789abcdef-upload"
[[access.rule]]
group = "group2"
policy = "signed"
"#;

/// A cluster (the real one of `FDFS_TEST_CLUSTER`, else an emulator on `127.0.<net>.x`) and an
/// edge with `[upload]` on its trackers.
fn upload_stack(net: u8, server_extra: &str) -> (TestCluster, Edge, fdfs_client::client::Client) {
    upload_stack_with(net, server_extra, "")
}

/// [`upload_stack`] with `upload_extra` lines in `[upload]`.
fn upload_stack_with(
    net: u8,
    server_extra: &str,
    upload_extra: &str,
) -> (TestCluster, Edge, fdfs_client::client::Client) {
    let emulated = ClusterConfig::builder()
        .groups(2)
        .storages_per_group(1)
        .first_storage_ip(Ipv4Addr::new(127, 0, net, 11))
        .build();
    upload_stack_on(emulated, server_extra, upload_extra)
}

/// [`upload_stack_with`] on an emulator configured as `emulated` (or the real cluster).
fn upload_stack_on(
    emulated: ClusterConfig,
    server_extra: &str,
    upload_extra: &str,
) -> (TestCluster, Edge, fdfs_client::client::Client) {
    let cluster = TestCluster::start_with(emulated);
    let trackers = cluster.trackers();
    let edge = Edge::start(&EdgeConfig {
        extra: format!(
            "{}{}",
            trackers_table(&trackers),
            UPLOAD.replace("[upload]\n", &format!("[upload]\n{upload_extra}"))
        ),
        server_extra: server_extra.into(),
        ..EdgeConfig::default()
    });
    let client = cluster_client(&trackers);
    (cluster, edge, client)
}

/// What curl got: status, the response headers, the body.
struct Curled {
    status: u16,
    headers: String,
    body: String,
}

/// curl against the edge (`Expect` off: the body goes at once); `args` before the URL.
async fn curl(edge: &Edge, args: &[&str], path: &str) -> Curled {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, b) = (dir.path().join("h"), dir.path().join("b"));
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-H", "Expect:", "-D"])
        .arg(&h)
        .arg("-o")
        .arg(&b)
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(format!("http://{}{path}", edge.listen))
        .output()
        .await
        .expect("run curl");
    Curled {
        status: String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        headers: std::fs::read_to_string(&h).unwrap_or_default(),
        body: std::fs::read_to_string(&b).unwrap_or_default(),
    }
}

fn json_field(body: &str, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v[name].clone()
}

/// Every file stored on the cluster's storages (data files, metadata files aside); on a real
/// cluster, on the storages whose store paths its description gives.
fn stored_files(cluster: &TestCluster) -> usize {
    fn walk(d: &std::path::Path) -> usize {
        std::fs::read_dir(d).map_or(0, |rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        usize::from(!p.to_string_lossy().ends_with("-m"))
                    }
                })
                .sum()
        })
    }
    cluster
        .storages()
        .iter()
        .flat_map(|s| &s.store_paths)
        .map(|p| walk(&p.join("data")))
        .sum()
}

/// Uploads over HTTP: PUT of a known length (streamed), chunked PUT and a curl form (in 64 KiB
/// blocks through an appender file), metadata from headers and form fields, the JSON answer and
/// its signed URL, DELETE (then 404); every byte compared with what FastDFS holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_and_deletes_over_http() {
    let (cluster, edge, client) = upload_stack(9, "");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = pattern_body(200_000);
    let file = dir.path().join("photo.jpg");
    std::fs::write(&file, &data).expect("file");
    let file_arg = file.display().to_string();
    let app = "Authorization: Bearer app-token-0123456789";

    // PUT, known length: streamed in one upload
    let put = curl(
        &edge,
        &["-T", &file_arg, "-H", app, "-H", "X-Fdfs-Meta-Owner: alice"],
        "/group1/photo.jpg",
    )
    .await;
    assert_eq!(put.status, 201, "{}{}", put.headers, put.body);
    let id = json_field(&put.body, "file_id")
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        id.starts_with("group1/M00/") && id.ends_with(".jpg"),
        "{id}"
    );
    assert_eq!(json_field(&put.body, "size"), 200_000);
    assert_eq!(json_field(&put.body, "url"), format!("/{id}"));
    assert!(
        put.headers.contains(&format!("Location: /{id}")),
        "{}",
        put.headers
    );
    assert_eq!(client.download(&id).await.expect("download"), data);
    let meta = client.get_metadata(&id).await.expect("metadata");
    assert_eq!(meta, [("owner".to_string(), "alice".to_string())]);

    // chunked PUT into the trackers' choice: blocks through an appender file, then a normal id
    let chunked = curl(
        &edge,
        &[
            "-T",
            &file_arg,
            "-H",
            app,
            "-H",
            "Transfer-Encoding: chunked",
        ],
        "/auto/?ext=bin",
    )
    .await;
    assert_eq!(chunked.status, 201, "{}", chunked.body);
    let id2 = json_field(&chunked.body, "file_id")
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(id2.ends_with(".bin"), "{id2}");
    assert_eq!(client.download(&id2).await.expect("download"), data);
    let info = client.file_info(&id2).await.expect("info");
    assert_ne!(
        info.kind,
        fdfs_client::client::FileKind::Appender,
        "renamed to a normal file"
    );

    // a curl form into group2 (signed downloads): metadata from the fields, a signed URL back
    let ops = "Authorization: Bearer ops-token-0123456789";
    let form = curl(
        &edge,
        &[
            "-H",
            ops,
            "-F",
            "author=bob",
            "-F",
            &format!("file=@{file_arg}"),
        ],
        "/group2/",
    )
    .await;
    assert_eq!(form.status, 201, "{}", form.body);
    let id3 = json_field(&form.body, "file_id")
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(id3.starts_with("group2/") && id3.ends_with(".jpg"), "{id3}");
    let url = json_field(&form.body, "url")
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        url.starts_with(&format!("/{id3}?exp=")) && url.contains("&sig="),
        "{url}"
    );
    assert_eq!(client.download(&id3).await.expect("download"), data);
    let meta = client.get_metadata(&id3).await.expect("metadata");
    assert_eq!(meta, [("author".to_string(), "bob".to_string())]);

    // DELETE, then it is gone (and a second DELETE is a 404)
    let del = curl(&edge, &["-X", "DELETE", "-H", app], &format!("/{id}")).await;
    assert_eq!(del.status, 204, "{}", del.body);
    assert!(client.download(&id).await.is_err_and(|e| e.is_not_found()));
    let again = curl(&edge, &["-X", "DELETE", "-H", app], &format!("/{id}")).await;
    assert_eq!(again.status, 404, "{}", again.body);
    drop(cluster);
}

/// Hostile uploads: no or wrong credentials, another group, a signature for another method, a
/// body over the limit, a bad checksum, a form without a boundary or without a file, a client that
/// stops sending, a second upload past the per-client limit: each a clear status, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_uploads_store_nothing() {
    let (cluster, edge, _client) = upload_stack(
        10,
        "client_max_body_size = \"1MiB\"\nclient_body_timeout = \"1s\"\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small.txt");
    std::fs::write(&small, b"hello").expect("file");
    let big = dir.path().join("big.bin");
    std::fs::write(&big, pattern_body(1_500_000)).expect("file");
    let (small, big) = (small.display().to_string(), big.display().to_string());
    let app = "Authorization: Bearer app-token-0123456789";

    let none = curl(&edge, &["-T", &small], "/group1/a.txt").await;
    assert_eq!(none.status, 401);
    assert!(
        none.headers.contains("WWW-Authenticate: Bearer"),
        "{}",
        none.headers
    );
    let wrong = curl(
        &edge,
        &["-T", &small, "-H", "Authorization: Bearer nope"],
        "/group1/a.txt",
    )
    .await;
    assert_eq!(wrong.status, 403);
    let other_group = curl(&edge, &["-T", &small, "-H", app], "/group2/a.txt").await;
    assert_eq!(other_group.status, 403);
    let get_sig = sign(&edge, &["/group1/a.txt"]);
    let as_put = curl(&edge, &["-T", &small], &get_sig).await;
    assert_eq!(
        as_put.status, 403,
        "a download signature is not an upload's"
    );
    let put_sig = sign(&edge, &["--method", "PUT", "/group1/a.txt"]);
    let signed = curl(&edge, &["-T", &small], &put_sig).await;
    assert_eq!(signed.status, 201, "{}", signed.body);
    // counted once its copies are all there (a real group replicates it)
    let id = json_field(&signed.body, "file_id")
        .as_str()
        .unwrap_or("")
        .to_string();
    for s in cluster.group_storages("group1") {
        assert!(
            cluster.wait_for_file(s, &id, Duration::from_secs(30)),
            "{id} on {}",
            s.ip
        );
    }
    let before = stored_files(&cluster);

    let too_big = curl(&edge, &["-T", &big, "-H", app], "/group1/b.bin").await;
    assert_eq!(too_big.status, 413);
    let too_big_chunked = curl(
        &edge,
        &["-T", &big, "-H", app, "-H", "Transfer-Encoding: chunked"],
        "/group1/b.bin",
    )
    .await;
    assert_eq!(too_big_chunked.status, 413, "{}", too_big_chunked.body);
    let bad_md5 = curl(
        &edge,
        &[
            "-T",
            &small,
            "-H",
            app,
            "-H",
            "Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==",
        ],
        "/group1/a.txt",
    )
    .await;
    assert_eq!(bad_md5.status, 400);
    assert!(
        bad_md5.body.contains("checksum mismatch"),
        "{}",
        bad_md5.body
    );
    let no_boundary = curl(
        &edge,
        &[
            "-H",
            app,
            "-H",
            "Content-Type: multipart/form-data",
            "--data-binary",
            "x",
        ],
        "/group1/",
    )
    .await;
    assert_eq!(no_boundary.status, 400, "{}", no_boundary.body);
    let huge_boundary = format!(
        "Content-Type: multipart/form-data; boundary={}",
        "b".repeat(200)
    );
    let huge = curl(
        &edge,
        &["-H", app, "-H", &huge_boundary, "--data-binary", "x"],
        "/group1/",
    )
    .await;
    assert_eq!(huge.status, 400, "{}", huge.body);
    let no_file = curl(&edge, &["-H", app, "-F", "author=bob"], "/group1/").await;
    assert_eq!(no_file.status, 400);
    assert!(no_file.body.contains("no file field"), "{}", no_file.body);

    // a client that announces 100,000 bytes, sends 1,000 and stops: 408 once client_body_timeout
    // passed, while a second upload from the same address is refused (one at a time)
    let mut stalled = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    let head = format!(
        "PUT /group1/c.bin HTTP/1.1\r\nHost: edge\r\n{app}\r\nContent-Length: 100000\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).await.expect("send");
    stalled.write_all(&[7u8; 1000]).await.expect("send");
    eventually_async(
        Duration::from_secs(10),
        "the second upload was never refused",
        || async {
            let second = curl(&edge, &["-T", &small, "-H", app], "/group1/d.txt").await;
            if second.status == 429 {
                Ok(())
            } else {
                Err(format!("{} {}", second.status, second.body))
            }
        },
    )
    .await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stalled.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    eventually_async(
        Duration::from_secs(10),
        "a refused upload left a file",
        || async {
            let now = stored_files(&cluster);
            if now == before {
                Ok(())
            } else {
                Err(format!("{now} files, {before} before"))
            }
        },
    )
    .await;
}

/// An upload refused before its body was read (401 here) keeps reading and dropping the body
/// before the connection closes (nginx's lingering close): the client sends the whole body without
/// a reset and reads the answer, then the end of the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_early_answer_lingers_until_the_body_is_sent() {
    let (_cluster, edge, _client) = upload_stack(20, "");
    let body = vec![7u8; 4 << 20];
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    let head = format!(
        "PUT /group1/big.bin HTTP/1.1\r\nHost: edge\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("send");
    s.write_all(&body[..1000]).await.expect("send");
    let mut buf = Vec::new();
    let (status, _, _) = read_one(&mut s, &mut buf).await;
    assert_eq!(status, 401);
    // the answer is out; a connection closed now would reset these bytes
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(&body[1000..])
        .await
        .expect("the rest of the body is taken, not reset");
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest)).await;
    assert!(
        matches!(end, Ok(Ok(_))),
        "the connection ends cleanly: {end:?}"
    );
}

/// Browser-friendly answers: CORS for an allowed origin (on a miss, a disk hit and a memory hit),
/// `Vary: Origin`, preflights answered here (never sent to a storage), nothing for other origins;
/// `?filename=` as RFC 6266/5987, with no header injection and long names served (fastdfs issue
/// 648: the C module answered 400).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_and_download_names() {
    let o = Origin::start(LO).await;
    let edge = Edge::start(&EdgeConfig {
        response_extra: "cors_origins = [\"https://app.example.com\"]\n".into(),
        ..EdgeConfig::default().group("group1", &[o.addr])
    });
    let p = "/group1/M00/00/00/cors.txt";
    let app = "Origin: https://app.example.com";
    for expected in ["MISS", "HIT", "HIT"] {
        let r = req(&edge, "GET", p, &[app]).await;
        assert_eq!(r.cache_status(), expected);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert!(r
            .header("access-control-expose-headers")
            .is_some_and(|v| v.contains("X-Cache-Status")));
        assert!(
            r.header("vary").is_some_and(|v| v.contains("Origin")),
            "{:?}",
            r.headers
        );
    }
    let other = req(&edge, "GET", p, &["Origin: https://evil.example"]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert!(other.header("vary").is_some_and(|v| v.contains("Origin")));

    let pre = req(
        &edge,
        "OPTIONS",
        p,
        &[
            app,
            "Access-Control-Request-Method: GET",
            "Access-Control-Request-Headers: Range",
        ],
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, HEAD")
    );
    assert_eq!(pre.header("access-control-allow-headers"), Some("Range"));
    assert_eq!(pre.header("access-control-max-age"), Some("86400"));
    let refused = req(
        &edge,
        "OPTIONS",
        p,
        &[
            "Origin: https://evil.example",
            "Access-Control-Request-Method: GET",
        ],
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(o.count(p), 1, "preflights never reach a storage");
    // the edge's own answers too (an error page here; an upload's JSON the same way)
    let own = req(&edge, "GET", "/nogroup/M00/00/00/x", &[app]).await;
    assert_eq!(own.status, 404);
    assert_eq!(
        own.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );

    let hostile = format!("{p}?filename=r%C3%A9sum%C3%A9%0D%0ASet-Cookie:%20x=1.pdf");
    let r = get(&edge, &hostile).await;
    assert_eq!(r.status, 200);
    let cd = r
        .header("content-disposition")
        .expect("Content-Disposition");
    assert!(cd.starts_with("attachment; filename=\""), "{cd}");
    assert!(
        cd.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%0D%0ASet-Cookie%3A%20x%3D1.pdf"),
        "{cd}"
    );
    assert!(r.header("set-cookie").is_none());
    let long = format!("{p}?filename={}.pdf", "n".repeat(2000));
    let r = get(&edge, &long).await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .is_some_and(|v| v.len() > 2000));
}

const TUS: &str = "Tus-Resumable: 1.0.0";
const APP: &str = "Authorization: Bearer app-token-0123456789";

/// A header of a raw HTTP/1.1 answer.
fn raw_header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A tus PATCH of `body` at `offset` on a fresh connection; `stop_after` bytes of it only, then the
/// connection is closed (an interrupted upload). The raw answer ("" when there is none).
async fn tus_patch(
    edge: &Edge,
    location: &str,
    offset: u64,
    body: &[u8],
    stop_after: Option<usize>,
) -> String {
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: edge\r\n{APP}\r\n{TUS}\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("send");
    match stop_after {
        Some(n) => {
            s.write_all(&body[..n]).await.expect("send");
            drop(s);
            String::new()
        }
        None => {
            // an early answer (409) closes the connection before the body is sent: read it anyway
            let _ = s.write_all(body).await;
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer).await;
            String::from_utf8_lossy(&answer).to_string()
        }
    }
}

/// tus 1.0: a 200 MiB upload interrupted halfway, its offset asked, resumed, and the finished file
/// (renamed to a normal id) compared byte for byte; a PATCH at the wrong offset (409), without
/// Tus-Resumable (412), OPTIONS, and termination (DELETE, then 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumable_upload_interrupted_halfway_resumes() {
    let (_cluster, edge, client) = upload_stack_with(11, "client_max_body_size = \"300MiB\"\n", "");
    let total: usize = 200 << 20;
    let data = pattern_body(total as u64);

    let opts = curl(&edge, &["-X", "OPTIONS"], "/tus/").await;
    assert_eq!(opts.status, 204);
    assert!(
        opts.headers.contains("Tus-Version: 1.0.0"),
        "{}",
        opts.headers
    );
    assert!(opts
        .headers
        .contains("Tus-Extension: creation,termination,expiration"));

    // "big.bin" in base64 is YmlnLmJpbg==
    let created = curl(
        &edge,
        &[
            "-X",
            "POST",
            "-H",
            APP,
            "-H",
            TUS,
            "-H",
            &format!("Upload-Length: {total}"),
            "-H",
            "Upload-Metadata: filename YmlnLmJpbg==",
        ],
        "/tus/group1/",
    )
    .await;
    assert_eq!(created.status, 201, "{}{}", created.headers, created.body);
    let location = raw_header(&created.headers, "location")
        .expect("Location")
        .to_string();
    assert!(location.starts_with("/tus/group1/"), "{location}");
    assert!(raw_header(&created.headers, "upload-expires").is_some());

    // half of it, then the connection drops
    let half = total / 2;
    assert_eq!(tus_patch(&edge, &location, 0, &data, Some(half)).await, "");
    let offset_now = || async {
        let h = curl(&edge, &["-I", "-H", APP, "-H", TUS], &location).await;
        match raw_header(&h.headers, "upload-offset").and_then(|v| v.parse::<u64>().ok()) {
            Some(o) if h.status == 200 => Ok(o),
            _ => Err(format!("{} {}", h.status, h.headers)),
        }
    };
    let offset: u64 = eventually_async(
        Duration::from_secs(30),
        "no offset after the interruption",
        offset_now,
    )
    .await;
    assert!(offset <= half as u64, "{offset}");
    let head = curl(&edge, &["-I", "-H", APP, "-H", TUS], &location).await;
    assert_eq!(
        raw_header(&head.headers, "upload-length"),
        Some(total.to_string().as_str())
    );

    let wrong = tus_patch(&edge, &location, offset + 1, b"x", None).await;
    assert!(wrong.starts_with("HTTP/1.1 409"), "{wrong}");
    let no_tus = curl(
        &edge,
        &[
            "-X",
            "PATCH",
            "-H",
            APP,
            "-H",
            "Content-Type: application/offset+octet-stream",
            "-H",
            &format!("Upload-Offset: {offset}"),
            "--data-binary",
            "x",
        ],
        &location,
    )
    .await;
    assert_eq!(no_tus.status, 412);

    // resume as a tus client does: from the offset HEAD gives, again after a 409 (the storage may
    // still be writing what reached it before the interruption when the first HEAD is answered)
    let mut rest = String::new();
    for _ in 0..5 {
        let at = eventually_async(Duration::from_secs(30), "no offset", offset_now).await;
        rest = tus_patch(&edge, &location, at, &data[at as usize..], None).await;
        if !rest.starts_with("HTTP/1.1 409") {
            break;
        }
    }
    assert!(rest.starts_with("HTTP/1.1 204"), "{rest}");
    assert_eq!(
        raw_header(&rest, "upload-offset"),
        Some(total.to_string().as_str())
    );
    let done = raw_header(&rest, "x-fdfs-file-id")
        .expect("X-Fdfs-File-Id")
        .to_string();
    assert!(done.ends_with(".bin"), "{done}");
    let info = client.file_info(&done).await.expect("info");
    assert_ne!(info.kind, fdfs_client::client::FileKind::Appender);
    assert_eq!(info.file_size, total as u64);
    let got = client.download(&done).await.expect("download");
    assert!(got == data, "the resumed file differs from what was sent");
    let meta = client.get_metadata(&done).await.expect("metadata");
    assert_eq!(meta, [("filename".to_string(), "big.bin".to_string())]);

    // termination
    let second = tus_create(&edge, "/tus/group1/").await;
    assert_eq!(second.status, 201);
    let loc2 = raw_header(&second.headers, "location")
        .expect("Location")
        .to_string();
    assert_eq!(
        curl(&edge, &["-X", "DELETE", "-H", APP, "-H", TUS], &loc2)
            .await
            .status,
        204
    );
    assert_eq!(
        curl(&edge, &["-I", "-H", APP, "-H", TUS], &loc2)
            .await
            .status,
        404
    );
}

/// An upload the trackers put in a group its creator holds no grant for (it holds `auto`): the
/// creator may still resume, finish and terminate it; another bearer holding `auto` may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumable_upload_into_the_trackers_choice_stays_its_creators() {
    let group2_first = ClusterConfig::builder()
        .groups(2)
        .storages_per_group(1)
        .first_storage_ip(Ipv4Addr::new(127, 0, 19, 11))
        .store_group("group2")
        .build();
    let (_cluster, edge, client) = upload_stack_on(group2_first, "", "");
    let created = tus_create(&edge, "/tus/auto/").await;
    assert_eq!(created.status, 201, "{}", created.body);
    let location = raw_header(&created.headers, "location")
        .expect("Location")
        .to_string();
    if !location.starts_with("/tus/group2/") {
        // a real cluster's trackers chose group1, where the creator holds a grant anyway
        eprintln!("SKIP a_resumable_upload_into_the_trackers_choice_stays_its_creators: the trackers chose {location}");
        return;
    }
    let web = "Authorization: Bearer web-token-0123456789";
    let others_head = curl(&edge, &["-I", "-H", web, "-H", TUS], &location).await;
    assert_eq!(others_head.status, 403, "HEAD by another bearer");
    let others_delete = curl(&edge, &["-X", "DELETE", "-H", web, "-H", TUS], &location).await;
    assert_eq!(others_delete.status, 403, "DELETE by another bearer");

    let head = curl(&edge, &["-I", "-H", APP, "-H", TUS], &location).await;
    assert_eq!(head.status, 200, "{}", head.headers);
    assert_eq!(raw_header(&head.headers, "upload-offset"), Some("0"));
    let answer = tus_patch(&edge, &location, 0, b"0123456789", None).await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let done = raw_header(&answer, "x-fdfs-file-id")
        .expect("X-Fdfs-File-Id")
        .to_string();
    assert!(done.starts_with("group2/"), "{done}");
    assert_eq!(
        client.download(&done).await.expect("download"),
        b"0123456789"
    );
    let meta = client.get_metadata(&done).await.unwrap_or_default();
    assert!(meta.iter().all(|(k, _)| !k.starts_with("tus-")), "{meta:?}");
    // a finished file is an ordinary one: deleting it needs its group
    let del = curl(&edge, &["-X", "DELETE", "-H", APP], &format!("/{done}")).await;
    assert_eq!(del.status, 403);

    let second = tus_create(&edge, "/tus/auto/").await;
    let loc2 = raw_header(&second.headers, "location")
        .expect("Location")
        .to_string();
    let gone = curl(&edge, &["-X", "DELETE", "-H", APP, "-H", TUS], &loc2).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    // gone: for a bearer of group2, 404; for the creator, nothing of its own is there any more
    let ops = "Authorization: Bearer ops-token-0123456789";
    let after = curl(&edge, &["-I", "-H", ops, "-H", TUS], &loc2).await;
    assert_eq!(after.status, 404);
    let mine = curl(&edge, &["-I", "-H", APP, "-H", TUS], &loc2).await;
    assert_eq!(mine.status, 403);
}

/// A tus upload of 10 bytes created at `path` (`/tus/<group|auto>/`).
/// A PATCH whose storage goes away halfway through the body is answered (5xx), not left hanging:
/// the append ends, and the rest of the body is no longer waited for by the append (the reader of
/// the body used to block on a full channel once the append had failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_whose_storage_dies_is_answered() {
    let (cluster, edge, _client) = upload_stack_with(21, "client_max_body_size = \"64MiB\"\n", "");
    let Some(emu) = cluster.skip_unless_emulated("a storage killed during a PATCH") else {
        return;
    };
    let total: usize = 16 << 20;
    let created = tus_create_of(&edge, "/tus/group1/", total).await;
    assert_eq!(created.status, 201, "{}{}", created.headers, created.body);
    let location = raw_header(&created.headers, "location")
        .expect("Location")
        .to_string();
    let data = pattern_body(total as u64);
    let mut s = tokio::net::TcpStream::connect(edge.listen)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: edge\r\n{APP}\r\n{TUS}\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("send");
    s.write_all(&data[..1 << 20]).await.expect("send");
    // group1's storage (the first) goes away with the append in progress: once bytes reached the
    // appender file
    let file_id = location.trim_start_matches("/tus/").to_string();
    let storage = cluster.group_storages("group1")[0].clone();
    let path = cluster
        .local_path(&storage, &file_id)
        .expect("the appender's path");
    eventually_async(Duration::from_secs(30), "the append never began", || {
        let path = path.clone();
        async move { std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) }
    })
    .await;
    emu.kill(storage.index).expect("kill");
    let (mut rd, mut wr) = s.into_split();
    let rest = tokio::spawn(async move {
        let _ = wr.write_all(&data[1 << 20..]).await;
        wr
    });
    let mut answer = Vec::new();
    // the deadline bounds a hang: before the fix no answer ever came
    let read = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut answer)).await;
    rest.abort();
    assert!(
        read.is_ok(),
        "no answer to the PATCH after its storage died"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 5"), "{answer}");
}

async fn tus_create(edge: &Edge, path: &str) -> Curled {
    tus_create_of(edge, path, 10).await
}

/// A tus creation of an upload of `len` bytes under `path`.
async fn tus_create_of(edge: &Edge, path: &str, len: usize) -> Curled {
    let length = format!("Upload-Length: {len}");
    let args = ["-X", "POST", "-H", APP, "-H", TUS, "-H", &length];
    curl(edge, &args, path).await
}

/// An upload past `tus_expires` is gone (410, its file deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_resumable_upload_is_gone() {
    let (_cluster, edge, client) = upload_stack_with(12, "", "tus_expires = \"1s\"\n");
    let created = tus_create(&edge, "/tus/group1/").await;
    assert_eq!(created.status, 201);
    let location = raw_header(&created.headers, "location")
        .expect("Location")
        .to_string();
    let id = location.trim_start_matches("/tus/").to_string();
    eventually_async(
        Duration::from_secs(30),
        "the upload never expired",
        || async {
            let h = curl(&edge, &["-I", "-H", APP, "-H", TUS], &location).await;
            if h.status == 410 {
                Ok(())
            } else {
                Err(h.status.to_string())
            }
        },
    )
    .await;
    assert!(
        client.file_info(&id).await.is_err(),
        "the expired upload's file is deleted"
    );
}

/// A self-signed certificate for 127.0.0.1 made now (the openssl tool): (certificate, key).
fn make_cert(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// curl over HTTPS trusting `ca`: "<status> <HTTP version>", and the body.
async fn curl_tls(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    version: &str,
    path: &str,
) -> (String, Vec<u8>) {
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code} %{http_version}",
            version,
            "--cacert",
        ])
        .arg(ca)
        .arg(format!("https://{addr}{path}"))
        .output()
        .await
        .expect("run curl");
    let mut body = out.stdout;
    let split = body.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&body[split + 1..]).to_string();
    body.truncate(split);
    (status, body)
}

/// HTTPS and HTTP/2 on `[tls] listen`, HTTP/1.1 still offered, the plain listener untouched; a
/// renewed certificate is used after SIGHUP, and a broken one is refused while the old one stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_http2_and_certificate_reload() {
    let o = Origin::start(LO).await;
    let certs = tempfile::tempdir().expect("tempdir");
    let (first, first_key) = make_cert(certs.path(), "first");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::copy(&first, &cert).expect("copy");
    std::fs::copy(&first_key, &key).expect("copy");
    let tls = std::net::SocketAddr::from((LO, fdfs_integration::net::free_port(LO)));
    let edge = Edge::start(&EdgeConfig {
        extra: format!(
            "[tls]\nlisten = [\"{tls}\"]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        ..EdgeConfig::default().group("group1", &[o.addr])
    });
    let p = "/group1/M00/00/00/tls.txt";
    let (status, body) = curl_tls(tls, &first, "--http2", p).await;
    assert_eq!(status, "200 2", "HTTP/2 over TLS");
    assert_eq!(body, body_of(p));
    let (status, body) = curl_tls(tls, &first, "--http1.1", p).await;
    assert_eq!(status, "200 1.1");
    assert_eq!(body, body_of(p));
    assert_eq!(
        get(&edge, p).await.cache_status(),
        "HIT",
        "one cache for both listeners"
    );
    assert_eq!(o.count(p), 1);

    // a renewed certificate, then SIGHUP
    let (second, second_key) = make_cert(certs.path(), "second");
    std::fs::copy(&second, &cert).expect("copy");
    std::fs::copy(&second_key, &key).expect("copy");
    edge.signal("HUP");
    eventually_async(
        Duration::from_secs(20),
        "the renewed certificate is never served",
        || async {
            let (status, _) = curl_tls(tls, &second, "--http2", p).await;
            if status == "200 2" {
                Ok(())
            } else {
                Err(status)
            }
        },
    )
    .await;
    let (status, _) = curl_tls(tls, &first, "--http2", p).await;
    assert_ne!(status, "200 2", "the old certificate is no longer served");

    // a broken file: refused, the renewed certificate stays
    std::fs::write(&cert, "not a certificate").expect("write");
    edge.signal("HUP");
    eventually_async(
        Duration::from_secs(20),
        "the broken certificate was not reported",
        || async {
            edge.logs()
                .contains("TLS certificate not reloaded, the old one stays")
        },
    )
    .await;
    let (status, _) = curl_tls(tls, &second, "--http2", p).await;
    assert_eq!(status, "200 2");
    assert_eq!(get(&edge, p).await.status, 200);
}
