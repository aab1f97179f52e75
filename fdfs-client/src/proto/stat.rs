//! Monitor blocks returned by the tracker: [`GroupStat`] (SERVER_LIST_ONE_GROUP / _ALL_GROUPS),
//! [`StorageStat`] (SERVER_LIST_STORAGE), [`TrackerStat`] (SERVER_TRACKER_CLUSTER_STAT),
//! [`StorageClusterEntry`] (SERVER_STORAGE_CLUSTER_STAT) and [`VolumeStat`]
//! (SERVER_STORAGE_VOLUMN_STAT).
//!
//! Layouts follow FastDFS 6.13+ (`rw_mode`, `reserved_mb`, readable/writable counts) as
//! captured from 6.16.1; all integers are big-endian.

use super::error::Result;
use super::wire::{
    put_fixed, put_i64, put_u32, put_u64, AddrWidth, Reader, GROUP_NAME_LEN, MAX_IP_PORT_SIZE,
    STORAGE_ID_LEN, VERSION_LEN,
};

/// Storage status values (`FDFS_STORAGE_STATUS_*`) found in [`StorageStat::status`].
pub mod storage_status {
    /// Just joined.
    pub const INIT: u8 = 0;
    /// Waiting for its initial sync.
    pub const WAIT_SYNC: u8 = 1;
    /// Syncing existing files.
    pub const SYNCING: u8 = 2;
    /// IP changed.
    pub const IP_CHANGED: u8 = 3;
    /// Deleted from the group.
    pub const DELETED: u8 = 4;
    /// Not reachable.
    pub const OFFLINE: u8 = 5;
    /// Up, not yet active.
    pub const ONLINE: u8 = 6;
    /// Serving.
    pub const ACTIVE: u8 = 7;
    /// Recovering its data from peers.
    pub const RECOVERY: u8 = 9;
    /// No status.
    pub const NONE: u8 = 99;

    /// The name FastDFS tools print (`"ACTIVE"`), `"UNKNOWN"` otherwise.
    pub fn name(status: u8) -> &'static str {
        match status {
            INIT => "INIT",
            WAIT_SYNC => "WAIT_SYNC",
            SYNCING => "SYNCING",
            IP_CHANGED => "IP_CHANGED",
            DELETED => "DELETED",
            OFFLINE => "OFFLINE",
            ONLINE => "ONLINE",
            ACTIVE => "ACTIVE",
            RECOVERY => "RECOVERY",
            NONE => "NONE",
            _ => "UNKNOWN",
        }
    }
}

/// Name of a [`StorageStat::rw_mode`] value (R_OK = 4, W_OK = 2 bits): `"none"`, `"readonly"`,
/// `"writeonly"`, `"both"`, or `"unknown"`.
pub fn rw_mode_name(rw_mode: u8) -> &'static str {
    match rw_mode {
        0 => "none",
        4 => "readonly",
        2 => "writeonly",
        6 => "both",
        _ => "unknown",
    }
}

/// Raw bytes of a fixed-width text field, kept verbatim so re-encoding reproduces bytes the
/// server left after the NUL (the tracker cluster stat `host` field has such leftovers).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawField<const N: usize>(pub [u8; N]);

impl<const N: usize> RawField<N> {
    /// A NUL-padded field holding `s` (cut to `N` bytes).
    pub fn from_text(s: &str) -> Self {
        let mut a = [0u8; N];
        let n = s.len().min(N);
        a[..n].copy_from_slice(&s.as_bytes()[..n]);
        RawField(a)
    }

    /// The text up to the first NUL (lossy UTF-8).
    pub fn text(&self) -> String {
        super::wire::from_fixed(&self.0)
    }
}

impl<const N: usize> Default for RawField<N> {
    fn default() -> Self {
        RawField([0u8; N])
    }
}

impl<const N: usize> std::fmt::Debug for RawField<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.text())
    }
}

