//! `fdfs-emu`: a FastDFS 6.x tracker + storage emulator for end-to-end tests and the demo.
//!
//! - Trackers answer QUERY_STORE (one/all, with/without group), QUERY_FETCH_ONE/ALL,
//!   QUERY_UPDATE, SERVER_LIST_ONE_GROUP/ALL_GROUPS/STORAGE, STORAGE_PARAMETER_REQ,
//!   FETCH_STORAGE_IDS with FastDFS 6.16's reply layouts.
//! - Storages answer UPLOAD (normal, appender, slave), DOWNLOAD, DELETE, SET/GET_METADATA,
//!   QUERY_FILE_INFO, APPEND, MODIFY, TRUNCATE, REGENERATE_APPENDER_FILENAME, ACTIVE_TEST, QUIT,
//!   storing files where FastDFS does (`<store path>/data/HH/HH/<name>`, `<name>-m`, trunk
//!   containers `data/00/00/000001`), readable by others (0644/0755).
//! - Replication to the other storages of a group after [`ClusterConfig::sync_delay`]; pause,
//!   kill and restart storages and trackers.
//!
//! The API is synchronous: [`Cluster`] owns a tokio runtime on a background thread, so sync tests
//! and async tests (any runtime flavour) can use it alike.
//!
//! ```no_run
//! use fdfs_emu::{Cluster, ClusterConfig};
//! let cluster = Cluster::start(ClusterConfig::builder().groups(2).storages_per_group(2).build())?;
//! let tracker = cluster.trackers()[0];
//! let s1 = &cluster.storages()[0];
//! println!("{tracker} {} {}:{} http {}", s1.group, s1.ip, s1.port, s1.http_port);
//! cluster.pause_sync(s1);
//! # Ok::<(), fdfs_emu::EmuError>(())
//! ```

pub mod config;
mod direct;
mod state;
mod storage;
mod store;
mod sync;
mod tracker;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fdfs_client::file_id::{FileId, Source};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::info;

pub use config::{ClusterBuilder, ClusterConfig, GroupConfig, StorageConfig};
pub use state::status as storage_status;

use state::{Group, Node, Shared, TaskGuard, TrackerNode, TrunkAlloc};

/// Errors of the emulator's control API.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// An I/O failure (bind, directories...).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not usable.
    #[error("invalid emulator config: {0}")]
    Config(String),
    /// No storage with that index.
    #[error("no storage #{0}")]
    NoSuchStorage(usize),
    /// No tracker with that index.
    #[error("no tracker #{0}")]
    NoSuchTracker(usize),
    /// The background runtime could not start.
    #[error("emulator runtime: {0}")]
    Runtime(String),
    /// A helper request ([`Cluster::upload`]...) failed on the wire.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A helper request got this FastDFS status (errno).
    #[error("storage replied status {0}")]
    Status(u8),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmuError {
    let context = context.into();
    move |source| EmuError::Io { context, source }
}

/// A storage of a running cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageInfo {
    /// Position in [`Cluster::storages`].
    pub index: usize,
    /// Group name.
    pub group: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// Storage protocol port.
    pub port: u16,
    /// HTTP port (for nginx; the emulator does not serve HTTP).
    pub http_port: u16,
    /// Store paths (`M00`, `M01`, ...); files are under `<path>/data`.
    pub store_paths: Vec<PathBuf>,
    /// Storage id (always set; used in file ids only in storage-id mode).
    pub id: Option<String>,
}

impl StorageInfo {
    /// `ip:port` of the storage protocol.
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, self.port)
    }
    /// `ip:http_port`.
    pub fn http_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, self.http_port)
    }
    /// The first store path (`M00`).
    pub fn store_path(&self) -> &Path {
        self.store_paths
            .first()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new(""))
    }
}

/// Anything that names a storage of a cluster: its index or its [`StorageInfo`].
pub trait StorageRef {
    /// Index in [`Cluster::storages`].
    fn storage_index(&self) -> usize;
}
impl StorageRef for usize {
    fn storage_index(&self) -> usize {
        *self
    }
}
impl StorageRef for StorageInfo {
    fn storage_index(&self) -> usize {
        self.index
    }
}
impl<T: StorageRef + ?Sized> StorageRef for &T {
    fn storage_index(&self) -> usize {
        (**self).storage_index()
    }
}

