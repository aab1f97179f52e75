//! Spec §4.3: ask the trackers for `storage_sync_file_max_delay`, `use_storage_id`, the storage-id
//! table and the storage list. This runs once per configuration load in the nginx master (start,
//! reload), where blocking I/O is allowed; workers never talk to a tracker, `nginx -s …` never does
//! and `nginx -t` only with `tracker_at_config_test = true`. The whole exchange is bounded by
//! [`TOTAL_BUDGET`] whatever the config's timeouts say, so a tracker that accepts and never answers
//! cannot stall nginx. Every failure is logged; the last good answer, cached under `base_path`
//! ([`crate::cache`]), stands in when no tracker answers.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use fdfs_client::blocking::{self, CallError, Peer};
use fdfs_client::conf::ini::parse_bool;
use fdfs_client::conf::StorageIdsConf;
use fdfs_client::proto::{
    FetchStorageIds, GroupStats, ListAllGroups, ListStorage, Request, StorageIds,
    StorageParameterReq, StorageStats,
};

use crate::instance::Instance;
use crate::{Level, LoadMode};

/// Connection attempts per tracker (the C module makes 3, 1 s apart), within [`TOTAL_BUDGET`].
const ROUNDS: usize = 3;

/// The whole tracker exchange at configuration load (every tracker, every round) ends after this,
/// whatever `connect_timeout` and `network_timeout` say: nginx start, reload and `-t` wait no longer.
pub const TOTAL_BUDGET: Duration = Duration::from_secs(5);

/// One connect, write or read waits at most this long (or the config's timeout when shorter), so a
/// hung first tracker leaves time for the next one.
pub const STEP_LIMIT: Duration = Duration::from_secs(2);

/// The time left for the tracker exchange.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A budget of `total` from now.
    pub fn new(total: Duration) -> Budget {
        Budget {
            deadline: Instant::now() + total,
        }
    }

    /// The wait for one step: the configured timeout capped by [`STEP_LIMIT`] and the time left;
    /// `None` once the budget is spent.
    pub fn step(&self, configured: Duration) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then(|| configured.min(STEP_LIMIT).min(left))
    }

    /// True once the budget is spent.
    pub fn spent(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// Why one exchange with a tracker failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// Socket trouble.
    #[error("{addr}: {err}")]
    Io {
        /// The tracker.
        addr: SocketAddr,
        /// The error.
        err: std::io::Error,
    },
    /// No answer in time (a read or connect timeout, or the total budget ran out).
    #[error("{addr}: timed out after {waited:?} ({what})")]
    Timeout {
        /// The tracker.
        addr: SocketAddr,
        /// What was being waited for.
        what: &'static str,
        /// How long this step waited.
        waited: Duration,
    },
    /// A reply that does not decode, or a non-zero status.
    #[error("{addr}: {msg}")]
    Proto {
        /// The tracker.
        addr: SocketAddr,
        /// What was wrong.
        msg: String,
    },
}

/// One socket step of an exchange: its timeout and how to name a failure.
struct Step {
    addr: SocketAddr,
    what: &'static str,
    waited: Duration,
}

impl Step {
    /// A read/connect timeout surfaces as `WouldBlock` (EAGAIN) or `TimedOut`: call it a timeout.
    fn err(&self, err: std::io::Error) -> TrackerError {
        match err.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => self.timeout(),
            _ => TrackerError::Io {
                addr: self.addr,
                err,
            },
        }
    }

    fn timeout(&self) -> TrackerError {
        TrackerError::Timeout {
            addr: self.addr,
            what: self.what,
            waited: self.waited,
        }
    }
}

/// The per-step wait, or a timeout error when the budget is spent.
fn step(
    budget: &Budget,
    addr: SocketAddr,
    what: &'static str,
    configured: Duration,
) -> Result<Step, TrackerError> {
    match budget.step(configured) {
        Some(waited) => Ok(Step { addr, what, waited }),
        None => Err(TrackerError::Timeout {
            addr,
            what: "the total budget of the tracker exchange is spent",
            waited: TOTAL_BUDGET,
        }),
    }
}

/// The timeouts of one configuration load.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `connect_timeout`.
    pub connect: Duration,
    /// `network_timeout`.
    pub network: Duration,
    /// The time left.
    pub budget: Budget,
}

