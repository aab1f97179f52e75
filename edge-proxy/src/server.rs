//! Starts the edge: opens what the configuration names (cache, access log), takes the first
//! topology, and runs the Pingora server with the proxy service, the admin listener and the
//! background service. What each part takes from the file is in `settings`.

use std::sync::Arc;

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;

use pingora::apps::http_app::HttpServer;
use pingora::cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::proxy::http_proxy;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::access_log::AccessLog;
use crate::admin::Admin;
use crate::background::{Background, ListenWatch, LogFiles, RunState};
use crate::cache::disk::DiskCache;
use crate::config::Config;
use crate::discovery::Discovery;
use crate::graceful::GracefulHttp;
use crate::limits::{admin_limits, proxy_limits, Guarded};
use crate::metrics::Metrics;
use crate::peers::PeerPurges;
use crate::proxy::Edge;
use crate::settings;
use crate::tls::{CertCallback, Certs};
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
    #[error("[tls] {0}")]
    Tls(String),
    #[error("peer purge queue {dir}: {source}")]
    PeerQueue { dir: String, source: std::io::Error },
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
        let addrs = settings::listen_addrs(&cfg);
        crate::preflight::bind_all(&addrs, crate::preflight::BIND_RETRY)
            .map_err(StartError::Preflight)?;
    }
    serve(cfg, flags)
}

/// Opens what the configuration names and runs the services (after the checks of [`run`]).
fn serve(cfg: Config, flags: RunFlags) -> Result<(), StartError> {
    let cache = open_cache(&cfg)?;
    let lock: &'static CacheKeyLockImpl = Box::leak(CacheLock::new_boxed(cfg.cache.lock_timeout.0));
    let topology = Arc::new(Topology::new(
        cfg.upstream.max_fails,
        cfg.upstream.fail_timeout.0,
    ));
    topology.set(settings::static_groups(&cfg));
    let discovery = settings::discovery(&cfg);
    if let Some(d) = &discovery {
        first_refresh(d, &topology)?;
    }
    let access_log = open_access_log(&cfg)?;
    let logs = LogFiles {
        access: access_log.as_ref().and_then(AccessLog::reopener),
        error: settings::daemon(&cfg, flags)
            .then(|| cfg.server.error_log.clone())
            .flatten(),
    };
    let peers = open_peers(&cfg)?;
    let certs = open_certs(&cfg)?;
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(RunState::default());

    let opt = settings::pingora_opt(&cfg, flags);
    let mut server = Server::new_with_opt_and_conf(opt, settings::pingora_conf(&cfg, flags));
    server.bootstrap();

    let mut edge = Edge::new(
        settings::edge_settings(&cfg),
        topology.clone(),
        cache,
        lock,
        metrics.clone(),
        access_log,
    );
    edge.peers = peers.clone();
    let fdfs = settings::fdfs_client(&cfg);
    edge.gateway = settings::gateway(&cfg, fdfs.clone());
    edge.fdfs = fdfs;
    let images = open_images(&cfg)?;
    edge.images = images.clone();
    add_proxy(&mut server, &cfg, edge, &metrics, certs.as_ref())?;
    if let Some(images) = images {
        add_image_service(&mut server, images, metrics.clone());
    }
    if let Some(p) = &peers {
        let sender = crate::peers::sender::Sender(p.clone());
        server.add_service(background_service("fdfs-edge peer purges", sender));
    }
    if let Some(admin) = &cfg.admin {
        let app = Admin {
            listen: settings::proxy_addrs(&cfg),
            topology: topology.clone(),
            cache,
            metrics,
            state: state.clone(),
            peers,
        };
        add_admin(&mut server, &cfg, admin.listen.0, app);
    }
    let bg = Background {
        topology,
        health: cfg.health.clone(),
        cache,
        inactive: cfg.cache.inactive.0,
        state,
        discovery,
        listen: ListenWatch {
            addrs: settings::listen_addrs(&cfg),
            // The `-d` parent waits for this process to signal that it listens.
            notify_parent: settings::daemon(&cfg, flags).then(std::process::id),
        },
        logs,
        tls: certs,
    };
    server.add_service(background_service("fdfs-edge background", bg));
    server.run_forever()
}

/// Opens the disk cache (leaked: the proxy, the admin listener and the background service use it
/// for the life of the process).
fn open_cache(cfg: &Config) -> Result<&'static DiskCache, StartError> {
    let cache = DiskCache::open_unloaded(settings::cache_options(cfg)).map_err(|source| {
        StartError::Cache {
            dir: cfg.cache.dir.display().to_string(),
            source,
        }
    })?;
    tracing::info!(
        "cache {}: the index is loaded in the background (objects are found on disk meanwhile)",
        cfg.cache.dir.display()
    );
    Ok(Box::leak(Box::new(cache)))
}