/// A running emulated cluster. Dropping it stops everything and removes its temp dir.
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<Shared>,
    handle: Handle,
    stop_tx: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    base_dir: PathBuf,
    storages: Vec<StorageInfo>,
    trackers: Vec<SocketAddrV4>,
    tempdir: Option<tempfile::TempDir>,
}

fn bind(addr: SocketAddrV4, what: &str) -> Result<TcpListener, EmuError> {
    let l = TcpListener::bind(addr).map_err(io_err(format!("bind {what} {addr}")))?;
    l.set_nonblocking(true)
        .map_err(io_err(format!("set_nonblocking {what} {addr}")))?;
    Ok(l)
}

fn local_port(l: &TcpListener) -> u16 {
    l.local_addr().map(|a| a.port()).unwrap_or(0)
}

/// Binds every storage of a group; with port 0 they share one port (FastDFS IP mode).
fn bind_group(storages: &[StorageConfig]) -> Result<Vec<TcpListener>, EmuError> {
    if storages.iter().all(|s| s.port != 0) {
        return storages
            .iter()
            .map(|s| bind(SocketAddrV4::new(s.ip, s.port), "storage"))
            .collect();
    }
    let distinct_ips = {
        let mut ips: Vec<_> = storages.iter().map(|s| s.ip).collect();
        ips.sort();
        ips.dedup();
        ips.len() == storages.len()
    };
    for _ in 0..100 {
        let mut out = Vec::new();
        let mut shared_port = storages.iter().find(|s| s.port != 0).map(|s| s.port);
        let mut ok = true;
        for s in storages {
            let port = if s.port != 0 {
                s.port
            } else if distinct_ips {
                shared_port.unwrap_or(0)
            } else {
                0
            };
            match bind(SocketAddrV4::new(s.ip, port), "storage") {
                Ok(l) => {
                    if shared_port.is_none() && distinct_ips {
                        shared_port = Some(local_port(&l));
                    }
                    out.push(l);
                }
                Err(e) if port == 0 || s.port != 0 => return Err(e),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return Ok(out);
        }
    }
    Err(EmuError::Config(
        "could not find a port free on every storage address of a group".into(),
    ))
}

/// A port free on every address in `ips` (checked by binding, then released).
fn shared_free_port(ips: &[Ipv4Addr]) -> Result<u16, EmuError> {
    let first = ips.first().copied().unwrap_or(Ipv4Addr::LOCALHOST);
    for _ in 0..100 {
        let l = bind(SocketAddrV4::new(first, 0), "http probe")?;
        let p = local_port(&l);
        let others: Result<Vec<_>, _> = ips
            .iter()
            .filter(|&&ip| ip != first)
            .map(|&ip| TcpListener::bind(SocketAddrV4::new(ip, p)))
            .collect();
        if others.is_ok() && TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p)).is_ok() {
            return Ok(p);
        }
    }
    Err(EmuError::Config("no free HTTP port".into()))
}

