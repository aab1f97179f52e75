//! Delivers the queued purges: one task per peer sends the oldest purge (signed when it is sent),
//! forgets it once the peer answered 200 (purged) or 404 (not cached), and otherwise tries again
//! every `retry` until the peer is back. A peer that cannot take a purge at all (400) gets the
//! next one, with an error logged, rather than blocking its queue forever.

use crate::clock::unix_now;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::queue::Pending;
use super::{signature, Peer, PeerPurges};
use crate::background::status_of;

/// The background service of `[peers]`.
pub struct Sender(pub Arc<PeerPurges>);

/// What a peer's answer to a purge means for the queue.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Acknowledged,
    Refused(u16),
    Retry(Option<u16>),
}

fn outcome(status: Option<u16>) -> Outcome {
    match status {
        // 202: a prefix purge the peer does in the background
        Some(200 | 202 | 404) => Outcome::Acknowledged,
        Some(400) => Outcome::Refused(400),
        other => Outcome::Retry(other),
    }
}

impl Sender {
    async fn deliver(&self, peer: &Peer, p: &Pending) -> Outcome {
        let addr = peer.queue.addr;
        let header = signature::sign(self.0.secret(), &p.key, unix_now());
        let req = format!(
            "PURGE {} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: fdfs-edge-peer\r\n{}: {header}\r\nConnection: close\r\n\r\n",
            p.key,
            signature::HEADER
        );
        outcome(status_of(addr, &req, self.0.timeout).await)
    }

    /// Sends one peer's purges, in order, until the shutdown.
    async fn run_peer(&self, peer: &Peer, mut shutdown: ShutdownWatch) {
        let addr = peer.queue.addr;
        let mut failing = false;
        loop {
            let Some(p) = peer.queue.front() else {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    () = peer.wake.notified() => continue,
                }
            };
            match self.deliver(peer, &p).await {
                Outcome::Acknowledged => {
                    peer.queue.ack(&p);
                    peer.delivered.fetch_add(1, Ordering::Relaxed);
                    if std::mem::take(&mut failing) {
                        tracing::info!(
                            "edge {addr} takes purges again ({} left)",
                            peer.queue.len()
                        );
                    }
                }
                Outcome::Refused(code) => {
                    tracing::error!(
                        "edge {addr} refused the purge of {} ({code}): dropped",
                        p.key
                    );
                    peer.queue.ack(&p);
                }
                Outcome::Retry(status) => {
                    peer.failed_tries.fetch_add(1, Ordering::Relaxed);
                    if !std::mem::replace(&mut failing, true) {
                        let why =
                            status.map_or("no answer".to_string(), |s| format!("answered {s}"));
                        tracing::warn!(
                            "edge {addr}: purge of {} not delivered ({why}); retrying every {:?}, {} queued",
                            p.key,
                            self.0.retry,
                            peer.queue.len()
                        );
                    }
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        () = tokio::time::sleep(self.0.retry) => {}
                    }
                }
            }
        }
    }
}

#[async_trait]
impl BackgroundService for Sender {
    async fn start(&self, shutdown: ShutdownWatch) {
        let tasks = self
            .0
            .peers
            .iter()
            .map(|peer| self.run_peer(peer, shutdown.clone()));
        futures::future::join_all(tasks).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_answer_means() {
        assert_eq!(outcome(Some(200)), Outcome::Acknowledged);
        assert_eq!(outcome(Some(404)), Outcome::Acknowledged);
        assert_eq!(outcome(Some(202)), Outcome::Acknowledged);
        assert_eq!(outcome(Some(400)), Outcome::Refused(400));
        for s in [Some(403), Some(500), Some(503), None] {
            assert_eq!(outcome(s), Outcome::Retry(s));
        }
    }
}
