//! One loaded `mod_fastdfs.conf` (with its `http.conf`, mime types, token-fail file, storage ids, local
//! addresses and cluster members): everything a request needs, built at configuration time and kept
//! in nginx's per-cycle configuration (never in a static).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use fdfs_client::conf::{ConfError, MimeTypes, ModFastdfsConf, StorageIdsConf};
use fdfs_client::file_id::Source;

/// A cluster member this node may forward to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its address.
    pub ip: IpAddr,
    /// Its HTTP port, when written.
    pub port: Option<u16>,
}

/// The token-check-fail answer.
#[derive(Debug, Clone)]
pub struct FailFile {
    /// The file's bytes (loaded once).
    pub body: Vec<u8>,
    /// Its FastDFS mime type.
    pub content_type: String,
}

/// Why an instance could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// A config file is wrong (names file and line).
    #[error("{0}")]
    Conf(#[from] ConfError),
    /// Something else, with the file it is about.
    #[error("{file}: {msg}")]
    Other {
        /// The file.
        file: String,
        /// What is wrong.
        msg: String,
    },
}

/// Everything the module knows about one `mod_fastdfs.conf`.
pub struct Instance {
    /// The parsed file.
    pub conf: ModFastdfsConf,
    /// `storage_sync_file_max_delay` (possibly from the tracker).
    pub sync_max_delay: i64,
    /// The storage-id table (local file or tracker).
    pub storage_ids: Option<StorageIdsConf>,
    /// `storage_peers` plus the members learnt from storage ids.
    pub peers: Vec<Peer>,
    /// The addresses of this host the module treats as "local" (127.0.0.1 + interfaces per
    /// `if_alias_prefix`), sorted: see [`Instance::is_local_ip`].
    pub local_ips: Vec<IpAddr>,
    /// The storages the tracker listed at configuration time (cluster members).
    pub tracker_members: Vec<IpAddr>,
    /// The groups the tracker listed (empty when no tracker answer is known).
    pub tracker_groups: Vec<String>,
    /// `http.anti_steal.token_check_fail`.
    pub fail_file: Option<FailFile>,
    /// Warnings to log once at start.
    pub warnings: Vec<String>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("file", &self.conf.file)
            .finish()
    }
}

fn other(file: &str, msg: impl Into<String>) -> InstanceError {
    InstanceError::Other {
        file: file.to_owned(),
        msg: msg.into(),
    }
}

/// Parse an address string from a config (`1.2.3.4`, `::1`, `[::1]`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

impl Instance {
    /// Load `path` and everything it refers to. `local_ips` is the host's address list (interface name,
    /// address) as [`interface_addrs`] returns it.
    pub fn load(path: &Path, ifaddrs: &[(String, IpAddr)]) -> Result<Instance, InstanceError> {
        let conf = ModFastdfsConf::load(path)?;
        Self::from_conf(conf, ifaddrs)
    }