/// The tracker socket with every read and write charged to the budget: each waits at most one
/// step, so a tracker that drips bytes cannot outlast the budget either. The last step is kept to
/// name a failure.
struct Budgeted<'t> {
    s: TcpStream,
    t: &'t Timeouts,
    addr: SocketAddr,
    last: Option<Step>,
    spent: bool,
}

impl Budgeted<'_> {
    /// Sets the socket timeout for the next read or write from the budget.
    fn step(&mut self, what: &'static str, write: bool) -> std::io::Result<()> {
        let st = step(&self.t.budget, self.addr, what, self.t.network).map_err(|_| {
            self.spent = true;
            std::io::Error::from(ErrorKind::TimedOut)
        })?;
        if write {
            self.s.set_write_timeout(Some(st.waited))?;
        } else {
            self.s.set_read_timeout(Some(st.waited))?;
        }
        self.last = Some(st);
        Ok(())
    }

    /// Names an I/O failure with the step it happened in.
    fn err(&self, err: std::io::Error) -> TrackerError {
        match (&self.last, self.spent) {
            (_, true) => TrackerError::Timeout {
                addr: self.addr,
                what: "the total budget of the tracker exchange is spent",
                waited: TOTAL_BUDGET,
            },
            (Some(st), false) => st.err(err),
            (None, false) => TrackerError::Io {
                addr: self.addr,
                err,
            },
        }
    }
}

impl Read for Budgeted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step("waiting for the reply", false)?;
        self.s.read(buf)
    }
}

impl Write for Budgeted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.step("sending the request", true)?;
        self.s.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.s.flush()
    }
}

/// One request on a new connection, through the shared blocking transport and reply rules.
fn call<Q: Request>(addr: SocketAddr, req: &Q, t: &Timeouts) -> Result<Q::Reply, TrackerError> {
    let st = step(&t.budget, addr, "connecting", t.connect)?;
    let s = TcpStream::connect_timeout(&addr, st.waited).map_err(|e| st.err(e))?;
    let mut b = Budgeted {
        s,
        t,
        addr,
        last: None,
        spent: false,
    };
    blocking::call(&mut b, Peer::Tracker, req).map_err(|e| match e {
        CallError::Io(err) => b.err(err),
        e @ (CallError::Proto(_) | CallError::Status { .. }) => TrackerError::Proto {
            addr,
            msg: e.to_string(),
        },
    })
}

/// What the trackers said.
#[derive(Debug, Default, Clone)]
pub struct TrackerParams {
    /// `storage_sync_file_max_delay`.
    pub sync_max_delay: Option<i64>,
    /// `use_storage_id`.
    pub use_storage_id: bool,
    /// The storage-id table, when `use_storage_id`.
    pub storage_ids: Option<StorageIdsConf>,
    /// The table as the tracker sent it (what the cache keeps).
    pub storage_ids_text: Option<String>,
    /// The addresses of every storage the tracker knows (the cluster members).
    pub members: Vec<IpAddr>,
    /// The groups the tracker knows.
    pub groups: Vec<String>,
}

/// The groups and the addresses of their storages.
type Listing = (Vec<String>, Vec<IpAddr>);

fn list_members(addr: SocketAddr, t: &Timeouts) -> Result<Listing, TrackerError> {
    let groups: GroupStats = call(addr, &ListAllGroups, t)?;
    let mut names = Vec::new();
    let mut out = Vec::new();
    for g in &groups.groups {
        names.push(g.group_name.clone());
        let list: StorageStats = call(addr, &ListStorage::new(g.group_name.clone()), t)?;
        for s in &list.storages {
            if let Some(ip) = crate::instance::parse_ip(&s.ip_addr) {
                out.push(ip);
            }
        }
    }
    Ok((names, out))
}

