//! Tracker commands over real sockets, with reply layouts checked against FastDFS 6.16 captures.

mod common;

use common::{bytes, start_cluster, upload, vectors_dir, Conn};
use fdfs_client::proto::{
    self, cmd, status, FetchServer, FetchServers, FetchStorageIds, GroupStat, GroupStats,
    ListAllGroups, ListOneGroup, ListStorage, QueryFetchAll, QueryFetchOne, QueryStoreWithGroupAll,
    QueryStoreWithGroupOne, QueryStoreWithoutGroupAll, QueryStoreWithoutGroupOne, QueryUpdate,
    StorageParameterReq, StorageParameters, StorageStats, StoreServer, StoreServers,
};
use fdfs_emu::Cluster;

fn cluster22() -> Cluster {
    common::init_log();
    start_cluster(|b| b.groups(2).storages_per_group(2))
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn list_groups_and_storages_layout() {
    let c = cluster22();
    let mut t = Conn::connect(c.trackers()[0]);
    let (st, body) = t.call(&ListAllGroups);
    assert_eq!(st, 0);
    assert_eq!(
        body.len(),
        2 * 113,
        "monitor_list_groups: 113 bytes per group"
    );
    let gs = GroupStats::decode(&body).unwrap();
    assert_eq!(gs.groups.len(), 2);
    let g1 = &gs.groups[0];
    assert_eq!(g1.group_name, "group1");
    assert_eq!(g1.storage_count, 2);
    assert_eq!(g1.storage_port, u64::from(c.storages()[0].port));
    assert_eq!(
        c.storages()[0].port,
        c.storages()[1].port,
        "IP mode: one port per group"
    );
    assert_eq!((g1.readable_server_count, g1.writable_server_count), (2, 2));
    assert_eq!((g1.store_path_count, g1.subdir_count_per_path), (1, 256));
    assert_eq!(g1.current_trunk_file_id, -1);
    assert_eq!(gs.groups[1].group_name, "group2");

    let (st, body) = t.call(&ListOneGroup::new("group2"));
    assert_eq!((st, body.len()), (0, 113));
    assert_eq!(GroupStat::decode(&body).unwrap().group_name, "group2");
    assert_eq!(t.call(&ListOneGroup::new("nosuchgroup")).0, status::ENOENT);

    let (st, body) = t.call(&ListStorage::new("group1"));
    assert_eq!((st, body.len()), (0, 974), "two 487-byte storage blocks");
    let ss = StorageStats::decode(&body).unwrap();
    for (stat, info) in ss.storages.iter().zip(c.group_storages("group1")) {
        assert_eq!(stat.status, 7, "ACTIVE");
        assert_eq!(stat.rw_mode, 6);
        assert_eq!(stat.ip_addr, info.ip.to_string());
        assert_eq!(stat.id, info.ip.to_string());
        assert_eq!(stat.version, "6.16.1");
        assert_eq!(stat.storage_port, u64::from(info.port));
        assert_eq!(stat.store_path_count, 1);
    }
    let one = ListStorage {
        group: "group1".into(),
        storage_id: Some("127.0.0.12".into()),
    };
    let (st, body) = t.call(&one);
    assert_eq!((st, body.len()), (0, 487));
    assert_eq!(t.call(&ListStorage::new("group9")).0, status::ENOENT);

    // The captured replies of the real cluster decode with the same field set and length.
    let v = vectors_dir();
    let probes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v.join("raw_probe.json")).unwrap()).unwrap();
    for p in probes.as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let body = hex_bytes(p["response_body_hex"].as_str().unwrap());
        if name == "SERVER_LIST_ONE_GROUP group1" {
            let real = GroupStat::decode(&body).unwrap();
            assert_eq!(body.len(), 113);
            assert_eq!(real.current_trunk_file_id, -1);
            assert_eq!(real.subdir_count_per_path, 256);
        }
        if name == "SERVER_LIST_STORAGE group1" {
            let real = StorageStats::decode(&body).unwrap();
            assert_eq!(body.len(), 974);
            assert_eq!(real.storages[0].status, 7);
            assert_eq!(real.storages[0].rw_mode, 6);
            assert_eq!(real.storages[0].version, "6.16.1");
        }
    }
}