    /// Build from a parsed config.
    pub fn from_conf(
        conf: ModFastdfsConf,
        ifaddrs: &[(String, IpAddr)],
    ) -> Result<Instance, InstanceError> {
        // The C module would read these silently; every one is logged at `nginx -t` and start.
        let mut warnings: Vec<String> = conf.warnings.iter().map(ToString::to_string).collect();
        warnings.extend(check_store_paths(&conf)?);
        let storage_ids = match (&conf.use_storage_id, &conf.storage_ids_filename) {
            (true, Some(f)) if !conf.load_fdfs_parameters_from_tracker => {
                Some(StorageIdsConf::load(f)?)
            }
            _ => None,
        };
        let http = &conf.http;
        let fail_file = match (
            &http.anti_steal.check_token,
            &http.anti_steal.token_check_fail,
        ) {
            (true, Some(f)) => {
                let body = std::fs::read(f).map_err(|e| {
                    other(
                        &conf.file,
                        format!("http.anti_steal.token_check_fail {}: {e}", f.display()),
                    )
                })?;
                let ext = f
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("")
                    .to_owned();
                let default = http
                    .default_content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into());
                let content_type = match &http.mime_types_filename {
                    Some(m) => MimeTypes::load(m)?.get_or(&ext, &default).to_owned(),
                    None => default,
                };
                Some(FailFile { body, content_type })
            }
            _ => None,
        };
        let mut peers = Vec::new();
        for p in &conf.storage_peers {
            match parse_ip(p.host()) {
                Some(ip) => peers.push(Peer { ip, port: p.port }),
                None => {
                    return Err(other(
                        &conf.file,
                        format!(
                        "storage_peers: {:?} is not an IP address (host names are not resolved)",
                        p.host()
                    ),
                    ))
                }
            }
        }
        let local_ips = local_ips(ifaddrs, &conf.if_alias_prefix);
        let sync_max_delay = conf.storage_sync_file_max_delay;
        Ok(Instance {
            conf,
            sync_max_delay,
            storage_ids,
            peers,
            local_ips,
            tracker_members: Vec::new(),
            tracker_groups: Vec::new(),
            fail_file,
            warnings,
        })
    }

    /// The warning when no cluster member list is known (computed after the tracker step).
    pub fn check_members(&mut self) {
        if self.has_members() {
            return;
        }
        let what = if self.conf.allow_unknown_peers {
            "allow_unknown_peers = true: files that are not local are forwarded to whatever source \
             address their id names, like the C module (a forged id can aim this node at any address)"
        } else {
            "files that are not local are answered 404, not forwarded (set storage_peers, or \
             allow_unknown_peers = true to forward to any source address like the C module)"
        };
        self.warnings.push(format!(
            "{}: neither storage_peers, nor a storage id table, nor a tracker storage list is available: {what}",
            self.conf.file
        ));
    }

    /// A served group the trackers do not know is most likely a typo (`[group2]` with
    /// `group_name=group3`): its files would never be found where the cluster stores them.
    pub fn check_groups(&mut self) {
        if self.tracker_groups.is_empty() {
            return;
        }
        for g in &self.conf.groups {
            if self.tracker_groups.contains(&g.group_name) {
                continue;
            }
            let (file, line) = &g.group_name_at;
            let section = if g.section.is_empty() {
                String::new()
            } else {
                format!("[{}] ", g.section)
            };
            self.warnings.push(format!(
                "{file}:{line}: group_name: {section}names group {:?}, which the trackers do not know \
                 (they know {})",
                g.group_name,
                self.tracker_groups.join(", ")
            ));
        }
    }

    /// Merge what the tracker said, or its cached answer (§4.3).
    pub fn apply_tracker(&mut self, p: crate::tracker::TrackerParams) {
        self.tracker_members = p.members;
        self.tracker_groups = p.groups;
        if let Some(d) = p.sync_max_delay {
            self.sync_max_delay = d;
        }
        if let Some(ids) = p.storage_ids {
            self.storage_ids = Some(ids);
        }
    }

    /// True if a member list is known (storage ids, the tracker's storage list or `storage_peers`).
    pub fn has_members(&self) -> bool {
        !self.peers.is_empty()
            || !self.tracker_members.is_empty()
            || self
                .storage_ids
                .as_ref()
                .is_some_and(|t| !t.entries.is_empty())
    }

    /// Is the source this storage (for the "I am the source" 404)? In storage-id mode, when the id
    /// table gives the storage's port, a local address with another port is a *sibling* instance of
    /// the same host (FastDFS 6.16), not this one.
    pub fn is_self(&self, ip: &IpAddr, src: Source, group: Option<usize>) -> bool {
        if !self.is_local_ip(ip) {
            return false;
        }
        if let (Source::StorageId(id), Some(g)) = (src, group.and_then(|g| self.conf.groups.get(g)))
        {
            if let Some(port) = self
                .storage_ids
                .as_ref()
                .and_then(|t| t.get(id))
                .and_then(|e| e.port)
            {
                return port == g.storage_server_port;
            }
        }
        true
    }

    /// Whether `ip` is one of [`Instance::local_ips`]: a binary search, asked on every request
    /// that is not served from the disk (hashing the address cost more).
    pub fn is_local_ip(&self, ip: &IpAddr) -> bool {
        self.local_ips.binary_search(ip).is_ok()
    }

    /// The first address of storage `id`.
    pub fn storage_id_ip(&self, id: u32) -> Option<IpAddr> {
        self.storage_ids
            .as_ref()
            .and_then(|t| t.first_ip(id))
            .and_then(parse_ip)
    }

    /// Membership of `ip` in the cluster.
    pub fn member(&self, ip: &IpAddr) -> crate::logic::Membership {
        use crate::logic::Membership;
        if !self.has_members() {
            return Membership::Unknown;
        }
        if let Some(p) = crate::logic::find_peer(&self.peers, ip) {
            return Membership::Member(p.port);
        }
        let in_ids = self.storage_ids.as_ref().is_some_and(|t| {
            t.entries
                .iter()
                .any(|e| e.addrs.iter().any(|a| parse_ip(a).as_ref() == Some(ip)))
        });
        if in_ids || self.tracker_members.contains(ip) {
            Membership::Member(None)
        } else {
            Membership::Stranger
        }
    }
}