fn fetch_ids(addr: SocketAddr, t: &Timeouts) -> Result<(StorageIdsConf, String), TrackerError> {
    let mut text = String::new();
    let mut start = 0u32;
    // 6.12+ trackers want the 5-byte body, older ones the 4-byte one: try the new form first.
    let mut allow_empty = Some(false);
    loop {
        let req = FetchStorageIds {
            start_index: start,
            allow_empty,
        };
        let reply: StorageIds = match call(addr, &req, t) {
            Ok(r) => r,
            Err(TrackerError::Proto { .. }) if allow_empty.is_some() && start == 0 => {
                allow_empty = None;
                continue;
            }
            Err(e) => return Err(e),
        };
        text.push_str(&reply.text);
        if !reply.text.ends_with('\n') && !reply.text.is_empty() {
            text.push('\n');
        }
        start += reply.count;
        if reply.count == 0 || start >= reply.total {
            break;
        }
    }
    let ids = StorageIdsConf::parse_str(&text, &format!("storage ids from tracker {addr}"))
        .map_err(|e| TrackerError::Proto {
            addr,
            msg: e.to_string(),
        })?;
    Ok((ids, text))
}

/// Ask the trackers in order, up to [`ROUNDS`] rounds 1 s apart, within the budget of `t`; the
/// first that answers wins.
pub fn fetch(
    trackers: &[SocketAddr],
    t: &Timeouts,
    log: &mut dyn FnMut(Level, &str),
) -> Option<TrackerParams> {
    for round in 0..ROUNDS {
        if round > 0 {
            match t.budget.step(Duration::from_secs(1)) {
                Some(pause) => std::thread::sleep(pause),
                None => break,
            }
        }
        for &addr in trackers {
            if t.budget.spent() {
                break;
            }
            match ask(addr, t, log) {
                Ok(p) => return Some(p),
                Err(e) => log(Level::Warn, &format!("tracker parameters: {e}")),
            }
        }
    }
    None
}

/// One tracker: its parameters, then (best effort) its storage list and storage ids.
fn ask(
    addr: SocketAddr,
    t: &Timeouts,
    log: &mut dyn FnMut(Level, &str),
) -> Result<TrackerParams, TrackerError> {
    let params = call(addr, &StorageParameterReq, t)?;
    let mut out = TrackerParams {
        sync_max_delay: params
            .get("storage_sync_file_max_delay")
            .and_then(|v| v.trim().parse().ok()),
        use_storage_id: params.get("use_storage_id").is_some_and(parse_bool),
        ..TrackerParams::default()
    };
    match list_members(addr, t) {
        Ok((groups, members)) => (out.groups, out.members) = (groups, members),
        Err(e) => log(Level::Warn, &format!("tracker storage list: {e}")),
    }
    if out.use_storage_id {
        match fetch_ids(addr, t) {
            Ok((ids, text)) => (out.storage_ids, out.storage_ids_text) = (Some(ids), Some(text)),
            Err(e) => log(Level::Warn, &format!("tracker storage ids: {e}")),
        }
    }
    Ok(out)
}

/// Resolve `tracker_server` entries (blocking DNS is fine at configuration time).
pub fn tracker_addrs(inst: &Instance, log: &mut dyn FnMut(Level, &str)) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for t in &inst.conf.tracker_servers {
        let host = t.host().trim_start_matches('[').trim_end_matches(']');
        let port = t.port_or(fdfs_client::addr::DEFAULT_TRACKER_PORT);
        match (host, port).to_socket_addrs() {
            Ok(mut it) => match it.next() {
                Some(a) => out.push(a),
                None => log(Level::Warn, &format!("tracker_server {host}: no address")),
            },
            Err(e) => log(Level::Warn, &format!("tracker_server {host}: {e}")),
        }
    }
    out
}

