//! The suites' view of a FastDFS cluster: the emulator (`fdfs-emu`) by default, or a real cluster
//! described by the TOML file named in `FDFS_TEST_CLUSTER` (format in tests/README.md).
//!
//! A suite uses [`TestCluster::start`] (or [`TestCluster::start_with`] to shape the emulated one),
//! then [`TestCluster::trackers`] / [`TestCluster::storages`]. Cases that need control over the
//! cluster (pause replication, kill a storage) get it through [`TestCluster::emulator`] or
//! [`TestCluster::skip_unless_emulated`], which prints why the case is skipped on a real cluster.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fdfs_emu::{Cluster, ClusterConfig};
use serde::Deserialize;

use crate::wait::poll;

/// Environment variable naming a real cluster's TOML description.
pub const ENV_REAL_CLUSTER: &str = "FDFS_TEST_CLUSTER";

/// A storage of the cluster under test: the emulator's own description, also built from the
/// `FDFS_TEST_CLUSTER` file for a real cluster (`index` is the position in [`TestCluster::storages`]).
pub type ClusterStorage = fdfs_emu::StorageInfo;

/// Errors setting up a [`TestCluster`].
#[derive(Debug)]
pub enum ClusterError {
    /// The emulator failed to start.
    Emulator(fdfs_emu::EmuError),
    /// The `FDFS_TEST_CLUSTER` file could not be read or parsed.
    Description(String),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Emulator(e) => write!(f, "emulator: {e}"),
            ClusterError::Description(e) => write!(f, "{ENV_REAL_CLUSTER}: {e}"),
        }
    }
}

impl std::error::Error for ClusterError {}

/// The TOML description of a real cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealClusterFile {
    /// `ip:port` of each tracker.
    pub trackers: Vec<SocketAddrV4>,
    /// Storages.
    pub storages: Vec<RealStorage>,
    /// Tracker `use_storage_id`.
    #[serde(default)]
    pub use_storage_id: bool,
    /// Path of the cluster's `storage_ids.conf` (id mode).
    #[serde(default)]
    pub storage_ids_conf: Option<PathBuf>,
    /// Tracker `use_trunk_file`.
    #[serde(default)]
    pub trunk: bool,
    /// Tracker `storage_sync_file_max_delay` (seconds).
    #[serde(default = "default_max_delay")]
    pub storage_sync_file_max_delay: u32,
}

fn default_max_delay() -> u32 {
    86_400
}

/// One storage of a real cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealStorage {
    /// Group name.
    pub group: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// Storage port.
    pub port: u16,
    /// HTTP port of the nginx serving it.
    pub http_port: u16,
    /// Store paths, if local.
    #[serde(default)]
    pub store_paths: Vec<PathBuf>,
    /// Storage id.
    #[serde(default)]
    pub id: Option<String>,
}

impl RealStorage {
    /// This storage as the suites see it, at position `index` of [`TestCluster::storages`].
    fn to_cluster_storage(&self, index: usize) -> ClusterStorage {
        ClusterStorage {
            index,
            group: self.group.clone(),
            ip: self.ip,
            port: self.port,
            http_port: self.http_port,
            store_paths: self.store_paths.clone(),
            id: self.id.clone(),
        }
    }
}

enum Inner {
    Emulated { cluster: Cluster, ids_conf: PathBuf },
    Real(RealClusterFile),
}

/// A started emulator or a described real cluster.
pub struct TestCluster {
    inner: Inner,
    storages: Vec<ClusterStorage>,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("emulated", &self.is_emulated())
            .field("trackers", &self.trackers())
            .field("storages", &self.storages)
            .finish()
    }
}

impl TestCluster {
    /// The real cluster named by `FDFS_TEST_CLUSTER`, else an emulator with 2 groups of 2
    /// storages. Panics (it is a test harness) if either cannot be set up.
    pub fn start() -> TestCluster {
        Self::start_with(
            ClusterConfig::builder()
                .groups(2)
                .storages_per_group(2)
                .build(),
        )
    }