#[test]
fn query_store_variants() {
    let c = cluster22();
    let mut t = Conn::connect(c.trackers()[0]);
    let (st, body) = t.call(&QueryStoreWithoutGroupOne);
    assert_eq!((st, body.len()), (0, 40));
    let s = StoreServer::decode(&body).unwrap();
    assert!(c
        .storages()
        .iter()
        .any(|x| x.ip.to_string() == s.ip && x.port == s.port && x.group == s.group));
    assert_eq!(s.store_path_index, 0);
    // Round robin over groups.
    let (_, body2) = t.call(&QueryStoreWithoutGroupOne);
    assert_ne!(StoreServer::decode(&body2).unwrap().group, s.group);

    let (st, body) = t.call(&QueryStoreWithGroupOne::new("group2"));
    assert_eq!(st, 0);
    assert_eq!(StoreServer::decode(&body).unwrap().group, "group2");
    let (st, body) = t.call(&QueryStoreWithGroupAll::new("group1"));
    assert_eq!((st, body.len()), (0, 63));
    let all = StoreServers::decode(&body).unwrap();
    assert_eq!(all.servers.len(), 2);
    let (st, body) = t.call(&QueryStoreWithoutGroupAll);
    assert_eq!((st, body.len()), (0, 63));

    // raw_probe: unknown group -> ENOENT; bad body length -> EINVAL; unknown cmd -> EINVAL.
    assert_eq!(
        t.call(&QueryStoreWithGroupOne::new("nosuchgroup")).0,
        status::ENOENT
    );
    let (h, _) = t.raw(&hex_bytes("00000000000000036800616263"));
    assert_eq!(h.status, status::EINVAL);
    let (h, _) = t.raw(&hex_bytes("0000000000000000fa00"));
    assert_eq!(h.status, status::EINVAL);
    let (h, b) = t.raw(&hex_bytes("00000000000000006f00"));
    assert_eq!((h.status, b.len()), (0, 0));
}

#[test]
fn fetch_and_update_follow_the_file() {
    let c = start_cluster(|b| b.storages_per_group(2));
    let s1 = &c.storages()[0];
    let s2 = &c.storages()[1];
    c.pause_sync(s2);
    let mut st = Conn::connect(s1.addr());
    let data = bytes(3000, 9);
    let r = upload(&mut st, &data, "png", false);
    let mut t = Conn::connect(c.trackers()[0]);
    // Not synced yet: only s1 is handed out.
    for _ in 0..4 {
        let (code, body) = t.call(&QueryFetchOne::new("group1", r.filename.clone()));
        assert_eq!((code, body.len()), (0, 39));
        let f = FetchServer::decode(&body).unwrap();
        assert_eq!((f.ip.as_str(), f.port), ("127.0.0.11", s1.port));
    }
    let (_, body) = t.call(&QueryFetchAll::new("group1", r.filename.clone()));
    assert_eq!(FetchServers::decode(&body).unwrap().servers.len(), 1);
    c.resume_sync(s2);
    assert!(c.wait_for_file(s2, &r.file_id(), true, common::LONG));
    let (_, body) = t.call(&QueryFetchAll::new("group1", r.filename.clone()));
    let all = FetchServers::decode(&body).unwrap();
    assert_eq!(all.servers.len(), 2);
    assert_eq!(body.len(), 16 + 2 * (15 + 8), "6.x: ip and port per server");
    let (code, body) = t.call(&QueryUpdate::new("group1", r.filename.clone()));
    assert_eq!(code, 0);
    assert_eq!(
        FetchServer::decode(&body).unwrap().ip,
        "127.0.0.11",
        "update goes to the source"
    );
    assert_eq!(
        t.call(&QueryFetchOne::new("group7", r.filename.clone())).0,
        status::ENOENT
    );
}