impl Cluster {
    /// Starts trackers, storages and replication; returns once every listener is bound.
    pub fn start(mut cfg: ClusterConfig) -> Result<Cluster, EmuError> {
        cfg.validate()?;
        if cfg.trackers.is_empty() {
            cfg.trackers = vec![SocketAddrV4::new(config::DEFAULT_TRACKER_IP, 0)];
        }
        let (tempdir, base_dir) = match &cfg.base_dir {
            Some(d) => {
                store::ensure_dir(d).map_err(io_err(format!("create {}", d.display())))?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("fdfs-emu-")
                    .tempdir()
                    .map_err(io_err("create temp dir"))?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        // nginx workers (nobody) must traverse down to the files.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&base_dir, std::fs::Permissions::from_mode(store::DIR_MODE))
                .map_err(io_err(format!("chmod {}", base_dir.display())))?;
        }

        let mut tracker_listeners = Vec::new();
        for &a in &cfg.trackers {
            tracker_listeners.push(bind(a, "tracker")?);
        }
        let trackers: Vec<SocketAddrV4> = cfg
            .trackers
            .iter()
            .zip(&tracker_listeners)
            .map(|(a, l)| SocketAddrV4::new(*a.ip(), local_port(l)))
            .collect();

        let mut storage_listeners = Vec::new();
        for g in &cfg.groups {
            storage_listeners.extend(bind_group(&g.storages)?);
        }
        let all: Vec<&StorageConfig> = cfg.groups.iter().flat_map(|g| &g.storages).collect();
        let http_default = if all.iter().any(|s| s.http_port == 0) {
            let mut ips: Vec<Ipv4Addr> = all.iter().map(|s| s.ip).collect();
            ips.sort();
            ips.dedup();
            shared_free_port(&ips)?
        } else {
            0
        };

        let now = state::now_secs();
        let mut nodes = Vec::new();
        let mut groups = Vec::new();
        let mut storages = Vec::new();
        let mut k = 0usize;
        for (gi, g) in cfg.groups.iter().enumerate() {
            let mut members = Vec::new();
            for s in &g.storages {
                let port = storage_listeners.get(k).map(local_port).unwrap_or(s.port);
                let id =
                    s.id.clone()
                        .unwrap_or_else(|| (config::FIRST_STORAGE_ID + k as u32).to_string());
                let source = if cfg.use_storage_id {
                    match id.parse::<u32>() {
                        Ok(v) if (1..=0xFF_FFFF).contains(&v) => Source::StorageId(v),
                        _ => {
                            return Err(EmuError::Config(format!(
                                "storage id {id:?} must be a number in 1..=16777215"
                            )))
                        }
                    }
                } else {
                    Source::Ip(s.ip)
                };
                let dir = base_dir.join(format!("s{}", k + 1));
                let store_paths: Vec<PathBuf> = (0..s.store_path_count)
                    .map(|i| dir.join(format!("store{i}")))
                    .collect();
                for p in &store_paths {
                    store::ensure_dir(&store::data_dir(p))
                        .map_err(io_err(format!("create {}", p.display())))?;
                }
                let info = StorageInfo {
                    index: k,
                    group: g.name.clone(),
                    ip: s.ip,
                    port,
                    http_port: if s.http_port == 0 {
                        http_default
                    } else {
                        s.http_port
                    },
                    store_paths,
                    id: Some(id),
                };
                storages.push(info.clone());
                nodes.push(Node {
                    info,
                    source,
                    group_idx: gi,
                    alive: AtomicBool::new(false),
                    sync_paused: AtomicBool::new(false),
                    frozen: watch::channel(false).0,
                    stop: Mutex::new(None),
                    tasks: Arc::new(AtomicUsize::new(0)),
                    queue: Mutex::new(Default::default()),
                    files_written: AtomicU32::new(0),
                    next_path: AtomicU32::new(0),
                    join_time: now,
                    up_time: AtomicU64::new(now),
                    counters: Default::default(),
                });
                members.push(k);
                k += 1;
            }
            groups.push(Group {
                name: g.name.clone(),
                members,
                store_rr: AtomicUsize::new(0),
                fetch_rr: AtomicUsize::new(0),
                trunk: Mutex::new(TrunkAlloc::default()),
            });
        }
        let shared = Arc::new(Shared {
            cfg,
            nodes,
            groups,
            trackers: trackers
                .iter()
                .map(|&addr| TrackerNode {
                    addr,
                    alive: AtomicBool::new(false),
                    stop: Mutex::new(None),
                    tasks: Arc::new(AtomicUsize::new(0)),
                })
                .collect(),
            group_rr: AtomicUsize::new(0),
            start_time: now,
            clock_offset: AtomicI64::new(0),
        });

        let (htx, hrx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fdfs-emu".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("fdfs-emu-rt")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = htx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = htx.send(Ok(rt.handle().clone()));
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
                rt.shutdown_timeout(Duration::from_secs(5));
            })
            .map_err(io_err("spawn emulator thread"))?;
        let handle = match hrx.recv() {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return Err(EmuError::Runtime(e)),
            Err(e) => return Err(EmuError::Runtime(e.to_string())),
        };

        let cluster = Cluster {
            shared,
            handle,
            stop_tx: Some(stop_tx),
            thread: Some(thread),
            base_dir,
            storages,
            trackers,
            tempdir,
        };
        for (i, l) in tracker_listeners.into_iter().enumerate() {
            cluster.launch_tracker(i, l);
        }
        for (i, l) in storage_listeners.into_iter().enumerate() {
            cluster.launch_storage(i, l);
        }
        for i in 0..cluster.storages.len() {
            cluster
                .handle
                .spawn(sync::worker(cluster.shared.clone(), i));
        }
        info!(
            trackers = ?cluster.trackers,
            storages = cluster.storages.len(),
            base_dir = %cluster.base_dir.display(),
            "fdfs-emu cluster started"
        );
        Ok(cluster)
    }

