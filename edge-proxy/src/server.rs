//! Builds the Pingora server from an [`crate::config::Config`]: the proxy service, the admin
//! listener and the background service.

use std::sync::Arc;

use pingora::cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::proxy::http_proxy;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::access_log::AccessLog;
use crate::admin::Admin;
use crate::background::{Background, ListenWatch, LogFiles, RunState, LISTEN_DEADLINE};
use crate::cache::disk::{DiskCache, DiskCacheOptions};
use crate::config::Config;
use crate::discovery::Discovery;
use crate::graceful::GracefulHttp;
use crate::limits::{admin_limits, proxy_limits, Guarded};
use crate::metrics::Metrics;
use crate::proxy::{Edge, EdgeSettings, Gzip};
use crate::topology::Topology;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cache directory {dir}: {source}")]
    Cache { dir: String, source: std::io::Error },
    #[error("access log {path}: {source}")]
    AccessLog {
        path: String,
        source: std::io::Error,
    },
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// A directory, the upgrade socket's safety or a listen address (see `preflight`).
    #[error("{0}")]
    Preflight(String),
}

/// Command-line switches that matter to Pingora.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunFlags {
    /// `-u`: take over the listening sockets of a running instance (graceful upgrade).
    pub upgrade: bool,
    /// `-d`: run in the background.
    pub daemon: bool,
}

fn static_groups(cfg: &Config) -> Vec<(String, Vec<(std::net::SocketAddr, u32)>)> {
    cfg.groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.storages.iter().map(|s| (s.addr(), s.weight())).collect(),
            )
        })
        .collect()
}

/// The proxy and admin listen addresses.
fn listen_addrs(cfg: &Config) -> Vec<std::net::SocketAddr> {
    let mut v: Vec<_> = cfg.server.listen.iter().map(|a| a.0).collect();
    v.extend(cfg.admin.as_ref().map(|a| a.listen.0));
    v
}

