//! The admin listener: `/healthz` (process alive), `/readyz` (ready for traffic) and `/metrics`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::background::RunState;
use crate::cache::disk::DiskCache;
use crate::metrics::Metrics;
use crate::peers::PeerPurges;
use crate::topology::Topology;

pub struct Admin {
    pub listen: Vec<SocketAddr>,
    pub topology: Arc<Topology>,
    pub cache: &'static DiskCache,
    pub metrics: Arc<Metrics>,
    pub state: Arc<RunState>,
    /// `[peers]`, for their series in `/metrics`.
    pub peers: Option<Arc<PeerPurges>>,
}

impl Admin {
    /// The reasons the edge is not ready; empty = ready.
    pub async fn not_ready(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.state.draining.load(Ordering::SeqCst) {
            why.push("draining".to_string());
        }
        // This process must hold the listening socket: a connect also succeeds when another
        // process has the port, and keepalived would move the VIP to a node serving nothing.
        // Once every listener is bound (`ListenWatch`) they stay bound until a shutdown, which
        // raises `draining`: the scan of the process's descriptors and of the system's whole TCP
        // table (a line per connection) is only needed before that.
        if !self.state.listening.load(Ordering::SeqCst) {
            for a in crate::preflight::not_listening(&self.listen) {
                why.push(format!("not listening on {a}"));
            }
        }
        if let Some(p) = self.state.background_problem() {
            why.push(p.to_string());
        }
        if !self.cache.writable() {
            why.push(format!(
                "cache dir {} not writable",
                self.cache.dir().display()
            ));
        }
        if !self.topology.any_healthy(std::time::Instant::now()) {
            why.push("no healthy storage".to_string());
        }
        why
    }
}

fn text(status: u16, ctype: &str, body: String) -> http::Response<Vec<u8>> {
    let body = body.into_bytes();
    http::Response::builder()
        .status(status)
        .header("Content-Type", ctype)
        .header("Content-Length", body.len())
        .header("Cache-Control", "no-store")
        .body(body)
        .unwrap_or_default()
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => text(200, "text/plain", "ok\n".into()),
            "/readyz" => {
                let why = self.not_ready().await;
                if why.is_empty() {
                    text(200, "text/plain", "ready\n".into())
                } else {
                    text(
                        503,
                        "text/plain",
                        format!("not ready: {}\n", why.join("; ")),
                    )
                }
            }
            "/metrics" => {
                let mut body = self.metrics.render(&self.topology, self.cache);
                if let Some(p) = &self.peers {
                    p.render_metrics(&mut body);
                }
                text(200, "text/plain; version=0.0.4", body)
            }
            _ => text(404, "text/plain", "not found\n".into()),
        }
    }
}
