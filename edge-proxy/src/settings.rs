//! From the file to the runtime: what each part of the edge takes out of [`Config`] (Pingora's
//! server configuration, the proxy's settings, the disk cache's options, tracker discovery).
//! Pure mappings, no I/O: `server::run` opens and starts things with them.

use std::net::SocketAddr;

use pingora::server::configuration::{Opt, ServerConf};

use crate::access::{Access, KeySet, Policy, Rule, TokenCheck};
use crate::background::LISTEN_DEADLINE;
use crate::cache::disk::DiskCacheOptions;
use crate::config::{Config, PolicyName};
use crate::discovery::{Discovery, GroupList};
use crate::proxy::{EdgeSettings, Gzip};
use crate::server::RunFlags;

/// `-d` on the command line or `daemon = true` in the file.
pub(crate) fn daemon(cfg: &Config, flags: RunFlags) -> bool {
    flags.daemon || cfg.server.daemon
}

/// The configured `[[group]]`s as (name, [(storage, weight)]).
pub(crate) fn static_groups(cfg: &Config) -> GroupList {
    cfg.groups
        .iter()
        .map(|g| {
            let storages = g.storages.iter().map(|s| (s.addr(), s.weight())).collect();
            (g.name.clone(), storages)
        })
        .collect()
}

/// The proxy's listen addresses, plain and TLS.
pub(crate) fn proxy_addrs(cfg: &Config) -> Vec<SocketAddr> {
    let tls = cfg.tls.iter().flat_map(|t| &t.listen);
    cfg.server.listen.iter().chain(tls).map(|a| a.0).collect()
}

/// The proxy and admin listen addresses.
pub(crate) fn listen_addrs(cfg: &Config) -> Vec<SocketAddr> {
    let mut v = proxy_addrs(cfg);
    v.extend(cfg.admin.as_ref().map(|a| a.listen.0));
    v
}

/// Pingora's command-line options: only the switches that matter to it.
pub(crate) fn pingora_opt(cfg: &Config, flags: RunFlags) -> Opt {
    Opt {
        upgrade: flags.upgrade,
        daemon: daemon(cfg, flags),
        nocapture: false,
        test: false,
        conf: None,
    }
}

/// Pingora's server configuration (what its YAML file would hold).
pub(crate) fn pingora_conf(cfg: &Config, flags: RunFlags) -> ServerConf {
    let s = &cfg.server;
    let daemon = daemon(cfg, flags);
    ServerConf {
        threads: s.threads,
        daemon,
        grace_period_seconds: Some(s.grace_period.0.as_secs()),
        graceful_shutdown_timeout_seconds: Some(s.graceful_shutdown_timeout.0.as_secs()),
        upstream_keepalive_pool_size: s.upstream_keepalive_pool,
        user: s.user.clone(),
        group: s.group.clone(),
        error_log: s.error_log.as_ref().map(|p| p.display().to_string()),
        pid_file: s.pid_file().display().to_string(),
        upgrade_sock: s.upgrade_sock().display().to_string(),
        // The `-d` parent exits 0 only once the child listens (the background service sends it
        // SIGUSR1), and 1 if the child dies first or is not ready in time.
        daemon_wait_for_ready: daemon,
        daemon_ready_timeout_seconds: std::num::NonZeroU64::new(LISTEN_DEADLINE.as_secs() + 20),
        ..ServerConf::default()
    }
}

/// The disk cache's options.
pub(crate) fn cache_options(cfg: &Config) -> DiskCacheOptions {
    let c = &cfg.cache;
    DiskCacheOptions {
        dir: c.dir.clone(),
        max_size: c.max_size.0,
        memory_size: c.memory_size.0,
        memory_object_size: c.memory_object_size.0,
        aio_threads: c.aio_threads,
        hit_headers: crate::proxy::hit_headers(cfg.response.expires.0),
    }
}

