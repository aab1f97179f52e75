//! The text against FastDFS 6.16.1's own output on a real cluster (`fdfs_monitor_6.16.1.txt`, 221
//! lines, captured 2026-11-25; the data below is what that cluster's tracker answered).

use super::*;
use fdfs_client::proto::{AddrWidth, GroupStat, RawField, StorageClusterEntry, StorageStatBuff};

// The StorageClusterEntry and VolumeStat the codec tests use too.
#[path = "../../../proto/captured.rs"]
mod captured;

/// A group of the captured cluster: what both groups share, with their own figures.
fn captured_group(
    group_name: &str,
    storage_count: u64,
    storage_port: u64,
    current_write_server: u64,
) -> GroupStat {
    GroupStat {
        group_name: group_name.into(),
        total_mb: 258019,
        free_mb: 78848,
        reserved_mb: 25801,
        trunk_free_mb: 0,
        storage_count,
        storage_port,
        readable_server_count: storage_count,
        writable_server_count: storage_count,
        current_write_server,
        store_path_count: 1,
        subdir_count_per_path: 256,
        current_trunk_file_id: -1,
    }
}

/// A storage of the captured cluster: what all three share, with their own id (also their ip),
/// sync source, port and counters.
fn captured_storage(
    id: &str,
    src_id: &str,
    storage_port: u64,
    stat: StorageStatBuff,
) -> StorageStat {
    StorageStat {
        status: 7,
        rw_mode: 6,
        id: id.into(),
        ip_addr: id.into(),
        src_id: src_id.into(),
        version: "6.16.1".into(),
        join_time: 1795576513,
        up_time: 1795576513,
        total_mb: 258019,
        free_mb: 78848,
        reserved_mb: 25801,
        upload_priority: 10,
        store_path_count: 1,
        subdir_count_per_path: 256,
        current_write_path: 0,
        storage_port,
        if_trunk_server: 0,
        addr_width: AddrWidth::V4,
        stat,
    }
}

/// The cluster's answers; counters left out of a [`StorageStatBuff`] below were 0.
fn captured_cluster() -> ClusterView {
    ClusterView {
        tracker: "127.0.0.10:22122".parse().expect("addr"),
        tracker_index: 0,
        groups: vec![
            GroupInfo {
                stat: captured_group("group1", 2, 23000, 1),
                storages: vec![
                    captured_storage(
                        "127.0.0.11",
                        "127.0.0.12",
                        23000,
                        StorageStatBuff {
                            alloc_count: 64,
                            current_count: 1,
                            max_count: 2,
                            total_upload_count: 4,
                            success_upload_count: 4,
                            total_delete_count: 1,
                            success_delete_count: 1,
                            total_download_count: 2,
                            success_download_count: 2,
                            total_upload_bytes: 20288,
                            success_upload_bytes: 20288,
                            total_download_bytes: 1058816,
                            success_download_bytes: 1058816,
                            total_sync_in_bytes: 1056768,
                            success_sync_in_bytes: 1056768,
                            total_file_open_count: 9,
                            success_file_open_count: 9,
                            total_file_read_count: 7,
                            success_file_read_count: 7,
                            total_file_write_count: 10,
                            success_file_write_count: 10,
                            last_heart_beat_time: 1795576602,
                            last_source_update: 1795576595,
                            last_sync_update: 1795576555,
                            last_synced_timestamp: 1795576555,
                            ..Default::default()
                        },
                    ),
                    captured_storage(
                        "127.0.0.12",
                        "",
                        23000,
                        StorageStatBuff {
                            alloc_count: 64,
                            current_count: 2,
                            max_count: 3,
                            total_upload_count: 2,
                            success_upload_count: 2,
                            total_download_count: 1,
                            success_download_count: 1,
                            total_upload_bytes: 1056768,
                            success_upload_bytes: 1056768,
                            total_download_bytes: 200,
                            success_download_bytes: 200,
                            total_sync_in_bytes: 20288,
                            success_sync_in_bytes: 20288,
                            total_file_open_count: 7,
                            success_file_open_count: 7,
                            total_file_read_count: 1,
                            success_file_read_count: 1,
                            total_file_write_count: 10,
                            success_file_write_count: 10,
                            last_heart_beat_time: 1795576601,
                            last_source_update: 1795576554,
                            last_sync_update: 1795576595,
                            last_synced_timestamp: 1795576595,
                            ..Default::default()
                        },
                    ),
                ],
            },
            GroupInfo {
                stat: captured_group("group2", 1, 23002, 0),
                storages: vec![captured_storage(
                    "127.0.0.13",
                    "",
                    23002,
                    StorageStatBuff {
                        alloc_count: 64,
                        current_count: 0,
                        max_count: 2,
                        total_upload_count: 5,
                        success_upload_count: 5,
                        total_append_count: 1,
                        success_append_count: 1,
                        total_set_meta_count: 4,
                        success_set_meta_count: 4,
                        total_download_count: 4,
                        success_download_count: 4,
                        total_get_meta_count: 2,
                        success_get_meta_count: 2,
                        total_upload_bytes: 52441226,
                        success_upload_bytes: 52441226,
                        total_append_bytes: 2000,
                        success_append_bytes: 2000,
                        total_download_bytes: 52439130,
                        success_download_bytes: 52439130,
                        total_file_open_count: 15,
                        success_file_open_count: 15,
                        total_file_read_count: 209,
                        success_file_read_count: 209,
                        total_file_write_count: 206,
                        success_file_write_count: 206,
                        last_heart_beat_time: 1795576602,
                        last_source_update: 1795576567,
                        ..Default::default()
                    },
                )],
            },
        ],
    }
}

