//! Replication, pause/resume, kill/restart, storage-id mode, and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bytes, start_cluster, Conn, LONG};
use fdfs_client::file_id::{FileId, Source};
use fdfs_client::proto::{
    self, status, DeleteFile, DownloadRequest, FetchStorageIds, GetMetadata, ListStorage, MetaOp,
    Metadata, QueryFileInfo, QueryStoreWithGroupOne, SetMetadataRequest, StorageIds,
    StorageParameterReq, StorageParameters, StorageStats, StoreServer, UploadReply,
};
use fdfs_emu::{Cluster, ClusterConfig, StorageInfo};

fn upload(s: &StorageInfo, data: &[u8]) -> UploadReply {
    common::upload(&mut Conn::connect(s.addr()), data, "jpg", false)
}

/// Spawns the `fdfs-emu` binary as `cmd` sets it up, with stdout piped: the child and the lines
/// it printed before "ready" (its topology).
fn spawn_until_ready(cmd: &mut Command) -> (Child, Vec<String>) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for l in BufReader::new(out).lines() {
        let l = l.unwrap();
        if l == "ready" {
            break;
        }
        lines.push(l);
    }
    (child, lines)
}

fn download(s: &StorageInfo, r: &UploadReply) -> (u8, Vec<u8>) {
    Conn::connect(s.addr()).call(&DownloadRequest {
        offset: 0,
        bytes: 0,
        group: r.group.clone(),
        filename: r.filename.clone(),
    })
}

fn pair(delay: Duration) -> Cluster {
    common::init_log();
    start_cluster(|b| b.storages_per_group(2).sync_delay(delay))
}

#[test]
fn replication_after_delay_then_delete_replicates() {
    let c = pair(Duration::from_millis(300));
    let (s1, s2) = (&c.storages()[0], &c.storages()[1]);
    let data = bytes(50_000, 11);
    let r = upload(s1, &data);
    let id = r.file_id();
    assert!(c.wait_for_file(s2, &id, true, LONG), "not replicated");
    assert_eq!(download(s2, &r), (0, data.clone()));
    let p2 = c.file_path(s2, &id).unwrap();
    assert_eq!(common::mode(&p2), 0o644);
    assert_eq!(
        p2.strip_prefix(&s2.store_paths[0]).unwrap(),
        c.file_path(s1, &id)
            .unwrap()
            .strip_prefix(&s1.store_paths[0])
            .unwrap(),
        "same relative path on both storages"
    );

    // Metadata follows.
    let mut k = Conn::connect(s1.addr());
    let set = SetMetadataRequest {
        group: "group1".into(),
        filename: r.filename.clone(),
        op: MetaOp::Overwrite,
        meta: Metadata::new([("w", "1")]),
    };
    assert_eq!(k.call(&set).0, 0);
    let meta_on_s2 = {
        let mut s = p2.as_os_str().to_os_string();
        s.push("-m");
        std::path::PathBuf::from(s)
    };
    let end = std::time::Instant::now() + LONG;
    while !meta_on_s2.exists() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read(&meta_on_s2).unwrap(), b"w\x021");
    let got = Conn::connect(s2.addr()).call(&GetMetadata::new("group1", r.filename.clone()));
    assert_eq!(got, (0, b"w\x021".to_vec()));

    // Deletes replicate.
    assert_eq!(k.call(&DeleteFile::new("group1", r.filename.clone())).0, 0);
    assert!(
        c.wait_for_file(s2, &id, false, LONG),
        "delete not replicated"
    );
    assert_eq!(download(s2, &r).0, status::ENOENT);
    assert!(c.wait_sync_idle(LONG));
    assert!(!meta_on_s2.exists());
}

#[test]
fn paused_storage_lacks_the_file_until_resumed() {
    let c = pair(Duration::ZERO);
    let (s1, s2) = (&c.storages()[0], &c.storages()[1]);
    c.pause_sync(s2);
    let data = bytes(1234, 5);
    let r = upload(s1, &data);
    assert_eq!(c.pending_sync(s2), 1);
    assert!(!c.has_file(s2, &r.file_id()));
    assert_eq!(download(s2, &r).0, status::ENOENT);
    // Uploads to s2 still replicate to s1.
    let r2 = upload(s2, b"from s2");
    assert!(c.wait_for_file(s1, &r2.file_id(), true, LONG));
    c.resume_sync(s2);
    assert!(c.wait_for_file(s2, &r.file_id(), true, LONG));
    assert_eq!(download(s2, &r), (0, data));
    assert!(c.wait_sync_idle(LONG));
}

