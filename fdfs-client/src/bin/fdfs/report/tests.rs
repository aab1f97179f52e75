//! The text against FastDFS 6.16.1's own output on a real cluster (`fdfs_monitor_6.16.1.txt`, 221
//! lines, captured 2026-11-25; the data below is what that cluster's tracker answered).

use super::*;
use fdfs_client::proto::{AddrWidth, GroupStat, StorageClusterEntry, StorageStatBuff};

fn captured_cluster() -> ClusterView {
    ClusterView {
        tracker: "127.0.0.10:22122".parse().expect("addr"),
        tracker_index: 0,
        groups: vec![
            GroupInfo {
                stat: GroupStat {
                    group_name: "group1".into(),
                    total_mb: 258019,
                    free_mb: 78848,
                    reserved_mb: 25801,
                    trunk_free_mb: 0,
                    storage_count: 2,
                    storage_port: 23000,
                    readable_server_count: 2,
                    writable_server_count: 2,
                    current_write_server: 1,
                    store_path_count: 1,
                    subdir_count_per_path: 256,
                    current_trunk_file_id: -1,
                },
                storages: vec![
                    StorageStat {
                        status: 7,
                        rw_mode: 6,
                        id: "127.0.0.11".into(),
                        ip_addr: "127.0.0.11".into(),
                        src_id: "127.0.0.12".into(),
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
                        storage_port: 23000,
                        if_trunk_server: 0,
                        addr_width: AddrWidth::V4,
                        stat: StorageStatBuff {
                            alloc_count: 64,
                            current_count: 1,
                            max_count: 2,
                            total_upload_count: 4,
                            success_upload_count: 4,
                            total_append_count: 0,
                            success_append_count: 0,
                            total_modify_count: 0,
                            success_modify_count: 0,
                            total_truncate_count: 0,
                            success_truncate_count: 0,
                            total_set_meta_count: 0,
                            success_set_meta_count: 0,
                            total_delete_count: 1,
                            success_delete_count: 1,
                            total_download_count: 2,
                            success_download_count: 2,
                            total_get_meta_count: 0,
                            success_get_meta_count: 0,
                            total_create_link_count: 0,
                            success_create_link_count: 0,
                            total_delete_link_count: 0,
                            success_delete_link_count: 0,
                            total_upload_bytes: 20288,
                            success_upload_bytes: 20288,
                            total_append_bytes: 0,
                            success_append_bytes: 0,
                            total_modify_bytes: 0,
                            success_modify_bytes: 0,
                            total_download_bytes: 1058816,
                            success_download_bytes: 1058816,
                            total_sync_in_bytes: 1056768,
                            success_sync_in_bytes: 1056768,
                            total_sync_out_bytes: 0,
                            success_sync_out_bytes: 0,
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
                        },
                    },
                    StorageStat {
                        status: 7,
                        rw_mode: 6,
                        id: "127.0.0.12".into(),
                        ip_addr: "127.0.0.12".into(),
                        src_id: "".into(),
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
                        storage_port: 23000,
                        if_trunk_server: 0,
                        addr_width: AddrWidth::V4,
                        stat: StorageStatBuff {
                            alloc_count: 64,
                            current_count: 2,
                            max_count: 3,
                            total_upload_count: 2,
                            success_upload_count: 2,
                            total_append_count: 0,
                            success_append_count: 0,
                            total_modify_count: 0,
                            success_modify_count: 0,
                            total_truncate_count: 0,
                            success_truncate_count: 0,
                            total_set_meta_count: 0,
                            success_set_meta_count: 0,
                            total_delete_count: 0,
                            success_delete_count: 0,
                            total_download_count: 1,
                            success_download_count: 1,
                            total_get_meta_count: 0,
                            success_get_meta_count: 0,
                            total_create_link_count: 0,
                            success_create_link_count: 0,
                            total_delete_link_count: 0,
                            success_delete_link_count: 0,
                            total_upload_bytes: 1056768,
                            success_upload_bytes: 1056768,
                            total_append_bytes: 0,
                            success_append_bytes: 0,
                            total_modify_bytes: 0,
                            success_modify_bytes: 0,
                            total_download_bytes: 200,
                            success_download_bytes: 200,
                            total_sync_in_bytes: 20288,
                            success_sync_in_bytes: 20288,
                            total_sync_out_bytes: 0,
                            success_sync_out_bytes: 0,
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
                        },
                    },
                ],
            },
            GroupInfo {
                stat: GroupStat {
                    group_name: "group2".into(),
                    total_mb: 258019,
                    free_mb: 78848,
                    reserved_mb: 25801,
                    trunk_free_mb: 0,
                    storage_count: 1,
                    storage_port: 23002,
                    readable_server_count: 1,
                    writable_server_count: 1,
                    current_write_server: 0,
                    store_path_count: 1,
                    subdir_count_per_path: 256,
                    current_trunk_file_id: -1,
                },
                storages: vec![StorageStat {
                    status: 7,
                    rw_mode: 6,
                    id: "127.0.0.13".into(),
                    ip_addr: "127.0.0.13".into(),
                    src_id: "".into(),
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
                    storage_port: 23002,
                    if_trunk_server: 0,
                    addr_width: AddrWidth::V4,
                    stat: StorageStatBuff {
                        alloc_count: 64,
                        current_count: 0,
                        max_count: 2,
                        total_upload_count: 5,
                        success_upload_count: 5,
                        total_append_count: 1,
                        success_append_count: 1,
                        total_modify_count: 0,
                        success_modify_count: 0,
                        total_truncate_count: 0,
                        success_truncate_count: 0,
                        total_set_meta_count: 4,
                        success_set_meta_count: 4,
                        total_delete_count: 0,
                        success_delete_count: 0,
                        total_download_count: 4,
                        success_download_count: 4,
                        total_get_meta_count: 2,
                        success_get_meta_count: 2,
                        total_create_link_count: 0,
                        success_create_link_count: 0,
                        total_delete_link_count: 0,
                        success_delete_link_count: 0,
                        total_upload_bytes: 52441226,
                        success_upload_bytes: 52441226,
                        total_append_bytes: 2000,
                        success_append_bytes: 2000,
                        total_modify_bytes: 0,
                        success_modify_bytes: 0,
                        total_download_bytes: 52439130,
                        success_download_bytes: 52439130,
                        total_sync_in_bytes: 0,
                        success_sync_in_bytes: 0,
                        total_sync_out_bytes: 0,
                        success_sync_out_bytes: 0,
                        total_file_open_count: 15,
                        success_file_open_count: 15,
                        total_file_read_count: 209,
                        success_file_read_count: 209,
                        total_file_write_count: 206,
                        success_file_write_count: 206,
                        last_heart_beat_time: 1795576602,
                        last_source_update: 1795576567,
                        last_sync_update: 0,
                        last_synced_timestamp: 0,
                    },
                }],
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
    let e = StorageClusterEntry {
        id: "127.0.0.11".into(),
        host: fdfs_client::proto::RawField::from_text("127.0.0.11:23000"),
        status: 7,
        alloc_count: 64,
        current_count: 1,
        max_count: 2,
        version: "6.16.1".into(),
        up_time: 1_795_576_513,
        last_heartbeat_time: 1_795_576_602,
        ..Default::default()
    };
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
    let g = VolumeStat {
        group_name: "group1".into(),
        total_mb: 258_019,
        free_mb: 78_848,
        reserved_mb: 25_801,
        avail_mb: 53_047,
        trunk_free_mb: 0,
        is_disk_available: 1,
        is_trunk_available: 0,
    };
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
