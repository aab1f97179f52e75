//! `[access]` in the request path: the check runs before any cache lookup (the fast path
//! included), a refusal is a 403 whose reason goes to the error log and to
//! `fdfs_edge_access_denied_total{reason}`, never to the client.

use crate::clock::unix_now;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::path::canonical_query;
use super::{client_ip, Ctx, Edge};
use crate::access::{Policy, Request};
use crate::cache::key;

impl Edge {
    /// Sets the request's cache key and storage target after the `[access]` check; `false` when
    /// the request was refused (and answered 403).
    pub(super) async fn check_access(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        path: &str,
    ) -> Result<bool> {
        let access = &self.settings.access;
        let req = session.req_header();
        if self.is_internal(session) {
            // the image service asks for an original it was asked a variant of (checked then)
            ctx.internal = true;
            ctx.access_checked = true;
            ctx.key = path.to_string();
            return Ok(true);
        }
        if !access.enabled() {
            ctx.key = key::of_request(path, canonical_query(req.uri.query()));
            return Ok(true);
        }
        let request = Request {
            method: req.method.as_str(),
            path,
            query: canonical_query(req.uri.query()),
            client: client_ip(session),
        };
        match access.check(&request, unix_now()) {
            Ok(allowed) => {
                ctx.key = key::of_request(path, allowed.query.as_deref());
                ctx.access_checked = allowed.policy != Policy::Public;
                ctx.signed = allowed.policy == Policy::Signed;
                Ok(true)
            }
            Err(denied) => {
                self.metrics.access_denied(denied.reason());
                let client = request.client.map(|c| c.to_string());
                tracing::warn!(
                    "403 {} {path}: {denied} (policy {}, client {})",
                    request.method,
                    access.policy_of(path).name(),
                    client.as_deref().unwrap_or("unknown")
                );
                self.respond(session, ctx, 403, "403 Forbidden\n").await?;
                Ok(false)
            }
        }
    }

    /// The storages' anti-steal bypass header, on a request the edge checked itself.
    pub(super) fn add_bypass_header(&self, req: &mut RequestHeader, ctx: &Ctx) -> Result<()> {
        match &self.settings.access.bypass_header {
            Some((name, value)) if ctx.access_checked => {
                req.insert_header(name.clone(), value.as_str())?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