/// `read` and `encode_into` of a fixed-layout block from one table of its fields in wire order,
/// so that each layout is written once and reading and writing cannot drift apart. Kinds: `u8`,
/// `u32`, `u64`, `i64` (big-endian), `raw` (a [`RawField`] kept verbatim), `str(width)`
/// (NUL-padded text).
macro_rules! wire_block {
    (@read $r:ident, u8) => { $r.u8()? };
    (@read $r:ident, u32) => { $r.u32()? };
    (@read $r:ident, u64) => { $r.u64()? };
    (@read $r:ident, i64) => { $r.i64()? };
    (@read $r:ident, raw) => { RawField($r.array()?) };
    (@read $r:ident, str($n:expr)) => { $r.fixed_str($n)? };
    (@put $out:ident, $v:expr, u8) => { $out.push(*$v) };
    (@put $out:ident, $v:expr, u32) => { put_u32($out, *$v) };
    (@put $out:ident, $v:expr, u64) => { put_u64($out, *$v) };
    (@put $out:ident, $v:expr, i64) => { put_i64($out, *$v) };
    (@put $out:ident, $v:expr, raw) => { $out.extend_from_slice(&$v.0) };
    (@put $out:ident, $v:expr, str($n:expr)) => { put_fixed($out, $v, $n) };
    ($t:ident { $($f:ident: $kind:ident $(($n:expr))?),+ $(,)? }) => {
        impl $t {
            /// Reads one block.
            pub fn read(r: &mut Reader<'_>) -> Result<Self> {
                Ok($t {
                    $($f: wire_block!(@read r, $kind $(($n))?),)+
                })
            }

            /// Appends one block.
            pub fn encode_into(&self, out: &mut Vec<u8>) {
                $(wire_block!(@put out, &self.$f, $kind $(($n))?);)+
            }
        }
    };
}

/// One group's stat (`TrackerGroupStat`, 113 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupStat {
    /// Group name (17-byte field).
    pub group_name: String,
    /// Total disk space in MB.
    pub total_mb: u64,
    /// Free disk space in MB.
    pub free_mb: u64,
    /// Reserved disk space in MB (6.13.1+).
    pub reserved_mb: u64,
    /// Trunk free space in MB.
    pub trunk_free_mb: u64,
    /// Number of storages.
    pub storage_count: u64,
    /// Storage port.
    pub storage_port: u64,
    /// Readable storages (6.13+).
    pub readable_server_count: u64,
    /// Writable storages (6.13+).
    pub writable_server_count: u64,
    /// Index of the current write server.
    pub current_write_server: u64,
    /// Store paths per storage.
    pub store_path_count: u64,
    /// Subdirs per store path.
    pub subdir_count_per_path: u64,
    /// Current trunk file id (-1 when none).
    pub current_trunk_file_id: i64,
}

impl GroupStat {
    /// Encoded size.
    pub const SIZE: usize = GROUP_NAME_LEN + 1 + 12 * 8;
    /// SERVER_LIST_ONE_GROUP reply bound.
    pub const MAX_BODY: u64 = Self::SIZE as u64;

    /// Decodes a SERVER_LIST_ONE_GROUP reply (exactly one block).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "group stat");
        let g = GroupStat::read(&mut r)?;
        r.finish()?;
        Ok(g)
    }
}
wire_block!(GroupStat {
    group_name: str(GROUP_NAME_LEN + 1),
    total_mb: u64,
    free_mb: u64,
    reserved_mb: u64,
    trunk_free_mb: u64,
    storage_count: u64,
    storage_port: u64,
    readable_server_count: u64,
    writable_server_count: u64,
    current_write_server: u64,
    store_path_count: u64,
    subdir_count_per_path: u64,
    current_trunk_file_id: i64,
});

super::message!(GroupStat);

impl super::Reply for GroupStat {
    const MAX_BODY: u64 = GroupStat::MAX_BODY;
}

macro_rules! stat_buff {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            /// Connections allocated.
            pub alloc_count: u32,
            /// Connections in use.
            pub current_count: u32,
            /// Most connections.
            pub max_count: u32,
            $($(#[$fm])* pub $f: u64,)*
        }

        impl $name {
            /// Encoded size (3 × 4 + 42 × 8 = 348 bytes).
            pub const SIZE: usize = 12 + 8 * [$(stringify!($f)),*].len();

            /// Every 64-bit field with its name, in wire order (counters, then the four
            /// timestamps), for tools that print or serialize all of them.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($f), self.$f)),*]
            }
        }
        wire_block!($name {
            alloc_count: u32,
            current_count: u32,
            max_count: u32,
            $($f: u64,)*
        });
    };
}

