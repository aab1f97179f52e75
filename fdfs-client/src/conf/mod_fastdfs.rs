//! `mod_fastdfs.conf` (§4.1), including its `#include http.conf` and `[groupN]` sections, plus
//! the new `storage_peers` key.

use std::path::{Path, PathBuf};

use super::addr::AddrSpec;
use super::error::ConfError;
use super::http::HttpConf;
use super::ini::{resolve_in, Entry, Ini, Section};
use crate::addr::DEFAULT_TRACKER_PORT;

/// The C module's default config path.
pub const DEFAULT_PATH: &str = "/etc/fdfs/mod_fastdfs.conf";
/// Default `storage_server_port`.
pub const DEFAULT_STORAGE_SERVER_PORT: u16 = 23000;
/// At most this many store paths (the index is two hex digits).
pub const MAX_STORE_PATHS: usize = 256;
/// At most this many `if_alias_prefix` prefixes.
pub const MAX_ALIAS_PREFIXES: usize = 4;

/// `response_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResponseMode {
    /// Forward the request to the source storage (default).
    #[default]
    Proxy,
    /// Answer 302 to the source storage.
    Redirect,
}

/// `log_level` values (libfastcommon names; `warn` is accepted for `warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Error,
    Warning,
    Notice,
    /// Default.
    #[default]
    Info,
    Debug,
}

impl LogLevel {
    /// Parse a level name, case-insensitive.
    pub fn parse(v: &str) -> Option<LogLevel> {
        Some(match v.trim().to_ascii_lowercase().as_str() {
            "emerg" | "emergency" => LogLevel::Emerg,
            "alert" => LogLevel::Alert,
            "crit" | "critical" => LogLevel::Crit,
            "err" | "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warning,
            "notice" => LogLevel::Notice,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => return None,
        })
    }
}

/// One served group: the global keys in single-group mode, or a `[groupN]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConf {
    /// The section it came from (`""` in single-group mode, else `group1`…).
    pub section: String,
    /// `group_name`.
    pub group_name: String,
    /// `storage_server_port` (23000).
    pub storage_server_port: u16,
    /// `store_path0..store_path{count-1}` (`store_path_count`, default 1). In single-group mode
    /// store_path0 defaults to `base_path`.
    pub store_paths: Vec<PathBuf>,
    /// `store_path{N}_readonly` for each store path (false; parsed but unused by the C module).
    pub store_paths_readonly: Vec<bool>,
    /// The file and line of its `group_name` (for warnings about it; 0 when unknown).
    pub group_name_at: (String, usize),
}

/// The `anti_steal_bypass_header_name` / `_value` pair (v1.27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BypassHeader {
    /// Header name, matched case-insensitively.
    pub name: String,
    /// Value, byte-compared (empty if not set).
    pub value: String,
}

/// Everything mod_fastdfs.conf says (code defaults of the C module where a key is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModFastdfsConf {
    /// The file it was read from.
    pub file: String,
    /// `connect_timeout` (10 s; ≤ 0 → default).
    pub connect_timeout: i64,
    /// `network_timeout` (30 s; ≤ 0 → default).
    pub network_timeout: i64,
    /// `base_path` (required in single-group mode).
    pub base_path: Option<PathBuf>,
    /// `load_fdfs_parameters_from_tracker` (false).
    pub load_fdfs_parameters_from_tracker: bool,
    /// `storage_sync_file_max_delay` (86400 s).
    pub storage_sync_file_max_delay: i64,
    /// `use_storage_id` (false).
    pub use_storage_id: bool,
    /// `storage_ids_filename`, resolved relative to the config directory.
    pub storage_ids_filename: Option<PathBuf>,
    /// `tracker_server` (repeatable). Required only when loading parameters from the tracker.
    pub tracker_servers: Vec<AddrSpec>,
    /// Global `storage_server_port` (23000).
    pub storage_server_port: u16,
    /// `url_have_group_name` (false).
    pub url_have_group_name: bool,
    /// `log_level` (info).
    pub log_level: LogLevel,
    /// `log_filename` (empty → stderr).
    pub log_filename: Option<PathBuf>,
    /// `response_mode` (proxy).
    pub response_mode: ResponseMode,
    /// `if_alias_prefix`: up to 4 comma-separated device name prefixes (empty = all interfaces).
    pub if_alias_prefix: Vec<String>,
    /// `flv_support` (false).
    pub flv_support: bool,
    /// `flv_extension` (`flv`).
    pub flv_extension: String,
    /// `group_count` (0 = single-group mode).
    pub group_count: usize,
    /// The served groups: one in single-group mode, else `[group1]..[group{group_count}]`.
    pub groups: Vec<GroupConf>,
    /// `anti_steal_bypass_header_name` / `_value`.
    pub anti_steal_bypass_header: Option<BypassHeader>,
    /// NEW: `storage_peers = ip[:port], ...` (repeatable): the cluster members this node may proxy or
    /// redirect to.
    pub storage_peers: Vec<AddrSpec>,
    /// NEW: `allow_unknown_peers` (false): when no member list is known (no `storage_peers`, no
    /// storage ids, no tracker answer), forward to whatever source address a file id names, like the
    /// C module. Off by default: a forged id could make the node fetch from any address (SSRF).
    pub allow_unknown_peers: bool,
    /// NEW: `tracker_at_config_test` (false): `nginx -t` asks the trackers too (by default it uses
    /// the cached last answer only, so a hung tracker cannot stall a config test).
    pub tracker_at_config_test: bool,
    /// The `http.*` keys (usually from `#include http.conf`).
    pub http: HttpConf,
    /// Things worth logging that do not stop the C module: ignored lines and boolean values that are
    /// read as false without being a recognised spelling (`flv_support = ture`).
    pub warnings: Vec<ConfError>,
}