    fn launch_storage(&self, i: usize, l: TcpListener) {
        let Some(node) = self.shared.nodes.get(i) else {
            return;
        };
        let (tx, rx) = watch::channel(false);
        if let Ok(mut s) = node.stop.lock() {
            *s = Some(tx);
        }
        node.up_time.store(state::now_secs(), Ordering::SeqCst);
        node.alive.store(true, Ordering::SeqCst);
        let shared = self.shared.clone();
        let serve = move |sock| storage::serve(shared.clone(), i, sock);
        let guard = TaskGuard::new(&node.tasks);
        let tasks = node.tasks.clone();
        let accept = state::accept_loop("storage", i, l, rx, tasks, guard, serve);
        self.handle.spawn(accept);
    }

    fn launch_tracker(&self, i: usize, l: TcpListener) {
        let Some(t) = self.shared.trackers.get(i) else {
            return;
        };
        let (tx, rx) = watch::channel(false);
        if let Ok(mut s) = t.stop.lock() {
            *s = Some(tx);
        }
        t.alive.store(true, Ordering::SeqCst);
        let shared = self.shared.clone();
        let serve = move |sock| tracker::serve(shared.clone(), sock);
        let guard = TaskGuard::new(&t.tasks);
        let tasks = t.tasks.clone();
        let accept = state::accept_loop("tracker", i, l, rx, tasks, guard, serve);
        self.handle.spawn(accept);
    }

    /// Tracker addresses.
    pub fn trackers(&self) -> &[SocketAddrV4] {
        &self.trackers
    }

    /// Tracker addresses as `SocketAddr`.
    pub fn tracker_socket_addrs(&self) -> Vec<SocketAddr> {
        self.trackers.iter().map(|&a| SocketAddr::V4(a)).collect()
    }

    /// Every storage, group by group.
    pub fn storages(&self) -> &[StorageInfo] {
        &self.storages
    }

    /// One storage.
    pub fn storage(&self, s: impl StorageRef) -> Result<&StorageInfo, EmuError> {
        let i = s.storage_index();
        self.storages.get(i).ok_or(EmuError::NoSuchStorage(i))
    }

    /// The storages of a group.
    pub fn group_storages(&self, group: &str) -> Vec<&StorageInfo> {
        self.storages.iter().filter(|s| s.group == group).collect()
    }

    /// Group names, in order.
    pub fn groups(&self) -> Vec<String> {
        self.shared.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// The configuration the cluster runs with (ports resolved in [`Self::storages`]).
    pub fn config(&self) -> &ClusterConfig {
        &self.shared.cfg
    }

    /// Where the store paths live.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    fn node(&self, s: &impl StorageRef) -> Result<&Node, EmuError> {
        let i = s.storage_index();
        self.shared.nodes.get(i).ok_or(EmuError::NoSuchStorage(i))
    }

    /// Stops replication *to* this storage (changes queue up until [`Self::resume_sync`]).
    pub fn pause_sync(&self, s: impl StorageRef) {
        if let Ok(n) = self.node(&s) {
            n.sync_paused.store(true, Ordering::SeqCst);
        }
    }

    /// Resumes replication to this storage.
    pub fn resume_sync(&self, s: impl StorageRef) {
        if let Ok(n) = self.node(&s) {
            n.sync_paused.store(false, Ordering::SeqCst);
        }
    }

    /// Freezes a storage: it keeps its port and connections, reads requests but answers none
    /// until [`Self::thaw`] (a hung server; the tracker still reports it ACTIVE, as FastDFS does
    /// until the heartbeat times out). For client timeout tests.
    pub fn freeze(&self, s: impl StorageRef) {
        if let Ok(n) = self.node(&s) {
            n.frozen.send_replace(true);
        }
    }

