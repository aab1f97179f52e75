//! State shared by the tracker, storage and replication tasks.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fdfs_client::file_id::Source;
use tokio::sync::watch;

use crate::config::ClusterConfig;
use crate::StorageInfo;

/// FastDFS storage status codes (`FDFS_STORAGE_STATUS_*`).
pub mod status {
    /// Storage is offline (killed here).
    pub const OFFLINE: u8 = 5;
    /// Storage is up.
    pub const ACTIVE: u8 = 7;
}

/// A change to replay on the other storages of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncOp {
    /// Make the destination's copy of `<store path idx>/data/<rel>` (and its `-m` file) equal to
    /// the source's: copy it, or delete it when the source no longer has it.
    Mirror { store_idx: u8, rel: String },
    /// Copy a byte range of a trunk container.
    TrunkRange {
        store_idx: u8,
        rel: String,
        offset: u64,
        len: u64,
    },
}

/// An entry of a destination storage's incoming replication queue.
#[derive(Debug, Clone)]
pub(crate) struct SyncItem {
    pub due: Instant,
    pub src: usize,
    pub op: SyncOp,
}

/// Per-storage counters reported in SERVER_LIST_STORAGE.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub upload: AtomicU64,
    pub upload_bytes: AtomicU64,
    pub append: AtomicU64,
    pub modify: AtomicU64,
    pub truncate: AtomicU64,
    pub set_meta: AtomicU64,
    pub delete: AtomicU64,
    pub download: AtomicU64,
    pub download_bytes: AtomicU64,
    pub get_meta: AtomicU64,
    pub sync_in_bytes: AtomicU64,
    pub sync_out_bytes: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One storage server.
#[derive(Debug)]
pub(crate) struct Node {
    pub info: StorageInfo,
    /// What its file ids carry as source.
    pub source: Source,
    pub group_idx: usize,
    pub alive: AtomicBool,
    pub sync_paused: AtomicBool,
    /// While `true`, the storage reads requests but does not answer them (a hung server).
    pub frozen: watch::Sender<bool>,
    /// Signals the current incarnation's tasks to stop (send `true`).
    pub stop: Mutex<Option<watch::Sender<bool>>>,
    /// Accept loop + connection tasks still running (a kill waits for 0).
    pub tasks: Arc<AtomicUsize>,
    /// Incoming replication queue.
    pub queue: Mutex<VecDeque<SyncItem>>,
    pub files_written: AtomicU32,
    pub next_path: AtomicU32,
    pub join_time: u64,
    pub up_time: AtomicU64,
    pub counters: Counters,
}

impl Node {
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    pub fn status(&self) -> u8 {
        if self.is_alive() {
            status::ACTIVE
        } else {
            status::OFFLINE
        }
    }

    pub fn store_path(&self, idx: u8) -> Option<&PathBuf> {
        self.info.store_paths.get(usize::from(idx))
    }
}

/// Trunk space allocator of a group (FastDFS has one trunk server per group).
#[derive(Debug, Default)]
pub(crate) struct TrunkAlloc {
    pub trunk_id: u32,
    pub next_offset: u64,
}

/// One group.
#[derive(Debug)]
pub(crate) struct Group {
    pub name: String,
    pub members: Vec<usize>,
    pub store_rr: AtomicUsize,
    pub fetch_rr: AtomicUsize,
    pub trunk: Mutex<TrunkAlloc>,
}

/// A tracker.
#[derive(Debug)]
pub(crate) struct TrackerNode {
    pub addr: std::net::SocketAddrV4,
    pub alive: AtomicBool,
    pub stop: Mutex<Option<watch::Sender<bool>>>,
    /// Accept loop + connection tasks still running.
    pub tasks: Arc<AtomicUsize>,
}

/// Counts a running task; decrements when dropped (however the task ends).
#[derive(Debug)]
pub(crate) struct TaskGuard(Arc<AtomicUsize>);