/// The boolean keys of mod_fastdfs.conf and http.conf.
pub const BOOL_KEYS: &[&str] = &[
    "load_fdfs_parameters_from_tracker",
    "use_storage_id",
    "url_have_group_name",
    "flv_support",
    "http.disabled",
    "http.need_find_content_type",
    "http.multi_range.enabled",
    "http.multi_range.enabed",
    "http.anti_steal.check_token",
    "allow_unknown_peers",
    "tracker_at_config_test",
];

fn int_key(s: &Section, key: &str, default: i64) -> Result<i64, ConfError> {
    Ok(s.get_int(key)?.unwrap_or(default))
}

fn positive_or_default(s: &Section, key: &str, default: i64) -> Result<i64, ConfError> {
    let v = int_key(s, key, default)?;
    Ok(if v <= 0 { default } else { v })
}

fn store_paths(
    ini: &Ini,
    s: &Section,
    base_path: Option<&PathBuf>,
    what: &str,
) -> Result<Vec<PathBuf>, ConfError> {
    let count = match s.entry("store_path_count") {
        Some(e) if !e.value.is_empty() => {
            let n = e.as_int()?;
            usize::try_from(n)
                .ok()
                .filter(|&c| (1..=MAX_STORE_PATHS).contains(&c))
                .ok_or_else(|| e.error(format!("expected 1..{MAX_STORE_PATHS}, got {n}")))?
        }
        _ => 1,
    };
    let mut paths = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("store_path{i}");
        match (s.get_nonempty(&key), i, base_path) {
            (Some(v), _, _) => {
                // Like the C loader, drop a trailing '/' (but keep "/").
                let t = v.trim_end_matches('/');
                paths.push(PathBuf::from(if t.is_empty() { "/" } else { t }));
            }
            (None, 0, Some(b)) => paths.push(b.clone()),
            (None, _, _) => {
                return Err(ini.missing(
                    &key,
                    format!(
                        "required{what}: store_path_count is {count}, expected a directory path"
                    ),
                ))
            }
        }
    }
    Ok(paths)
}

fn readonly_flags(s: &Section) -> Vec<bool> {
    let count = s
        .get_int("store_path_count")
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1)
        .min(MAX_STORE_PATHS);
    (0..count)
        .map(|i| s.get_bool(&format!("store_path{i}_readonly"), false))
        .collect()
}

fn bad(e: &Entry, expected: &str) -> ConfError {
    e.error(format!("expected {expected}, got {:?}", e.value))
}

impl ModFastdfsConf {
    /// Load from a path (includes resolved relative to it).
    pub fn load(path: impl AsRef<Path>) -> Result<ModFastdfsConf, ConfError> {
        Self::from_ini(&Ini::load(path)?)
    }

    /// Parse text as if it were the file `name` (includes are read from disk relative to `name`).
    pub fn parse_str(text: &str, name: &str) -> Result<ModFastdfsConf, ConfError> {
        Self::from_ini(&Ini::parse_str(text, name)?)
    }