#[test]
fn killed_storage_is_offline_and_restarts() {
    let c = pair(Duration::ZERO);
    let (s1, s2) = (&c.storages()[0], &c.storages()[1]);
    let r = upload(s1, b"before the kill");
    assert!(c.wait_for_file(s2, &r.file_id(), true, LONG));
    // An open connection is closed by the kill.
    let mut open = Conn::connect(s1.addr());
    assert_eq!(open.cmd(proto::cmd::ACTIVE_TEST, &[]).0, 0);
    c.kill(s1).unwrap();
    assert!(!c.is_alive(s1));
    assert!(TcpStream::connect(s1.addr()).is_err(), "port still open");
    {
        use std::io::{Read, Write};
        let _ = open
            .0
            .write_all(&proto::Header::new(proto::cmd::ACTIVE_TEST, 0).encode());
        let mut b = [0u8; 10];
        assert!(
            matches!(open.0.read(&mut b), Ok(0) | Err(_)),
            "connection survived the kill"
        );
    }
    let mut t = Conn::connect(c.trackers()[0]);
    let (_, body) = t.call(&ListStorage::new("group1"));
    let ss = StorageStats::decode(&body).unwrap();
    assert_eq!(ss.storages[0].status, fdfs_emu::storage_status::OFFLINE);
    assert_eq!(ss.storages[1].status, fdfs_emu::storage_status::ACTIVE);
    for _ in 0..4 {
        let (st, body) = t.call(&QueryStoreWithGroupOne::new("group1"));
        assert_eq!(st, 0);
        assert_eq!(StoreServer::decode(&body).unwrap().ip, "127.0.0.12");
    }
    // Changes made meanwhile reach s1 after its restart.
    let r2 = upload(s2, b"while s1 was down");
    assert_eq!(c.pending_sync(s1), 1);
    c.restart(s1).unwrap();
    assert!(c.is_alive(s1));
    assert_eq!(download(s1, &r), (0, b"before the kill".to_vec()));
    assert!(c.wait_for_file(s1, &r2.file_id(), true, LONG));
    let (_, body) = t.call(&ListStorage::new("group1"));
    assert_eq!(StorageStats::decode(&body).unwrap().storages[0].status, 7);
}

#[test]
fn killed_group_has_no_store_server() {
    common::init_log();
    let c = start_cluster(|b| b.groups(2));
    c.kill(0).unwrap();
    let mut t = Conn::connect(c.trackers()[0]);
    assert_eq!(
        t.call(&QueryStoreWithGroupOne::new("group1")).0,
        status::ENOENT
    );
    // Without a group, the tracker picks the live one.
    for _ in 0..3 {
        let (st, body) = t.call(&proto::QueryStoreWithoutGroupOne);
        assert_eq!(st, 0);
        assert_eq!(StoreServer::decode(&body).unwrap().group, "group2");
    }
}

