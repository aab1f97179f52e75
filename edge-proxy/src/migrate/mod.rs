//! `fdfs-edge migrate`: an `edge.toml` from the nginx configuration of a tracker node (nginx +
//! `proxy_cache` + `ngx_cache_purge`), with a comment on every directive that could not be mapped.
//!
//! The nginx upstream of such a node mixes the storages of every group in one pool; the edge routes
//! each `/groupN/` URL to the storages of that group. With `--tracker`, the trackers' answer splits the
//! upstream's storages into `[[group]]` tables; without, the file uses `[trackers]` discovery.

mod convert;
pub mod nginx_conf;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use fdfs_client::client::{Client, ServerAddr};

pub use convert::{convert, MigrateError, Migration, Options};

/// Groups and their storages' IPs as the trackers list them.
pub async fn tracker_groups(
    trackers: &[SocketAddr],
    timeout: Duration,
) -> Result<Vec<(String, Vec<IpAddr>)>, String> {
    let client = Client::builder()
        .trackers(trackers.iter().map(|a| ServerAddr::from(*a)))
        .connect_timeout(timeout)
        .network_timeout(timeout)
        .use_connection_pool(false)
        .build()
        .map_err(|e| e.to_string())?;
    let cluster = client.cluster().await.map_err(|e| e.to_string())?;
    Ok(cluster
        .into_iter()
        .map(|g| {
            let ips = g
                .storages
                .iter()
                .filter_map(|s| s.ip_addr.trim().parse::<IpAddr>().ok())
                .collect();
            (g.stat.group_name.clone(), ips)
        })
        .collect())
}

/// The trackers named in a FastDFS `client.conf` (`tracker_server = ip:port` lines).
pub fn client_conf_trackers(path: &Path) -> Result<Vec<SocketAddr>, String> {
    let conf = fdfs_client::conf::ClientConf::load(path).map_err(|e| e.to_string())?;
    conf.tracker_servers
        .iter()
        .map(|t| {
            let ip = t.host().parse::<IpAddr>().map_err(|_| {
                format!(
                    "{}: tracker_server {t}: an IP address is needed (names are not resolved)",
                    path.display()
                )
            })?;
            Ok(SocketAddr::new(ip, t.port.unwrap_or(22122)))
        })
        .collect()
}

/// The whole command: read, ask the trackers if given, convert.
pub fn run(
    nginx_conf: &Path,
    trackers: &[SocketAddr],
    client_conf: Option<&Path>,
) -> Result<Migration, String> {
    let parsed = nginx_conf::parse_file(nginx_conf).map_err(|e| e.to_string())?;
    let mut opts = Options {
        trackers: trackers.to_vec(),
        tracker_groups: None,
    };
    if trackers.is_empty() {
        if let Some(path) = client_conf {
            opts.trackers = client_conf_trackers(path)?;
        }
    } else {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let groups = rt
            .block_on(tracker_groups(trackers, Duration::from_secs(5)))
            .map_err(|e| format!("asking the trackers for their groups: {e}"))?;
        opts.tracker_groups = Some(groups);
    }
    convert(&parsed, &opts).map_err(|e| e.to_string())
}