    /// The real cluster named by `FDFS_TEST_CLUSTER` (then `cfg` is ignored), else an emulator
    /// built from `cfg`. Panics on failure.
    pub fn start_with(cfg: ClusterConfig) -> TestCluster {
        match Self::try_start_with(cfg) {
            Ok(c) => c,
            Err(e) => panic!("cannot set up the test cluster: {e}"),
        }
    }

    /// Like [`Self::start_with`], returning the error.
    pub fn try_start_with(cfg: ClusterConfig) -> Result<TestCluster, ClusterError> {
        match std::env::var_os(ENV_REAL_CLUSTER) {
            Some(p) if !p.is_empty() => Self::real(Path::new(&p)),
            _ => Self::emulated(cfg),
        }
    }

    /// Always the emulator, whatever the environment says.
    pub fn emulated(cfg: ClusterConfig) -> Result<TestCluster, ClusterError> {
        let cluster = Cluster::start(cfg).map_err(ClusterError::Emulator)?;
        // Shown with the output of a failing test.
        eprint!("fdfs-emu cluster:\n{}", cluster.topology());
        let ids_conf = cluster.base_dir().join("storage_ids.conf");
        cluster
            .write_storage_ids_conf(&ids_conf)
            .map_err(ClusterError::Emulator)?;
        // The suites' storage type is the emulator's own: its description is taken as it is.
        let storages = cluster.storages().to_vec();
        Ok(TestCluster {
            inner: Inner::Emulated { cluster, ids_conf },
            storages,
        })
    }