/// `[images]`, with the secret of its internal requests.
fn open_images(cfg: &Config) -> Result<Option<Arc<crate::images::Images>>, StartError> {
    if cfg.images.is_none() {
        return Ok(None);
    }
    let secret = crate::images::new_secret().map_err(StartError::Runtime)?;
    Ok(settings::images(cfg, secret).map(Arc::new))
}

/// The image service on its private socket (only the proxy connects to it).
fn add_image_service(
    server: &mut Server,
    images: Arc<crate::images::Images>,
    metrics: Arc<Metrics>,
) {
    let socket = images.service_socket.to_string_lossy().into_owned();
    let app = crate::images::service::ImageService::new(images, metrics);
    let mut svc = Service::new("fdfs-edge images".to_string(), HttpServer::new_app(app));
    svc.add_uds(&socket, Some(Permissions::from_mode(0o600)));
    server.add_service(svc);
}

/// The certificate of `[tls]`.
fn open_certs(cfg: &Config) -> Result<Option<Arc<Certs>>, StartError> {
    let Some(t) = &cfg.tls else {
        return Ok(None);
    };
    let certs = Certs::open(&t.cert, &t.key).map_err(StartError::Tls)?;
    Ok(Some(Arc::new(certs)))
}

/// The purge queues of `[peers]`, with what a previous run left in them.
fn open_peers(cfg: &Config) -> Result<Option<Arc<PeerPurges>>, StartError> {
    let Some(s) = settings::peers(cfg) else {
        return Ok(None);
    };
    let dir = s.queue_dir.display().to_string();
    PeerPurges::open(s)
        .map(|p| Some(Arc::new(p)))
        .map_err(|source| StartError::PeerQueue { dir, source })
}

/// The first topology from the trackers, before any request is accepted; later refreshes run
/// in the background service.
fn first_refresh(d: &Discovery, topology: &Topology) -> Result<(), StartError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    rt.block_on(d.refresh_once(topology));
    Ok(())
}

fn open_access_log(cfg: &Config) -> Result<Option<AccessLog>, StartError> {
    match cfg.server.access_log.as_deref() {
        None | Some("off") => Ok(None),
        Some(p) => AccessLog::open(p, cfg.server.access_log_format)
            .map(Some)
            .map_err(|source| StartError::AccessLog {
                path: p.to_string(),
                source,
            }),
    }
}

/// The proxy service on every `[server] listen` address: the edge behind graceful shutdown and
/// the connection limits.
fn add_proxy(
    server: &mut Server,
    cfg: &Config,
    edge: Edge,
    metrics: &Metrics,
    certs: Option<&Arc<Certs>>,
) -> Result<(), StartError> {
    let edge_images = edge.images.clone();
    let app = GracefulHttp::new(
        http_proxy(&server.configuration, edge),
        metrics.in_flight.clone(),
        cfg.server.grace_period.0,
    );
    let app = Guarded::new(app, proxy_limits(cfg), metrics.connections.clone());
    let mut proxy = Service::new("fdfs-edge proxy".to_string(), app);
    for a in &cfg.server.listen {
        // A 16 KiB write buffer sends a response header and a small body in one write
        // (Pingora's default is 1460 bytes).
        proxy.add_listener(
            ListenerConfig::tcp(a.0.to_string())
                .l4_buffer(L4BufferSettings::default().write(16 << 10)),
        );
    }
    if let Some(i) = &edge_images {
        // the image service's way to the originals, through this proxy and its cache
        proxy.add_uds(
            &i.origin_socket.to_string_lossy(),
            Some(Permissions::from_mode(0o600)),
        );
    }
    if let (Some(t), Some(certs)) = (&cfg.tls, certs) {
        for a in &t.listen {
            let callback = Box::new(CertCallback(certs.clone()));
            let mut tls = TlsSettings::with_callbacks(callback)
                .map_err(|e| StartError::Tls(e.to_string()))?;
            if t.http2 {
                tls.enable_h2();
            }
            proxy.add_tls_with_settings(&a.0.to_string(), None, tls);
        }
    }
    server.add_service(proxy);
    Ok(())
}

/// The admin listener (`/healthz`, `/readyz`, `/metrics`) on `[admin] listen`, with the proxy's
/// header limits but no connection cap.
fn add_admin(server: &mut Server, cfg: &Config, listen: std::net::SocketAddr, app: Admin) {
    let app = Guarded::new(app, admin_limits(cfg), Default::default());
    let mut svc = Service::new("fdfs-edge admin".to_string(), app);
    svc.add_tcp(&listen.to_string());
    server.add_service(svc);
}
