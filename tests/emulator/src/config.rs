//! Cluster description: groups, storages, trackers, replication delay, trunk and storage-id mode.
//!
//! [`ClusterConfig`] is plain data (serde, so the `fdfs-emu` binary reads it from TOML); build one
//! by hand or with [`ClusterConfig::builder`]. Ports left at 0 are chosen when the cluster starts.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// First storage address handed out by the builder (127.0.0.11, .12, ...).
pub const FIRST_STORAGE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// Default tracker address (port 0: chosen at start).
pub const DEFAULT_TRACKER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
/// First storage id in storage-id mode (`100001`, `100002`, ...), as in FastDFS's sample file.
pub const FIRST_STORAGE_ID: u32 = 100_001;

/// The whole emulated cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Groups, in order (`group1`, `group2`, ...).
    pub groups: Vec<GroupConfig>,
    /// Tracker listen addresses; port 0 = pick a free port. Empty = one tracker on 127.0.0.10.
    pub trackers: Vec<SocketAddrV4>,
    /// How long after a change on one storage the other storages of its group get it.
    #[serde(with = "millis", rename = "sync_delay_ms")]
    pub sync_delay: Duration,
    /// Trunk mode: small files packed into trunk containers.
    pub trunk: bool,
    /// Trunk: largest file packed into a slot (FastDFS `slot_max_size`).
    pub slot_max_size: u32,
    /// Trunk: smallest slot (FastDFS `slot_min_size`).
    pub slot_min_size: u32,
    /// Trunk: container size (FastDFS `trunk_file_size`, at least 4 MiB there).
    pub trunk_file_size: u32,
    /// Trunk: slot alignment (`trunk_alloc_alignment_size`).
    pub trunk_alloc_alignment_size: u32,
    /// `use_storage_id = true` with `id_type_in_filename = id`: file ids carry the storage id.
    pub use_storage_id: bool,
    /// Where store paths live; `None` = a temporary directory removed when the cluster stops.
    pub base_dir: Option<PathBuf>,
    /// Reported by STORAGE_PARAMETER_REQ (`storage_sync_file_max_delay`).
    pub storage_sync_file_max_delay: u32,
    /// Sub-directories per level (`subdir_count_per_path`, 256 in FastDFS).
    pub subdir_count_per_path: u16,
    /// Files written to one sub-directory before moving to the next (`file_distribute_rotate_count`).
    pub file_distribute_rotate_count: u32,
    /// Always store into this group (tracker `store_lookup = 1`); `None` = round robin.
    pub store_group: Option<String>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name (at most 16 bytes).
    pub name: String,
    /// Its storages.
    pub storages: Vec<StorageConfig>,
}

/// One storage server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Listen address (any 127/8 address works on Linux without configuring it).
    pub ip: Ipv4Addr,
    /// Storage protocol port; 0 = pick (the storages of a group then share one port, as FastDFS
    /// requires in IP mode).
    pub port: u16,
    /// HTTP port reported for this storage (nginx serves it; the emulator does not); 0 = pick one
    /// free port shared by the whole cluster.
    pub http_port: u16,
    /// Number of store paths (`M00`, `M01`, ...).
    pub store_path_count: u8,
    /// Storage id (storage-id mode); `None` = 100001 + position in the cluster.
    pub id: Option<String>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            ip: FIRST_STORAGE_IP,
            port: 0,
            http_port: 0,
            store_path_count: 1,
            id: None,
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            groups: Vec::new(),
            trackers: Vec::new(),
            sync_delay: Duration::from_millis(0),
            trunk: false,
            slot_max_size: 1024 * 1024,
            slot_min_size: 256,
            trunk_file_size: 4 * 1024 * 1024,
            trunk_alloc_alignment_size: 256,
            use_storage_id: false,
            base_dir: None,
            storage_sync_file_max_delay: 86_400,
            subdir_count_per_path: 256,
            file_distribute_rotate_count: 100,
            store_group: None,
        }
    }
}

impl ClusterConfig {
    /// A builder: 1 group of 1 storage, one tracker, no delay, temp dir.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// Parses the TOML form (see tests/README.md).
    pub fn from_toml(text: &str) -> Result<ClusterConfig, crate::EmuError> {
        toml::from_str(text).map_err(|e| crate::EmuError::Config(e.to_string()))
    }

    /// Checks names, counts and sizes.
    pub fn validate(&self) -> Result<(), crate::EmuError> {
        let bad = |m: String| Err(crate::EmuError::Config(m));
        if self.groups.is_empty() {
            return bad("no groups".into());
        }
        for (i, g) in self.groups.iter().enumerate() {
            if g.name.is_empty() || g.name.len() > 16 || g.name.contains('/') {
                return bad(format!("bad group name {:?}", g.name));
            }
            if self.groups[..i].iter().any(|o| o.name == g.name) {
                return bad(format!("duplicate group {}", g.name));
            }
            if g.storages.is_empty() {
                return bad(format!("group {} has no storages", g.name));
            }
            for s in &g.storages {
                if s.store_path_count == 0 {
                    return bad(format!("storage {} has no store paths", s.ip));
                }
            }
        }
        let all: Vec<&StorageConfig> = self.groups.iter().flat_map(|g| &g.storages).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[..i] {
                if a.ip == b.ip && !self.use_storage_id {
                    // File ids carry the source IP: two storages on one IP are indistinguishable.
                    return bad(format!(
                        "storages share the address {} (only possible with use_storage_id)",
                        a.ip
                    ));
                }
                if a.ip == b.ip && a.port != 0 && a.port == b.port {
                    return bad(format!("two storages on {}:{}", a.ip, a.port));
                }
                if a.id.is_some() && a.id == b.id {
                    return bad(format!("duplicate storage id {:?}", a.id));
                }
            }
        }
        if self.subdir_count_per_path == 0 || self.subdir_count_per_path > 256 {
            return bad("subdir_count_per_path must be 1..=256".into());
        }
        if self.trunk {
            if self.trunk_alloc_alignment_size == 0 {
                return bad("trunk_alloc_alignment_size must be > 0".into());
            }
            if u64::from(self.slot_max_size) + 24 > u64::from(self.trunk_file_size) {
                return bad("slot_max_size + 24 must fit in trunk_file_size".into());
            }
        }
        Ok(())
    }
}

