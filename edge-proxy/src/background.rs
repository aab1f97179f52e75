//! Background work: active HTTP health checks, the `inactive` sweeper, tracker discovery and the
//! "draining" flag raised when Pingora starts a graceful shutdown or upgrade.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
#[derive(Debug)]
pub struct RunState {
    pub draining: AtomicBool,
    /// [`BG_STARTING`], [`BG_RUNNING`] or [`BG_STOPPED`].
    pub background: AtomicU8,
    /// Every configured listener is bound in this process.
    pub listening: AtomicBool,
}

pub const BG_STARTING: u8 = 0;
pub const BG_RUNNING: u8 = 1;
pub const BG_STOPPED: u8 = 2;

impl Default for RunState {
    fn default() -> Self {
        RunState {
            draining: AtomicBool::new(false),
            // Not ready until the background service's loop has started.
            background: AtomicU8::new(BG_STARTING),
            listening: AtomicBool::new(false),
        }
    }
}

impl RunState {
    /// Why the background service is not doing its work, if it is not.
    pub fn background_problem(&self) -> Option<&'static str> {
        (self.background.load(Ordering::SeqCst) == BG_STOPPED
            && !self.draining.load(Ordering::SeqCst))
        .then_some("background service stopped (health checks, cache sweeps, discovery)")
    }
}

/// Marks the background service stopped when its loop ends by any way but a shutdown, a panic
/// included, so /readyz stops saying ready.
struct Alive<'a>(&'a RunState);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.background.store(BG_STOPPED, Ordering::SeqCst);
        if std::thread::panicking() {
            tracing::error!(
                "background service panicked: health checks, cache sweeps and discovery stopped"
            );
        }
    }
}

/// How long the listeners may take to be bound after a start before it counts as failed
/// (Pingora retries an address in use for 30 s).
pub const LISTEN_DEADLINE: Duration = Duration::from_secs(40);

/// Watches that every configured listener gets bound: then tells a waiting daemon parent (which
/// exits 0 on `SIGUSR1`); if one is not bound by [`LISTEN_DEADLINE`], ends the process with 1.
pub struct ListenWatch {
    /// Proxy and admin listen addresses.
    pub addrs: Vec<SocketAddr>,
    /// The pid of the `-d` parent waiting for `SIGUSR1`.
    pub notify_parent: Option<u32>,
}

/// Whether process `pid` has a handler for SIGUSR1 (`SigCgt` in /proc); `None` if it is gone.
fn catches_sigusr1(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
    let mask = u64::from_str_radix(mask.trim(), 16).ok()?;
    Some(mask & (1 << (libc::SIGUSR1 - 1)) != 0)
}

/// Sends SIGUSR1 to the waiting `-d` parent, once it has its handler in place: it installs it
/// after the fork, and SIGUSR1's default action would kill it.
async fn notify_parent(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while catches_sigusr1(pid) == Some(false) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if catches_sigusr1(pid) == Some(true) {
        // SAFETY: kill(2) with a pid and a signal number has no memory effects.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) };
    }
}

