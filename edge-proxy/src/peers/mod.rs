//! One coherent cache across the edge pair (`[peers]`): a purge this edge accepts is also sent to
//! every other edge, signed ([`signature`]), and retried until that edge acknowledges it; what is
//! not acknowledged yet is kept on disk ([`queue`]), so a restart of either side loses nothing.
//! [`sender`] is the background service that delivers them.

pub mod queue;
pub mod sender;
pub mod signature;

use std::fmt::Write;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use queue::PeerQueue;

/// What `[peers]` says.
#[derive(Debug, Clone)]
pub struct PeersSettings {
    pub edges: Vec<SocketAddr>,
    pub secret: Vec<u8>,
    pub queue_dir: PathBuf,
    pub retry: Duration,
    pub timeout: Duration,
}

/// One peer: its queue and what was delivered.
#[derive(Debug)]
pub struct Peer {
    pub queue: PeerQueue,
    /// Wakes this peer's sender when a purge is queued (a permit is kept if it is busy).
    pub wake: tokio::sync::Notify,
    pub delivered: AtomicU64,
    pub failed_tries: AtomicU64,
}

/// The peers and their queues.
#[derive(Debug)]
pub struct PeerPurges {
    pub peers: Vec<Peer>,
    secret: Vec<u8>,
    pub retry: Duration,
    pub timeout: Duration,
}

impl PeerPurges {
    /// Opens every peer's queue under `queue_dir` (with what a previous run left).
    pub fn open(s: PeersSettings) -> io::Result<PeerPurges> {
        let peers = s
            .edges
            .iter()
            .map(|&addr| {
                let queue = PeerQueue::open(&s.queue_dir, addr)?;
                if queue.len() > 0 {
                    tracing::info!("{} purge(s) still to send to edge {addr}", queue.len());
                }
                Ok(Peer {
                    queue,
                    wake: tokio::sync::Notify::new(),
                    delivered: AtomicU64::new(0),
                    failed_tries: AtomicU64::new(0),
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(PeerPurges {
            peers,
            secret: s.secret,
            retry: s.retry,
            timeout: s.timeout,
        })
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Queues a purge of canonical `key` for every peer (on disk before this returns); the number
    /// of peers it was queued for.
    pub fn fan_out(&self, key: &str) -> io::Result<usize> {
        for p in &self.peers {
            p.queue.push(key)?;
            p.wake.notify_one();
        }
        Ok(self.peers.len())
    }

    /// The `fdfs_edge_peer_purges_*` series.
    pub fn render_metrics(&self, o: &mut String) {
        type Series = (&'static str, &'static str, &'static str, fn(&Peer) -> u64);
        let series: [Series; 3] = [
            (
                "fdfs_edge_peer_purges_pending",
                "gauge",
                "Purges queued for a peer edge and not acknowledged yet.",
                |p| p.queue.len() as u64,
            ),
            (
                "fdfs_edge_peer_purges_delivered_total",
                "counter",
                "Purges a peer edge acknowledged.",
                |p| p.delivered.load(Ordering::Relaxed),
            ),
            (
                "fdfs_edge_peer_purge_failures_total",
                "counter",
                "Tries to send a purge to a peer edge that failed (retried).",
                |p| p.failed_tries.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} {kind}");
            for p in &self.peers {
                let _ = writeln!(o, "{name}{{peer=\"{}\"}} {}", p.queue.addr, value(p));
            }
        }
    }
}