/// The proxy's settings.
pub(crate) fn edge_settings(cfg: &Config) -> EdgeSettings {
    let (s, u, c, r) = (&cfg.server, &cfg.upstream, &cfg.cache, &cfg.response);
    EdgeSettings {
        valid: c.valid.0,
        stale_if_error: c.stale_if_error.0,
        expires: r.expires.0,
        purge_allow: cfg.purge.allow.iter().map(|c| c.0).collect(),
        connect_timeout: u.connect_timeout.0,
        read_timeout: u.read_timeout.0,
        write_timeout: u.write_timeout.0,
        max_tries: u.tries,
        client_max_body_size: s.client_max_body_size.0,
        max_header_size: usize::try_from(s.max_header_size.0).unwrap_or(usize::MAX),
        client_body_timeout: s.client_body_timeout.0,
        lock_timeout: c.lock_timeout.0,
        max_object_size: c.max_object_size.map(|s| s.0),
        // The fast path answers from the memory tier: nothing to answer from without one.
        fast_path: c.fast_path && c.memory_size.0 > 0,
        gzip: r
            .gzip
            .then(|| Gzip::new(r.gzip_level, &r.gzip_types, r.gzip_min_length.0)),
        access: access(cfg),
        cors_origins: r.cors_origins.clone(),
        download_names: r.download_names,
        download_name_meta: r.download_name_meta.clone(),
    }
}

fn policy(p: PolicyName) -> Policy {
    match p {
        PolicyName::Public => Policy::Public,
        PolicyName::Signed => Policy::Signed,
        PolicyName::Token => Policy::Token,
    }
}

/// `[access]` (secrets already read from their files by `Config::load`); every path is public
/// without the table.
pub(crate) fn access(cfg: &Config) -> Access {
    let Some(a) = &cfg.access else {
        return Access::default();
    };
    let rules = a
        .rules
        .iter()
        .map(|r| Rule {
            prefix: r.path_prefix(),
            policy: policy(r.policy),
        })
        .collect();
    let keys = a
        .keys
        .iter()
        .map(|k| {
            (
                k.id.clone(),
                k.secret.clone().unwrap_or_default().into_bytes(),
            )
        })
        .collect();
    let skew = i64::try_from(a.skew.0.as_secs()).unwrap_or(i64::MAX);
    let mut access = Access::new(policy(a.default), rules, KeySet::new(keys), skew);
    access.token = a.token.as_ref().map(|t| TokenCheck {
        secret: t.secret_key.clone().unwrap_or_default(),
        ttl: i64::try_from(t.ttl.0.as_secs()).unwrap_or(i64::MAX),
    });
    access.bypass_header = a
        .storage_bypass_header
        .as_ref()
        .map(|h| (h.name.clone(), h.value.clone()));
    access
}

/// A FastDFS client on the trackers of `[trackers]` (uploads, deletes, download names from
/// metadata); connections are made when first needed.
pub(crate) fn fdfs_client(cfg: &Config) -> Option<fdfs_client::client::Client> {
    let t = cfg.trackers.as_ref()?;
    let trackers = t
        .servers
        .iter()
        .map(|a| fdfs_client::client::ServerAddr::new(a.0.ip().to_string(), a.0.port()));
    fdfs_client::client::Client::builder()
        .trackers(trackers)
        .connect_timeout(cfg.upstream.connect_timeout.0)
        .network_timeout(cfg.upstream.read_timeout.0)
        .build()
        .ok()
}

/// `[upload]` (bearer tokens already read from their files by `Config::load`), with a FastDFS
/// client on the trackers of `[trackers]`.
pub(crate) fn gateway(
    cfg: &Config,
    client: Option<fdfs_client::client::Client>,
) -> Option<crate::gateway::Gateway> {
    let u = cfg.upload.as_ref()?;
    let client = client?;
    let bearers = u
        .bearers
        .iter()
        .map(|b| crate::gateway::auth::Bearer {
            id: b.id.clone(),
            token: b.token.clone().unwrap_or_default().into_bytes(),
            groups: b.groups.clone(),
        })
        .collect();
    let settings = crate::gateway::GatewaySettings {
        bearers,
        delete: u.delete,
        block: usize::try_from(u.block_size.0).unwrap_or(4 << 20),
        url_ttl: i64::try_from(u.url_ttl.0.as_secs()).unwrap_or(i64::MAX),
        tus: crate::gateway::TusSettings {
            max_size: u.tus_max_size.0,
            expires: i64::try_from(u.tus_expires.0.as_secs()).unwrap_or(i64::MAX),
            rename: u.tus_rename,
        },
        max_per_client: u.max_concurrent_per_client,
        per_minute: u.requests_per_minute_per_client,
    };
    Some(crate::gateway::Gateway::new(client, settings))
}

