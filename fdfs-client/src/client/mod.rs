//! The async FastDFS client (feature `client`).
//!
//! A [`Client`] talks to the trackers of one cluster (round robin, failing over to the next tracker and
//! skipping a failed one for a cool-down) and to its storages through a connection [pool](PoolConfig).
//! All encoding and decoding is [`crate::proto`]'s; this module adds sockets, timeouts and streaming.
//!
//! - Build: [`Client::builder`] (trackers, timeouts, pool) or [`Client::from_conf_file`] (`client.conf`).
//! - Upload ([`UploadOptions`]: extension, metadata, group or explicit storage; normal, appender or
//!   slave): [`Client::upload`] (bytes), [`Client::upload_file`], [`Client::upload_reader`] (any
//!   `AsyncRead` of known length), `*_with_progress`, [`Client::upload_chunks`] (pieces already in
//!   memory, a [`ChunkSource`], written without a copy).
//! - Download, whole or a range: [`Client::download`] / [`Client::download_range`] (into memory),
//!   [`Client::download_to`] (any `AsyncWrite`), [`Client::download_stream`] (a [`DownloadStream`] of
//!   chunks), [`Client::download_stream_from`] (from a given storage).
//! - [`Client::delete`], [`Client::set_metadata`] ([`MetaOp::Overwrite`] / [`MetaOp::Merge`]),
//!   [`Client::get_metadata`], [`Client::file_info`] (decoded from the id where FastDFS does, else asked
//!   from a storage), [`Client::query_file_info`].
//! - Appender files: [`Client::append`], [`Client::modify`], [`Client::truncate`],
//!   [`Client::regenerate_appender_filename`] (and `*_reader` variants).
//! - Trackers: [`Client::query_store`], [`Client::query_store_all`], [`Client::query_fetch`],
//!   [`Client::query_fetch_all`], [`Client::query_update`], [`Client::list_groups`],
//!   [`Client::list_group`], [`Client::list_storages`], [`Client::cluster`], [`Client::cluster_view`],
//!   [`Client::storage_cluster_stat`], [`Client::volume_stat`], [`Client::storage_ids`],
//!   [`Client::storage_parameters`], [`Client::tracker_leader`].
//!
//! Content is streamed through fixed [`STREAM_BUF_SIZE`] buffers; every reply length is checked against
//! the protocol's maximum before anything is allocated. Errors ([`Error`]) name the server, the
//! operation and the FastDFS status (`storage 127.0.0.11:23000: download group1/M00/..: ENOENT (2)`).
//!
//! ```no_run
//! # async fn demo() -> fdfs_client::client::Result<()> {
//! use fdfs_client::client::{Client, UploadOptions};
//! let client = Client::builder().tracker("127.0.0.10:22122".parse().unwrap()).build()?;
//! let id = client.upload(b"hello", &UploadOptions::new().ext("txt")).await?;
//! let back = client.download(&id).await?;
//! assert_eq!(back, b"hello");
//! # Ok(()) }
//! ```

mod body;
mod connection;
mod error;
mod failover;
mod pool;
mod storage;
mod tracker;
mod types;

#[cfg(test)]
mod tests;

pub use crate::addr::{AddrParseError, ServerAddr};
pub use crate::conf::StorageIdEntry;
pub use crate::file_id::FileKind;
pub use crate::proto::{GroupStat, MetaOp, StorageStat};
pub use body::ChunkSource;
pub use connection::{Connection, STREAM_BUF_SIZE};
pub use error::{Error, ErrorKind, Result, Role, ENOENT};
pub use pool::PoolConfig;
pub use storage::{DownloadStream, Progress};
pub use types::{
    storage_status_name, ClusterView, FileDetails, GroupInfo, StorageServer, UploadKind,
    UploadOptions, STORAGE_STATUS_ACTIVE,
};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use failover::TrackerSet;
use pool::Pool;

use crate::addr::DEFAULT_TRACKER_PORT;
use crate::conf::client::ClientConf;
use crate::proto::Request;

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0).max(1))
}

/// A FastDFS client. Cheap to clone (shared trackers and pool).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    trackers: TrackerSet,
    pool: Pool,
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    trackers: Vec<ServerAddr>,
    pool: PoolConfig,
    cool_down: Duration,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            trackers: Vec::new(),
            pool: PoolConfig::default(),
            cool_down: Duration::from_secs(30),
        }
    }
}

impl ClientBuilder {
    /// Adds a tracker (call again for each tracker of the cluster).
    pub fn tracker(mut self, addr: ServerAddr) -> Self {
        if !self.trackers.contains(&addr) {
            self.trackers.push(addr);
        }
        self
    }

    /// Adds trackers.
    pub fn trackers(mut self, addrs: impl IntoIterator<Item = ServerAddr>) -> Self {
        for a in addrs {
            self = self.tracker(a);
        }
        self
    }

