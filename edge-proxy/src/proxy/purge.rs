//! Purges (ngx_cache_purge): `PURGE <url>` or `GET /purge<url>`, from `[cache] purge_allow`
//! addresses only; a key ending in `*` purges every key with that prefix. Counted by outcome in
//! `fdfs_edge_purge_requests_total`, not among the requests served.
//!
//! With `[peers]`, an accepted purge is also queued for every other edge (`peers`); a purge a
//! peer sends carries its signature instead of coming from an allowed address, and is not sent
//! on again.

use std::net::IpAddr;

use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::path::{canonical_path, canonical_query};
use super::{client_ip, Ctx, Edge};
use crate::cache::key;
use crate::peers::signature;

/// What happened with the peer edges for a purge (the last line of its answer).
enum PeerNote {
    NoPeers,
    /// Sent by a peer: not sent on.
    FromPeer,
    Queued(usize),
    NotQueued(String),
}

impl PeerNote {
    fn line(&self) -> String {
        match self {
            PeerNote::NoPeers | PeerNote::FromPeer | PeerNote::NotQueued(_) => String::new(),
            PeerNote::Queued(n) => format!("Peers: queued for {n} edge(s)\n"),
        }
    }
}

/// Whether a request (of canonical path `path`) is a purge.
pub(super) fn is_purge(req: &RequestHeader, path: &str) -> bool {
    req.method.as_str() == "PURGE" || path.starts_with("/purge/")
}

impl Edge {
    fn purge_allowed(&self, session: &Session) -> bool {
        client_ip(session).is_some_and(|ip| {
            let ip = match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6)),
                v4 => v4,
            };
            self.settings.purge_allow.iter().any(|n| n.contains(&ip))
        })
    }

    pub(super) async fn handle_purge(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.purge = true;
        let req = session.req_header();
        let path = req.uri.path().to_string();
        let query = canonical_query(req.uri.query()).map(str::to_string);
        let from_peer = req
            .headers
            .get(signature::HEADER)
            .map(|v| v.to_str().unwrap_or("").to_string());
        let target = if let Some(rest) = path.strip_prefix("/purge") {
            rest.to_string()
        } else {
            path
        };
        if from_peer.is_none() && !self.purge_allowed(session) {
            self.metrics.purge("forbidden");
            return self.respond(session, ctx, 403, "403 Forbidden\n").await;
        }
        // the key of every spelling of the URL is the canonical one
        let Some(target) = canonical_path(&target) else {
            self.metrics.purge("bad_request");
            return self.respond(session, ctx, 400, "400 Bad Request\n").await;
        };
        let key = key::of_request(&target, query.as_deref());
        if let Some(sig) = &from_peer {
            if !self.peer_signed(&key, sig) {
                self.metrics.purge("forbidden");
                let client = client_ip(session).map_or("unknown".into(), |c| c.to_string());
                tracing::warn!("403 PURGE {key}: bad peer signature (client {client})");
                return self.respond(session, ctx, 403, "403 Forbidden\n").await;
            }
        }
        let peers = if from_peer.is_some() {
            PeerNote::FromPeer
        } else {
            self.fan_out(&key)
        };
        self.purge_and_answer(session, ctx, &key, peers).await
    }

    /// Whether `sig` (the peer header) signs a purge of `key` with `[peers] secret`.
    fn peer_signed(&self, key: &str, sig: &str) -> bool {
        let now = crate::clock::unix_now();
        self.peers
            .as_ref()
            .is_some_and(|p| signature::verify(p.secret(), key, sig, now))
    }

    /// Queues the purge of `key` for every peer edge (a delete's); what happened, for the log.
    pub(super) fn fan_out_purge(&self, key: &str) -> String {
        match self.fan_out(key) {
            PeerNote::Queued(n) => format!(", purge queued for {n} peer edge(s)"),
            PeerNote::NotQueued(e) => format!(", purge NOT queued for the peer edges: {e}"),
            PeerNote::NoPeers | PeerNote::FromPeer => String::new(),
        }
    }

    /// Queues the purge of `key` for every peer edge.
    fn fan_out(&self, key: &str) -> PeerNote {
        let Some(p) = &self.peers else {
            return PeerNote::NoPeers;
        };
        match p.fan_out(key) {
            Ok(n) => PeerNote::Queued(n),
            Err(e) => {
                tracing::error!("purge of {key}: not queued for the peer edges: {e}");
                PeerNote::NotQueued(e.to_string())
            }
        }
    }

    /// Purges `key` (a prefix when it ends in `*`) and says what happened.
    async fn purge_and_answer(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        key: &str,
        peers: PeerNote,
    ) -> Result<bool> {
        if let (Some(prefix), PeerNote::FromPeer) = (key.strip_suffix('*'), &peers) {
            // The peer's sender waits `[peers] timeout` for the answer; reading the keys of a
            // large cache takes longer, and each time out would send the purge again.
            let note = if self.cache.purge_prefix_in_background(prefix) {
                "started"
            } else {
                "already running"
            };
            self.metrics.purge("accepted");
            tracing::info!("purge of prefix {key} from a peer edge: {note} in the background");
            let body = format!("Accepted: purging in the background ({note})\nKey: {key}\n");
            return self.respond(session, ctx, 202, &body).await;
        }
        let (result, what) = match key.strip_suffix('*') {
            Some(prefix) => (self.cache.purge_prefix(prefix).await, "prefix"),
            None => (self.cache.purge_object(key), "key"),
        };
        let (n, pending) = match result {
            Ok(p) => (p.removed, p.pending),
            Err(e) => {
                self.metrics.purge("failed");
                tracing::error!("purge of {what} {key} failed: {e}");
                let body = format!("Purge failed: {e}\nKey: {key}\n{}", peers.line());
                return self.respond(session, ctx, 500, &body).await;
            }
        };
        if let PeerNote::NotQueued(e) = &peers {
            // done here, but the other edges would keep serving it: not a success
            self.metrics.purge("failed");
            let body = format!(
                "Purged here ({n} object(s)), not queued for the peer edges: {e}\nKey: {key}\n"
            );
            return self.respond(session, ctx, 500, &body).await;
        }
        // While the index is loaded after a start, a prefix purge also removes the objects the
        // loader finds later: a success, whatever was indexed yet.
        let later = if pending {
            ", and any the index loader still finds on disk"
        } else {
            ""
        };
        if n > 0 || pending {
            self.metrics.purge("purged");
            tracing::info!("purged {n} object(s){later} for {what} {key}");
            self.respond(
                session,
                ctx,
                200,
                &format!(
                    "Successful purge: {n} object(s){later}\nKey: {key}\n{}",
                    peers.line()
                ),
            )
            .await
        } else {
            self.metrics.purge("not_found");
            self.respond(
                session,
                ctx,
                404,
                &format!("Not found in cache\nKey: {key}\n{}", peers.line()),
            )
            .await
        }
    }
}
