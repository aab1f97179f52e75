//! `client.conf` (`fdfs_client_init`): what the async client and the `fdfs` tool need.

use std::path::{Path, PathBuf};

use super::addr::AddrSpec;
use super::error::ConfError;
use super::http::HttpConf;
use super::ini::{resolve_in, Ini};
use crate::addr::DEFAULT_TRACKER_PORT;

/// The usual client.conf path.
pub const DEFAULT_PATH: &str = "/etc/fdfs/client.conf";

/// client.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConf {
    /// The file it was read from.
    pub file: String,
    /// `connect_timeout` in seconds (10; ≤ 0 → default).
    pub connect_timeout: i64,
    /// `network_timeout` in seconds (30; ≤ 0 → default).
    pub network_timeout: i64,
    /// `base_path` (logs and temp files of the C client).
    pub base_path: Option<PathBuf>,
    /// `tracker_server` (repeatable, at least one; port defaults to 22122).
    pub tracker_servers: Vec<AddrSpec>,
    /// `log_level` as written (`info` if absent).
    pub log_level: String,
    /// `use_connection_pool` (false).
    pub use_connection_pool: bool,
    /// `connection_pool_max_idle_time` in seconds (3600).
    pub connection_pool_max_idle_time: i64,
    /// `load_fdfs_parameters_from_tracker` (false).
    pub load_fdfs_parameters_from_tracker: bool,
    /// `use_storage_id` (false; ignored when loading parameters from the tracker).
    pub use_storage_id: bool,
    /// `storage_ids_filename`, resolved relative to the config directory.
    pub storage_ids_filename: Option<PathBuf>,
    /// `http.tracker_server_port` (80).
    pub http_tracker_server_port: u16,
    /// `http.*` keys (from an `#include http.conf`, if any); not validated.
    pub http: HttpConf,
}

impl ClientConf {
    /// Load from a path.
    pub fn load(path: impl AsRef<Path>) -> Result<ClientConf, ConfError> {
        Self::from_ini(&Ini::load(path)?)
    }

    /// Parse text as if it were the file `name`.
    pub fn parse_str(text: &str, name: &str) -> Result<ClientConf, ConfError> {
        Self::from_ini(&Ini::parse_str(text, name)?)
    }

    /// Build from a parsed ini.
    pub fn from_ini(ini: &Ini) -> Result<ClientConf, ConfError> {
        let g = ini.global();
        let pos = |key: &str, default: i64| -> Result<i64, ConfError> {
            let v = g.get_duration_secs(key)?.unwrap_or(default);
            Ok(if v <= 0 { default } else { v })
        };
        let mut tracker_servers = Vec::new();
        for e in g.all("tracker_server") {
            let mut a = AddrSpec::parse(&e.value).map_err(|m| e.error(m))?;
            a.port.get_or_insert(DEFAULT_TRACKER_PORT);
            tracker_servers.push(a);
        }
        if tracker_servers.is_empty() {
            return Err(ini.missing(
                "tracker_server",
                "required: expected at least one \"host:port\"",
            ));
        }
        let dir = ini.dir();
        Ok(ClientConf {
            file: ini.file.clone(),
            connect_timeout: pos("connect_timeout", 10)?,
            network_timeout: pos("network_timeout", 30)?,
            base_path: g.get_nonempty("base_path").map(PathBuf::from),
            tracker_servers,
            log_level: g.get_nonempty("log_level").unwrap_or("info").to_owned(),
            use_connection_pool: g.get_bool("use_connection_pool", false),
            connection_pool_max_idle_time: pos("connection_pool_max_idle_time", 3600)?,
            load_fdfs_parameters_from_tracker: g
                .get_bool("load_fdfs_parameters_from_tracker", false),
            use_storage_id: g.get_bool("use_storage_id", false),
            storage_ids_filename: g
                .get_nonempty("storage_ids_filename")
                .map(|v| resolve_in(&dir, v)),
            http_tracker_server_port: g.get_port("http.tracker_server_port", 80)?,
            http: HttpConf::from_ini(ini)?,
        })
    }
}