#[test]
fn storage_id_mode() {
    common::init_log();
    let c = start_cluster(|b| b.storages_per_group(2).use_storage_id(true));
    let (s1, s2) = (&c.storages()[0], &c.storages()[1]);
    assert_eq!(s1.id.as_deref(), Some("100001"));
    assert_eq!(s2.id.as_deref(), Some("100002"));
    let r = upload(s1, &bytes(10240, 1));
    let info = FileId::parse(&r.file_id()).unwrap().decode().unwrap();
    assert_eq!(info.source, Source::StorageId(100_001));
    // Same first 4 bytes as the idmode vectors (a1 86 01 00).
    assert_eq!(&info.raw[..4], &[0xa1, 0x86, 0x01, 0x00]);
    assert!(r.filename.starts_with("M00/00/00/oYYBA"), "{}", r.filename);
    // QUERY_FILE_INFO resolves the id to the storage's IP.
    let (st, body) = Conn::connect(s2.addr()).call(&QueryFileInfo {
        group: "group1".into(),
        filename: r.filename.clone(),
        flags: 0,
    });
    assert!(st == 0 || st == status::ENOENT);
    let (st, body) = if st == 0 {
        (st, body)
    } else {
        Conn::connect(s1.addr()).call(&QueryFileInfo {
            group: "group1".into(),
            filename: r.filename.clone(),
            flags: 0,
        })
    };
    assert_eq!(st, 0);
    assert_eq!(
        proto::FileInfoReply::decode(&body).unwrap().source_ip,
        "127.0.0.11"
    );

    let mut t = Conn::connect(c.trackers()[0]);
    let (_, body) = t.call(&StorageParameterReq);
    let p = StorageParameters::decode(&body).unwrap();
    assert_eq!(p.get("use_storage_id"), Some("1"));
    assert_eq!(p.get("id_type_in_filename"), Some("id"));
    let (st, body) = t.call(&FetchStorageIds {
        start_index: 0,
        allow_empty: Some(false),
    });
    assert_eq!(st, 0);
    let ids = StorageIds::decode(&body).unwrap();
    assert_eq!((ids.total, ids.count), (2, 2));
    let e = ids.entries().unwrap();
    assert_eq!(e[0].id, 100001);
    assert_eq!(e[0].group_name, "group1");
    assert_eq!(e[0].first_ip(), "127.0.0.11");
    assert_eq!(e[0].port, Some(s1.port));
    let (st, _) = t.call(&FetchStorageIds {
        start_index: 2,
        allow_empty: Some(false),
    });
    assert_eq!(st, status::EINVAL);
    let (_, body) = t.call(&ListStorage::new("group1"));
    assert_eq!(
        StorageStats::decode(&body).unwrap().storages[1].id,
        "100002"
    );
    // storage_ids.conf.
    let conf = c.storage_ids_conf();
    assert!(
        conf.contains(&format!("100001 group1 127.0.0.11:{}", s1.port)),
        "{conf}"
    );
    let p = c.base_dir().join("ids.conf");
    c.write_storage_ids_conf(&p).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), conf);
}

#[test]
fn drop_removes_temp_dir_and_closes_ports() {
    let c = start_cluster(|b| b);
    let dir = c.base_dir().to_path_buf();
    let addr = c.storages()[0].addr();
    let tracker = c.trackers()[0];
    assert!(dir.is_dir());
    assert_eq!(common::mode(&dir), 0o755);
    drop(c);
    assert!(!dir.exists());
    assert!(TcpStream::connect(addr).is_err());
    assert!(TcpStream::connect(tracker).is_err());
}

#[test]
fn explicit_base_dir_is_kept() {
    let t = tempfile::tempdir().unwrap();
    let c = start_cluster(|b| b.base_dir(t.path()));
    let sp = c.storages()[0].store_paths[0].clone();
    assert!(sp.starts_with(t.path()));
    drop(c);
    assert!(sp.join("data").is_dir());
}

#[test]
fn binary_prints_topology_and_stops_on_sigterm() {
    let base = tempfile::tempdir().unwrap();
    let (mut child, lines) = spawn_until_ready(
        Command::new(env!("CARGO_BIN_EXE_fdfs-emu"))
            .args(["--groups", "2", "--storages-per-group", "1", "--base-dir"])
            .arg(base.path())
            .args(["--sync-delay-ms", "100"])
            .stderr(Stdio::inherit()),
    );
    let tracker: std::net::SocketAddrV4 = lines
        .iter()
        .find_map(|l| l.strip_prefix("tracker "))
        .unwrap()
        .parse()
        .unwrap();
    let storages: Vec<&String> = lines.iter().filter(|l| l.starts_with("storage ")).collect();
    assert_eq!(storages.len(), 2, "{lines:?}");
    assert!(storages[1].contains("group=group2") && storages[1].contains("ip=127.0.0.12"));
    assert!(storages[0].contains("http_port="));
    let mut t = Conn::connect(tracker);
    assert_eq!(t.call(&proto::QueryStoreWithoutGroupOne).0, 0);
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let code = child.wait().unwrap();
    assert!(code.success(), "{code:?}");
    assert!(TcpStream::connect(tracker).is_err());
}

#[test]
fn frozen_storage_answers_after_thaw() {
    use std::io::{Read, Write};
    let c = pair(Duration::ZERO);
    let s1 = &c.storages()[0];
    c.freeze(s1);
    let mut k = Conn::connect(s1.addr());
    k.0.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    k.0.write_all(&proto::Header::new(proto::cmd::ACTIVE_TEST, 0).encode())
        .unwrap();
    let mut b = [0u8; 10];
    // No answer while frozen (the read times out).
    assert!(k.0.read_exact(&mut b).is_err());
    c.thaw(s1);
    k.0.set_read_timeout(Some(LONG)).unwrap();
    k.0.read_exact(&mut b).unwrap();
    assert_eq!(proto::Header::decode(&b).status, 0);
}