/// Starts the edge; only returns on a start-up error.
pub fn run(cfg: Config, flags: RunFlags) -> Result<(), StartError> {
    // Everything a start needs, checked here, in the foreground: a `-d` start then fails with
    // the reason and a non-zero exit instead of a daemon child dying after the parent left.
    let mode = crate::preflight::Mode {
        daemon: flags.daemon,
        upgrade: flags.upgrade,
    };
    crate::preflight::prepare(&cfg, mode).map_err(StartError::Preflight)?;
    if !flags.upgrade {
        // (an upgrade takes the sockets over from the running process)
        crate::preflight::bind_all(&listen_addrs(&cfg), crate::preflight::BIND_RETRY)
            .map_err(StartError::Preflight)?;
    }
    let cache = DiskCache::open(DiskCacheOptions {
        dir: cfg.cache.dir.clone(),
        max_size: cfg.cache.max_size.0,
        memory_size: cfg.cache.memory_size.0,
        memory_object_size: cfg.cache.memory_object_size.0,
        hit_headers: crate::proxy::hit_headers(cfg.response.expires.0),
    })
    .map_err(|source| StartError::Cache {
        dir: cfg.cache.dir.display().to_string(),
        source,
    })?;
    let cache: &'static DiskCache = Box::leak(Box::new(cache));
    tracing::info!(
        "cache {}: {} object(s), {} bytes",
        cfg.cache.dir.display(),
        cache.total_items(),
        cache.total_size()
    );
    let lock: &'static CacheKeyLockImpl = Box::leak(CacheLock::new_boxed(cfg.cache.lock_timeout.0));

    let topology = Arc::new(Topology::new(
        cfg.upstream.max_fails,
        cfg.upstream.fail_timeout.0,
    ));
    topology.set(static_groups(&cfg));

    let discovery = cfg.trackers.as_ref().map(|t| Discovery {
        trackers: t.servers.iter().map(|a| a.0).collect(),
        refresh: t.refresh.0,
        timeout: t.timeout.0,
        http_port: t.http_port,
        static_groups: static_groups(&cfg),
    });
    if let Some(d) = &discovery {
        // First topology before we accept requests; later refreshes run in the background.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        rt.block_on(d.refresh_once(&topology));
    }

    let access_log =
        match cfg.server.access_log.as_deref() {
            None | Some("off") => None,
            Some(p) => Some(AccessLog::open(p, cfg.server.access_log_format).map_err(
                |source| StartError::AccessLog {
                    path: p.to_string(),
                    source,
                },
            )?),
        };

    let logs = LogFiles {
        access: access_log.as_ref().and_then(AccessLog::reopener),
        error: (flags.daemon || cfg.server.daemon)
            .then(|| cfg.server.error_log.clone())
            .flatten(),
    };
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(RunState::default());

    let mut conf = ServerConf {
        threads: cfg.server.threads,
        daemon: flags.daemon || cfg.server.daemon,
        grace_period_seconds: Some(cfg.server.grace_period.0.as_secs()),
        graceful_shutdown_timeout_seconds: Some(cfg.server.graceful_shutdown_timeout.0.as_secs()),
        upstream_keepalive_pool_size: cfg.server.upstream_keepalive_pool,
        user: cfg.server.user.clone(),
        group: cfg.server.group.clone(),
        error_log: cfg
            .server
            .error_log
            .as_ref()
            .map(|p| p.display().to_string()),
        ..ServerConf::default()
    };
    conf.pid_file = cfg.server.pid_file().display().to_string();
    conf.upgrade_sock = cfg.server.upgrade_sock().display().to_string();
    let daemon = flags.daemon || cfg.server.daemon;
    // The `-d` parent exits 0 only once the child listens (the background service sends it
    // SIGUSR1), and 1 if the child dies first or is not ready in time.
    conf.daemon_wait_for_ready = daemon;
    conf.daemon_ready_timeout_seconds = std::num::NonZeroU64::new(LISTEN_DEADLINE.as_secs() + 20);
    let notify_parent = daemon.then(std::process::id);
    let opt = Opt {
        upgrade: flags.upgrade,
        daemon,
        nocapture: false,
        test: false,
        conf: None,
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let edge = Edge::new(
        EdgeSettings {
            valid: cfg.cache.valid.0,
            stale_if_error: cfg.cache.stale_if_error.0,
            expires: cfg.response.expires.0,
            purge_allow: cfg.purge.allow.iter().map(|c| c.0).collect(),
            connect_timeout: cfg.upstream.connect_timeout.0,
            read_timeout: cfg.upstream.read_timeout.0,
            write_timeout: cfg.upstream.write_timeout.0,
            max_tries: cfg.upstream.tries,
            client_max_body_size: cfg.server.client_max_body_size.0,
            max_header_size: usize::try_from(cfg.server.max_header_size.0).unwrap_or(usize::MAX),
            client_body_timeout: cfg.server.client_body_timeout.0,
            lock_timeout: cfg.cache.lock_timeout.0,
            max_object_size: cfg.cache.max_object_size.map(|s| s.0),
            fast_path: cfg.cache.fast_path && cfg.cache.memory_size.0 > 0,
            gzip: cfg.response.gzip.then(|| {
                Gzip::new(
                    cfg.response.gzip_level,
                    &cfg.response.gzip_types,
                    cfg.response.gzip_min_length.0,
                )
            }),
        },
        topology.clone(),
        cache,
        lock,
        metrics.clone(),
        access_log,
    );
    let in_flight = metrics.in_flight.clone();
    let app = GracefulHttp::new(
        http_proxy(&server.configuration, edge),
        in_flight,
        cfg.server.grace_period.0,
    );
    let app = Guarded::new(app, proxy_limits(&cfg), metrics.connections.clone());
    let mut proxy = Service::new("fdfs-edge proxy".to_string(), app);
    for a in &cfg.server.listen {
        // A 16 KiB write buffer sends a response header and a small body in one write
        // (Pingora's default is 1460 bytes).
        proxy.add_listener(
            ListenerConfig::tcp(a.0.to_string())
                .l4_buffer(L4BufferSettings::default().write(16 << 10)),
        );
    }
    server.add_service(proxy);

    if let Some(admin) = &cfg.admin {
        let app = Admin {
            listen: cfg.server.listen.iter().map(|a| a.0).collect(),
            topology: topology.clone(),
            cache,
            metrics,
            state: state.clone(),
        };
        let app = Guarded::new(app, admin_limits(&cfg), Default::default());
        let mut svc = Service::new("fdfs-edge admin".to_string(), app);
        svc.add_tcp(&admin.listen.0.to_string());
        server.add_service(svc);
    }

    let bg = Background {
        topology,
        health: cfg.health.clone(),
        cache,
        inactive: cfg.cache.inactive.0,
        state,
        discovery,
        listen: ListenWatch {
            addrs: listen_addrs(&cfg),
            notify_parent,
        },
        logs,
    };
    server.add_service(background_service("fdfs-edge background", bg));
    server.run_forever()
}