    /// Build from a parsed ini, with the C module's startup checks. The helpers run in the order the
    /// keys were always checked, so the first error reported for a bad file stays the same.
    pub fn from_ini(ini: &Ini) -> Result<ModFastdfsConf, ConfError> {
        let g = ini.global();
        let base_path = g.get_nonempty("base_path").map(PathBuf::from);
        let response_mode = response_mode(g)?;
        let log_level = log_level(g)?;
        let (tracker_servers, storage_peers) = peer_lists(g)?;
        let if_alias_prefix = if_alias_prefix(g)?;
        let group_count = group_count(g)?;
        let url_have_group_name = g.get_bool("url_have_group_name", false);
        let storage_server_port = g.get_port("storage_server_port", DEFAULT_STORAGE_SERVER_PORT)?;
        let load_from_tracker = g.get_bool("load_fdfs_parameters_from_tracker", false);

        let groups = if group_count == 0 {
            vec![single_group(ini, base_path.as_ref(), storage_server_port)?]
        } else {
            section_groups(ini, group_count, url_have_group_name)?
        };

        if load_from_tracker && tracker_servers.is_empty() {
            return Err(ini.missing(
                "tracker_server",
                "required when load_fdfs_parameters_from_tracker is true: expected host:port",
            ));
        }

        let http = HttpConf::from_ini(ini)?;
        http.validate(ini)?;

        Ok(ModFastdfsConf {
            file: ini.file.clone(),
            connect_timeout: positive_or_default(g, "connect_timeout", 10)?,
            network_timeout: positive_or_default(g, "network_timeout", 30)?,
            base_path,
            load_fdfs_parameters_from_tracker: load_from_tracker,
            storage_sync_file_max_delay: match g.entry("storage_sync_file_max_delay") {
                Some(e) if !e.value.is_empty() => e.as_duration_secs()?,
                _ => 86400,
            },
            use_storage_id: g.get_bool("use_storage_id", false),
            storage_ids_filename: g
                .get_nonempty("storage_ids_filename")
                .map(|v| resolve_in(&ini.dir(), v)),
            tracker_servers,
            storage_server_port,
            url_have_group_name,
            log_level,
            log_filename: g.get_nonempty("log_filename").map(PathBuf::from),
            response_mode,
            if_alias_prefix,
            flv_support: g.get_bool("flv_support", false),
            flv_extension: g.get_nonempty("flv_extension").unwrap_or("flv").to_owned(),
            group_count,
            groups,
            anti_steal_bypass_header: bypass_header(g),
            storage_peers,
            allow_unknown_peers: g.get_bool("allow_unknown_peers", false),
            tracker_at_config_test: g.get_bool("tracker_at_config_test", false),
            http,
            warnings: warnings(ini),
        })
    }

    /// The group config whose `group_name` byte-equals `name`.
    pub fn group(&self, name: &str) -> Option<&GroupConf> {
        self.groups.iter().find(|g| g.group_name == name)
    }

    /// True when several groups are served (`group_count > 0`).
    pub fn is_multi_group(&self) -> bool {
        self.group_count > 0
    }
}

/// Where `key` of section `s` was written (file, line); the top file and 0 when absent.
fn entry_at(ini: &Ini, s: &Section, key: &str) -> (String, usize) {
    s.entry(key)
        .map_or_else(|| (ini.file.clone(), 0), |e| (e.file.clone(), e.line))
}

fn check_group_name(s: &Section, name: &str) -> Result<(), ConfError> {
    let max = crate::file_id::GROUP_NAME_MAX_LEN;
    if name.len() > max || name.contains('/') {
        if let Some(e) = s.entry("group_name") {
            return Err(e.error(format!(
                "expected at most {max} chars without '/', got {name:?}"
            )));
        }
    }
    Ok(())
}

/// `response_mode`: proxy (default, also when empty) or redirect.
fn response_mode(g: &Section) -> Result<ResponseMode, ConfError> {
    match g.entry("response_mode") {
        None => Ok(ResponseMode::Proxy),
        Some(e) => match e.value.as_str() {
            "proxy" | "" => Ok(ResponseMode::Proxy),
            "redirect" => Ok(ResponseMode::Redirect),
            _ => Err(bad(e, "\"proxy\" or \"redirect\"")),
        },
    }
}

/// `log_level` (info when absent or empty).
fn log_level(g: &Section) -> Result<LogLevel, ConfError> {
    match g.entry("log_level") {
        Some(e) if !e.value.is_empty() => LogLevel::parse(&e.value).ok_or_else(|| {
            bad(
                e,
                "one of emerg, alert, crit, error, warn, notice, info, debug",
            )
        }),
        _ => Ok(LogLevel::Info),
    }
}

/// The repeatable address keys: `tracker_server` (default port filled in) and `storage_peers`.
fn peer_lists(g: &Section) -> Result<(Vec<AddrSpec>, Vec<AddrSpec>), ConfError> {
    let mut tracker_servers = Vec::new();
    for e in g.all("tracker_server") {
        let mut a = AddrSpec::parse(&e.value).map_err(|m| e.error(m))?;
        a.port.get_or_insert(DEFAULT_TRACKER_PORT);
        tracker_servers.push(a);
    }
    let mut storage_peers = Vec::new();
    for e in g.all("storage_peers") {
        storage_peers.extend(AddrSpec::parse_list(&e.value).map_err(|m| e.error(m))?);
    }
    Ok((tracker_servers, storage_peers))
}