#[test]
fn parameters_and_storage_ids() {
    let c = start_cluster(|b| b);
    let mut t = Conn::connect(c.trackers()[0]);
    let (st, body) = t.call(&StorageParameterReq);
    assert_eq!(st, 0);
    let p = StorageParameters::decode(&body).unwrap();
    assert_eq!(p.get("use_storage_id"), Some("0"));
    assert_eq!(p.get("storage_sync_file_max_delay"), Some("86400"));
    assert_eq!(p.get("use_trunk_file"), Some("0"));
    assert!(p
        .text
        .starts_with("use_storage_id=0\nid_type_in_filename=ip\n"));
    // IP mode: allow_empty -> total 0, count 0; otherwise EOPNOTSUPP; 4-byte body -> EINVAL.
    let req = FetchStorageIds {
        start_index: 0,
        allow_empty: Some(true),
    };
    assert_eq!(t.call(&req), (0, vec![0u8; 8]));
    let req = FetchStorageIds {
        start_index: 0,
        allow_empty: Some(false),
    };
    assert_eq!(t.call(&req).0, status::EOPNOTSUPP);
    assert_eq!(
        t.cmd(cmd::STORAGE_FETCH_STORAGE_IDS, &[0, 0, 0, 0]).0,
        status::EINVAL
    );
    // A body on STORAGE_PARAMETER_REQ is refused.
    assert_eq!(t.cmd(cmd::STORAGE_PARAMETER_REQ, b"x").0, status::EINVAL);
    let _ = proto::HEADER_LEN;
}

#[test]
fn two_trackers_share_the_state_and_can_be_killed() {
    let c = start_cluster(|b| b.trackers(2));
    assert_eq!(c.trackers().len(), 2);
    for &a in c.trackers() {
        let mut t = Conn::connect(a);
        assert_eq!(t.call(&QueryStoreWithoutGroupOne).0, 0);
    }
    c.kill_tracker(0).unwrap();
    assert!(std::net::TcpStream::connect(c.trackers()[0]).is_err());
    let mut t = Conn::connect(c.trackers()[1]);
    assert_eq!(t.call(&QueryStoreWithoutGroupOne).0, 0);
    c.restart_tracker(0).unwrap();
    let mut t = Conn::connect(c.trackers()[0]);
    assert_eq!(t.call(&QueryStoreWithoutGroupOne).0, 0);
}

#[test]
fn leader_and_tracker_cluster_stat() {
    let c = start_cluster(|b| b.trackers(2));
    let mut t = Conn::connect(c.trackers()[1]);
    let (st, body) = t.call(&proto::GetLeader);
    assert_eq!(st, 0);
    let l = proto::LeaderReply::decode(&body).unwrap();
    assert_eq!(l.addr, c.trackers()[0].to_string());
    let (st, body) = t.call(&proto::TrackerClusterStatRequest::default());
    assert_eq!(st, 0);
    assert_eq!(
        body.len(),
        181,
        "same size as tracker_cluster_stat.pcap for 2 trackers"
    );
    let ts = proto::TrackerClusterStat::decode(&body).unwrap();
    assert_eq!(ts.trackers.len(), 2);
    assert_eq!(ts.trackers[0].host.text(), c.trackers()[0].to_string());
    assert_eq!((ts.trackers[0].is_leader, ts.trackers[1].is_leader), (1, 0));
    assert_eq!(ts.trackers[1].is_active, 1);
    assert_eq!(ts.trackers[0].version, "6.16.1");
}