/// Builds a [`ClusterConfig`] with conventional defaults.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    groups: usize,
    per_group: usize,
    trackers: usize,
    cfg: ClusterConfig,
    first_ip: Ipv4Addr,
    http_port: u16,
    store_paths: u8,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            groups: 1,
            per_group: 1,
            trackers: 1,
            cfg: ClusterConfig::default(),
            first_ip: FIRST_STORAGE_IP,
            http_port: 0,
            store_paths: 1,
        }
    }
}

impl ClusterBuilder {
    /// Number of groups (`group1`..`groupN`).
    pub fn groups(mut self, n: usize) -> Self {
        self.groups = n.max(1);
        self
    }
    /// Storages in each group.
    pub fn storages_per_group(mut self, n: usize) -> Self {
        self.per_group = n.max(1);
        self
    }
    /// Number of trackers (all on 127.0.0.10, free ports).
    pub fn trackers(mut self, n: usize) -> Self {
        self.trackers = n.max(1);
        self
    }
    /// Explicit tracker addresses (replaces [`Self::trackers`]).
    pub fn tracker_addrs(mut self, addrs: Vec<SocketAddrV4>) -> Self {
        self.cfg.trackers = addrs;
        self
    }
    /// Replication delay.
    pub fn sync_delay(mut self, d: Duration) -> Self {
        self.cfg.sync_delay = d;
        self
    }
    /// Trunk mode.
    pub fn trunk(mut self, on: bool) -> Self {
        self.cfg.trunk = on;
        self
    }
    /// Storage-id mode.
    pub fn use_storage_id(mut self, on: bool) -> Self {
        self.cfg.use_storage_id = on;
        self
    }
    /// Base directory (kept after the cluster stops); default: a temp dir.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cfg.base_dir = Some(dir.into());
        self
    }
    /// First storage address (default 127.0.0.11); the next storages take the following ones.
    pub fn first_storage_ip(mut self, ip: Ipv4Addr) -> Self {
        self.first_ip = ip;
        self
    }
    /// HTTP port of every storage (default: one free port).
    pub fn http_port(mut self, port: u16) -> Self {
        self.http_port = port;
        self
    }
    /// Store paths per storage.
    pub fn store_path_count(mut self, n: u8) -> Self {
        self.store_paths = n.max(1);
        self
    }
    /// `storage_sync_file_max_delay` reported to clients.
    pub fn storage_sync_file_max_delay(mut self, secs: u32) -> Self {
        self.cfg.storage_sync_file_max_delay = secs;
        self
    }
    /// Trunk slot maximum.
    pub fn slot_max_size(mut self, n: u32) -> Self {
        self.cfg.slot_max_size = n;
        self
    }
    /// Always store into this group.
    pub fn store_group(mut self, g: impl Into<String>) -> Self {
        self.cfg.store_group = Some(g.into());
        self
    }

    /// The config.
    pub fn build(self) -> ClusterConfig {
        let mut cfg = self.cfg;
        if cfg.trackers.is_empty() {
            cfg.trackers = (0..self.trackers)
                .map(|_| SocketAddrV4::new(DEFAULT_TRACKER_IP, 0))
                .collect();
        }
        let base = u32::from(self.first_ip);
        let mut k = 0u32;
        cfg.groups = (1..=self.groups)
            .map(|g| GroupConfig {
                name: format!("group{g}"),
                storages: (0..self.per_group)
                    .map(|_| {
                        let ip = Ipv4Addr::from(base.wrapping_add(k));
                        k += 1;
                        StorageConfig {
                            ip,
                            port: 0,
                            http_port: self.http_port,
                            store_path_count: self.store_paths,
                            id: None,
                        }
                    })
                    .collect(),
            })
            .collect();
        cfg
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_assigns_ips() {
        let c = ClusterConfig::builder()
            .groups(2)
            .storages_per_group(2)
            .build();
        let ips: Vec<_> = c
            .groups
            .iter()
            .flat_map(|g| g.storages.iter().map(|s| s.ip.to_string()))
            .collect();
        assert_eq!(
            ips,
            ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
        );
        assert_eq!(c.groups[1].name, "group2");
        assert_eq!(c.trackers.len(), 1);
        c.validate().unwrap();
    }

    #[test]
    fn toml_roundtrip() {
        let text = r#"
            sync_delay_ms = 1500
            trunk = true
            trackers = ["127.0.0.10:22122"]
            [[groups]]
            name = "group1"
            [[groups.storages]]
            ip = "127.0.0.11"
            port = 23000
            http_port = 8888
        "#;
        let c = ClusterConfig::from_toml(text).unwrap();
        assert_eq!(c.sync_delay, Duration::from_millis(1500));
        assert!(c.trunk);
        assert_eq!(c.groups[0].storages[0].port, 23000);
        assert_eq!(c.groups[0].storages[0].store_path_count, 1);
        let again = ClusterConfig::from_toml(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
        assert!(ClusterConfig::from_toml("bogus = 1").is_err());
    }
}