impl ListenWatch {
    async fn run(&self, state: &RunState) {
        let deadline = Instant::now() + LISTEN_DEADLINE;
        loop {
            let missing = crate::preflight::not_listening(&self.addrs);
            if missing.is_empty() {
                state.listening.store(true, Ordering::SeqCst);
                tracing::info!("listening on every configured address; ready");
                if let Some(pid) = self.notify_parent {
                    notify_parent(pid).await;
                }
                return;
            }
            if Instant::now() > deadline {
                let list: Vec<String> = missing.iter().map(|a| a.to_string()).collect();
                tracing::error!(
                    "not listening on {} after {}s: start failed, exiting",
                    list.join(", "),
                    LISTEN_DEADLINE.as_secs()
                );
                std::process::exit(1);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub struct Background {
    pub topology: Arc<Topology>,
    pub health: HealthSection,
    pub cache: &'static DiskCache,
    pub inactive: Duration,
    pub state: Arc<RunState>,
    pub discovery: Option<Discovery>,
    pub listen: ListenWatch,
    /// The log files `SIGUSR1` reopens.
    pub logs: LogFiles,
    /// The TLS certificate `SIGHUP` reads again.
    pub tls: Option<Arc<crate::tls::Certs>>,
}

/// The files `SIGUSR1` reopens (logrotate's `postrotate`, as for nginx).
#[derive(Clone, Default)]
pub struct LogFiles {
    pub access: Option<crate::access_log::Reopen>,
    /// The error log, in daemon mode (standard output and error point at it).
    pub error: Option<std::path::PathBuf>,
}

impl LogFiles {
    fn reopen(&self) {
        if let Some(a) = &self.access {
            match a.reopen() {
                Ok(()) => tracing::info!("SIGUSR1: reopened {}", a.path().display()),
                Err(e) => tracing::error!("SIGUSR1: cannot reopen {}: {e}", a.path().display()),
            }
        }
        if let Some(p) = &self.error {
            match crate::access_log::reopen_error_log(p) {
                Ok(()) => tracing::info!("SIGUSR1: reopened {}", p.display()),
                Err(e) => tracing::error!("SIGUSR1: cannot reopen {}: {e}", p.display()),
            }
        }
    }
}

/// The next delivery of `sig`; never, when its handler could not be installed.
async fn next_signal(sig: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match sig.as_mut() {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// One probe: `GET <path>` over HTTP/1.0; any response below 500 counts as healthy.
pub async fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> bool {
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: fdfs-edge-health\r\nConnection: close\r\n\r\n"
    );
    status_of(addr, &req, timeout)
        .await
        .is_some_and(|code| code < 500)
}

/// Sends `request` (a whole HTTP/1.0 request) to `addr` and reads the status of the answer;
/// `None` when there is none within `timeout`.
pub(crate) async fn status_of(addr: SocketAddr, request: &str, timeout: Duration) -> Option<u16> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(request.as_bytes()).await.ok()?;
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
        parts.next()?.get(..3)?.parse().ok()
    };
    tokio::time::timeout(timeout, fut).await.ok().flatten()
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
        let _alive = Alive(&self.state);
        self.state.background.store(BG_RUNNING, Ordering::SeqCst);
        // Here, not at start-up: a `-d` start forks after that, and a thread does not follow.
        self.cache.spawn_loader();
        let listen = self.listen.run(&self.state);
        tokio::pin!(listen);
        let mut listen_done = false;
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
        // SIGUSR1 reopens the log files (after logrotate), as nginx does.
        let mut usr1 =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
        // SIGHUP reads the TLS certificate again (a renewal), as nginx's reload would.
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            tokio::select! {
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        tracing::info!("shutdown requested: draining");
                        self.state.draining.store(true, Ordering::SeqCst);
                        return;
                    }
                }
                Some(()) = next_signal(&mut usr2) => {
                    let now = !self.state.draining.load(Ordering::SeqCst);
                    self.state.draining.store(now, Ordering::SeqCst);
                    tracing::warn!("SIGUSR2: draining {}", if now { "on" } else { "off" });
                }
                Some(()) = next_signal(&mut usr1) => self.logs.reopen(),
                Some(()) = next_signal(&mut hup) => match &self.tls {
                    Some(certs) => certs.reload(),
                    None => tracing::info!("SIGHUP: nothing to reload without [tls]"),
                },
                () = &mut listen, if !listen_done => listen_done = true,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_background_loop_that_panics_is_reported() {
        let st = RunState::default();
        st.background.store(BG_RUNNING, Ordering::SeqCst);
        assert_eq!(st.background_problem(), None);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _alive = Alive(&st);
            panic!("interval of zero");
        }));
        assert!(r.is_err());
        assert!(st.background_problem().is_some());
        // a shutdown is not a failure
        st.draining.store(true, Ordering::SeqCst);
        assert_eq!(st.background_problem(), None);
    }
}