/// Store paths must be directories (an error, like the C module); one without FastDFS's `data/`
/// directory is a warning: it holds no FastDFS file, so every request would be a 404.
fn check_store_paths(conf: &ModFastdfsConf) -> Result<Vec<String>, InstanceError> {
    let mut warnings = Vec::new();
    for g in &conf.groups {
        for (i, p) in g.store_paths.iter().enumerate() {
            if !p.is_dir() {
                return Err(other(
                    &conf.file,
                    format!(
                        "group {}: store_path{i} {} is not a directory",
                        g.group_name,
                        p.display()
                    ),
                ));
            }
            let data = p.join("data");
            if !data.is_dir() {
                warnings.push(format!(
                    "{}: group {}: store_path{i} {} holds no FastDFS data ({} is not a directory): \
                     every file of it would be 404; is this the storage's store path?",
                    conf.file,
                    g.group_name,
                    p.display(),
                    data.display()
                ));
            }
        }
    }
    Ok(warnings)
}

/// The "local" addresses: 127.0.0.1 plus the interface addresses whose interface name starts with one
/// of `prefixes` (all interfaces when there is none), like the C module's `getifaddrs` walk.
/// Sorted, without duplicates.
pub fn local_ips(ifaddrs: &[(String, IpAddr)], prefixes: &[String]) -> Vec<IpAddr> {
    let mut ips = vec![IpAddr::from([127, 0, 0, 1])];
    for (name, ip) in ifaddrs {
        if prefixes.is_empty() || prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            ips.push(*ip);
        }
    }
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// The host's interface addresses (name with alias label, address), via `getifaddrs`.
pub fn interface_addrs() -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; we only read it.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let ip = std::net::Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
                    out.push((name, IpAddr::V4(ip)));
                }
                libc::AF_INET6 => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    out.push((name, IpAddr::V6(sa.sin6_addr.s6_addr.into())));
                }
                _ => {}
            }
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_prefixes() {
        let addrs = vec![
            ("lo".to_string(), IpAddr::from([127, 0, 0, 1])),
            ("lo:a0".to_string(), IpAddr::from([127, 0, 0, 11])),
            ("lo:b0".to_string(), IpAddr::from([127, 0, 0, 12])),
        ];
        let s = local_ips(&addrs, &["lo:a".to_string()]);
        assert!(s.contains(&IpAddr::from([127, 0, 0, 11])));
        assert!(!s.contains(&IpAddr::from([127, 0, 0, 12])));
        assert!(s.contains(&IpAddr::from([127, 0, 0, 1])));
        assert_eq!(local_ips(&addrs, &[]).len(), 3);
        assert!(!interface_addrs().is_empty());
    }

    #[test]
    fn ips() {
        assert_eq!(parse_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_ip("host"), None);
    }
}