#[test]
fn cluster_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Cluster>();
}

/// The idmode vectors' topology: two group1 storages on one address, ports apart.
#[test]
fn storage_id_mode_on_one_address() {
    let text = r#"
        use_storage_id = true
        [[groups]]
        name = "group1"
        [[groups.storages]]
        ip = "127.0.0.11"
        id = "100001"
        [[groups.storages]]
        ip = "127.0.0.11"
        id = "100002"
    "#;
    let cfg = ClusterConfig::from_toml(text).unwrap();
    let c = Cluster::start(cfg.clone()).unwrap();
    let (s1, s2) = (&c.storages()[0], &c.storages()[1]);
    assert_eq!(s1.ip, s2.ip);
    assert_ne!(s1.port, s2.port);
    let r = upload(s2, b"on 100002");
    let info = FileId::parse(&r.file_id()).unwrap().decode().unwrap();
    assert_eq!(info.source, Source::StorageId(100_002));
    assert!(r.filename.starts_with("M00/00/00/ooYBA"), "{}", r.filename);
    assert!(c.wait_for_file(s1, &r.file_id(), true, LONG));
    // In IP mode the same layout is refused: file ids could not tell the storages apart.
    let mut ip_mode = cfg;
    ip_mode.use_storage_id = false;
    assert!(Cluster::start(ip_mode).is_err());
}

#[test]
fn binary_with_toml_config() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("cluster.toml");
    std::fs::write(
        &conf,
        r#"
        trunk = true
        use_storage_id = true
        [[groups]]
        name = "g1"
        [[groups.storages]]
        ip = "127.0.0.31"
        "#,
    )
    .unwrap();
    let ids = dir.path().join("storage_ids.conf");
    let (mut child, lines) = spawn_until_ready(
        Command::new(env!("CARGO_BIN_EXE_fdfs-emu"))
            .arg("--config")
            .arg(&conf)
            .arg("--storage-ids-conf")
            .arg(&ids)
            .stderr(Stdio::null()),
    );
    let storage = lines.iter().find(|l| l.starts_with("storage ")).unwrap();
    assert!(storage.contains("group=g1 ip=127.0.0.31"), "{storage}");
    assert!(storage.contains("id=100001"), "{storage}");
    let text = std::fs::read_to_string(&ids).unwrap();
    assert!(text.contains("100001 g1 127.0.0.31:"), "{text}");
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn direct_upload_helpers() {
    let c = pair(Duration::ZERO);
    let id = c.upload(0usize, b"direct", "txt").unwrap();
    assert!(id.starts_with("group1/M00/"));
    assert!(c.has_file(0usize, &id));
    assert!(c.wait_for_file(1usize, &id, true, LONG));
    let slave = c.upload_slave(0usize, &id, "_t", "", b"thumb").unwrap();
    assert!(slave.ends_with("_t.txt"), "{slave}");
    let app = c.upload_appender(1usize, b"a", "log").unwrap();
    let info = FileId::parse(&app).unwrap().decode().unwrap();
    assert_eq!(info.kind, fdfs_client::file_id::FileKind::Appender);
    c.delete(0usize, &id).unwrap();
    assert!(matches!(
        c.delete(0usize, &id),
        Err(fdfs_emu::EmuError::Status(2))
    ));
    assert!(c.wait_for_file(1usize, &id, false, LONG));
}

#[test]
fn clock_offset_ages_new_file_ids() {
    let c = start_cluster(|b| b);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    c.set_clock_offset(-2 * 86_400);
    let old = c.upload(0usize, b"old", "txt").unwrap();
    let ts = FileId::parse(&old).unwrap().decode().unwrap().timestamp;
    assert!(
        now - ts >= 2 * 86_400 - 60 && now - ts <= 2 * 86_400 + 600,
        "{ts}"
    );
    c.set_clock_offset(0);
    let new = c.upload(0usize, b"new", "txt").unwrap();
    let ts = FileId::parse(&new).unwrap().decode().unwrap().timestamp;
    assert!((ts - now).abs() < 600);
}
