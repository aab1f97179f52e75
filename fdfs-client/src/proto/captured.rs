//! Test fixtures: blocks as the FastDFS 6.16.1 cluster of the `fdfs_monitor_6.16.1.txt` capture
//! answered them (storage 127.0.0.11 of group1). Compiled into the codec's unit tests
//! (`proto::captured`) and, through `#[path]`, into the `fdfs` report tests, so both check the
//! same figures and the values are written once.

use super::{RawField, StorageClusterEntry, VolumeStat};

/// Storage 127.0.0.11 in a SERVER_STORAGE_CLUSTER_STAT reply.
pub(crate) fn storage_cluster_entry() -> StorageClusterEntry {
    StorageClusterEntry {
        id: "127.0.0.11".into(),
        host: RawField::from_text("127.0.0.11:23000"),
        status: 7,
        alloc_count: 64,
        current_count: 1,
        max_count: 2,
        version: "6.16.1".into(),
        up_time: 1_795_576_513,
        last_heartbeat_time: 1_795_576_602,
        ..Default::default()
    }
}

/// group1 in a SERVER_STORAGE_VOLUMN_STAT reply.
pub(crate) fn volume_stat() -> VolumeStat {
    VolumeStat {
        group_name: "group1".into(),
        total_mb: 258_019,
        free_mb: 78_848,
        reserved_mb: 25_801,
        avail_mb: 53_047,
        trunk_free_mb: 0,
        is_disk_available: 1,
        is_trunk_available: 0,
    }
}