/// `if_alias_prefix`: at most [`MAX_ALIAS_PREFIXES`] comma-separated prefixes.
fn if_alias_prefix(g: &Section) -> Result<Vec<String>, ConfError> {
    let Some(e) = g.entry("if_alias_prefix").filter(|e| !e.value.is_empty()) else {
        return Ok(Vec::new());
    };
    let v: Vec<String> = e
        .value
        .split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if v.len() > MAX_ALIAS_PREFIXES {
        return Err(e.error(format!(
            "expected at most {MAX_ALIAS_PREFIXES} comma-separated prefixes, got {}",
            v.len()
        )));
    }
    Ok(v)
}

/// `group_count` (0, single-group mode, when absent or empty).
fn group_count(g: &Section) -> Result<usize, ConfError> {
    match g.entry("group_count") {
        Some(e) if !e.value.is_empty() => {
            let n = e.as_int()?;
            usize::try_from(n).map_err(|_| {
                e.error(format!(
                    "expected 0 or a positive number of groups, got {n}"
                ))
            })
        }
        _ => Ok(0),
    }
}

/// Single-group mode: the global keys describe the group; `base_path` is required and is
/// store_path0's default.
fn single_group(
    ini: &Ini,
    base_path: Option<&PathBuf>,
    storage_server_port: u16,
) -> Result<GroupConf, ConfError> {
    let g = ini.global();
    let group_name = g.get_nonempty("group_name").ok_or_else(|| {
        ini.missing(
            "group_name",
            "required when group_count is 0: expected the local group name",
        )
    })?;
    check_group_name(g, group_name)?;
    let Some(bp) = base_path else {
        return Err(ini.missing(
            "base_path",
            "required in single-group mode: expected a directory path",
        ));
    };
    Ok(GroupConf {
        section: String::new(),
        group_name: group_name.to_owned(),
        storage_server_port,
        store_paths: store_paths(ini, g, Some(bp), "")?,
        store_paths_readonly: readonly_flags(g),
        group_name_at: entry_at(ini, g, "group_name"),
    })
}

/// Multi-group mode: `[group1]..[group{group_count}]`, which needs `url_have_group_name = true`.
fn section_groups(
    ini: &Ini,
    group_count: usize,
    url_have_group_name: bool,
) -> Result<Vec<GroupConf>, ConfError> {
    if !url_have_group_name {
        return Err(match ini.global().entry("url_have_group_name") {
            Some(e) => e.error(format!(
                "expected true when group_count is {group_count}, got {:?}",
                e.value
            )),
            None => ini.missing(
                "url_have_group_name",
                format!("must be true when group_count is {group_count}"),
            ),
        });
    }
    (1..=group_count)
        .map(|i| section_group(ini, &format!("group{i}"), group_count))
        .collect()
}

/// One `[groupN]` section.
fn section_group(ini: &Ini, name: &str, group_count: usize) -> Result<GroupConf, ConfError> {
    let s = ini.section(name).ok_or_else(|| {
        ini.missing(
            &format!("[{name}]"),
            format!("section required: group_count is {group_count}"),
        )
    })?;
    let group_name = s.get_nonempty("group_name").ok_or_else(|| {
        ini.missing(
            &format!("[{name}] group_name"),
            "required: expected the group name",
        )
    })?;
    check_group_name(s, group_name)?;
    Ok(GroupConf {
        section: name.to_owned(),
        group_name: group_name.to_owned(),
        storage_server_port: s.get_port("storage_server_port", DEFAULT_STORAGE_SERVER_PORT)?,
        store_paths: store_paths(ini, s, None, &format!(" in [{name}]"))?,
        store_paths_readonly: readonly_flags(s),
        group_name_at: entry_at(ini, s, "group_name"),
    })
}

/// `anti_steal_bypass_header_name` / `_value` (the value is empty when only the name is set).
fn bypass_header(g: &Section) -> Option<BypassHeader> {
    g.get_nonempty("anti_steal_bypass_header_name")
        .map(|name| BypassHeader {
            name: name.to_owned(),
            value: g
                .get("anti_steal_bypass_header_value")
                .unwrap_or("")
                .to_owned(),
        })
}

/// The loader's warnings, then per section the booleans that read as false without being a
/// recognised spelling (the fixed keys, then any `store_pathN_readonly`).
fn warnings(ini: &Ini) -> Vec<ConfError> {
    let mut warnings = ini.warnings.clone();
    for sec in &ini.sections {
        warnings.extend(sec.bool_warnings(BOOL_KEYS));
        let ro: Vec<String> = (0..MAX_STORE_PATHS)
            .map(|i| format!("store_path{i}_readonly"))
            .filter(|k| sec.contains(k))
            .collect();
        let ro: Vec<&str> = ro.iter().map(String::as_str).collect();
        warnings.extend(sec.bool_warnings(&ro));
    }
    warnings
}