    /// Undoes [`Self::freeze`]: pending requests are answered.
    pub fn thaw(&self, s: impl StorageRef) {
        if let Ok(n) = self.node(&s) {
            n.frozen.send_replace(false);
        }
    }

    /// Shifts the timestamps written into new file ids by `secs` (negative = in the past), e.g.
    /// to make a file look older than `storage_sync_file_max_delay`. 0 restores the real clock.
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.clock_offset.store(secs, Ordering::SeqCst);
    }

    /// Changes waiting to be replicated to this storage.
    pub fn pending_sync(&self, s: impl StorageRef) -> usize {
        self.node(&s)
            .ok()
            .and_then(|n| n.queue.lock().ok().map(|q| q.len()))
            .unwrap_or(0)
    }

    /// Polls until no replication is pending anywhere (paused or dead storages included: they
    /// keep theirs), up to `timeout`. True if everything was replicated.
    pub fn wait_sync_idle(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if (0..self.storages.len()).all(|i| self.pending_sync(i) == 0) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills a storage: its listener and connections close, the tracker reports it OFFLINE and
    /// stops handing it out; its files stay on disk.
    pub fn kill(&self, s: impl StorageRef) -> Result<(), EmuError> {
        let n = self.node(&s)?;
        n.alive.store(false, Ordering::SeqCst);
        if let Ok(mut stop) = n.stop.lock() {
            if let Some(tx) = stop.take() {
                let _ = tx.send(true);
            }
        }
        // Wait until the listener and every connection are gone, so a test sees the port refused
        // and its open connections closed.
        wait_tasks(&n.tasks);
        Ok(())
    }

    /// Restarts a killed storage on the same address (no-op if it is running).
    pub fn restart(&self, s: impl StorageRef) -> Result<(), EmuError> {
        let i = s.storage_index();
        let n = self.node(&s)?;
        if n.is_alive() {
            return Ok(());
        }
        let l = retry_bind(n.info.addr(), "storage")?;
        self.launch_storage(i, l);
        Ok(())
    }

    /// True if the storage is running.
    pub fn is_alive(&self, s: impl StorageRef) -> bool {
        self.node(&s).map(Node::is_alive).unwrap_or(false)
    }

    /// Kills tracker `i` (its listener and connections close).
    pub fn kill_tracker(&self, i: usize) -> Result<(), EmuError> {
        let t = self
            .shared
            .trackers
            .get(i)
            .ok_or(EmuError::NoSuchTracker(i))?;
        t.alive.store(false, Ordering::SeqCst);
        if let Ok(mut stop) = t.stop.lock() {
            if let Some(tx) = stop.take() {
                let _ = tx.send(true);
            }
        }
        wait_tasks(&t.tasks);
        Ok(())
    }

    /// Restarts tracker `i` on the same address.
    pub fn restart_tracker(&self, i: usize) -> Result<(), EmuError> {
        let t = self
            .shared
            .trackers
            .get(i)
            .ok_or(EmuError::NoSuchTracker(i))?;
        if t.alive.load(Ordering::SeqCst) {
            return Ok(());
        }
        let l = retry_bind(t.addr, "tracker")?;
        self.launch_tracker(i, l);
        Ok(())
    }

    /// Where a file id's bytes lie on a storage: the file itself, or for a trunk file its
    /// container. `None` for a malformed id, another group, or a store path it does not have.
    /// (Says nothing about whether the file is there: see [`Self::has_file`].)
    pub fn file_path(&self, s: impl StorageRef, file_id: &str) -> Option<PathBuf> {
        let n = self.node(&s).ok()?;
        let id = FileId::parse(file_id).ok()?;
        if id.group() != n.info.group {
            return None;
        }
        let logic = id.logic();
        let sp = n.store_path(logic.store_path_index())?;
        if let Ok(info) = logic.decode() {
            if let Some(rel) = store::container_rel(&info) {
                return Some(store::data_dir(sp).join(rel));
            }
        }
        Some(store::data_path(sp, logic))
    }

    /// True if the storage holds the file now (trunk files: a valid slot).
    pub fn has_file(&self, s: impl StorageRef, file_id: &str) -> bool {
        let (Ok(n), Ok(id)) = (self.node(&s), FileId::parse(file_id)) else {
            return false;
        };
        id.group() == n.info.group && tracker::has_file(n, id.logic(), id.decode().ok().as_ref())
    }

    /// Polls until the storage holds (`present`) or no longer holds the file, up to `timeout`.
    pub fn wait_for_file(
        &self,
        s: impl StorageRef,
        file_id: &str,
        present: bool,
        timeout: Duration,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.has_file(&s, file_id) == present {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Uploads `data` to a storage over its socket (as a client would, store path chosen by the
    /// storage) and returns the file id. For suites that need files in place without a client.
    pub fn upload(&self, s: impl StorageRef, data: &[u8], ext: &str) -> Result<String, EmuError> {
        direct::upload(self.storage(s)?.addr(), data, ext, false)
    }

    /// Like [`Self::upload`], an appender file.
    pub fn upload_appender(
        &self,
        s: impl StorageRef,
        data: &[u8],
        ext: &str,
    ) -> Result<String, EmuError> {
        direct::upload(self.storage(s)?.addr(), data, ext, true)
    }

    /// Uploads a slave of `master_id` (`prefix`, `ext`; empty ext keeps the master's).
    pub fn upload_slave(
        &self,
        s: impl StorageRef,
        master_id: &str,
        prefix: &str,
        ext: &str,
        data: &[u8],
    ) -> Result<String, EmuError> {
        direct::upload_slave(self.storage(s)?.addr(), master_id, prefix, ext, data)
    }

    /// Deletes a file on a storage over its socket (replicated like any delete).
    pub fn delete(&self, s: impl StorageRef, file_id: &str) -> Result<(), EmuError> {
        direct::delete(self.storage(s)?.addr(), file_id)
    }

    /// The `storage_ids.conf` of this cluster (`<id> <group> <ip>:<port>` lines).
    pub fn storage_ids_conf(&self) -> String {
        let mut s = String::from("# written by fdfs-emu\n");
        for l in tracker::id_lines(&self.shared) {
            s.push_str(&l);
            s.push('\n');
        }
        s
    }

    /// Writes [`Self::storage_ids_conf`] to `path` (mode 0644).
    pub fn write_storage_ids_conf(&self, path: impl AsRef<Path>) -> Result<(), EmuError> {
        let p = path.as_ref();
        store::write_atomic(p, self.storage_ids_conf().as_bytes())
            .map_err(io_err(format!("write {}", p.display())))
    }

    /// A human-readable topology (what the binary prints).
    pub fn topology(&self) -> String {
        let mut s = String::new();
        for t in &self.trackers {
            s.push_str(&format!("tracker {t}\n"));
        }
        for st in &self.storages {
            s.push_str(&format!(
                "storage group={} ip={} port={} http_port={} id={} store_path={}\n",
                st.group,
                st.ip,
                st.port,
                st.http_port,
                st.id.as_deref().unwrap_or("-"),
                st.store_paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        s
    }

    /// Stops everything now (same as dropping).
    pub fn shutdown(self) {}

    /// Keeps the base directory after the cluster stops (a temp dir is otherwise removed).
    pub fn keep_base_dir(&mut self) -> PathBuf {
        if let Some(t) = self.tempdir.take() {
            let _ = t.keep();
        }
        self.base_dir.clone()
    }

    /// Seconds since the epoch when the cluster started.
    pub fn start_time(&self) -> u64 {
        self.shared.start_time
    }
}

/// Polls until no task of an incarnation runs (at most 10 s).
fn wait_tasks(tasks: &AtomicUsize) {
    let end = Instant::now() + Duration::from_secs(10);
    while tasks.load(Ordering::SeqCst) > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn retry_bind(addr: SocketAddrV4, what: &str) -> Result<TcpListener, EmuError> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match bind(addr, what) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() >= end => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &self.shared.nodes {
            n.alive.store(false, Ordering::SeqCst);
            if let Ok(mut s) = n.stop.lock() {
                if let Some(tx) = s.take() {
                    let _ = tx.send(true);
                }
            }
        }
        for t in &self.shared.trackers {
            if let Ok(mut s) = t.stop.lock() {
                if let Some(tx) = s.take() {
                    let _ = tx.send(true);
                }
            }
        }
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // `tempdir` (if any) is removed when the struct's fields drop.
    }
}