/// Issue 9 item 20: SERVER_STORAGE_CLUSTER_STAT (97) and SERVER_STORAGE_VOLUMN_STAT (98), sent as
/// FastDFS 6.16's `fdfs_storage_stat` and `fdfs_volumn_stat` send them (raw 4-byte filters), were
/// EINVAL here; a real 6.16 tracker answers both.
#[test]
fn storage_cluster_and_volume_stat_as_6_16() {
    use fdfs_client::proto::{StorageClusterStat, VolumeStats};
    let c = cluster22();
    let mut t = Conn::connect(c.trackers()[0]);
    // fdfs_storage_stat (no option): no filter.
    let (st, body) = t.cmd(cmd::SERVER_STORAGE_CLUSTER_STAT, &[0, 0, 0, 0]);
    assert_eq!(st, 0, "storage cluster stat status");
    assert_eq!(body.len(), 6 + 4 * 106, "header + four 106-byte entries");
    let all = StorageClusterStat::decode(&body).unwrap();
    assert_eq!((all.use_storage_id, all.use_trunk_file), (0, 0));
    let hosts: Vec<String> = all.storages.iter().map(|s| s.host.text()).collect();
    let want: Vec<String> = c
        .storages()
        .iter()
        .map(|s| format!("{}:{}", s.ip, s.port))
        .collect();
    assert_eq!(hosts, want, "groups in name order, storages by id");
    for s in &all.storages {
        assert_eq!((s.status, s.version.as_str()), (7, "6.16.1"));
        assert!(s.last_heartbeat_time > 0 && s.up_time > 0);
    }
    // -A (ACTIVE) and -N (not ACTIVE) after one storage went away.
    c.kill(0).unwrap();
    let (st, body) = t.cmd(cmd::SERVER_STORAGE_CLUSTER_STAT, &[2, b'=', 7, 0]);
    assert_eq!(st, 0);
    let active = StorageClusterStat::decode(&body).unwrap();
    assert_eq!(active.storages.len(), 3);
    let (_, body) = t.cmd(cmd::SERVER_STORAGE_CLUSTER_STAT, &[2, b'!', 7, 0]);
    let down = StorageClusterStat::decode(&body).unwrap();
    assert_eq!(down.storages.len(), 1);
    assert_eq!(down.storages[0].host.text(), want[0]);
    assert_eq!(down.storages[0].status, 5, "OFFLINE");
    // A body that is not the 4-byte filter: EINVAL, as 6.16 checks the length.
    assert_eq!(
        t.cmd(cmd::SERVER_STORAGE_CLUSTER_STAT, &[0, 0, 0]).0,
        status::EINVAL
    );
    let mut t = Conn::connect(c.trackers()[0]);

    // fdfs_volumn_stat: one entry per group; reserved is the tracker's 20%.
    let (st, body) = t.cmd(cmd::SERVER_STORAGE_VOLUMN_STAT, &[0, 0, 0, 0]);
    assert_eq!(st, 0, "volume stat status");
    assert_eq!(body.len(), 5 + 2 * 59);
    let v = VolumeStats::decode(&body).unwrap();
    let names: Vec<&str> = v.groups.iter().map(|g| g.group_name.as_str()).collect();
    assert_eq!(names, ["group1", "group2"]);
    let (_, gbody) = t.call(&ListOneGroup::new("group1"));
    let g1 = GroupStat::decode(&gbody).unwrap();
    let v1 = &v.groups[0];
    assert_eq!((v1.total_mb, v1.free_mb), (g1.total_mb, g1.free_mb));
    assert_eq!(v1.reserved_mb, g1.total_mb / 5);
    assert_eq!(v1.reserved_mb, g1.reserved_mb, "same figure as list groups");
    assert_eq!(v1.avail_mb, v1.free_mb - v1.reserved_mb);
    assert_eq!((v1.is_disk_available, v1.is_trunk_available), (1, 0));
    // -N: groups without space: none here.
    let (_, body) = t.cmd(cmd::SERVER_STORAGE_VOLUMN_STAT, &[4, 0, 0, 0]);
    assert!(VolumeStats::decode(&body).unwrap().groups.is_empty());
    let (_, body) = t.cmd(cmd::SERVER_STORAGE_VOLUMN_STAT, &[4, 0, 0, 1]);
    assert_eq!(VolumeStats::decode(&body).unwrap().groups.len(), 2);
}
