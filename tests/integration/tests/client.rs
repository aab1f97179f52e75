//! The async client and the `fdfs` tool end to end: against the emulator (started per test, on loopback),
//! plus fake trackers/storages written here for the hostile cases.

use std::ffi::OsStr;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fdfs_client::client::{Client, ErrorKind, FileKind, MetaOp, ServerAddr, UploadOptions};
use fdfs_client::proto::{self, Header, Reply as _, HEADER_LEN};
use fdfs_emu::{ClusterBuilder, ClusterConfig};
use fdfs_integration::cluster::TestCluster;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ------------------------------------------------------------------------------------------------
// harness

struct Env {
    cluster: TestCluster,
    client: Client,
}

/// The emulator shaped as asked, or the real cluster of `FDFS_TEST_CLUSTER`.
fn start(trackers: usize, groups: usize, per_group: usize) -> Env {
    let cluster = TestCluster::start_with(
        ClusterConfig::builder()
            .trackers(trackers)
            .groups(groups)
            .storages_per_group(per_group)
            .sync_delay(Duration::ZERO)
            .build(),
    );
    let client = client_for(&cluster);
    Env { cluster, client }
}

fn tracker_addrs(cluster: &TestCluster) -> Vec<ServerAddr> {
    cluster
        .trackers()
        .iter()
        .map(|a| ServerAddr::from(SocketAddr::V4(*a)))
        .collect()
}

/// IPs of the storages of the cluster.
fn storage_ips(cluster: &TestCluster) -> Vec<String> {
    cluster
        .storages()
        .iter()
        .map(|s| s.ip.to_string())
        .collect()
}

