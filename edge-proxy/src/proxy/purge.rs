//! Purges (ngx_cache_purge): `PURGE <url>` or `GET /purge<url>`, from `[cache] purge_allow`
//! addresses only; a key ending in `*` purges every key with that prefix. Counted by outcome in
//! `fdfs_edge_purge_requests_total`, not among the requests served.

use std::net::IpAddr;

use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::path::{canonical_path, canonical_query};
use super::{client_ip, Ctx, Edge};
use crate::cache::disk::PrefixPurge;
use crate::cache::key;

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
        let target = if let Some(rest) = path.strip_prefix("/purge") {
            rest.to_string()
        } else {
            path
        };
        if !self.purge_allowed(session) {
            self.metrics.purge("forbidden");
            return self.respond(session, ctx, 403, "403 Forbidden\n").await;
        }
        // the key of every spelling of the URL is the canonical one
        let Some(target) = canonical_path(&target) else {
            self.metrics.purge("bad_request");
            return self.respond(session, ctx, 400, "400 Bad Request\n").await;
        };
        let key = key::of_request(&target, query.as_deref());
        self.purge_and_answer(session, ctx, &key).await
    }

    /// Purges `key` (a prefix when it ends in `*`) and says what happened.
    async fn purge_and_answer(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        key: &str,
    ) -> Result<bool> {
        let (result, what) = match key.strip_suffix('*') {
            Some(prefix) => (self.cache.purge_prefix(prefix), "prefix"),
            None => (
                self.cache.purge_key(key).map(|purged| PrefixPurge {
                    removed: usize::from(purged),
                    pending: false,
                }),
                "key",
            ),
        };
        let (n, pending) = match result {
            Ok(p) => (p.removed, p.pending),
            Err(e) => {
                self.metrics.purge("failed");
                tracing::error!("purge of {what} {key} failed: {e}");
                let body = format!("Purge failed: {e}\nKey: {key}\n");
                return self.respond(session, ctx, 500, &body).await;
            }
        };
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
                &format!("Successful purge: {n} object(s){later}\nKey: {key}\n"),
            )
            .await
        } else {
            self.metrics.purge("not_found");
            self.respond(
                session,
                ctx,
                404,
                &format!("Not found in cache\nKey: {key}\n"),
            )
            .await
        }
    }
}
