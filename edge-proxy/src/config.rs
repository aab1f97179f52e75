//! `edge.toml`: the configuration file of fdfs-edge.
//!
//! Every table denies unknown keys. Durations are written `90s`, `5m`, `12h`, `30d` (also `500ms`),
//! sizes `300MiB`, `1GiB`, `64KiB` (also `k`/`m`/`g` and plain bytes). Errors carry the line of the
//! offending value.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer};
use serde::Deserialize;

/// A configuration error, with the 1-based line of the first error when known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    Parse {
        path: String,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
}

/// A duration written like `90s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("duration `{s}` needs a unit (ms, s, m, h, d)"))?;
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid duration `{s}` (e.g. 90s, 12h, 30d)"))?;
        let secs = match unit {
            "ms" => return Ok(Dur(Duration::from_millis(n))),
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => {
                return Err(format!(
                    "invalid duration unit in `{s}` (ms, s, m, h, d, w)"
                ))
            }
        };
        n.checked_mul(secs)
            .map(|v| Dur(Duration::from_secs(v)))
            .ok_or_else(|| format!("duration `{s}` too large"))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A duration or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptDur(pub Option<Duration>);

impl<'de> Deserialize<'de> for OptDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "off" {
            return Ok(OptDur(None));
        }
        s.parse::<Dur>()
            .map(|d| OptDur(Some(d.0)))
            .map_err(de::Error::custom)
    }
}

/// A byte size written like `1GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size `{s}` (e.g. 300MiB, 1GiB)"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(format!("invalid size unit in `{s}` (KiB, MiB, GiB, TiB)")),
        };
        n.checked_mul(mult)
            .map(Size)
            .ok_or_else(|| format!("size `{s}` too large"))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => s.parse().map_err(de::Error::custom),
        }
    }
}

/// A socket address `ip:port`, checked at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addr(pub SocketAddr);

