//! Background work: active HTTP health checks, the `inactive` sweeper, tracker discovery and the
//! "draining" flag raised when Pingora starts a graceful shutdown or upgrade.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cache::disk::DiskCache;
use crate::config::HealthSection;
use crate::discovery::Discovery;
use crate::topology::{Peer, Topology};

/// Process-wide state visible to /readyz.
#[derive(Debug, Default)]
pub struct RunState {
    pub draining: AtomicBool,
}

pub struct Background {
    pub topology: Arc<Topology>,
    pub health: HealthSection,
    pub cache: &'static DiskCache,
    pub inactive: Duration,
    pub state: Arc<RunState>,
    pub discovery: Option<Discovery>,
}

/// One probe: `GET <path>` over HTTP/1.0; any response below 500 counts as healthy.
pub async fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> bool {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: fdfs-edge-health\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let r = s.read(&mut buf[n..]).await.ok()?;
            if r == 0 {
                break;
            }
            n += r;
        }
        let line = std::str::from_utf8(&buf[..n]).ok()?;
        let mut parts = line.split_whitespace();
        let proto = parts.next()?;
        if !proto.starts_with("HTTP/1.") {
            return None;
        }
        let code: u16 = parts.next()?.get(..3)?.parse().ok()?;
        Some(code < 500)
    };
    matches!(tokio::time::timeout(timeout, fut).await, Ok(Some(true)))
}

impl Background {
    async fn check_all(&self) {
        let groups = self.topology.snapshot();
        let mut tasks = Vec::new();
        for g in groups.values() {
            for p in &g.peers {
                let p: Arc<Peer> = p.clone();
                let path = self.health.path.clone();
                let timeout = self.health.timeout.0;
                let (fails, passes) = (self.health.fails.max(1), self.health.passes.max(1));
                tasks.push(tokio::spawn(async move {
                    let ok = probe(p.addr, &path, timeout).await;
                    if ok {
                        p.consecutive_fail.store(0, Ordering::Relaxed);
                        let n = p.consecutive_ok.fetch_add(1, Ordering::Relaxed) + 1;
                        if n >= passes {
                            p.set_active_ok(true);
                        }
                    } else {
                        p.consecutive_ok.store(0, Ordering::Relaxed);
                        let n = p.consecutive_fail.fetch_add(1, Ordering::Relaxed) + 1;
                        if n >= fails {
                            p.set_active_ok(false);
                        }
                    }
                }));
            }
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[async_trait]
impl BackgroundService for Background {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut health =
            tokio::time::interval(self.health.interval.0.max(Duration::from_millis(100)));
        let sweep_every =
            (self.inactive / 10).clamp(Duration::from_secs(1), Duration::from_secs(600));
        let mut sweep = tokio::time::interval(sweep_every);
        let refresh = self
            .discovery
            .as_ref()
            .map_or(Duration::from_secs(3600), |d| d.refresh);
        let mut discover = tokio::time::interval(refresh);
        // SIGUSR2 toggles "draining" (maintenance): /readyz answers 503 so keepalived moves the
        // virtual IP away, while requests are still served. (On SIGTERM/SIGQUIT Pingora closes the
        // listeners at once, the admin one included, so `check` fails from then on.)
        let mut usr2 =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2()).ok();
        loop {
            tokio::select! {
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        tracing::info!("shutdown requested: draining");
                        self.state.draining.store(true, Ordering::SeqCst);
                        return;
                    }
                }
                Some(()) = async {
                    match usr2.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = !self.state.draining.load(Ordering::SeqCst);
                    self.state.draining.store(now, Ordering::SeqCst);
                    tracing::warn!("SIGUSR2: draining {}", if now { "on" } else { "off" });
                }
                _ = health.tick(), if self.health.enabled => self.check_all().await,
                _ = sweep.tick() => {
                    let n = self.cache.sweep_inactive(self.inactive);
                    if n > 0 {
                        tracing::info!("removed {n} inactive cache object(s)");
                    }
                }
                _ = discover.tick(), if self.discovery.is_some() => {
                    if let Some(d) = &self.discovery {
                        d.refresh_once(&self.topology).await;
                    }
                }
            }
        }
    }
}