#[test]
fn monitor_text_is_fdfs_monitor_line_for_line() {
    let want = include_str!("fdfs_monitor_6.16.1.txt");
    let got = monitor_text(&captured_cluster(), 2, false);
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(got.lines().count(), 221);
    assert_eq!(got, want);
}

#[test]
fn monitor_json_has_every_figure() {
    let view = captured_cluster();
    let trackers: Vec<ServerAddr> = vec![
        "127.0.0.10:22122".parse().expect("addr"),
        "127.0.0.10:22123".parse().expect("addr"),
    ];
    let v = monitor_json(&view, &trackers);
    assert_eq!(v["tracker_server_count"], 2);
    assert_eq!(v["current_server_index"], 0);
    let s = &v["groups"][0]["storages"][0];
    assert_eq!(s["rw_mode_name"], "both (normal)");
    assert_eq!(s["connection"]["max_count"], 2);
    assert_eq!(s["total_download_bytes"], 1_058_816);
    assert_eq!(s["success_file_write_count"], 10);
    assert_eq!(s["total_sync_in_bytes"], 1_056_768);
    assert_eq!(s["sync_delay"], 0);
    // Every number of the text is in the JSON: 42 stat fields, 3 connection counters.
    let obj = s.as_object().expect("object");
    for (name, _) in view.groups[0].storages[0].stat.fields() {
        assert!(obj.contains_key(name), "{name}");
    }
}

#[test]
fn one_group_and_sync_notes() {
    let mut view = captured_cluster();
    view.groups.truncate(1);
    let text = monitor_text(&view, 2, true);
    assert!(!text.contains("group count") && !text.contains("Group 1:"));
    assert!(text.contains("\ngroup name = group1\n"));
    let g = &mut view.groups[0];
    g.storages[0].stat.last_synced_timestamp = 0;
    g.storages[1].stat.last_synced_timestamp -= 90_061;
    assert_eq!(delay_text(g, 0), "(never synced)");
    assert_eq!(delay_text(g, 1), "(1 day 1 hour 1 minute 1 second delay)");
    assert_eq!(human_seconds(7200), "2 hours");
    assert_eq!(human_seconds(-5), "0 second");
}

#[test]
fn storage_and_volume_stat_as_the_c_tools() {
    let e = captured::storage_cluster_entry();
    let r = StorageClusterStat {
        use_storage_id: 0,
        use_trunk_file: 0,
        storages: vec![e],
    };
    assert_eq!(
        storage_stat_text(&r, false),
        "\n127.0.0.11:23000 ACTIVE, connections {alloc: 64, current: 1, max: 2}\n\nstorage server count: 1\n\n"
    );
    assert!(storage_stat_text(&r, true).contains(
        "  version: 6.16.1, up_time: 2026-11-25 03:15:13, last_heartbeat_time: 2026-11-25 03:16:42\n\n"
    ));
    let g = captured::volume_stat();
    let one = VolumeStats {
        use_trunk_file: 0,
        groups: vec![g.clone()],
    };
    assert_eq!(
        volume_stat_text(&one),
        "\ngroup1 disk_available: 1, disk space {total: 252 GB, free: 77 GB, reserved: 25 GB, \
         avail: 52 GB, util: 77.16%}\n\nstorage volumn / group count: 1\n\n"
    );
    let mut g2 = g;
    g2.group_name = "group2".into();
    let two = VolumeStats {
        use_trunk_file: 0,
        groups: vec![one.groups[0].clone(), g2],
    };
    let text = volume_stat_text(&two);
    assert!(text.contains(
        "================================ VOLUMNS SUMMARY ================================\n"
    ));
    assert!(
        text.ends_with("volumn / group counts {total: 2, available: 2}\n\n"),
        "{text}"
    );
}

#[test]
fn time_format() {
    assert_eq!(fmt_time(0), "1970-01-01 00:00:00");
    // The capture's `file create timestamp: 2026-11-25 03:15:48` (the cluster ran in UTC).
    assert_eq!(fmt_time(1_795_576_548), "2026-11-25 03:15:48");
    assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00:00");
}

#[test]
fn sizes_as_fdfs_monitor() {
    // fdfs_monitor 6.16.1 on a real cluster: total 258019 MB, free 55330, reserved 2580,
    // available 52750 printed as "252 GB", "54 GB", "2.5 GB", "52 GB".
    assert_eq!(fmt_mb(258_019), " 252 GB");
    assert_eq!(fmt_mb(55_330), "  54 GB");
    assert_eq!(fmt_mb(2_580), " 2.5 GB");
    assert_eq!(fmt_mb(52_750), "  52 GB");
    assert_eq!(fmt_mb(512), " 512 MB");
    assert_eq!(fmt_mb(10_200), "  10 GB");
    assert_eq!(fmt_mb(0), "   0  B");
}

#[test]
fn trunk_group_lines_as_fdfs_monitor() {
    // With trunk files (current_trunk_file_id >= 0) fdfs_monitor adds the trunk free space after
    // the disk lines and names the trunk server before the storages.
    let mut view = captured_cluster();
    view.groups.truncate(1);
    let g = &mut view.groups[0];
    g.stat.current_trunk_file_id = 3;
    g.stat.trunk_free_mb = 512;
    g.storages[1].if_trunk_server = 1;
    let text = monitor_text(&view, 2, true);
    assert!(
        text.contains("disk available space =   52 GB\ntrunk free space =  512 MB\nstorage server count = 2\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "current write server index = 1\ncurrent trunk server = 127.0.0.12 (127.0.0.12)\n\
             current trunk file id = 3\n\n\tStorage 1:\n"
        ),
        "{text}"
    );
}