/// The `tracker_server` list as written (the key of the cached answer).
pub fn tracker_key(inst: &Instance) -> String {
    inst.conf
        .tracker_servers
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t.host(),
                t.port_or(fdfs_client::addr::DEFAULT_TRACKER_PORT)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tracker step of a configuration load: ask the trackers (not for `nginx -s`, and for
/// `nginx -t` only with `tracker_at_config_test`), cache a good answer, fall back to the cached one.
/// Every failure is logged; the local defaults stay when nothing is known.
pub fn load_from_trackers(inst: &mut Instance, mode: LoadMode, log: &mut dyn FnMut(Level, &str)) {
    let file = inst.conf.file.clone();
    let asks = match mode {
        LoadMode::Signal => return,
        LoadMode::Test => inst.conf.tracker_at_config_test,
        LoadMode::Start => true,
    };
    if !asks {
        log(
            Level::Notice,
            &format!(
                "{file}: nginx -t does not ask the trackers (tracker_at_config_test = true makes it); \
                 checking against the cached tracker answer if there is one"
            ),
        );
        // Before the first start there is no cache yet: that is no reason to warn at `nginx -t`.
        use_cache(inst, Level::Notice, log);
        return;
    }
    let addrs = tracker_addrs(inst, log);
    let answer = if addrs.is_empty() {
        log(
            Level::Warn,
            &format!(
                "{file}: load_fdfs_parameters_from_tracker is set but no tracker_server resolves"
            ),
        );
        None
    } else {
        let t = Timeouts {
            connect: Duration::from_secs(inst.conf.connect_timeout.max(1) as u64),
            network: Duration::from_secs(inst.conf.network_timeout.max(1) as u64),
            budget: Budget::new(TOTAL_BUDGET),
        };
        fetch(&addrs, &t, log)
    };
    match answer {
        Some(p) => {
            log(
                Level::Notice,
                &format!(
                    "{file}: from the tracker: storage_sync_file_max_delay={} use_storage_id={} ({} storage ids), {} storages",
                    p.sync_max_delay.map_or_else(|| "(not sent)".to_owned(), |d| d.to_string()),
                    p.use_storage_id,
                    p.storage_ids.as_ref().map_or(0, |t| t.entries.len()),
                    p.members.len()
                ),
            );
            let p = keep_or_complete(inst, p, log);
            inst.apply_tracker(p);
        }
        None => {
            log(
                Level::Warn,
                &format!(
                    "{file}: no tracker answered within {} s (the bound of the whole tracker exchange)",
                    TOTAL_BUDGET.as_secs()
                ),
            );
            use_cache(inst, Level::Warn, log);
        }
    }
}

/// A complete answer (storage list, and storage ids when they are in use) replaces the cache; a
/// partial one (the budget ran out after the parameters) is completed from the cache instead, so a
/// slow tracker never wipes the member list.
fn keep_or_complete(
    inst: &Instance,
    mut p: TrackerParams,
    log: &mut dyn FnMut(Level, &str),
) -> TrackerParams {
    let file = &inst.conf.file;
    let Some(path) = crate::cache::path(inst) else {
        return p;
    };
    let complete = !p.groups.is_empty() && (!p.use_storage_id || p.storage_ids.is_some());
    if complete {
        if let Err(e) = crate::cache::store(&path, &tracker_key(inst), &p) {
            log(
                Level::Warn,
                &format!(
                    "{file}: cannot cache the tracker answer in {}: {e}",
                    path.display()
                ),
            );
        }
        return p;
    }
    if let Ok(Some(c)) = crate::cache::load(&path, &tracker_key(inst)) {
        log(
            Level::Notice,
            &format!(
                "{file}: the tracker answer is partial; storage list and ids from the cached answer {}",
                path.display()
            ),
        );
        if p.groups.is_empty() {
            (p.groups, p.members) = (c.params.groups, c.params.members);
        }
        if p.use_storage_id && p.storage_ids.is_none() {
            (p.storage_ids, p.storage_ids_text) = (c.params.storage_ids, c.params.storage_ids_text);
        }
    }
    p
}

/// Apply the cached answer, if there is a usable one, and say which (a missing one at `absent`).
fn use_cache(inst: &mut Instance, absent: Level, log: &mut dyn FnMut(Level, &str)) {
    let file = inst.conf.file.clone();
    let Some(path) = crate::cache::path(inst) else {
        log(
            Level::Warn,
            &format!("{file}: no base_path, so no cached tracker answer; using the local defaults"),
        );
        return;
    };
    match crate::cache::load(&path, &tracker_key(inst)) {
        Ok(Some(c)) => {
            log(
                Level::Notice,
                &format!(
                    "{file}: using the cached tracker answer {} (written at unix time {}): {} storages, {} groups",
                    path.display(),
                    c.written,
                    c.params.members.len(),
                    c.params.groups.len()
                ),
            );
            inst.apply_tracker(c.params);
        }
        Ok(None) => log(
            absent,
            &format!(
                "{file}: no cached tracker answer in {}; using the local defaults \
                 (storage_sync_file_max_delay={})",
                path.display(),
                inst.sync_max_delay
            ),
        ),
        Err(e) => log(
            Level::Warn,
            &format!(
                "{file}: the cached tracker answer {} is not usable ({e}); using the local defaults",
                path.display()
            ),
        ),
    }
}