stat_buff!(
    /// The counters of a storage (`FDFSStorageStatBuff`, 348 bytes).
    StorageStatBuff {
        total_upload_count,
        success_upload_count,
        total_append_count,
        success_append_count,
        total_modify_count,
        success_modify_count,
        total_truncate_count,
        success_truncate_count,
        total_set_meta_count,
        success_set_meta_count,
        total_delete_count,
        success_delete_count,
        total_download_count,
        success_download_count,
        total_get_meta_count,
        success_get_meta_count,
        total_create_link_count,
        success_create_link_count,
        total_delete_link_count,
        success_delete_link_count,
        total_upload_bytes,
        success_upload_bytes,
        total_append_bytes,
        success_append_bytes,
        total_modify_bytes,
        success_modify_bytes,
        total_download_bytes,
        success_download_bytes,
        total_sync_in_bytes,
        success_sync_in_bytes,
        total_sync_out_bytes,
        success_sync_out_bytes,
        total_file_open_count,
        success_file_open_count,
        total_file_read_count,
        success_file_read_count,
        total_file_write_count,
        success_file_write_count,
        /// Last update as source server (unix time).
        last_source_update,
        /// Last update as destination server (unix time).
        last_sync_update,
        /// Last synced timestamp (source server's time).
        last_synced_timestamp,
        /// Last heart beat (unix time).
        last_heart_beat_time,
    }
);

/// One storage's stat (`TrackerStorageStatIPv4`/`IPv6`: 487 or 517 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageStat {
    /// Storage status (`FDFS_STORAGE_STATUS_*`: 7 = ACTIVE, 6 = ONLINE, ...).
    pub status: u8,
    /// Read/write mode (6.13+).
    pub rw_mode: u8,
    /// Storage id (the IP in IP mode).
    pub id: String,
    /// IP address (16 or 46 byte field, see `addr_width`).
    pub ip_addr: String,
    /// Id of the storage this one synced from.
    pub src_id: String,
    /// Storage version, e.g. "6.16.1".
    pub version: String,
    /// Join timestamp.
    pub join_time: u64,
    /// Startup timestamp.
    pub up_time: u64,
    /// Total disk MB.
    pub total_mb: u64,
    /// Free disk MB.
    pub free_mb: u64,
    /// Reserved disk MB (6.13.1+).
    pub reserved_mb: u64,
    /// Upload priority.
    pub upload_priority: u64,
    /// Store paths.
    pub store_path_count: u64,
    /// Subdirs per path.
    pub subdir_count_per_path: u64,
    /// Current write path index.
    pub current_write_path: u64,
    /// Storage port.
    pub storage_port: u64,
    /// Counters.
    pub stat: StorageStatBuff,
    /// Non-zero if this storage is the group's trunk server.
    pub if_trunk_server: u8,
    /// Width of the `ip_addr` field.
    pub addr_width: AddrWidth,
}

impl StorageStat {
    /// Encoded size for a given address width (487 for IPv4, 517 for IPv6).
    pub const fn size(w: AddrWidth) -> usize {
        2 + STORAGE_ID_LEN
            + w.size()
            + STORAGE_ID_LEN
            + VERSION_LEN
            + 10 * 8
            + StorageStatBuff::SIZE
            + 1
    }

    /// Reads one block with the given address width.
    pub fn read(r: &mut Reader<'_>, w: AddrWidth) -> Result<Self> {
        Ok(StorageStat {
            status: r.u8()?,
            rw_mode: r.u8()?,
            id: r.fixed_str(STORAGE_ID_LEN)?,
            ip_addr: r.fixed_str(w.size())?,
            src_id: r.fixed_str(STORAGE_ID_LEN)?,
            version: r.fixed_str(VERSION_LEN)?,
            join_time: r.u64()?,
            up_time: r.u64()?,
            total_mb: r.u64()?,
            free_mb: r.u64()?,
            reserved_mb: r.u64()?,
            upload_priority: r.u64()?,
            store_path_count: r.u64()?,
            subdir_count_per_path: r.u64()?,
            current_write_path: r.u64()?,
            storage_port: r.u64()?,
            stat: StorageStatBuff::read(r)?,
            if_trunk_server: r.u8()?,
            addr_width: w,
        })
    }