impl TaskGuard {
    pub fn new(c: &Arc<AtomicUsize>) -> TaskGuard {
        c.fetch_add(1, Ordering::SeqCst);
        TaskGuard(c.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Everything.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: ClusterConfig,
    pub nodes: Vec<Node>,
    pub groups: Vec<Group>,
    pub trackers: Vec<TrackerNode>,
    pub group_rr: AtomicUsize,
    pub start_time: u64,
    /// Seconds added to the timestamps written into new file ids (see `Cluster::set_clock_offset`).
    pub clock_offset: AtomicI64,
}

impl Shared {
    pub fn group_by_name(&self, name: &str) -> Option<(usize, &Group)> {
        self.groups.iter().enumerate().find(|(_, g)| g.name == name)
    }

    /// The storage a file id names as its source, within `group`.
    pub fn source_node(&self, group: usize, source: Source) -> Option<usize> {
        let g = self.groups.get(group)?;
        g.members
            .iter()
            .copied()
            .find(|&i| match self.nodes.get(i) {
                Some(n) => match source {
                    Source::Ip(ip) => n.info.ip == ip && n.source == source,
                    Source::StorageId(_) => n.source == source,
                },
                None => false,
            })
    }

    /// The IP address a file id's source resolves to (storage-id mode: through the id table).
    pub fn source_ip(&self, source: Source) -> Option<Ipv4Addr> {
        match source {
            Source::Ip(ip) => Some(ip),
            Source::StorageId(_) => self
                .nodes
                .iter()
                .find(|n| n.source == source)
                .map(|n| n.info.ip),
        }
    }

    /// The timestamp for a new file id: now, shifted by the clock offset.
    pub fn id_time(&self) -> u64 {
        let now = i64::try_from(now_secs()).unwrap_or(i64::MAX);
        let t = now.saturating_add(self.clock_offset.load(Ordering::SeqCst));
        u64::try_from(t).unwrap_or(0)
    }

    /// Queues `op` from storage `src` to every other storage of its group.
    pub fn replicate(&self, src: usize, op: SyncOp) {
        let Some(node) = self.nodes.get(src) else {
            return;
        };
        let Some(group) = self.groups.get(node.group_idx) else {
            return;
        };
        let due = Instant::now() + self.cfg.sync_delay;
        for &dst in &group.members {
            if dst == src {
                continue;
            }
            if let Some(d) = self.nodes.get(dst) {
                if let Ok(mut q) = d.queue.lock() {
                    q.push_back(SyncItem {
                        due,
                        src,
                        op: op.clone(),
                    });
                }
            }
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Acknowledge what was just read at once, as real FastDFS servers do (libserverframe's
/// `tcp_quick_ack`, on by default, sets `TCP_QUICKACK` after every read). A client that writes a
/// request's header and its body in two writes without `TCP_NODELAY`, as FastDFS's own C client
/// does, otherwise waits for the delayed ACK (about 40 ms) before Nagle's algorithm lets the body
/// go: `bench/client.sh` measured 720 uploads/s of FastDFS's C client against the emulator.
pub(crate) fn quick_ack(s: &tokio::net::TcpStream) {
    // Linux turns quick ACK mode off again by itself, hence after every read; an error only
    // costs the delay.
    #[cfg(target_os = "linux")]
    let _ = s.set_quickack(true);
    #[cfg(not(target_os = "linux"))]
    let _ = s;
}

/// Accepts connections for one incarnation of a server (`role` `idx`, for the logs) until `stop` fires;
/// each connection is served by `serve` in a task of its own, which also ends when `stop` fires.
pub(crate) async fn accept_loop<F, Fut>(
    role: &'static str,
    idx: usize,
    listener: std::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
    tasks: Arc<AtomicUsize>,
    guard: TaskGuard,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let _guard = guard;
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(role, idx, error = %e, "cannot register listener");
            return;
        }
    };
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, peer)) => {
                    tracing::debug!(role, idx, %peer, "connection");
                    let connection = serve(sock);
                    let mut stopped = stop.clone();
                    let guard = TaskGuard::new(&tasks);
                    tokio::spawn(async move {
                        let _guard = guard;
                        tokio::select! {
                            r = connection => {
                                if let Err(e) = r {
                                    tracing::debug!(role, idx, error = %e, "connection ended");
                                }
                            }
                            _ = stopped.changed() => {}
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(role, idx, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
}