/// The internal sockets of `[images]`, named after the upgrade socket and beside it (a directory
/// only the edge's user writes, checked at start; two edges never share an upgrade socket):
/// `upgrade.sock` gives `upgrade.images.sock` and `upgrade.origin.sock`.
fn images_sockets(cfg: &Config) -> (std::path::PathBuf, std::path::PathBuf) {
    let upgrade = cfg.server.upgrade_sock();
    let stem = upgrade
        .file_stem()
        .map_or("fdfs-edge".into(), |s| s.to_string_lossy().into_owned());
    let name = |kind: &str| upgrade.with_file_name(format!("{stem}.{kind}.sock"));
    (name("images"), name("origin"))
}

/// `[images]`, with the secret `secret` of the internal header.
pub(crate) fn images(cfg: &Config, secret: String) -> Option<crate::images::Images> {
    use crate::images::params::Fit;
    let i = cfg.images.as_ref()?;
    let (service_socket, origin_socket) = images_sockets(cfg);
    let workers = match i.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    Some(crate::images::Images {
        // checked when the file was read
        presets: i
            .presets
            .iter()
            .filter_map(|(n, p)| p.preset().ok().map(|p| (n.clone(), p)))
            .collect(),
        unsigned_sizes: i.unsigned_sizes,
        suffix: (!i.suffix_sizes.is_empty()).then(|| crate::images::Suffix {
            sizes: i
                .suffix_sizes
                .iter()
                .filter_map(|s| crate::config::parse_size(s))
                .collect(),
            fit: Fit::parse(&i.suffix_fit).unwrap_or(Fit::Inside),
        }),
        quality: i.quality,
        max_side: i.max_side,
        limits: crate::images::render::SourceLimits {
            max_pixels: i.max_source_pixels,
        },
        max_source_bytes: i.max_source_bytes.0,
        pool: crate::images::pool::Pool::new(workers, i.queue),
        service_socket,
        origin_socket,
        secret,
    })
}

/// `[peers]` (its secret already read from its file by `Config::load`).
pub(crate) fn peers(cfg: &Config) -> Option<crate::peers::PeersSettings> {
    cfg.peers.as_ref().map(|p| crate::peers::PeersSettings {
        edges: p.edges.iter().map(|a| a.0).collect(),
        secret: p.secret.clone().unwrap_or_default().into_bytes(),
        queue_dir: p.queue_dir.clone(),
        retry: p.retry.0,
        timeout: p.timeout.0,
    })
}

/// Tracker discovery, when the file has a `[trackers]` table.
pub(crate) fn discovery(cfg: &Config) -> Option<Discovery> {
    cfg.trackers.as_ref().map(|t| Discovery {
        trackers: t.servers.iter().map(|a| a.0).collect(),
        refresh: t.refresh.0,
        timeout: t.timeout.0,
        http_port: t.http_port,
        static_groups: static_groups(cfg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[server]
listen = ["127.0.0.1:8080"]
daemon = true
max_header_size = "16KiB"

[admin]
listen = "127.0.0.1:9900"

[[group]]
name = "group1"
storages = ["10.0.0.1:80", { addr = "10.0.0.2:80", weight = 2 }]

[trackers]
servers = ["10.0.0.9:22122"]

[cache]
dir = "/tmp/x"
memory_size = 0

[response]
gzip = true
"#;

    #[test]
    fn the_file_reaches_each_part() {
        let cfg = Config::parse(FILE, "t").expect("parses");
        let flags = RunFlags::default();
        let conf = pingora_conf(&cfg, flags);
        assert!(conf.daemon && conf.daemon_wait_for_ready, "daemon = true");
        assert!(pingora_opt(&cfg, flags).daemon);
        assert_eq!(conf.pid_file, "/run/fdfs-edge/fdfs-edge.pid");
        let e = edge_settings(&cfg);
        assert_eq!(e.max_header_size, 16 << 10);
        assert!(!e.fast_path, "no memory tier, no fast path");
        assert!(e
            .gzip
            .is_some_and(|g| g.types.iter().any(|t| t == "text/html")));
        assert_eq!(listen_addrs(&cfg).len(), 2);
        let d = discovery(&cfg).expect("[trackers]");
        let weights: Vec<u32> = d.static_groups[0].1.iter().map(|s| s.1).collect();
        assert_eq!(weights, [1, 2]);
    }
}
