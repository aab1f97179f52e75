//! `edge.toml`: the configuration file of fdfs-edge.
//!
//! Every table denies unknown keys. Durations are written `90s`, `5m`, `12h`, `30d` (also `500ms`),
//! sizes `300MiB`, `1GiB`, `64KiB` (also `k`/`m`/`g` and plain bytes). Errors carry the line of the
//! offending value.
//!
//! This file holds the tables and their defaults (each default written once: a serde default
//! function for a table with required keys, the table's `Default` for one without), `values.rs`
//! the value types, `check.rs` the checks serde cannot make and the line each error names.

mod access;
mod check;
mod images;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer};
use serde::Deserialize;

pub use check::{MAX_DURATION, MAX_THREADS};
pub use images::{parse_size, ImagesSection, PresetSection};
pub use values::{Addr, Cidr, Dur, OptDur, Size};

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
    #[serde(default)]
    pub access: Option<AccessSection>,
    #[serde(default)]
    pub peers: Option<PeersSection>,
    #[serde(default)]
    pub upload: Option<UploadSection>,
    #[serde(default)]
    pub tls: Option<TlsSection>,
    #[serde(default)]
    pub images: Option<ImagesSection>,
}

/// `[tls]`: HTTPS listeners (and HTTP/2 over them, by ALPN), the same service as `[server] listen`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub listen: Vec<Addr>,
    /// The certificate chain, PEM, leaf first (Let's Encrypt's `fullchain.pem`).
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// Offer HTTP/2 (ALPN `h2`) besides HTTP/1.1.
    #[serde(default = "default_true")]
    pub http2: bool,
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

/// Every key is optional: a key left out takes its value from `Default` (as does a missing table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSection {
    pub connect_timeout: Dur,
    pub read_timeout: Dur,
    pub write_timeout: Dur,
    pub max_fails: u32,
    pub fail_timeout: Dur,
    /// 0 = every storage of the group once.
    pub tries: usize,
}

impl Default for UpstreamSection {
    fn default() -> Self {
        let secs = |n| Dur(Duration::from_secs(n));
        UpstreamSection {
            connect_timeout: secs(90),
            read_timeout: secs(90),
            write_timeout: secs(90),
            max_fails: 3,
            fail_timeout: secs(30),
            tries: 0,
        }
    }
}

/// Every key is optional: a key left out takes its value from `Default` (as does a missing table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    pub enabled: bool,
    pub interval: Dur,
    pub timeout: Dur,
    pub path: String,
    pub fails: u32,
    pub passes: u32,
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection {
            enabled: true,
            interval: Dur(Duration::from_secs(5)),
            timeout: Dur(Duration::from_secs(2)),
            path: DEFAULT_HEALTH_PATH.to_string(),
            fails: 2,
            passes: 1,
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
    /// nginx `aio threads`: open and read cache files on a pool of threads, not on the worker.
    #[serde(default = "default_true")]
    pub aio_threads: bool,
}

/// Every key is optional: a key left out takes its value from `Default` (as does a missing table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseSection {
    /// `expires` like nginx: a duration, or `"off"`.
    pub expires: OptDur,
    /// nginx `gzip on`: compress responses of `gzip_types` for clients that accept gzip.
    pub gzip: bool,
    /// nginx `gzip_comp_level` (1-9).
    pub gzip_level: u32,
    /// nginx `gzip_types`; `text/html` is always included, as in nginx.
    pub gzip_types: Vec<String>,
    /// nginx `gzip_min_length`: smaller responses (by `Content-Length`) are sent as they are.
    pub gzip_min_length: Size,
    /// Origins (`https://app.example.com`, or `*`) whose pages may read the answers (CORS).
    pub cors_origins: Vec<String>,
    /// `?filename=<name>` gives `Content-Disposition: attachment` with the name (RFC 6266/5987).
    pub download_names: bool,
    /// A metadata key (`filename`) whose value names a file downloaded without `?filename=`,
    /// read from FastDFS through `[trackers]` when the file is cached.
    pub download_name_meta: Option<String>,
}

