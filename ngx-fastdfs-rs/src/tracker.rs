//! Spec §4.3: ask the trackers for `storage_sync_file_max_delay`, `use_storage_id` and the storage-id
//! table. This runs once per configuration load (in the nginx master, or in `nginx -t`), where
//! blocking I/O is allowed; workers never talk to a tracker. Every failure is logged and leaves the
//! local defaults in place, like the C module.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use fdfs_client::conf::ini::parse_bool;
use fdfs_client::conf::StorageIdsConf;
use fdfs_client::proto::{
    FetchStorageIds, GroupStats, Header, ListAllGroups, ListStorage, Reply, Request, StorageIds,
    StorageParameterReq, StorageStats, HEADER_LEN,
};

use crate::instance::Instance;
use crate::Level;

/// Connection attempts per tracker (the C module makes 3, 1 s apart).
const ROUNDS: usize = 3;

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
    /// A reply that does not decode, or a non-zero status.
    #[error("{addr}: {msg}")]
    Proto {
        /// The tracker.
        addr: SocketAddr,
        /// What was wrong.
        msg: String,
    },
}

fn call<Q: Request>(
    addr: SocketAddr,
    req: &Q,
    connect: Duration,
    network: Duration,
) -> Result<Q::Reply, TrackerError> {
    let io = |err| TrackerError::Io { addr, err };
    let mut s = TcpStream::connect_timeout(&addr, connect).map_err(io)?;
    s.set_read_timeout(Some(network)).map_err(io)?;
    s.set_write_timeout(Some(network)).map_err(io)?;
    s.write_all(&req.to_frame()).map_err(io)?;
    let mut h = [0u8; HEADER_LEN];
    s.read_exact(&mut h).map_err(io)?;
    let header = Header::decode(&h);
    if header.body_len > <Q::Reply as Reply>::MAX_BODY {
        return Err(TrackerError::Proto {
            addr,
            msg: format!("reply body of {} bytes is too long", header.body_len),
        });
    }
    let mut body = vec![0u8; header.body_len as usize];
    s.read_exact(&mut body).map_err(io)?;
    <Q::Reply as Reply>::decode_reply(&header, &body).map_err(|e| TrackerError::Proto {
        addr,
        msg: e.to_string(),
    })
}

/// What the trackers said.
#[derive(Debug, Default)]
pub struct TrackerParams {
    /// `storage_sync_file_max_delay`.
    pub sync_max_delay: Option<i64>,
    /// `use_storage_id`.
    pub use_storage_id: bool,
    /// The storage-id table, when `use_storage_id`.
    pub storage_ids: Option<StorageIdsConf>,
    /// The addresses of every storage the tracker knows (the cluster members).
    pub members: Vec<IpAddr>,
}

fn list_members(
    addr: SocketAddr,
    connect: Duration,
    network: Duration,
) -> Result<Vec<IpAddr>, TrackerError> {
    let groups: GroupStats = call(addr, &ListAllGroups, connect, network)?;
    let mut out = Vec::new();
    for g in &groups.groups {
        let list: StorageStats = call(
            addr,
            &ListStorage::new(g.group_name.clone()),
            connect,
            network,
        )?;
        for s in &list.storages {
            if let Some(ip) = crate::instance::parse_ip(&s.ip_addr) {
                out.push(ip);
            }
        }
    }
    Ok(out)
}

fn fetch_ids(
    addr: SocketAddr,
    connect: Duration,
    network: Duration,
) -> Result<StorageIdsConf, TrackerError> {
    let mut text = String::new();
    let mut start = 0u32;
    // 6.12+ trackers want the 5-byte body, older ones the 4-byte one: try the new form first.
    let mut allow_empty = Some(false);
    loop {
        let req = FetchStorageIds {
            start_index: start,
            allow_empty,
        };
        let reply: StorageIds = match call(addr, &req, connect, network) {
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
    StorageIdsConf::parse_str(&text, &format!("storage ids from tracker {addr}")).map_err(|e| {
        TrackerError::Proto {
            addr,
            msg: e.to_string(),
        }
    })
}

/// Ask the trackers in order, [`ROUNDS`] rounds, 1 s apart; the first that answers wins.
pub fn fetch(
    trackers: &[SocketAddr],
    connect: Duration,
    network: Duration,
    log: &mut dyn FnMut(Level, &str),
) -> Option<TrackerParams> {
    for round in 0..ROUNDS {
        if round > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        for &addr in trackers {
            let params = match call(addr, &StorageParameterReq, connect, network) {
                Ok(p) => p,
                Err(e) => {
                    log(Level::Warn, &format!("tracker parameters: {e}"));
                    continue;
                }
            };
            let mut out = TrackerParams {
                sync_max_delay: params
                    .get("storage_sync_file_max_delay")
                    .and_then(|v| v.trim().parse().ok()),
                use_storage_id: params.get("use_storage_id").is_some_and(parse_bool),
                storage_ids: None,
                members: Vec::new(),
            };
            match list_members(addr, connect, network) {
                Ok(m) => out.members = m,
                Err(e) => log(Level::Warn, &format!("tracker storage list: {e}")),
            }
            if out.use_storage_id {
                match fetch_ids(addr, connect, network) {
                    Ok(ids) => out.storage_ids = Some(ids),
                    Err(e) => log(Level::Warn, &format!("tracker storage ids: {e}")),
                }
            }
            return Some(out);
        }
    }
    None
}

/// Resolve `tracker_server` entries (blocking DNS is fine at configuration time).
pub fn tracker_addrs(inst: &Instance, log: &mut dyn FnMut(Level, &str)) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for t in &inst.conf.tracker_servers {
        let host = t.host().trim_start_matches('[').trim_end_matches(']');
        let port = t.port_or(fdfs_client::conf::mod_fastdfs::DEFAULT_TRACKER_PORT);
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

/// Ask the trackers; every failure is logged and the defaults stay in place.
pub fn load_from_trackers(inst: &mut Instance, log: &mut dyn FnMut(Level, &str)) {
    let addrs = tracker_addrs(inst, log);
    if addrs.is_empty() {
        log(
            Level::Warn,
            &format!(
                "{}: load_fdfs_parameters_from_tracker is set but no tracker_server resolves; \
                 using the local defaults",
                inst.conf.file
            ),
        );
        return;
    }
    let connect = Duration::from_secs(inst.conf.connect_timeout.max(1) as u64);
    let network = Duration::from_secs(inst.conf.network_timeout.max(1) as u64);
    match fetch(&addrs, connect, network, log) {
        Some(p) => {
            log(
                Level::Notice,
                &format!(
                    "{}: from the tracker: storage_sync_file_max_delay={:?} use_storage_id={} ({} storage ids), {} storages",
                    inst.conf.file,
                    p.sync_max_delay,
                    p.use_storage_id,
                    p.storage_ids.as_ref().map_or(0, |t| t.entries.len()),
                    p.members.len()
                ),
            );
            inst.apply_tracker(p.sync_max_delay, p.storage_ids, p.members);
        }
        None => log(
            Level::Warn,
            &format!(
                "{}: no tracker answered; using the local defaults (storage_sync_file_max_delay={})",
                inst.conf.file, inst.sync_max_delay
            ),
        ),
    }
}