    /// A real cluster from its TOML description.
    pub fn real(path: &Path) -> Result<TestCluster, ClusterError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ClusterError::Description(format!("{}: {e}", path.display())))?;
        let desc = Self::parse_description(&text)?;
        eprintln!(
            "NOTE: using the real FastDFS cluster described in {} (trackers {:?})",
            path.display(),
            desc.trackers
        );
        let storages = desc
            .storages
            .iter()
            .enumerate()
            .map(|(i, s)| s.to_cluster_storage(i))
            .collect();
        Ok(TestCluster {
            inner: Inner::Real(desc),
            storages,
        })
    }

    /// Parses and checks a real cluster description.
    pub fn parse_description(text: &str) -> Result<RealClusterFile, ClusterError> {
        let desc: RealClusterFile =
            toml::from_str(text).map_err(|e| ClusterError::Description(e.to_string()))?;
        if desc.trackers.is_empty() {
            return Err(ClusterError::Description("no trackers".into()));
        }
        if desc.storages.is_empty() {
            return Err(ClusterError::Description("no storages".into()));
        }
        Ok(desc)
    }

    /// True for the emulator.
    pub fn is_emulated(&self) -> bool {
        matches!(self.inner, Inner::Emulated { .. })
    }

    /// The emulator, for cases that control the cluster (pause sync, kill...).
    pub fn emulator(&self) -> Option<&Cluster> {
        match &self.inner {
            Inner::Emulated { cluster, .. } => Some(cluster),
            Inner::Real(_) => None,
        }
    }

    /// The emulator; on a real cluster prints `SKIP <case>: needs the emulator (...)` to stderr
    /// and returns `None`, so a test can `let Some(emu) = c.skip_unless_emulated("...") else { return };`.
    pub fn skip_unless_emulated(&self, case: &str) -> Option<&Cluster> {
        let e = self.emulator();
        if e.is_none() {
            eprintln!(
                "SKIP {case}: needs the emulator (a real cluster from {ENV_REAL_CLUSTER} cannot be controlled)"
            );
        }
        e
    }

    /// Tracker addresses.
    pub fn trackers(&self) -> Vec<SocketAddrV4> {
        match &self.inner {
            Inner::Emulated { cluster, .. } => cluster.trackers().to_vec(),
            Inner::Real(d) => d.trackers.clone(),
        }
    }

    /// `tracker_server = ip:port` lines for client.conf / mod_fastdfs.conf.
    pub fn tracker_server_lines(&self) -> String {
        self.trackers()
            .iter()
            .map(|t| format!("tracker_server = {t}\n"))
            .collect()
    }

    /// Every storage.
    pub fn storages(&self) -> &[ClusterStorage] {
        &self.storages
    }

    /// The storages of one group.
    pub fn group_storages(&self, group: &str) -> Vec<&ClusterStorage> {
        self.storages.iter().filter(|s| s.group == group).collect()
    }

    /// Group names in order of first appearance.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.storages {
            if !out.contains(&s.group) {
                out.push(s.group.clone());
            }
        }
        out
    }

    /// Storage-id mode.
    pub fn use_storage_id(&self) -> bool {
        match &self.inner {
            Inner::Emulated { cluster, .. } => cluster.config().use_storage_id,
            Inner::Real(d) => d.use_storage_id,
        }
    }

    /// Trunk mode.
    pub fn trunk(&self) -> bool {
        match &self.inner {
            Inner::Emulated { cluster, .. } => cluster.config().trunk,
            Inner::Real(d) => d.trunk,
        }
    }

    /// `storage_sync_file_max_delay` of the tracker.
    pub fn storage_sync_file_max_delay(&self) -> u32 {
        match &self.inner {
            Inner::Emulated { cluster, .. } => cluster.config().storage_sync_file_max_delay,
            Inner::Real(d) => d.storage_sync_file_max_delay,
        }
    }

    /// A `storage_ids.conf` for this cluster (always written for the emulator).
    pub fn storage_ids_conf(&self) -> Option<PathBuf> {
        match &self.inner {
            Inner::Emulated { ids_conf, .. } => Some(ids_conf.clone()),
            Inner::Real(d) => d.storage_ids_conf.clone(),
        }
    }

    /// Where a file would lie on a storage's disk, if its store paths are known.
    pub fn local_path(&self, storage: &ClusterStorage, file_id: &str) -> Option<PathBuf> {
        match &self.inner {
            Inner::Emulated { cluster, .. } => cluster.file_path(storage.index, file_id),
            Inner::Real(_) => {
                let id = fdfs_client::file_id::FileId::parse(file_id).ok()?;
                if id.group() != storage.group {
                    return None;
                }
                let sp = storage
                    .store_paths
                    .get(usize::from(id.logic().store_path_index()))?;
                Some(sp.join(id.logic().local_path()))
            }
        }
    }

    /// Polls until `storage` holds the file (emulator: exactly; real cluster: its local path
    /// exists, when the store paths are known), up to `timeout`. Replication waits use this.
    pub fn wait_for_file(
        &self,
        storage: &ClusterStorage,
        file_id: &str,
        timeout: Duration,
    ) -> bool {
        if let Some(c) = self.emulator() {
            return c.wait_for_file(storage.index, file_id, true, timeout);
        }
        let Some(p) = self.local_path(storage, file_id) else {
            // Nothing to look at: give replication the whole timeout.
            std::thread::sleep(timeout);
            return true;
        };
        poll(timeout, || p.exists()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format() {
        let d = TestCluster::parse_description(
            r#"
            trackers = ["127.0.0.10:22122", "127.0.0.10:22123"]
            use_storage_id = false
            [[storages]]
            group = "group1"
            ip = "127.0.0.11"
            port = 23000
            http_port = 8880
            store_paths = ["/srv/fdfs/s1/store"]
            [[storages]]
            group = "group2"
            ip = "127.0.0.13"
            port = 23002
            http_port = 8880
            "#,
        )
        .unwrap();
        assert_eq!(d.trackers.len(), 2);
        assert_eq!(d.storages[1].group, "group2");
        assert!(d.storages[1].store_paths.is_empty());
        assert_eq!(d.storage_sync_file_max_delay, 86_400);
        assert!(TestCluster::parse_description("trackers = []").is_err());
    }

    #[test]
    fn emulated_cluster_view() {
        let c = TestCluster::emulated(ClusterConfig::builder().groups(2).build()).unwrap();
        assert!(c.is_emulated());
        assert_eq!(c.groups(), ["group1", "group2"]);
        assert_eq!(c.storages().len(), 2);
        assert!(c
            .tracker_server_lines()
            .starts_with("tracker_server = 127.0.0.10:"));
        assert!(c.storage_ids_conf().unwrap().is_file());
        assert!(c.skip_unless_emulated("test").is_some());
    }
}