impl Default for ResponseSection {
    fn default() -> Self {
        let gzip_types = [
            "text/plain",
            "text/css",
            "text/xml",
            "text/javascript",
            "application/javascript",
            "application/json",
            "application/xml",
        ];
        ResponseSection {
            expires: OptDur(Some(Duration::from_secs(30 * 86_400))),
            gzip: false,
            gzip_level: 1,
            gzip_types: gzip_types.map(String::from).to_vec(),
            gzip_min_length: Size(20),
            cors_origins: Vec::new(),
            download_names: true,
            download_name_meta: None,
        }
    }
}

/// Every key is optional: a key left out takes its value from `Default` (as does a missing table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeSection {
    pub allow: Vec<Cidr>,
}

impl Default for PurgeSection {
    fn default() -> Self {
        PurgeSection {
            allow: vec![Cidr(IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])))],
        }
    }
}

/// `[access]`: who may download what (see `access`). Without the table every path is public.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSection {
    /// The policy of paths no rule names.
    #[serde(default)]
    pub default: PolicyName,
    /// How late (by the edge's clock) a signed URL or a token may still be used, and how far
    /// ahead a token's `ts` may be.
    #[serde(default = "default_skew")]
    pub skew: Dur,
    #[serde(default, rename = "key")]
    pub keys: Vec<KeySection>,
    #[serde(default)]
    pub token: Option<TokenSection>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSection>,
    /// The storages' `anti_steal_bypass_header_name` / `_value`: sent with the requests the edge
    /// checked, so storages that check tokens themselves let the edge's fetch through.
    #[serde(default)]
    pub storage_bypass_header: Option<BypassHeader>,
}

/// `public`, `signed` or `token`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyName {
    #[default]
    Public,
    Signed,
    Token,
}

/// `[[access.key]]`: a key of signed URLs, its secret in the file or (better) in a file of its own.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySection {
    pub id: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for KeySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySection")
            .field("id", &self.id)
            .field("secret_file", &self.secret_file)
            .finish_non_exhaustive()
    }
}

/// `[access.token]`: the storages' `http.anti_steal.secret_key` and `token_ttl`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    #[serde(default)]
    pub secret_key: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default = "default_token_ttl")]
    pub ttl: Dur,
}

impl std::fmt::Debug for TokenSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSection")
            .field("secret_file", &self.secret_file)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// `[[access.rule]]`: `prefix = "/group1/M00/private/"` or `group = "group2"`, and its policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    pub policy: PolicyName,
}

impl RuleSection {
    /// The path prefix the rule covers (a group is `/<group>/`).
    pub fn path_prefix(&self) -> String {
        match (&self.prefix, &self.group) {
            (Some(p), _) => p.clone(),
            (None, Some(g)) => format!("/{g}/"),
            (None, None) => String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BypassHeader {
    pub name: String,
    pub value: String,
}

/// `[peers]`: the other edges of the pair, which get every purge this edge accepts.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersSection {
    /// The proxy listen address of each other edge.
    pub edges: Vec<Addr>,
    /// The secret every edge of the pair shares (signs the purges between them).
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Where the purges not yet acknowledged are kept.
    #[serde(default = "default_queue_dir")]
    pub queue_dir: PathBuf,
    /// How often a purge is tried again while a peer does not take it.
    #[serde(default = "default_peer_retry")]
    pub retry: Dur,
    /// Connect, send and answer, per try.
    #[serde(default = "default_peer_timeout")]
    pub timeout: Dur,
}

impl std::fmt::Debug for PeersSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeersSection")
            .field("edges", &self.edges)
            .field("secret_file", &self.secret_file)
            .field("queue_dir", &self.queue_dir)
            .finish_non_exhaustive()
    }
}