fn client_for(cluster: &TestCluster) -> Client {
    Client::builder()
        .trackers(tracker_addrs(cluster))
        .connect_timeout(Duration::from_secs(5))
        .network_timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The emulator with a feature `config` turns on (replication at once), and a client for it; `None`
/// on a real cluster that lacks it (`has` says whether it has it), after printing `skip` (the case
/// and why): a real cluster's setup is not the suite's to change.
fn feature_cluster(
    config: ClusterBuilder,
    has: fn(&TestCluster) -> bool,
    skip: &str,
) -> Option<(TestCluster, Client)> {
    let cluster = TestCluster::start_with(config.sync_delay(Duration::ZERO).build());
    if !has(&cluster) {
        eprintln!("SKIP {skip}");
        return None;
    }
    let client = client_for(&cluster);
    Some((cluster, client))
}

/// A client whose only tracker is `tracker` (a stand-in server), with `network_timeout`.
fn client_via(tracker: SocketAddr, network_timeout: Duration) -> Client {
    Client::builder()
        .tracker(ServerAddr::from(tracker))
        .network_timeout(network_timeout)
        .build()
        .expect("client")
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn sha256_file(p: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|x| format!("{x:02x}")).collect()
}

// ------------------------------------------------------------------------------------------------
// round trips

#[tokio::test]
async fn upload_download_round_trips() {
    let env = start(1, 1, 1);
    let c = &env.client;
    for (len, ext) in [
        (0usize, "txt"),
        (1, ""),
        (10 * 1024, "jpg"),
        (1024 * 1024 + 7, "bin"),
        (3 * 256 * 1024, "dat"),
    ] {
        let body = data(len, len as u64);
        let id = c
            .upload(&body, &UploadOptions::new().ext(ext))
            .await
            .expect("upload");
        assert!(id.contains("/M00/"), "{id}");
        if !ext.is_empty() {
            assert!(id.ends_with(&format!(".{ext}")), "{id}");
        }
        let back = c.download(&id).await.expect("download");
        assert_eq!(back.len(), len);
        assert_eq!(sha256(&back), sha256(&body), "{id}");
        assert!(back == body);
        // Normal files: the info is decoded from the id and agrees with the content.
        let info = c.file_info(&id).await.expect("info");
        assert_eq!(info.kind, FileKind::Normal);
        assert!(!info.from_server);
        assert_eq!(info.file_size, len as u64);
        assert_eq!(info.crc32, crc32fast_hash(&body));
        assert!(
            storage_ips(&env.cluster).contains(&info.source_ip),
            "{}",
            info.source_ip
        );
        // And the storage says the same.
        let remote = c.query_file_info(&id).await.expect("query file info");
        assert_eq!(remote.file_size, len as u64);
        assert_eq!(remote.crc32, info.crc32);
    }
}

fn crc32fast_hash(b: &[u8]) -> u32 {
    // CRC-32 (IEEE), bitwise: the test does not depend on the code under test.
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in b {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn upload_file_and_download_to_file_stream() {
    let env = start(1, 1, 1);
    let c = &env.client;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("input.bin");
    let body = data(5 * 1024 * 1024 + 3, 42);
    std::fs::write(&src, &body).expect("write");
    let id = c
        .upload_file(&src, &UploadOptions::new())
        .await
        .expect("upload file");
    assert!(id.ends_with(".bin"), "the file's extension is used: {id}");
    let dst = dir.path().join("output.bin");
    let mut f = tokio::fs::File::create(&dst).await.expect("create");
    let n = c
        .download_to(&id, 0, None, &mut f)
        .await
        .expect("download to");
    drop(f);
    assert_eq!(n, body.len() as u64);
    assert_eq!(sha256_file(&dst), sha256(&body));

    // As a stream of chunks, no chunk above the buffer size.
    let mut stream = c.download_stream(&id, 0, None).await.expect("stream");
    assert_eq!(stream.len(), body.len() as u64);
    let mut h = Sha256::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next_chunk().await.expect("chunk") {
        assert!(!chunk.is_empty() && chunk.len() <= fdfs_client::client::STREAM_BUF_SIZE);
        total += chunk.len();
        h.update(&chunk);
    }
    assert_eq!(total, body.len());
    assert_eq!(
        h.finalize()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>(),
        sha256(&body)
    );

    // From any AsyncRead of known length.
    let mut reader = &body[..1000];
    let id2 = c
        .upload_reader(&mut reader, 1000, &UploadOptions::new().ext("raw"))
        .await
        .expect("reader");
    assert_eq!(c.download(&id2).await.expect("download"), &body[..1000]);

    // A reader shorter than announced is a local error, and nothing is left half-open in the pool.
    let mut short = &body[..10];
    let e = c
        .upload_reader(&mut short, 100, &UploadOptions::new())
        .await
        .expect_err("short reader");
    assert_eq!(e.kind(), ErrorKind::Local, "{e}");
    assert!(c.download(&id2).await.is_ok());
}

/// Pieces handed over as they come (an HTTP body: `upload_chunks`, `append_chunks`): small ones
/// gathered, large ones written as they are, empty ones skipped; the stored bytes are the pieces'
/// in order; a source that ends early or hands over too much stores nothing.
#[tokio::test]
async fn upload_and_append_from_pieces() {
    let env = start(1, 1, 1);
    let c = &env.client;
    let body = data(200_000, 3);
    let sizes = [3967, 0, 6273, 100_000, 17, 65_536, 24_207];
    assert_eq!(sizes.iter().sum::<usize>(), body.len());
    let feed = |sizes: Vec<usize>, extra: Option<io::Error>| {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let body = body.clone();
        tokio::spawn(async move {
            let mut at = 0;
            for n in sizes {
                let piece = bytes::Bytes::copy_from_slice(&body[at..at + n]);
                at += n;
                if tx.send(Ok(piece)).await.is_err() {
                    return;
                }
            }
            if let Some(e) = extra {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    };
    let len = body.len() as u64;
    let mut rx = feed(sizes.to_vec(), None);
    let opts = UploadOptions::new().ext("bin");
    let id = c.upload_chunks(&mut rx, len, &opts).await.expect("upload");
    assert_eq!(c.download(&id).await.expect("download"), body);

    // ends early: the last piece missing
    let mut rx = feed(sizes[..6].to_vec(), None);
    let e = c.upload_chunks(&mut rx, len, &opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Local, "{e}");
    // more than declared
    let mut rx = feed(sizes.to_vec(), None);
    let e = c.upload_chunks(&mut rx, len - 1, &opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Local, "{e}");
    // the source fails
    let mut rx = feed(
        sizes[..3].to_vec(),
        Some(io::Error::other("client went away")),
    );
    let e = c.upload_chunks(&mut rx, len, &opts).await.unwrap_err();
    assert!(e.to_string().contains("client went away"), "{e}");

    // appended from pieces, after a failed append that stored nothing
    let head = data(1000, 4);
    let id = c
        .upload(&head, &UploadOptions::new().appender())
        .await
        .expect("appender");
    let mut rx = feed(sizes[..2].to_vec(), None);
    let e = c.append_chunks(&id, &mut rx, len).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Local, "{e}");
    let mut rx = feed(sizes.to_vec(), None);
    c.append_chunks(&id, &mut rx, len).await.expect("append");
    let src = c.query_update(&id).await.expect("update server").addr;
    let s = c.download_stream_from(Some(&src), &id, 0, None).await;
    let mut back = Vec::new();
    s.expect("stream")
        .copy_to(&mut back, &mut |_| {})
        .await
        .expect("download");
    assert_eq!(back, [head, body.clone()].concat());
}

#[tokio::test]
async fn ranges() {
    let env = start(1, 1, 1);
    let c = &env.client;
    let body = data(10 * 1024, 7);
    let id = c
        .upload(&body, &UploadOptions::new().ext("jpg"))
        .await
        .expect("upload");
    for (off, len) in [
        (0u64, Some(1u64)),
        (100, Some(200)),
        (10 * 1024 - 1, Some(1)),
        (5000, None),
        (0, None),
    ] {
        let got = c.download_range(&id, off, len).await.expect("range");
        let end = len.map_or(body.len(), |l| (off + l) as usize);
        assert_eq!(got, &body[off as usize..end], "offset {off} len {len:?}");
    }
    let mut out = Vec::new();
    let n = c
        .download_to(&id, 100, Some(200), &mut out)
        .await
        .expect("range to writer");
    assert_eq!(n, 200);
    assert_eq!(out, &body[100..300]);
    // Past the end: the storage refuses.
    let e = c
        .download_range(&id, 20_000, Some(10))
        .await
        .expect_err("beyond the end");
    assert_eq!(e.kind(), ErrorKind::Status, "{e}");
    assert_eq!(
        c.download_range(&id, 0, Some(0))
            .await
            .expect_err("zero")
            .kind(),
        ErrorKind::InvalidArgument
    );
}

// ------------------------------------------------------------------------------------------------
// metadata, appender, slave, delete

#[tokio::test]
async fn metadata_merge_and_overwrite() {
    let env = start(1, 1, 1);
    let c = &env.client;
    let id = c
        .upload(
            b"meta",
            &UploadOptions::new()
                .ext("txt")
                .meta("color", "red")
                .meta("owner", "vectors"),
        )
        .await
        .expect("upload with metadata");
    let m = sorted_metadata(c, &id).await;
    assert_eq!(m, pairs(&[("color", "red"), ("owner", "vectors")]));

    c.set_metadata(&id, [("color", "blue"), ("size", "big")], MetaOp::Merge)
        .await
        .expect("merge");
    let m = sorted_metadata(c, &id).await;
    assert_eq!(
        m,
        pairs(&[("color", "blue"), ("owner", "vectors"), ("size", "big")])
    );

    c.set_metadata(&id, [("k1", "v1"), ("k2", "v2")], MetaOp::Overwrite)
        .await
        .expect("overwrite");
    let m = sorted_metadata(c, &id).await;
    assert_eq!(m, pairs(&[("k1", "v1"), ("k2", "v2")]));
    // The storage sorts an overwrite by name (checked on 6.16.1): read back in that order.
    c.set_metadata(&id, [("zeta", "1"), ("alpha", "2")], MetaOp::Overwrite)
        .await
        .expect("overwrite");
    assert_eq!(
        c.get_metadata(&id).await.expect("get"),
        pairs(&[("alpha", "2"), ("zeta", "1")])
    );

    // A file without metadata: FastDFS answers ENOENT, like for a missing file (checked on 6.16.1).
    let plain = c.upload(b"x", &UploadOptions::new()).await.expect("upload");
    let e = c.get_metadata(&plain).await.expect_err("no metadata");
    assert!(e.is_not_found(), "{e}");
    assert_eq!(c.download(&plain).await.expect("the file is there"), b"x");
}

/// The file's metadata sorted by name, so that a comparison does not depend on the order the
/// storage keeps it in.
async fn sorted_metadata(c: &Client, id: &str) -> Vec<(String, String)> {
    let mut m = c.get_metadata(id).await.expect("get");
    m.sort();
    m
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn appender_life_cycle() {
    let env = start(1, 1, 1);
    let c = &env.client;
    let part1 = data(3000, 1);
    let part2 = data(2000, 2);
    let id = c
        .upload(&part1, &UploadOptions::new().ext("txt").appender())
        .await
        .expect("upload appender");
    let info = c.file_info(&id).await.expect("info");
    assert_eq!(info.kind, FileKind::Appender);
    assert!(info.from_server, "appender info comes from the storage");
    assert_eq!(info.file_size, 3000);

    // Read back from the source storage: on a real cluster the others see changes only after sync.
    let src = c.query_update(&id).await.expect("update server").addr;
    let read = |id: String| {
        let (c, src) = (c.clone(), src.clone());
        async move {
            let s = c.download_stream_from(Some(&src), &id, 0, None).await?;
            let mut out = Vec::new();
            s.copy_to(&mut out, &mut |_| {}).await?;
            Ok::<_, fdfs_client::client::Error>(out)
        }
    };
    c.append(&id, &part2).await.expect("append");
    let mut expect = [part1.clone(), part2.clone()].concat();
    assert_eq!(read(id.clone()).await.expect("download"), expect);
    assert_eq!(c.file_info(&id).await.expect("info").file_size, 5000);

    c.modify(&id, 10, b"HELLO").await.expect("modify");
    expect[10..15].copy_from_slice(b"HELLO");
    assert_eq!(read(id.clone()).await.expect("download"), expect);

    c.truncate(&id, 1234).await.expect("truncate");
    expect.truncate(1234);
    assert_eq!(read(id.clone()).await.expect("download"), expect);
    // To the current size: FastDFS 6.16 answers status 0 with the request echoed as the body.
    c.truncate(&id, 1234)
        .await
        .expect("truncate to the same size");
    // Past the end: the file grows with zeros.
    c.truncate(&id, 1300).await.expect("truncate past the end");
    let mut grown = expect.clone();
    grown.resize(1300, 0);
    assert_eq!(read(id.clone()).await.expect("download"), grown);
    c.truncate(&id, 1234).await.expect("truncate back");
    assert_eq!(read(id.clone()).await.expect("download"), expect);
    let info = c.file_info(&id).await.expect("info");
    assert_eq!(info.file_size, 1234);
    assert_eq!(info.crc32, crc32fast_hash(&expect));

    let new_id = c
        .regenerate_appender_filename(&id)
        .await
        .expect("regenerate");
    assert_ne!(new_id, id);
    assert!(new_id.ends_with(".txt"), "{new_id}");
    let info = c.file_info(&new_id).await.expect("info");
    assert_eq!(info.kind, FileKind::Normal);
    assert!(!info.from_server);
    assert_eq!(info.file_size, 1234);
    assert_eq!(read(new_id.clone()).await.expect("download"), expect);
    // The appender name is gone.
    assert!(read(id.clone()).await.expect_err("old name").is_not_found());
    // A normal file cannot be appended to.
    assert_eq!(
        c.append(&new_id, b"x")
            .await
            .expect_err("append to normal")
            .kind(),
        ErrorKind::Status
    );
}

#[tokio::test]
async fn slave_files() {
    let env = start(1, 1, 1);
    let c = &env.client;
    let master_body = data(4096, 3);
    let master = c
        .upload(&master_body, &UploadOptions::new().ext("jpg"))
        .await
        .expect("master");
    let slave_body = data(4096 + 67, 4);
    let slave = c
        .upload(
            &slave_body,
            &UploadOptions::new()
                .ext("jpg")
                .slave(master.clone(), "_big")
                .meta("w", "160"),
        )
        .await
        .expect("slave");
    let stem = master.strip_suffix(".jpg").expect("jpg");
    assert_eq!(slave, format!("{stem}_big.jpg"));
    assert_eq!(c.download(&slave).await.expect("download"), slave_body);
    assert_eq!(
        c.get_metadata(&slave).await.expect("meta"),
        pairs(&[("w", "160")])
    );
    let info = c.file_info(&slave).await.expect("info");
    assert_eq!(info.kind, FileKind::Slave);
    assert!(info.from_server);
    assert_eq!(info.file_size, slave_body.len() as u64);
    // Master unchanged.
    assert_eq!(c.download(&master).await.expect("download"), master_body);
}

#[tokio::test]
async fn delete_then_download_is_enoent() {
    let env = start(1, 1, 1);
    let c = &env.client;
    let id = c
        .upload(&data(2048, 5), &UploadOptions::new().ext("txt"))
        .await
        .expect("upload");
    c.delete(&id).await.expect("delete");
    let e = c.download(&id).await.expect_err("download deleted");
    assert!(e.is_not_found(), "{e}");
    let msg = e.to_string();
    let s = e.addr().expect("the storage's address").to_owned();
    assert!(
        env.cluster
            .storages()
            .iter()
            .any(|st| st.addr().to_string() == s),
        "{msg}"
    );
    assert_eq!(msg, format!("storage {s}: download {id}: ENOENT (2)"));
    let e = c.delete(&id).await.expect_err("delete again");
    assert!(e.is_not_found(), "{e}");
    assert!(
        e.to_string().contains(&format!("delete {id}: ENOENT (2)")),
        "{e}"
    );
    assert!(c.get_metadata(&id).await.expect_err("meta").is_not_found());
}

// ------------------------------------------------------------------------------------------------
// cluster views

#[tokio::test]
async fn groups_storages_and_parameters() {
    let env = start(1, 2, 2);
    let c = &env.client;
    let groups = c.list_groups().await.expect("groups");
    let mut names: Vec<_> = groups.iter().map(|g| g.group_name.clone()).collect();
    names.sort();
    let mut expected = env.cluster.groups();
    expected.sort();
    assert_eq!(names, expected);
    let cluster = c.cluster().await.expect("cluster");
    for g in &cluster {
        assert_eq!(
            g.storages.len(),
            env.cluster.group_storages(&g.stat.group_name).len(),
            "{}",
            g.stat.group_name
        );
        for s in &g.storages {
            let emu = env
                .cluster
                .storages()
                .iter()
                .find(|e| e.ip.to_string() == s.ip_addr && u64::from(e.port) == s.storage_port)
                .expect("a storage the emulator runs");
            assert_eq!(emu.group, g.stat.group_name);
        }
    }
    let last = expected.last().expect("a group").clone();
    let first = expected.first().expect("a group").clone();
    let one = c.list_group(&last).await.expect("one group");
    assert_eq!(one.group_name, last);
    assert!(c
        .list_group("nosuchgroup")
        .await
        .expect_err("unknown group")
        .is_not_found());

    let stores = c.query_store_all(Some(&first)).await.expect("store all");
    assert!(!stores.is_empty());
    assert!(stores.iter().all(|s| s.group == first));
    let s = c.query_store(Some(&last)).await.expect("store");
    assert_eq!(s.group, last);

    let id = c
        .upload(b"where", &UploadOptions::new().group(last.clone()))
        .await
        .expect("upload to a group");
    assert!(id.starts_with(&format!("{last}/")));
    let upd = c.query_update(&id).await.expect("update");
    assert_eq!(upd.group, last);
    let all = c.query_fetch_all(&id).await.expect("fetch all");
    assert!(!all.is_empty());

    let params = c.storage_parameters().await.expect("parameters");
    assert!(!params.is_empty());
}

#[tokio::test]
async fn upload_to_an_explicit_storage() {
    let env = start(1, 2, 1);
    let c = &env.client;
    let s = env.cluster.storages().last().expect("a storage");
    let addr = ServerAddr::from(SocketAddr::V4(s.addr()));
    let id = c
        .upload(b"explicit", &UploadOptions::new().ext("txt").storage(addr))
        .await
        .expect("upload");
    assert!(id.starts_with(&format!("{}/", s.group)), "{id}");
    assert_eq!(c.download(&id).await.expect("download"), b"explicit");
}

#[tokio::test]
async fn storage_id_mode() {
    let Some((cluster, c)) = feature_cluster(
        ClusterConfig::builder().use_storage_id(true),
        TestCluster::use_storage_id,
        "storage_id_mode: the real cluster does not use storage ids",
    ) else {
        return;
    };
    let ids = c.storage_ids().await.expect("storage ids");
    assert_eq!(ids.len(), cluster.storages().len(), "{ids:?}");
    for s in cluster.storages() {
        assert!(
            ids.iter()
                .any(|e| e.group_name == s.group && e.first_ip() == s.ip.to_string()),
            "{s:?} in {ids:?}"
        );
    }
    // A name carrying a storage id, not an IP: FastDFS asks the storage for the info.
    let body = data(777, 77);
    let id = c
        .upload(&body, &UploadOptions::new().ext("bin"))
        .await
        .expect("upload");
    let info = c.file_info(&id).await.expect("info");
    assert!(info.source_storage_id.is_some(), "{info:?}");
    assert!(info.from_server);
    assert_eq!(info.file_size, 777);
    assert!(storage_ips(&cluster).contains(&info.source_ip), "{info:?}");
    assert_eq!(c.download(&id).await.expect("download"), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_share_one_client() {
    let env = start(1, 2, 1);
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let c = env.client.clone();
        tasks.push(tokio::spawn(async move {
            let body = data(1000 + (i as usize) * 4099, i);
            let id = c.upload(&body, &UploadOptions::new().ext("bin")).await?;
            let back = c.download(&id).await?;
            c.delete(&id).await?;
            Ok::<bool, fdfs_client::client::Error>(back == body)
        }));
    }
    for t in tasks {
        assert!(t.await.expect("join").expect("transfer"));
    }
}

#[tokio::test]
async fn trunk_files_are_decoded_locally() {
    let Some((_cluster, c)) = feature_cluster(
        ClusterConfig::builder().trunk(true),
        TestCluster::trunk,
        "trunk_files_are_decoded_locally: the real cluster is not in trunk mode",
    ) else {
        return;
    };
    let body = data(3000, 33);
    let id = c
        .upload(&body, &UploadOptions::new().ext("txt"))
        .await
        .expect("upload");
    let info = c.file_info(&id).await.expect("info");
    assert_eq!(info.kind, FileKind::Trunk, "{id}");
    assert!(!info.from_server);
    assert_eq!(info.file_size, 3000);
    assert_eq!(info.crc32, crc32fast_hash(&body));
    assert_eq!(c.download(&id).await.expect("download"), body);
    assert_eq!(
        c.download_range(&id, 10, Some(20)).await.expect("range"),
        &body[10..30]
    );
    c.delete(&id).await.expect("delete");
    assert!(c.download(&id).await.expect_err("deleted").is_not_found());
}

// ------------------------------------------------------------------------------------------------
// failures

/// Pooled connections to a storage that restarted are noticed (closed by the server) and replaced,
/// so even calls that are not retried (delete, a streamed upload) succeed.
#[tokio::test]
async fn storage_restart_does_not_break_pooled_calls() {
    let env = start(1, 1, 1);
    let Some(emu) = env
        .cluster
        .skip_unless_emulated("storage_restart_does_not_break_pooled_calls")
    else {
        return;
    };
    let c = &env.client;
    let id = c
        .upload(b"before", &UploadOptions::new())
        .await
        .expect("upload");
    let id2 = c
        .upload(b"before 2", &UploadOptions::new())
        .await
        .expect("upload");
    emu.kill(0).expect("kill");
    let e = c.download(&id).await.expect_err("storage down");
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Connect | ErrorKind::Io | ErrorKind::Status
        ),
        "{e}"
    );
    emu.restart(0).expect("restart");
    c.delete(&id).await.expect("delete after the restart");
    let mut reader = &b"after"[..];
    let id3 = c
        .upload_reader(&mut reader, 5, &UploadOptions::new())
        .await
        .expect("upload after the restart");
    assert_eq!(c.download(&id3).await.expect("download"), b"after");
    assert_eq!(c.download(&id2).await.expect("download"), b"before 2");
}

#[tokio::test]
async fn tracker_failover_200_of_200() {
    let env = start(2, 1, 1);
    let Some(emu) = env
        .cluster
        .skip_unless_emulated("tracker_failover_200_of_200")
    else {
        return;
    };
    emu.kill_tracker(0).expect("kill tracker 0");
    let c = client_for(&env.cluster);
    let mut ok = 0;
    for i in 0..200u64 {
        let body = data(100 + i as usize, i);
        match c.upload(&body, &UploadOptions::new().ext("bin")).await {
            Ok(_) => ok += 1,
            Err(e) => eprintln!("upload {i}: {e}"),
        }
    }
    assert_eq!(ok, 200);
    let dead = &tracker_addrs(&env.cluster)[0];
    assert!(c.tracker_is_down(dead));
    // The other way round: the first back, the second dead.
    emu.restart_tracker(0).expect("restart");
    emu.kill_tracker(1).expect("kill tracker 1");
    let c = client_for(&env.cluster);
    for i in 0..20u64 {
        c.upload(&data(10, i), &UploadOptions::new())
            .await
            .expect("upload with tracker 1 down");
    }
}

/// A server that accepts and never answers.
async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn silent_servers_time_out() {
    let (addr, _task) = silent_server().await;
    let client = client_via(addr, Duration::from_millis(500));
    let e = client.query_store(None).await.expect_err("silent tracker");
    assert!(e.is_timeout(), "{e}");

    // A silent storage while uploading more than the socket buffers hold.
    let env = start(1, 1, 1);
    let client = Client::builder()
        .trackers(tracker_addrs(&env.cluster))
        .network_timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let body = data(16 * 1024 * 1024, 9);
    let e = client
        .upload(&body, &UploadOptions::new().storage(ServerAddr::from(addr)))
        .await
        .expect_err("silent storage");
    assert!(e.is_timeout(), "{e}");
    assert_eq!(e.addr(), Some(addr.to_string().as_str()));
    // A silent storage on download (the tracker sends the client there).
    let (fake_tracker, _t) = fake_tracker_to(ServerAddr::from(addr)).await;
    let client = client_via(fake_tracker, Duration::from_millis(500));
    let e = client
        .download("group1/M00/00/00/x.jpg")
        .await
        .expect_err("silent storage");
    assert!(e.is_timeout(), "{e}");
}

/// A tracker that answers every query with "go to `storage`" (fetch/update layout, or store layout).
async fn fake_tracker_to(storage: ServerAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let fetch = proto::FetchServer {
        group: "group1".into(),
        ip: storage.host().to_owned(),
        port: storage.port(),
        addr_width: proto::AddrWidth::V4,
    }
    .to_frame();
    let store = proto::StoreServer {
        group: "group1".into(),
        ip: storage.host().to_owned(),
        port: storage.port(),
        store_path_index: 0,
        addr_width: proto::AddrWidth::V4,
    }
    .to_frame();
    fake_server(Arc::new(move |h: Header| match h.cmd {
        proto::cmd::QUERY_STORE_WITHOUT_GROUP_ONE | proto::cmd::QUERY_STORE_WITH_GROUP_ONE => {
            store.clone()
        }
        _ => fetch.clone(),
    }))
    .await
}

/// A server answering each request with the bytes `reply` gives, then closing after the first one.
async fn fake_server(
    reply: Arc<dyn Fn(Header) -> Vec<u8> + Send + Sync>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(answer(s, reply.clone()));
        }
    });
    (addr, task)
}

async fn answer(mut s: TcpStream, reply: Arc<dyn Fn(Header) -> Vec<u8> + Send + Sync>) {
    loop {
        let mut h = [0u8; HEADER_LEN];
        if s.read_exact(&mut h).await.is_err() {
            return;
        }
        let h = Header::decode(&h);
        let mut left = h.body_len;
        let mut buf = [0u8; 4096];
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            if s.read_exact(&mut buf[..n]).await.is_err() {
                return;
            }
            left -= n as u64;
        }
        if h.cmd == proto::cmd::ACTIVE_TEST {
            let _ = s.write_all(&Header::reply(0, 0).encode()).await;
            continue;
        }
        let bytes = reply(h);
        if s.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn hostile_storage_replies() {
    let huge = Header::reply(0, 1 << 63).encode().to_vec();
    let mut truncated = Header::reply(0, 1000).encode().to_vec();
    truncated.extend_from_slice(&[7u8; 10]);
    let wrong_cmd = Header::new(proto::cmd::UPLOAD_FILE, 0).encode().to_vec();
    let meta_huge = Header::reply(0, 1 << 40).encode().to_vec();
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("length 2^63", huge, false),
        ("truncated body", truncated, true),
        ("wrong command", wrong_cmd, false),
        ("metadata of 1 TiB", meta_huge, false),
    ];
    for (name, bytes, close) in cases {
        let b = bytes.clone();
        let (storage, _s) = if close {
            closing_server(b).await
        } else {
            fake_server(Arc::new(move |_| b.clone())).await
        };
        let (tracker, _t) = fake_tracker_to(ServerAddr::from(storage)).await;
        let c = client_via(tracker, Duration::from_secs(2));
        let id = "group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg";
        let e = c.download(id).await.expect_err(name);
        if name == "metadata of 1 TiB" {
            // A 1 TiB download is plausible: it streams (nothing allocated) until the silence times out.
            assert!(e.is_timeout(), "{name}: {e}");
        } else {
            assert!(
                matches!(e.kind(), ErrorKind::Protocol | ErrorKind::Io),
                "{name}: {e}"
            );
        }
        assert!(
            e.to_string()
                .starts_with(&format!("storage {storage}: download {id}")),
            "{name}: {e}"
        );
        let e = c.get_metadata(id).await.expect_err(name);
        assert!(
            matches!(e.kind(), ErrorKind::Protocol | ErrorKind::Io),
            "{name}: {e}"
        );
        let e = c
            .upload(b"abc", &UploadOptions::new())
            .await
            .expect_err(name);
        assert!(
            matches!(e.kind(), ErrorKind::Protocol | ErrorKind::Io),
            "{name}: {e}"
        );
        let e = c.query_file_info(id).await.expect_err(name);
        assert!(
            matches!(e.kind(), ErrorKind::Protocol | ErrorKind::Io),
            "{name}: {e}"
        );
    }
}

/// Sends `bytes` to each connection after its first request, then closes it.
async fn closing_server(bytes: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let mut h = [0u8; HEADER_LEN];
                if s.read_exact(&mut h).await.is_ok() {
                    let _ = s.write_all(&bytes).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn hostile_tracker_replies() {
    let mut bad_port = Header::reply(0, 40).encode().to_vec();
    bad_port.extend_from_slice(&[b'g'; 40]);
    for (name, bytes) in [
        ("length 2^63", Header::reply(0, 1 << 63).encode().to_vec()),
        (
            "wrong command",
            Header::new(proto::cmd::QUERY_FETCH_ONE, 0)
                .encode()
                .to_vec(),
        ),
        ("garbage body", bad_port),
        (
            "group list of 2^40",
            Header::reply(0, 1 << 40).encode().to_vec(),
        ),
    ] {
        let (tracker, _t) = fake_server(Arc::new(move |_| bytes.clone())).await;
        let c = Client::builder()
            .tracker(ServerAddr::from(tracker))
            .build()
            .expect("client");
        let e = c.query_store(None).await.expect_err(name);
        assert_eq!(e.kind(), ErrorKind::NoTracker, "{name}: {e}");
        assert!(
            e.to_string().contains(&format!("tracker {tracker}")),
            "{name}: {e}"
        );
        assert!(c.list_groups().await.is_err(), "{name}");
        assert!(
            c.download("group1/M00/00/00/x.jpg").await.is_err(),
            "{name}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// the fdfs tool

/// The `fdfs` binary of this workspace: `FDFS_BIN` if set (`make test` builds it beforehand), else
/// built once per test process.
fn fdfs_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FDFS_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/client-<hash> → target/<profile>/fdfs
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "fdfs-client", "--bin", "fdfs"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let st = cmd.status().expect("cargo build fdfs");
        assert!(st.success(), "cargo build -p fdfs-client --bin fdfs failed");
        let bin = profile_dir.join("fdfs");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
}

fn fdfs(cluster: &TestCluster, args: &[&str], stdin: Option<&Path>) -> Output {
    let mut cmd = Command::new(fdfs_bin());
    cmd.env_remove("RUST_LOG");
    for t in cluster.trackers() {
        cmd.arg("--tracker").arg(t.to_string());
    }
    cmd.args(args);
    cmd.stdin(match stdin {
        Some(p) => std::process::Stdio::from(std::fs::File::open(p).expect("stdin file")),
        None => std::process::Stdio::null(),
    });
    cmd.output().expect("run fdfs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn cli_end_to_end() {
    let env = start(1, 1, 1);
    let cl = &env.cluster;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("photo.jpg");
    let body = data(300_000, 11);
    std::fs::write(&src, &body).expect("write");

    let group = cl.groups().first().expect("a group").clone();
    let o = fdfs(
        cl,
        &[
            "upload",
            src.to_str().unwrap(),
            "--meta",
            "a=1",
            "--group",
            &group,
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = stdout(&o);
    assert!(
        id.starts_with(&format!("{group}/M00/")) && id.ends_with(".jpg"),
        "{id}"
    );

    let out = dir.path().join("back.jpg");
    let o = fdfs(cl, &["download", &id, out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256_file(&out), sha256(&body));

    // Into a device: written through, never replaced.
    let o = fdfs(cl, &["download", &id, "/dev/null"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!std::fs::metadata("/dev/null").expect("/dev/null").is_file());

    // To stdout, a range.
    let o = fdfs(
        cl,
        &["download", &id, "-", "--offset", "10", "--length", "20"],
        None,
    );
    assert!(o.status.success());
    assert_eq!(o.stdout, &body[10..30]);

    // From stdin (a pipe would be spooled; a redirected file is streamed).
    let o = fdfs(cl, &["upload", "-", "--ext", "bin"], Some(&src));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id2 = stdout(&o);
    assert!(id2.ends_with(".bin"), "{id2}");

    let o = fdfs(cl, &["--json", "info", &id], None);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["file_size"], 300_000);
    assert_eq!(v["type"], "normal");
    let o = fdfs(cl, &["info", &id], None);
    assert!(stdout(&o).contains("file size: 300000"), "{}", stdout(&o));

    let o = fdfs(cl, &["meta", "get", &id], None);
    assert_eq!(stdout(&o), "a=1");
    let o = fdfs(cl, &["meta", "set", &id, "b=2", "--merge"], None);
    assert!(o.status.success());
    let o = fdfs(cl, &["--json", "meta", "get", &id], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v, serde_json::json!({"a": "1", "b": "2"}));

    // Appender + append.
    let part = dir.path().join("part.txt");
    std::fs::write(&part, b"hello ").expect("write");
    let o = fdfs(cl, &["upload", "--appender", part.to_str().unwrap()], None);
    let app = stdout(&o);
    let o = fdfs(cl, &["append", &app, part.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = fdfs(cl, &["download", &app, "-"], None);
    assert_eq!(o.stdout, b"hello hello ");

    let o = fdfs(cl, &["monitor"], None);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains(&format!("group name = {group}")) && text.contains("ACTIVE"),
        "{text}"
    );
    let o = fdfs(cl, &["--json", "monitor", &group], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["groups"][0]["group"], group.as_str());
    let port = v["groups"][0]["storages"][0]["port"]
        .as_u64()
        .expect("port");
    assert!(cl
        .group_storages(&group)
        .iter()
        .any(|s| u64::from(s.port) == port));

    let o = fdfs(
        cl,
        &["token", &id, "--secret", "s3cr3t", "--ts", "1700000000"],
        None,
    );
    let rest = id.split_once('/').unwrap().1;
    let tok = fdfs_client::token::generate(rest, "s3cr3t", 1_700_000_000);
    assert_eq!(stdout(&o), format!("token={tok}&ts=1700000000"));

    // Failures: non-zero, one line, says what and where.
    let o = fdfs(cl, &["delete", &id], None);
    assert!(o.status.success());
    let o = fdfs(
        cl,
        &["download", &id, dir.path().join("gone").to_str().unwrap()],
        None,
    );
    assert!(!o.status.success());
    // Not 2 (clap's usage status): a server's ENOENT has its own code (issue 9 item 21).
    assert_eq!(o.status.code(), Some(3), "ENOENT exit status");
    let err = String::from_utf8_lossy(&o.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("download {id}: ENOENT (2)")) && err.contains("storage "),
        "{err}"
    );
    assert!(!dir.path().join("gone").exists(), "no partial file left");
    let o = fdfs(cl, &["delete", &id], None);
    assert!(!o.status.success());

    let o = Command::new(fdfs_bin())
        .env_remove("RUST_LOG")
        .args(["--tracker", "127.0.0.1:1", "upload", src.to_str().unwrap()])
        .output()
        .expect("run");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("127.0.0.1:1"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(fdfs_bin())
        .args(["-c", "/nonexistent/client.conf", "monitor"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/client.conf"));
}

#[test]
fn cli_reads_client_conf() {
    let env = start(2, 1, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("client.conf");
    let trackers: String = env
        .cluster
        .trackers()
        .iter()
        .map(|t| format!("tracker_server = {t}\n"))
        .collect();
    std::fs::write(
        &conf,
        format!("connect_timeout = 5\nnetwork_timeout = 30\nbase_path = /tmp\n{trackers}"),
    )
    .expect("write");
    let src = dir.path().join("a.txt");
    std::fs::write(&src, b"conf").expect("write");
    let o = Command::new(fdfs_bin())
        .arg("-c")
        .arg(&conf)
        .arg("upload")
        .arg(&src)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = stdout(&o);
    let client = Client::from_conf_file(&conf).expect("from conf");
    assert_eq!(client.trackers().len(), env.cluster.trackers().len());
    let back = tokio::runtime::Runtime::new()
        .expect("rt")
        .block_on(client.download(&id))
        .expect("download");
    assert_eq!(back, b"conf");
}

/// A large upload and download through the `fdfs` tool stay under 64 MiB of resident memory (measured
/// by GNU time's maximum RSS of the tool's process). 256 MiB by default (a tool that buffered the file
/// would need four times the bound); `FDFS_TEST_BIG_MIB=1024` for the full 1 GiB.
#[test]
fn cli_streams_large_files_in_bounded_memory() {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        eprintln!("skipped: /usr/bin/time (GNU time) is not installed");
        return;
    }
    let env = start(1, 1, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("big.dat");
    // Sparse: reads as zeros without taking disk space.
    let f = std::fs::File::create(&src).expect("create");
    let mib: u64 = std::env::var("FDFS_TEST_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
    f.set_len(size).expect("set_len");
    drop(f);
    let rss = dir.path().join("rss");
    // `fdfs --no-progress <args>` under GNU time: it succeeds and its peak RSS stays in bounds.
    let measured = |what: &str, args: &[&OsStr]| -> Output {
        let mut cmd = Command::new(time);
        cmd.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss)
            .arg(fdfs_bin())
            .arg("--no-progress");
        for t in env.cluster.trackers() {
            cmd.arg("--tracker").arg(t.to_string());
        }
        let o = cmd.args(args).output().expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let kib: u64 = std::fs::read_to_string(&rss)
            .expect("rss")
            .trim()
            .parse()
            .expect("number");
        eprintln!("fdfs {what} of {mib} MiB: max RSS {kib} KiB");
        assert!(kib < 64 * 1024, "{what} max RSS {kib} KiB");
        o
    };
    let id = stdout(&measured("upload", &["upload".as_ref(), src.as_os_str()]));
    let out = dir.path().join("back.dat");
    measured(
        "download",
        &["download".as_ref(), id.as_ref(), out.as_os_str()],
    );
    assert_eq!(std::fs::metadata(&out).expect("out").len(), size);
    assert_eq!(sha256_file(&out), sha256_file(&src));
}

/// `fdfs upload -` from a pipe (no length known up front): small input is buffered, large input is
/// spooled to a temp file; both round-trip.
#[test]
fn cli_upload_from_a_pipe() {
    let env = start(1, 1, 1);
    for len in [1000usize, 9 * 1024 * 1024 + 5] {
        let body = data(len, len as u64);
        let mut cmd = Command::new(fdfs_bin());
        for t in env.cluster.trackers() {
            cmd.arg("--tracker").arg(t.to_string());
        }
        let mut child = cmd
            .args(["upload", "-", "--ext", "pip"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = {
            let body = body.clone();
            std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &body))
        };
        let o = child.wait_with_output().expect("wait");
        writer.join().expect("writer").expect("write stdin");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let id = stdout(&o);
        assert!(id.ends_with(".pip"), "{id}");
        let o = fdfs(&env.cluster, &["download", &id, "-"], None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout.len(), len);
        assert_eq!(sha256(&o.stdout), sha256(&body));
    }
}

/// Issue 9 item 19: a dotted extension (`tar.gz`, 6 bytes) is what `fdfs_upload_file x.tar.gz` sends
/// and what a real storage stores; the tool and the library derive and accept it the same way.
#[test]
fn cli_and_client_take_dotted_extensions() {
    let env = start(1, 1, 1);
    let cl = &env.cluster;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("backup.tar.gz");
    std::fs::write(&src, b"not really gzip").expect("write");

    let o = fdfs(cl, &["upload", src.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = stdout(&o);
    assert!(
        id.ends_with(".tar.gz"),
        "derived as fdfs_upload_file does: {id}"
    );
    let o = fdfs(cl, &["download", &id, "-"], None);
    assert_eq!(o.stdout, b"not really gzip");

    let o = fdfs(cl, &["upload", "-", "--ext", "tar.gz"], Some(&src));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).ends_with(".tar.gz"), "{}", stdout(&o));

    // What no storage takes is refused before any upload.
    let o = fdfs(cl, &["upload", "-", "--ext", "tar+gz"], Some(&src));
    assert!(!o.status.success());

    let rt = tokio::runtime::Runtime::new().expect("rt");
    let id = rt
        .block_on(env.client.upload_file(&src, &UploadOptions::new()))
        .expect("upload_file");
    assert!(id.ends_with(".tar.gz"), "{id}");
    let id = rt
        .block_on(env.client.upload(b"x", &UploadOptions::new().ext("tar.gz")))
        .expect("upload with ext tar.gz");
    assert!(id.ends_with(".tar.gz"), "{id}");
}

/// Issue 9 item 21: exit statuses tell a usage error (2) from a server's ENOENT (3), another refusal
/// (4) and an unreachable cluster (5), and `--help` lists them; under `--json` stdout carries a JSON
/// error object (before: plain text on stderr only, and ENOENT exited 2 like a usage error).
#[test]
fn cli_exit_codes_and_json_errors() {
    let env = start(1, 1, 1);
    let cl = &env.cluster;
    let o = fdfs(cl, &["--help"], None);
    let help = stdout(&o);
    for line in [
        "2  usage error",
        "3  not found",
        "4  refused",
        "5  unreachable",
    ] {
        assert!(help.contains(line), "--help lists {line:?}: {help}");
    }

    let o = fdfs(cl, &["upload"], None);
    assert_eq!(o.status.code(), Some(2), "usage");
    let o = fdfs(cl, &["--json", "upload"], None);
    assert_eq!(o.status.code(), Some(2), "usage under --json");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json usage error");
    assert_eq!(v["error"]["kind"], "usage");
    assert_eq!(v["error"]["exit_code"], 2);

    let rt = tokio::runtime::Runtime::new().expect("rt");
    let id = rt
        .block_on(env.client.upload(b"x", &UploadOptions::new().ext("txt")))
        .expect("upload");
    rt.block_on(env.client.delete(&id)).expect("delete");
    let o = fdfs(cl, &["--json", "info", &id], None);
    let o2 = fdfs(cl, &["--json", "download", &id, "-"], None);
    assert_eq!(o2.status.code(), Some(3), "ENOENT");
    let v: serde_json::Value = serde_json::from_slice(&o2.stdout).expect("json error");
    assert_eq!(v["error"]["kind"], "not_found");
    assert_eq!(v["error"]["status"], 2);
    assert_eq!(v["error"]["errno"], "ENOENT");
    assert!(v["error"]["server"].is_string(), "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("ENOENT")));
    // The plain line stays on stderr.
    assert!(String::from_utf8_lossy(&o2.stderr).contains("ENOENT (2)"));
    drop(o);

    // Truncating a normal file: the storage refuses with EINVAL.
    let normal = rt
        .block_on(env.client.upload(b"abc", &UploadOptions::new()))
        .expect("upload");
    let o = fdfs(cl, &["--json", "truncate", &normal], None);
    assert_eq!(o.status.code(), Some(4), "refused");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert_eq!(
        (v["error"]["kind"].as_str(), v["error"]["errno"].as_str()),
        (Some("refused"), Some("EINVAL"))
    );

    let o = Command::new(fdfs_bin())
        .env_remove("RUST_LOG")
        .args(["--json", "--tracker", "127.0.0.1:1", "monitor"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(5), "unreachable");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert_eq!(v["error"]["kind"], "unreachable");

    let o = fdfs(cl, &["--json", "upload", "/nonexistent/file"], None);
    assert_eq!(o.status.code(), Some(1), "local");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert_eq!(v["error"]["kind"], "local");
}

/// The keys (`name` of `name = value`, or the whole line) of the lines of one `fdfs_monitor` block.
fn monitor_keys(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.split_once(" = ") {
            _ if l.starts_with("tracker server is ") => "tracker server is".to_owned(),
            // the count is the cluster's (the capture's has two trackers)
            _ if l.starts_with("tracker server count=") => "tracker server count".to_owned(),
            Some((k, _)) => k.trim_end().to_owned(),
            None => l
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == ':')
                .to_owned(),
        })
        .collect()
}

/// Issue 9 item 21: `fdfs monitor` prints every line of FastDFS 6.16's `fdfs_monitor` in its order
/// (before: 114 of the 221 lines of the captured cluster; read-write mode, connection and I/O
/// counters were missing), `--json` carries them too, and `-v` logs the calls on stderr.
#[test]
fn cli_monitor_is_fdfs_monitor_and_verbose_logs() {
    let env = start(2, 2, 2);
    let cl = &env.cluster;
    let o = fdfs(cl, &["monitor"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // 5 header lines, 15 per group, 62 per storage, as fdfs_monitor (221 = 5 + 2*15 + 3*62).
    let (groups, storages) = (cl.groups().len(), cl.storages().len());
    assert_eq!(
        text.lines().count(),
        5 + groups * 15 + storages * 62,
        "{text}"
    );
    let real = include_str!("../../../fdfs-client/src/bin/fdfs/report/fdfs_monitor_6.16.1.txt");
    // Same keys in the same order as the captured output, from the top through the first group's
    // first storage.
    let upto = |t: &str| -> Vec<String> {
        let keys = monitor_keys(t);
        let storage_starts: Vec<usize> = (0..keys.len())
            .filter(|&i| keys[i] == "\tStorage ")
            .collect();
        let end = storage_starts.get(1).copied().unwrap_or(keys.len());
        keys.into_iter().take(end).collect()
    };
    assert_eq!(upto(&text), upto(real));
    for line in [
        "\t\tread write mode = both (normal)\n",
        "\t\tconnection.alloc_count = ",
        "\t\tstotal_download_bytes = ",
        "\t\ttotal_file_write_count = ",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }

    let o = fdfs(cl, &["--json", "monitor"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["tracker_server_count"], cl.trackers().len());
    let s = &v["groups"][0]["storages"][0];
    for key in [
        "rw_mode_name",
        "connection",
        "total_file_open_count",
        "total_download_bytes",
    ] {
        assert!(!s[key].is_null(), "{key} in {s}");
    }

    let o = fdfs(cl, &["-v", "monitor", "group1"], None);
    assert!(o.status.success());
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("connected") && log.contains("SERVER_LIST_ALL_GROUPS"),
        "-v logs connections and requests: {log:?}"
    );
    let text = stdout(&o);
    assert!(!text.contains("group count") && text.contains("group name = group1"));
}

/// Issue 9 item 20: SERVER_STORAGE_CLUSTER_STAT and SERVER_STORAGE_VOLUMN_STAT through the client
/// and `fdfs storage-stat` / `fdfs volume-stat` (the emulator answered both with EINVAL).
#[test]
fn storage_and_volume_stat_end_to_end() {
    let env = start(1, 2, 1);
    let cl = &env.cluster;
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let all = rt
        .block_on(env.client.storage_cluster_stat(Default::default()))
        .expect("storage cluster stat");
    assert_eq!(all.storages.len(), cl.storages().len());
    let vol = rt
        .block_on(env.client.volume_stat(Default::default()))
        .expect("volume stat");
    assert_eq!(vol.groups.len(), cl.groups().len());

    let o = fdfs(cl, &["storage-stat", "--active", "--detail"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for s in cl.storages() {
        let line = format!("{}:{} ACTIVE, connections {{alloc: ", s.ip, s.port);
        assert!(text.contains(&line), "{line} in {text}");
    }
    assert!(text.contains("  version: 6.16.1, up_time: "), "{text}");
    let count = format!("\nstorage server count: {}\n", cl.storages().len());
    assert!(text.contains(&count), "{text}");
    let o = fdfs(cl, &["storage-stat", "--inactive"], None);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "",
        "no storage is down: nothing printed, as fdfs_storage_stat"
    );

    let o = fdfs(cl, &["volume-stat"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(
        text.contains("group1 disk_available: 1, disk space {total: "),
        "{text}"
    );
    assert!(text.contains(" VOLUMNS SUMMARY "), "{text}");
    assert!(
        text.ends_with(&format!(
            "volumn / group counts {{total: {0}, available: {0}}}",
            cl.groups().len()
        )),
        "{text}"
    );
    let o = fdfs(cl, &["--json", "volume-stat", "--available"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["group_count"], cl.groups().len());
    assert_eq!(v["groups"][0]["is_disk_available"], true);
}