    /// Connect timeout (default 5 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.pool.connect_timeout = t;
        self
    }

    /// Timeout of each network read or write (default 30 s).
    pub fn network_timeout(mut self, t: Duration) -> Self {
        self.pool.network_timeout = t;
        self
    }

    /// How long a failed tracker is skipped (default 30 s).
    pub fn tracker_cool_down(mut self, t: Duration) -> Self {
        self.cool_down = t;
        self
    }

    /// Keep idle connections for reuse (default true).
    pub fn use_connection_pool(mut self, yes: bool) -> Self {
        self.pool.enabled = yes;
        self
    }

    /// Close idle connections older than this instead of reusing them (default 1 h).
    pub fn pool_max_idle_time(mut self, t: Duration) -> Self {
        self.pool.max_idle_time = t;
        self
    }

    /// Check idle connections older than this with ACTIVE_TEST before reuse (default 1 s).
    pub fn pool_check_after(mut self, t: Duration) -> Self {
        self.pool.check_after = t;
        self
    }

    /// At most this many idle connections per server (default 32).
    pub fn pool_max_idle_per_server(mut self, n: usize) -> Self {
        self.pool.max_idle_per_server = n;
        self
    }

    /// Takes the trackers, timeouts and pool settings of a `client.conf`.
    pub fn conf(mut self, conf: &ClientConf) -> Self {
        for t in &conf.tracker_servers {
            self = self.tracker(ServerAddr::new(t.host(), t.port_or(DEFAULT_TRACKER_PORT)));
        }
        self.pool.connect_timeout = secs(conf.connect_timeout);
        self.pool.network_timeout = secs(conf.network_timeout);
        self.pool.enabled = conf.use_connection_pool;
        self.pool.max_idle_time = secs(conf.connection_pool_max_idle_time);
        self
    }

    /// The client. Fails when no tracker was given.
    pub fn build(self) -> Result<Client> {
        if self.trackers.is_empty() {
            return Err(Error::NoTrackerConfigured);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                trackers: TrackerSet::new(self.trackers, self.cool_down),
                pool: Pool::new(self.pool),
            }),
        })
    }
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for the cluster of a `client.conf`.
    pub fn from_conf(conf: &ClientConf) -> Result<Client> {
        Client::builder().conf(conf).build()
    }

    /// Reads a `client.conf` (e.g. [`crate::conf::client::DEFAULT_PATH`]) and builds a client from it.
    pub fn from_conf_file(path: impl AsRef<Path>) -> Result<Client> {
        let conf = ClientConf::load(path.as_ref()).map_err(|e| Error::Config(e.to_string()))?;
        Client::from_conf(&conf)
    }

    /// The configured trackers.
    pub fn trackers(&self) -> Vec<ServerAddr> {
        self.inner.trackers.addrs().cloned().collect()
    }

    /// Whether `tracker` is being skipped after a failure.
    pub fn tracker_is_down(&self, tracker: &ServerAddr) -> bool {
        self.inner.trackers.is_down(tracker, Instant::now())
    }

    /// The pool settings (timeouts included).
    pub fn pool_config(&self) -> &PoolConfig {
        self.inner.pool.config()
    }

    /// Idle pooled connections to a server (for tests and diagnostics).
    pub fn idle_connections(&self, role: Role, addr: &ServerAddr) -> usize {
        self.inner.pool.idle_count(role, addr)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Sends an in-memory request to the trackers, failing over from one to the next.
    pub(crate) async fn tracker_request<R: Request>(&self, op: &str, req: &R) -> Result<R::Reply> {
        Ok(self.tracker_request_at(op, req).await?.1)
    }

    /// [`Client::tracker_request`], also saying which tracker answered (for follow-up calls that
    /// must see the same tracker's view, as `fdfs_monitor` does).
    pub(crate) async fn tracker_request_at<R: Request>(
        &self,
        op: &str,
        req: &R,
    ) -> Result<(ServerAddr, R::Reply)> {
        let trackers = &self.inner.trackers;
        let order = trackers.order(Instant::now());
        let mut last = None;
        for addr in order {
            tracing::debug!(tracker = %addr, op, "tracker request");
            match self.request_on(Role::Tracker, addr, op, req, true).await {
                Ok(reply) => {
                    trackers.mark_up(addr);
                    return Ok((addr.clone(), reply));
                }
                Err(e) if e.is_server_failure() => {
                    tracing::debug!(tracker = %addr, error = %e, "tracker call failed, trying the next");
                    trackers.mark_down(addr, Instant::now());
                    self.inner.pool.forget(Role::Tracker, addr);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match last {
            Some(last) => Err(Error::NoTracker {
                count: trackers.len(),
                last: Box::new(last),
            }),
            None => Err(Error::NoTrackerConfigured),
        }
    }

    /// Sends an in-memory request to one server over a pooled connection. An idempotent request that
    /// fails with an I/O error on a reused connection (gone stale) is sent once more on a fresh one.
    pub(crate) async fn request_on<R: Request>(
        &self,
        role: Role,
        addr: &ServerAddr,
        op: &str,
        req: &R,
        idempotent: bool,
    ) -> Result<R::Reply> {
        let pool = &self.inner.pool;
        let lease = pool.get(role, addr, op).await?;
        let reused = lease.reused;
        let mut conn = lease.conn;
        let ctx = conn.ctx(op);
        match conn.request(&ctx, req).await {
            Ok(reply) => {
                pool.put(conn);
                Ok(reply)
            }
            Err(e) if e.kind() == ErrorKind::Status => {
                pool.put(conn);
                Err(e)
            }
            Err(e) if reused && idempotent && e.kind() == ErrorKind::Io => {
                tracing::debug!(%addr, error = %e, "pooled connection went stale, retrying on a new one");
                pool.forget(role, addr);
                let mut conn = pool.connect(role, addr, op).await?.conn;
                let reply = conn.request(&ctx, req).await;
                if reply.is_ok() || reply.as_ref().is_err_and(|e| e.kind() == ErrorKind::Status) {
                    pool.put(conn);
                }
                reply
            }
            Err(e) => Err(e),
        }
    }
}