/// `[upload]`: uploads (`PUT`, `POST` multipart) and deletes (`DELETE`) over HTTP, through the
/// trackers of `[trackers]`. Never open: each request needs a bearer token of `[[upload.bearer]]`
/// or a URL signed with a key of `[[access.key]]` for its method.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadSection {
    /// `DELETE /<file id>` deletes the file (and purges it, here and on the peers).
    #[serde(default = "default_true")]
    pub delete: bool,
    #[serde(default, rename = "bearer")]
    pub bearers: Vec<BearerSection>,
    /// A body of unknown length (chunked, multipart) goes to the storage in blocks of this size:
    /// an appender file, renamed to a normal id once complete.
    #[serde(default = "default_block_size")]
    pub block_size: Size,
    /// Uploads and deletes in progress per client address (more: 429).
    #[serde(default = "default_per_client")]
    pub max_concurrent_per_client: usize,
    /// Uploads and deletes a minute per client address, with a burst of as many (more: 429 with
    /// `Retry-After`); 0: no limit.
    #[serde(default = "default_per_minute")]
    pub requests_per_minute_per_client: u32,
    /// How long the signed URL of the answer is valid, for a group whose downloads are signed.
    #[serde(default = "default_url_ttl")]
    pub url_ttl: Dur,
    /// The largest resumable (tus) upload.
    #[serde(default = "default_tus_max_size")]
    pub tus_max_size: Size,
    /// How long a resumable upload may take from its creation (then: 410, deleted).
    #[serde(default = "default_tus_expires")]
    pub tus_expires: Dur,
    /// A finished resumable upload gets a normal file id (its appender file is renamed).
    #[serde(default = "default_true")]
    pub tus_rename: bool,
}

fn default_tus_max_size() -> Size {
    Size(4 << 30)
}
fn default_tus_expires() -> Dur {
    Dur(Duration::from_secs(86_400))
}

/// `[[upload.bearer]]`: a token an application sends as `Authorization: Bearer <token>`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerSection {
    pub id: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The groups it may upload into and delete from (`auto` = the trackers' choice); empty: all.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl std::fmt::Debug for BearerSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerSection")
            .field("id", &self.id)
            .field("token_file", &self.token_file)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

fn default_block_size() -> Size {
    Size(4 << 20)
}
fn default_per_client() -> usize {
    8
}
fn default_per_minute() -> u32 {
    1200
}
fn default_url_ttl() -> Dur {
    Dur(Duration::from_secs(3600))
}

/// The package's state directory (`/var/lib/fdfs-edge`, owned by the service's user).
pub const DEFAULT_QUEUE_DIR: &str = "/var/lib/fdfs-edge/peer-purges";

fn default_queue_dir() -> PathBuf {
    PathBuf::from(DEFAULT_QUEUE_DIR)
}
fn default_peer_retry() -> Dur {
    Dur(Duration::from_secs(2))
}
fn default_peer_timeout() -> Dur {
    Dur(Duration::from_secs(3))
}

fn default_skew() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_token_ttl() -> Dur {
    Dur(Duration::from_secs(600))
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
fn default_true() -> bool {
    true
}
/// The `location = /healthz` of the shipped storage nginx.conf: answered by nginx itself, so a
/// probe writes nothing to the storage's error log.
pub const DEFAULT_HEALTH_PATH: &str = "/healthz";

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

impl Config {
    /// Reads, parses and validates `path`, then reads the secret files it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let name = path.display().to_string();
        let mut cfg = Config::parse(&text, &name)?;
        cfg.read_secret_files()
            .and_then(|()| cfg.read_peer_secret())
            .and_then(|()| cfg.read_bearer_tokens())
            .map_err(|p| check::error_at(&text, &name, p))?;
        Ok(cfg)
    }

    /// Parses and validates a configuration text; `name` is used in messages.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_string(),
            line: e.span().map(|s| check::line_of(text, s.start)).unwrap_or(1),
            msg: e.message().trim().to_string(),
        })?;
        cfg.validate().map_err(|p| check::error_at(text, name, p))?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests;