impl FromStr for Addr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(a) = t.parse() {
            return Ok(Addr(a));
        }
        // A host name is the usual mistake: say so rather than "invalid".
        let host = t.rsplit_once(':').map_or(t, |(h, _)| h);
        if !host.is_empty() && host.parse::<std::net::IpAddr>().is_err() && !host.contains('[') {
            return Err(format!(
                "`{s}` is not an ip:port: `{host}` is a host name, and names are not resolved; \
                 write the IP address (e.g. \"192.168.1.11:8888\", IPv6 as \"[::1]:8888\")"
            ));
        }
        Err(format!(
            "invalid address `{s}` (want ip:port, IPv6 as [::1]:80)"
        ))
    }
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A CIDR (`10.0.0.0/8`) or a single address (`127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let t = s.trim();
        if let Ok(n) = t.parse::<IpNet>() {
            return Ok(Cidr(n));
        }
        t.parse::<std::net::IpAddr>()
            .map(|ip| Cidr(IpNet::from(ip)))
            .map_err(|_| de::Error::custom(format!("invalid CIDR `{s}`")))
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    #[serde(default)]
    pub admin: Option<AdminSection>,
    #[serde(default)]
    pub upstream: UpstreamSection,
    #[serde(default)]
    pub health: HealthSection,
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupSection>,
    #[serde(default)]
    pub trackers: Option<TrackersSection>,
    pub cache: CacheSection,
    #[serde(default)]
    pub response: ResponseSection,
    #[serde(default)]
    pub purge: PurgeSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Vec<Addr>,
    #[serde(default = "default_threads")]
    pub threads: usize,
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    #[serde(default)]
    pub upgrade_sock: Option<PathBuf>,
    #[serde(default)]
    pub error_log: Option<PathBuf>,
    #[serde(default)]
    pub access_log: Option<String>,
    /// The access log line: `edge` (nginx's combined format plus cache, upstream and time
    /// fields) or `combined` (exactly nginx's combined format).
    #[serde(default)]
    pub access_log_format: AccessLogFormat,
    #[serde(default)]
    pub daemon: bool,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default = "default_grace")]
    pub grace_period: Dur,
    #[serde(default = "default_graceful_timeout")]
    pub graceful_shutdown_timeout: Dur,
    #[serde(default = "default_body")]
    pub client_max_body_size: Size,
    #[serde(default = "default_keepalive_pool")]
    pub upstream_keepalive_pool: usize,
    /// Request line + headers larger than this get 431.
    #[serde(default = "default_max_header_size")]
    pub max_header_size: Size,
    /// nginx `client_header_timeout`: the whole request header must arrive within this.
    #[serde(default = "default_60s")]
    pub client_header_timeout: Dur,
    /// nginx `client_body_timeout`: the longest wait between two reads of a request body.
    #[serde(default = "default_60s")]
    pub client_body_timeout: Dur,
    /// nginx `keepalive_timeout`: an idle keep-alive connection is closed after this.
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout: Dur,
    /// Connections open at once on the proxy listeners (nginx `worker_connections`); lowered to
    /// what the open-files limit allows.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_60s() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_keepalive_timeout() -> Dur {
    Dur(Duration::from_secs(75))
}
fn default_max_connections() -> usize {
    4096
}

/// `[server] access_log_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogFormat {
    #[default]
    Edge,
    Combined,
}

/// Where the pid file and the upgrade socket go unless configured: a directory only the edge's
/// user can write (not `/tmp`, where another user could bind the upgrade socket first).
pub const RUN_DIR: &str = "/run/fdfs-edge";

impl ServerSection {
    pub fn pid_file(&self) -> PathBuf {
        self.pid_file
            .clone()
            .unwrap_or_else(|| Path::new(RUN_DIR).join("fdfs-edge.pid"))
    }

    pub fn upgrade_sock(&self) -> PathBuf {
        self.upgrade_sock
            .clone()
            .unwrap_or_else(|| Path::new(RUN_DIR).join("upgrade.sock"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub listen: Addr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    #[serde(default = "default_90s")]
    pub connect_timeout: Dur,
    #[serde(default = "default_90s")]
    pub read_timeout: Dur,
    #[serde(default = "default_90s")]
    pub write_timeout: Dur,
    #[serde(default = "default_max_fails")]
    pub max_fails: u32,
    #[serde(default = "default_fail_timeout")]
    pub fail_timeout: Dur,
    /// 0 = every storage of the group once.
    #[serde(default)]
    pub tries: usize,
}

impl Default for UpstreamSection {
    fn default() -> Self {
        UpstreamSection {
            connect_timeout: default_90s(),
            read_timeout: default_90s(),
            write_timeout: default_90s(),
            max_fails: default_max_fails(),
            fail_timeout: default_fail_timeout(),
            tries: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_health_interval")]
    pub interval: Dur,
    #[serde(default = "default_health_timeout")]
    pub timeout: Dur,
    #[serde(default = "default_health_path")]
    pub path: String,
    #[serde(default = "default_health_fails")]
    pub fails: u32,
    #[serde(default = "default_health_passes")]
    pub passes: u32,
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection {
            enabled: true,
            interval: default_health_interval(),
            timeout: default_health_timeout(),
            path: default_health_path(),
            fails: default_health_fails(),
            passes: default_health_passes(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSection {
    pub name: String,
    #[serde(default)]
    pub storages: Vec<StorageEntry>,
}

/// `"ip:port"` or `{ addr = "ip:port", weight = N }`.
#[derive(Debug, Clone)]
pub enum StorageEntry {
    Plain(Addr),
    Weighted(WeightedStorage),
}

impl<'de> Deserialize<'de> for StorageEntry {
    // Not `#[serde(untagged)]`: its error ("data did not match any variant of untagged enum")
    // hides what was wrong with the entry.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s
                .parse()
                .map(StorageEntry::Plain)
                .map_err(|e| de::Error::custom(format!("storage {e}"))),
            toml::Value::Table(t) => WeightedStorage::deserialize(t)
                .map(StorageEntry::Weighted)
                .map_err(|e| de::Error::custom(format!("storage: {}", e.message()))),
            other => Err(de::Error::custom(format!(
                "a storage is \"ip:port\" or {{ addr = \"ip:port\", weight = N }}, not {}",
                other.type_str()
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedStorage {
    pub addr: Addr,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

impl StorageEntry {
    pub fn addr(&self) -> SocketAddr {
        match self {
            StorageEntry::Plain(a) => a.0,
            StorageEntry::Weighted(w) => w.addr.0,
        }
    }
    pub fn weight(&self) -> u32 {
        match self {
            StorageEntry::Plain(_) => 1,
            StorageEntry::Weighted(w) => w.weight,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackersSection {
    pub servers: Vec<Addr>,
    #[serde(default = "default_refresh")]
    pub refresh: Dur,
    #[serde(default = "default_tracker_timeout")]
    pub timeout: Dur,
    /// HTTP port of discovered storages (trackers only report the storage port), unless a
    /// static `[[group]]` lists the same IP with a port.
    #[serde(default = "default_http_port")]
    pub http_port: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    pub dir: PathBuf,
    #[serde(default = "default_max_size")]
    pub max_size: Size,
    #[serde(default = "default_valid")]
    pub valid: Dur,
    #[serde(default = "default_inactive")]
    pub inactive: Dur,
    #[serde(default = "default_stale_if_error")]
    pub stale_if_error: Dur,
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: Dur,
    #[serde(default)]
    pub max_object_size: Option<Size>,
    #[serde(default = "default_memory_size")]
    pub memory_size: Size,
    #[serde(default = "default_memory_object_size")]
    pub memory_object_size: Size,
    /// Serve fresh in-memory objects before the cache state machine.
    #[serde(default = "default_true")]
    pub fast_path: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSection {
    /// `expires` like nginx: a duration, or `"off"`.
    #[serde(default = "default_expires")]
    pub expires: OptDur,
    /// nginx `gzip on`: compress responses of `gzip_types` for clients that accept gzip.
    #[serde(default)]
    pub gzip: bool,
    /// nginx `gzip_comp_level` (1-9).
    #[serde(default = "default_gzip_level")]
    pub gzip_level: u32,
    /// nginx `gzip_types`; `text/html` is always included, as in nginx.
    #[serde(default = "default_gzip_types")]
    pub gzip_types: Vec<String>,
    /// nginx `gzip_min_length`: smaller responses (by `Content-Length`) are sent as they are.
    #[serde(default = "default_gzip_min_length")]
    pub gzip_min_length: Size,
}

impl Default for ResponseSection {
    fn default() -> Self {
        ResponseSection {
            expires: default_expires(),
            gzip: false,
            gzip_level: default_gzip_level(),
            gzip_types: default_gzip_types(),
            gzip_min_length: default_gzip_min_length(),
        }
    }
}

fn default_gzip_level() -> u32 {
    1
}
fn default_gzip_types() -> Vec<String> {
    [
        "text/plain",
        "text/css",
        "text/xml",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/xml",
    ]
    .map(String::from)
    .to_vec()
}
fn default_gzip_min_length() -> Size {
    Size(20)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeSection {
    #[serde(default = "default_purge_allow")]
    pub allow: Vec<Cidr>,
}

impl Default for PurgeSection {
    fn default() -> Self {
        PurgeSection {
            allow: default_purge_allow(),
        }
    }
}

fn default_threads() -> usize {
    1
}
fn default_grace() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_graceful_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_body() -> Size {
    Size(300 << 20)
}
fn default_max_header_size() -> Size {
    Size(32 << 10)
}
fn default_keepalive_pool() -> usize {
    128
}
fn default_90s() -> Dur {
    Dur(Duration::from_secs(90))
}
fn default_max_fails() -> u32 {
    3
}
fn default_fail_timeout() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_true() -> bool {
    true
}
fn default_health_interval() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_health_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}
/// The `location = /healthz` of the shipped storage nginx.conf: answered by nginx itself, so a
/// probe writes nothing to the storage's error log.
pub const DEFAULT_HEALTH_PATH: &str = "/healthz";

fn default_health_path() -> String {
    DEFAULT_HEALTH_PATH.to_string()
}
fn default_health_fails() -> u32 {
    2
}
fn default_health_passes() -> u32 {
    1
}
fn default_weight() -> u32 {
    1
}
fn default_refresh() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_http_port() -> u16 {
    8888
}
fn default_tracker_timeout() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_max_size() -> Size {
    Size(1 << 30)
}
fn default_valid() -> Dur {
    Dur(Duration::from_secs(12 * 3600))
}
fn default_inactive() -> Dur {
    Dur(Duration::from_secs(30 * 86_400))
}
fn default_stale_if_error() -> Dur {
    Dur(Duration::from_secs(86_400))
}
fn default_lock_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_memory_size() -> Size {
    Size(64 << 20)
}
fn default_memory_object_size() -> Size {
    Size(1 << 20)
}
fn default_expires() -> OptDur {
    OptDur(Some(Duration::from_secs(30 * 86_400)))
}
fn default_purge_allow() -> Vec<Cidr> {
    vec![Cidr(IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])))]
}

/// The longest duration any setting takes (nginx's `expires max` is 10 years too).
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);
/// More worker threads than this is a typo, not a machine.
pub const MAX_THREADS: usize = 1024;

/// A duration as it could be written in the file (`90s`, `30d`, `500ms`).
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 || secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Where `needle` is in `text`; `[table]\0key` is the line of `key = ` inside `[table]`.
fn find_needle(text: &str, needle: &str) -> Option<usize> {
    let Some((table, key)) = needle.split_once('\0') else {
        return text.find(needle);
    };
    let mut off = 0;
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            inside = t.trim_end() == table;
        } else if inside
            && t.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return Some(off);
        }
        off += line.len();
    }
    None
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates a configuration text; `name` is used in messages.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_string(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
            msg: e.message().trim().to_string(),
        })?;
        cfg.validate().map_err(|msg| {
            // Point at the first line that mentions the culprit when we can.
            match msg
                .1
                .as_deref()
                .and_then(|needle| find_needle(text, needle))
            {
                Some(off) => ConfigError::Parse {
                    path: name.to_string(),
                    line: line_of(text, off),
                    msg: msg.0,
                },
                None => ConfigError::Invalid {
                    path: name.to_string(),
                    msg: msg.0,
                },
            }
        })?;
        Ok(cfg)
    }

    /// Cross-field checks. Returns the message and optionally a text to locate the line.
    fn validate(&self) -> Result<(), (String, Option<String>)> {
        if self.server.listen.is_empty() {
            return Err((
                "[server] listen must not be empty".into(),
                Some("listen".into()),
            ));
        }
        if self.server.threads == 0 {
            return Err((
                "[server] threads must be >= 1".into(),
                Some("threads".into()),
            ));
        }
        if self.groups.is_empty() && self.trackers.is_none() {
            return Err((
                "no [[group]] and no [trackers]: nothing to proxy to".into(),
                None,
            ));
        }
        let mut names = HashSet::new();
        for g in &self.groups {
            if g.name.is_empty()
                || !g
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err((
                    format!("invalid group name `{}`", g.name),
                    Some(format!("\"{}\"", g.name)),
                ));
            }
            if !names.insert(g.name.clone()) {
                return Err((
                    format!("group `{}` defined twice", g.name),
                    Some(format!("\"{}\"", g.name)),
                ));
            }
            if g.storages.is_empty() && self.trackers.is_none() {
                return Err((
                    format!("group `{}` has no storages", g.name),
                    Some(format!("\"{}\"", g.name)),
                ));
            }
            let mut seen = HashSet::new();
            for s in &g.storages {
                if s.weight() == 0 {
                    return Err((
                        format!(
                            "storage {} of group `{}`: weight must be >= 1",
                            s.addr(),
                            g.name
                        ),
                        Some("weight".into()),
                    ));
                }
                if !seen.insert(s.addr()) {
                    return Err((
                        format!("storage {} listed twice in group `{}`", s.addr(), g.name),
                        Some(s.addr().to_string()),
                    ));
                }
            }
        }
        if let Some(t) = &self.trackers {
            if t.servers.is_empty() {
                return Err((
                    "[trackers] servers must not be empty".into(),
                    Some("servers".into()),
                ));
            }
        }
        if !(1..=9).contains(&self.response.gzip_level) {
            return Err((
                "[response] gzip_level must be 1 to 9".into(),
                Some("gzip_level".into()),
            ));
        }
        if let Some(t) = self
            .response
            .gzip_types
            .iter()
            .find(|t| t.split('/').count() != 2 || t.contains(char::is_whitespace))
        {
            return Err((
                format!("[response] gzip_types: `{t}` is not a MIME type"),
                Some(format!("\"{t}\"")),
            ));
        }
        if self.upstream.max_fails == 0 {
            // nginx: max_fails=0 disables accounting; we accept it.
        }
        if !self.health.path.starts_with('/') {
            return Err((
                "[health] path must start with /".into(),
                Some("path".into()),
            ));
        }
        if self.cache.max_size.0 == 0 {
            return Err((
                "[cache] max_size must be > 0".into(),
                Some("max_size".into()),
            ));
        }
        self.check_ranges()
    }

    /// Values that parse but would break the edge at run time: a zero interval stops the
    /// background service, a far-future `expires` makes every response panic (dates past 9999).
    fn check_ranges(&self) -> Result<(), (String, Option<String>)> {
        let range = |table: &str, key: &str, v: Duration, min: Duration| {
            if v < min || v > MAX_DURATION {
                let least = if min.is_zero() {
                    "0s".into()
                } else {
                    human(min)
                };
                Err((
                    format!(
                        "[{table}] {key} = \"{}\" is out of range ({least} to 3650d)",
                        human(v)
                    ),
                    Some(format!("[{table}]\0{key}")),
                ))
            } else {
                Ok(())
            }
        };
        let ms = Duration::from_millis(1);
        let s = &self.server;
        range("server", "grace_period", s.grace_period.0, Duration::ZERO)?;
        let gst = s.graceful_shutdown_timeout.0;
        range("server", "graceful_shutdown_timeout", gst, Duration::ZERO)?;
        range(
            "server",
            "client_header_timeout",
            s.client_header_timeout.0,
            ms,
        )?;
        range("server", "client_body_timeout", s.client_body_timeout.0, ms)?;
        range("server", "keepalive_timeout", s.keepalive_timeout.0, ms)?;
        if s.max_connections == 0 {
            return Err((
                "[server] max_connections must be > 0".into(),
                Some("max_connections".into()),
            ));
        }
        let u = &self.upstream;
        range("upstream", "connect_timeout", u.connect_timeout.0, ms)?;
        range("upstream", "read_timeout", u.read_timeout.0, ms)?;
        range("upstream", "write_timeout", u.write_timeout.0, ms)?;
        range("upstream", "fail_timeout", u.fail_timeout.0, Duration::ZERO)?;
        let h = &self.health;
        range(
            "health",
            "interval",
            h.interval.0,
            Duration::from_millis(100),
        )?;
        range("health", "timeout", h.timeout.0, ms)?;
        let c = &self.cache;
        range("cache", "valid", c.valid.0, Duration::ZERO)?;
        range("cache", "inactive", c.inactive.0, Duration::from_secs(1))?;
        range(
            "cache",
            "stale_if_error",
            c.stale_if_error.0,
            Duration::ZERO,
        )?;
        range("cache", "lock_timeout", c.lock_timeout.0, ms)?;
        if let Some(e) = self.response.expires.0 {
            range("response", "expires", e, Duration::ZERO)?;
        }
        if let Some(t) = &self.trackers {
            range("trackers", "refresh", t.refresh.0, Duration::from_secs(1))?;
            range("trackers", "timeout", t.timeout.0, ms)?;
            if t.http_port == 0 {
                return Err((
                    "[trackers] http_port must be 1 to 65535".into(),
                    Some("http_port".into()),
                ));
            }
        }
        if s.threads > MAX_THREADS {
            return Err((
                format!("[server] threads must be 1 to {MAX_THREADS}"),
                Some("threads".into()),
            ));
        }
        if s.max_header_size.0 == 0 {
            return Err((
                "[server] max_header_size must be > 0".into(),
                Some("max_header_size".into()),
            ));
        }
        if h.path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err((
                "[health] path must not contain spaces or control characters".into(),
                Some("path".into()),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = ["127.0.0.1:8080"]
threads = 2

[admin]
listen = "127.0.0.1:9900"

[[group]]
name = "group1"
storages = ["10.0.0.1:80", { addr = "10.0.0.2:80", weight = 2 }]

[cache]
dir = "/tmp/x"
max_size = "1GiB"
valid = "12h"
inactive = "30d"

[response]
expires = "30d"

[purge]
allow = ["127.0.0.1/32", "10.0.0.0/8"]
"#;

    #[test]
    fn parses_good() {
        let c = Config::parse(GOOD, "t").unwrap();
        assert_eq!(c.server.threads, 2);
        assert_eq!(c.groups[0].storages[1].weight(), 2);
        assert_eq!(c.cache.max_size.0, 1 << 30);
        assert_eq!(c.cache.valid.0, Duration::from_secs(43200));
        assert_eq!(
            c.response.expires,
            OptDur(Some(Duration::from_secs(2_592_000)))
        );
        assert_eq!(c.upstream.connect_timeout.0, Duration::from_secs(90));
    }

    #[test]
    fn unknown_key_has_line() {
        let bad = GOOD.replace("threads = 2", "threads = 2\nbogus = 1");
        match Config::parse(&bad, "t") {
            Err(ConfigError::Parse { line, msg, .. }) => {
                assert_eq!(line, 5, "{msg}");
                assert!(msg.contains("bogus"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_duration_has_line() {
        let bad = GOOD.replace("valid = \"12h\"", "valid = \"12x\"");
        match Config::parse(&bad, "t") {
            Err(ConfigError::Parse { line, .. }) => assert_eq!(line, 16),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deploy_example_is_valid() {
        let c = Config::parse(include_str!("../deploy/edge.toml"), "deploy/edge.toml").unwrap();
        // the seed deployment: two groups of two storages
        let groups: Vec<(&str, usize)> = c
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.storages.len()))
            .collect();
        assert_eq!(groups, [("group1", 2), ("group2", 2)]);
        assert_eq!(c.health.path, DEFAULT_HEALTH_PATH);
        assert_eq!(c.upstream.max_fails, 3);
        assert_eq!(c.server.client_max_body_size.0, 300 << 20);
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!("200MiB".parse::<Size>().unwrap().0, 200 << 20);
        assert_eq!("64k".parse::<Size>().unwrap().0, 64 << 10);
        assert!("1 parsec".parse::<Size>().is_err());
        assert_eq!("30d".parse::<Dur>().unwrap().0.as_secs(), 2_592_000);
        assert_eq!("500ms".parse::<Dur>().unwrap().0.as_millis(), 500);
        assert!("30".parse::<Dur>().is_err());
    }

    #[test]
    fn duplicate_group_rejected() {
        let bad = GOOD.replace(
            "[cache]",
            "[[group]]\nname = \"group1\"\nstorages = [\"10.0.0.3:80\"]\n\n[cache]",
        );
        assert!(Config::parse(&bad, "t").is_err());
    }

    #[test]
    fn gzip_settings_are_checked() {
        let c = Config::parse(include_str!("../deploy/edge.toml"), "deploy/edge.toml").unwrap();
        assert!(c.response.gzip);
        assert_eq!(c.response.gzip_level, 1);
        let with = |line: &str| GOOD.replace("[response]\n", &format!("[response]\n{line}\n"));
        assert!(
            Config::parse(&with("gzip = true"), "t")
                .unwrap()
                .response
                .gzip
        );
        let err = |line: &str| match Config::parse(&with(line), "t") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{line} accepted"),
        };
        assert!(err("gzip_level = 0").contains("gzip_level"));
        assert!(err("gzip_types = [\"text plain\"]").contains("not a MIME type"));
    }

    fn parse_err(text: &str) -> String {
        match Config::parse(text, "t") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted:\n{text}"),
        }
    }

    #[test]
    fn ranges_that_break_the_edge_are_refused() {
        // every response would panic formatting a date past 9999
        let line_of = |text: &str, needle: &str| {
            1 + text.lines().position(|l| l.starts_with(needle)).unwrap()
        };
        let bad = GOOD.replace("expires = \"30d\"", "expires = \"3000000d\"");
        let e = parse_err(&bad);
        assert!(e.contains("expires") && e.contains("out of range"), "{e}");
        assert!(
            e.starts_with(&format!("t:{}:", line_of(&bad, "expires"))),
            "{e}"
        );
        let with_trackers = |refresh: &str| {
            format!("{GOOD}\n[trackers]\nservers = [\"127.0.0.1:22122\"]\nrefresh = \"{refresh}\"\ntimeout = \"1s\"\n")
        };
        // a zero interval panics the background service (health checks, sweeps, discovery)
        let e = parse_err(&with_trackers("0s"));
        assert!(e.contains("[trackers] refresh"), "{e}");
        let line = line_of(&with_trackers("0s"), "refresh");
        assert!(e.starts_with(&format!("t:{line}:")), "{e}");
        assert!(Config::parse(&with_trackers("1s"), "t").is_ok());
        let e = parse_err(&GOOD.replace("[cache]\n", "[health]\ninterval = \"0s\"\n\n[cache]\n"));
        assert!(e.contains("[health] interval"), "{e}");
        let e = parse_err(&GOOD.replace(
            "[cache]\n",
            "[upstream]\nconnect_timeout = \"0s\"\n\n[cache]\n",
        ));
        assert!(e.contains("connect_timeout"), "{e}");
        let e = parse_err(&GOOD.replace("valid = \"12h\"", "valid = \"100000d\""));
        assert!(e.contains("[cache] valid"), "{e}");
        let e = parse_err(&GOOD.replace("threads = 2", "threads = 100000"));
        assert!(e.contains("threads"), "{e}");
    }

    #[test]
    fn a_storage_host_name_is_explained() {
        let e = parse_err(&GOOD.replace("\"10.0.0.1:80\"", "\"storage1.example:80\""));
        assert!(!e.contains("untagged"), "{e}");
        assert!(
            e.contains("storage1.example") && e.contains("host name"),
            "{e}"
        );
        let e = parse_err(&GOOD.replace("\"10.0.0.2:80\"", "\"s2:80\""));
        assert!(e.contains("host name"), "{e}");
        let e = parse_err(&GOOD.replace("weight = 2", "weight = 2, port = 1"));
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn runtime_files_default_to_the_run_directory() {
        let c = Config::parse(GOOD, "t").unwrap();
        assert_eq!(
            c.server.upgrade_sock(),
            Path::new("/run/fdfs-edge/upgrade.sock")
        );
        assert_eq!(
            c.server.pid_file(),
            Path::new("/run/fdfs-edge/fdfs-edge.pid")
        );
        assert_eq!(c.health.path, "/healthz");
        assert_eq!(c.server.access_log_format, AccessLogFormat::Edge);
        let c = Config::parse(
            &GOOD.replace(
                "threads = 2",
                "threads = 2\naccess_log_format = \"combined\"",
            ),
            "t",
        )
        .unwrap();
        assert_eq!(c.server.access_log_format, AccessLogFormat::Combined);
    }
}