    /// Appends one block using `self.addr_width`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.status);
        out.push(self.rw_mode);
        put_fixed(out, &self.id, STORAGE_ID_LEN);
        put_fixed(out, &self.ip_addr, self.addr_width.size());
        put_fixed(out, &self.src_id, STORAGE_ID_LEN);
        put_fixed(out, &self.version, VERSION_LEN);
        for v in [
            self.join_time,
            self.up_time,
            self.total_mb,
            self.free_mb,
            self.reserved_mb,
            self.upload_priority,
            self.store_path_count,
            self.subdir_count_per_path,
            self.current_write_path,
            self.storage_port,
        ] {
            put_u64(out, v);
        }
        self.stat.encode_into(out);
        out.push(self.if_trunk_server);
    }
}

/// A tracker's or a storage's cluster-stat block: the struct, its `read` and `encode_into`
/// ([`wire_block!`]) from the fields named here, then the tail both blocks end with —
/// `[alloc_count 4][current_count 4][max_count 4][version 8][up_time 8][last_heartbeat_time 8]`
/// — so the tail is declared and laid out once.
macro_rules! cluster_block {
    (
        $(#[$m:meta])*
        $t:ident {
            $($(#[$fm:meta])* $f:ident: $ty:ty = $kind:ident $(($n:expr))?),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $t {
            $($(#[$fm])* pub $f: $ty,)+
            /// Connections allocated.
            pub alloc_count: u32,
            /// Connections in use.
            pub current_count: u32,
            /// Most connections.
            pub max_count: u32,
            /// Server version, e.g. "6.16.1".
            pub version: String,
            /// Startup timestamp.
            pub up_time: u64,
            /// Last heart beat timestamp.
            pub last_heartbeat_time: u64,
        }
        wire_block!($t {
            $($f: $kind $(($n))?,)+
            alloc_count: u32,
            current_count: u32,
            max_count: u32,
            version: str(VERSION_LEN),
            up_time: u64,
            last_heartbeat_time: u64,
        });
    };
}

cluster_block!(
    /// One tracker of the cluster (`TrackerClusterStatRespBodyPart`, 90 bytes).
    TrackerStat {
        /// `ip:port` (52-byte field kept verbatim; [`RawField::text`] gives the string).
        host: RawField<MAX_IP_PORT_SIZE> = raw,
        /// 1 if leader.
        is_leader: u8 = u8,
        /// 1 if active.
        is_active: u8 = u8,
    }
);

impl TrackerStat {
    /// Encoded size.
    pub const SIZE: usize = MAX_IP_PORT_SIZE + 2 + 12 + VERSION_LEN + 16;
}

cluster_block!(
    /// One storage in a SERVER_STORAGE_CLUSTER_STAT reply (`StorageClusterStatRespBodyPart`, 106
    /// bytes, FastDFS 6.16): what `fdfs_storage_stat` prints.
    StorageClusterEntry {
        /// Storage id (the IP in IP mode; 16-byte field).
        id: String = str(STORAGE_ID_LEN),
        /// `ip:port` as the tracker formats it (52-byte field kept verbatim).
        host: RawField<MAX_IP_PORT_SIZE> = raw,
        /// 1 if this storage is its group's trunk server (always 0 without trunk files).
        is_trunk_server: u8 = u8,
        /// Storage status (`FDFS_STORAGE_STATUS_*`, see [`storage_status`]).
        status: u8 = u8,
    }
);

impl StorageClusterEntry {
    /// Encoded size.
    pub const SIZE: usize = STORAGE_ID_LEN + MAX_IP_PORT_SIZE + 2 + 12 + VERSION_LEN + 16;
}

/// One group in a SERVER_STORAGE_VOLUMN_STAT reply (`StorageVolumnStatRespBodyPart`, 59 bytes,
/// FastDFS 6.16): what `fdfs_volumn_stat` prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeStat {
    /// Group name (17-byte field).
    pub group_name: String,
    /// Total disk space in MB.
    pub total_mb: u64,
    /// Free disk space in MB.
    pub free_mb: u64,
    /// Reserved disk space in MB (`reserved_storage_space` of the tracker).
    pub reserved_mb: u64,
    /// Free minus reserved when the disk has room, else 0.
    pub avail_mb: u64,
    /// Trunk free space in MB when the trunk has room, else 0.
    pub trunk_free_mb: u64,
    /// 1 if the group's disks have room beyond the reserved space.
    pub is_disk_available: u8,
    /// 1 if the group's trunk files have room (always 0 without trunk files).
    pub is_trunk_available: u8,
}

impl VolumeStat {
    /// Encoded size.
    pub const SIZE: usize = GROUP_NAME_LEN + 1 + 5 * 8 + 2;
}
wire_block!(VolumeStat {
    group_name: str(GROUP_NAME_LEN + 1),
    total_mb: u64,
    free_mb: u64,
    reserved_mb: u64,
    avail_mb: u64,
    trunk_free_mb: u64,
    is_disk_available: u8,
    is_trunk_available: u8,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(GroupStat::SIZE, 113);
        assert_eq!(StorageStatBuff::SIZE, 348);
        assert_eq!(StorageStat::size(AddrWidth::V4), 487);
        assert_eq!(StorageStat::size(AddrWidth::V6), 517);
        assert_eq!(TrackerStat::SIZE, 90);
        assert_eq!(StorageClusterEntry::SIZE, 106);
        assert_eq!(VolumeStat::SIZE, 59);
        assert_eq!(storage_status::name(7), "ACTIVE");
        assert_eq!(storage_status::name(200), "UNKNOWN");
        assert_eq!(rw_mode_name(6), "both");
    }

    /// Each field table adds up to the block's documented size and reads back what it wrote.
    #[test]
    fn field_tables_match_sizes() {
        fn check<T: Default + PartialEq + std::fmt::Debug>(
            size: usize,
            enc: fn(&T, &mut Vec<u8>),
            read: fn(&mut Reader<'_>) -> Result<T>,
            v: T,
        ) {
            let mut b = Vec::new();
            enc(&v, &mut b);
            assert_eq!(b.len(), size);
            let mut r = Reader::new(&b, "t");
            assert_eq!(read(&mut r).unwrap(), v);
            r.finish().unwrap();
        }
        check(
            GroupStat::SIZE,
            GroupStat::encode_into,
            GroupStat::read,
            GroupStat {
                group_name: "group1".into(),
                storage_port: 23000,
                current_trunk_file_id: -1,
                ..Default::default()
            },
        );
        check(
            VolumeStat::SIZE,
            VolumeStat::encode_into,
            VolumeStat::read,
            VolumeStat {
                group_name: "group1".into(),
                avail_mb: 7,
                is_trunk_available: 1,
                ..Default::default()
            },
        );
        check(
            StorageStatBuff::SIZE,
            StorageStatBuff::encode_into,
            StorageStatBuff::read,
            StorageStatBuff {
                max_count: 3,
                last_heart_beat_time: 9,
                ..Default::default()
            },
        );
        check(
            TrackerStat::SIZE,
            TrackerStat::encode_into,
            TrackerStat::read,
            TrackerStat {
                host: RawField::from_text("127.0.0.10:22122"),
                is_leader: 1,
                version: "6.16.1".into(),
                ..Default::default()
            },
        );
        check(
            StorageClusterEntry::SIZE,
            StorageClusterEntry::encode_into,
            StorageClusterEntry::read,
            StorageClusterEntry {
                id: "127.0.0.11".into(),
                status: 7,
                up_time: 5,
                ..Default::default()
            },
        );
    }

    #[test]
    fn storage_stat_roundtrip() {
        let s = StorageStat {
            status: 7,
            id: "127.0.0.11".into(),
            ip_addr: "127.0.0.11".into(),
            version: "6.16.1".into(),
            storage_port: 23000,
            stat: StorageStatBuff {
                max_count: 4,
                last_heart_beat_time: 9,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut b = Vec::new();
        s.encode_into(&mut b);
        assert_eq!(b.len(), 487);
        let mut r = Reader::new(&b, "t");
        assert_eq!(StorageStat::read(&mut r, AddrWidth::V4).unwrap(), s);
    }
}
