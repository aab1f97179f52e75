//! The storages of a request's group: which one to try next (nginx `proxy_next_upstream error
//! timeout invalid_header http_502 http_504`, at most `[upstream] tries`), the request it gets,
//! and what its answer or failure means for the retry and the storage's health.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::{client_ip, Ctx, Edge};
use crate::topology::Group;

/// Whether `error` is a failure of the storages (including "no storage left" and 5xx): what
/// stale-if-error serves a stale copy for (never stale-while-revalidate).
pub(super) fn storages_failed(error: Option<&Error>) -> bool {
    error.is_some_and(|e| {
        e.esource() == &ErrorSource::Upstream
            || matches!(
                e.etype(),
                ErrorType::ConnectNoRoute | ErrorType::HTTPStatus(_)
            )
    })
}

impl Edge {
    fn more_candidates(&self, ctx: &Ctx) -> bool {
        let Some(g) = &ctx.group else {
            return false;
        };
        if ctx.tried.len() >= self.max_tries(g) {
            return false;
        }
        g.peers.iter().any(|p| !ctx.tried.contains(&p.addr))
    }

    fn max_tries(&self, g: &Group) -> usize {
        match self.settings.max_tries {
            0 => g.peers.len(),
            n => n.min(g.peers.len()),
        }
    }

    /// The next storage of the group to try, or `ConnectNoRoute` when none is left.
    pub(super) fn next_peer(&self, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(group) = ctx.group.clone() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no group for request",
            ));
        };
        let peer = if ctx.tried.len() < self.max_tries(&group) {
            group.select(&ctx.tried, Instant::now())
        } else {
            None
        };
        let Some(peer) = peer else {
            return Err(Error::create(
                ErrorType::ConnectNoRoute,
                ErrorSource::Upstream,
                Some(format!("no storage left in {}", group.name).into()),
                None,
            ));
        };
        peer.attempts.fetch_add(1, Ordering::Relaxed);
        ctx.tried.push(peer.addr);
        ctx.upstream_start = Some(Instant::now());
        let mut hp = HttpPeer::new(peer.addr, false, String::new());
        hp.options.connection_timeout = Some(self.settings.connect_timeout);
        hp.options.read_timeout = Some(self.settings.read_timeout);
        hp.options.write_timeout = Some(self.settings.write_timeout);
        hp.options.idle_timeout = Some(Duration::from_secs(60));
        ctx.current = Some(peer);
        Ok(Box::new(hp))
    }

    /// The request a storage gets: the canonical target, no `Accept-Encoding`, and the client's
    /// address in `X-Real-IP` and `X-Forwarded-For`.
    pub(super) fn storage_request(
        &self,
        session: &Session,
        req: &mut RequestHeader,
        ctx: &Ctx,
    ) -> Result<()> {
        // The storage gets the spelling the object is cached under.
        if let Some(uri) = ctx
            .target
            .as_deref()
            .and_then(|t| http::Uri::try_from(t).ok())
        {
            req.set_uri(uri);
        }
        // One cached copy serves every client: ask for the plain body (see
        // cacheable::vary_prevents_caching).
        req.remove_header(&http::header::ACCEPT_ENCODING);
        // the secret between the edge's own services stays in the edge
        req.remove_header(crate::images::INTERNAL_HEADER);
        self.add_bypass_header(req, ctx)?;
        if let Some(ip) = client_ip(session) {
            let ip = ip.to_string();
            // proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for
            let xff = match session
                .req_header()
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(v) if !v.trim().is_empty() => format!("{v}, {ip}"),
                _ => ip.clone(),
            };
            req.insert_header("X-Real-IP", ip)?;
            req.insert_header("X-Forwarded-For", xff)?;
        }
        Ok(())
    }

    /// Records the storage's answer (timing, health); a 502 or 504 to an idempotent request not
    /// yet answered is an error to retry on the next storage, while there is one.
    pub(super) fn storage_answered(
        &self,
        session: &Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // server_tokens off: the storages' `Server: nginx/x.y` is not passed on (nor cached)
        resp.remove_header(&http::header::SERVER);
        let code = resp.status.as_u16();
        if let Some(t) = ctx.upstream_start.take() {
            self.metrics.upstream_response.observe(t.elapsed());
        }
        let Some(peer) = ctx.current.clone() else {
            return Ok(());
        };
        if code == 502 || code == 504 {
            self.topology.failure(&peer, Instant::now());
            let idempotent = session.req_header().method.is_idempotent();
            if idempotent && !ctx.downstream_started && self.more_candidates(ctx) {
                let mut e = Error::create(
                    ErrorType::HTTPStatus(code),
                    ErrorSource::Upstream,
                    Some(
                        format!("storage {} answered {code}, trying the next one", peer.addr)
                            .into(),
                    ),
                    None,
                );
                e.set_retry(true);
                return Err(e);
            }
        } else {
            self.topology.success(&peer);
        }
        Ok(())
    }

    /// A connection to the storage failed: it counts against the storage, and nothing was sent
    /// yet, so the next storage is always safe to try.
    pub(super) fn connect_failed(&self, ctx: &Ctx, mut e: Box<Error>) -> Box<Error> {
        if let Some(p) = &ctx.current {
            self.topology.failure(p, Instant::now());
        }
        // Nothing was sent yet: always safe to try the next storage.
        e.set_retry(self.more_candidates(ctx));
        e
    }

    /// An error while proxying: a storage's fault (timeout, reset, invalid header) counts against
    /// it; the request is retried when it is idempotent, nothing reached the client, the body
    /// can be sent again and a storage is left.
    pub(super) fn proxy_failed(
        &self,
        peer: &HttpPeer,
        session: &Session,
        e: Box<Error>,
        ctx: &Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let status_retry = matches!(e.etype(), ErrorType::HTTPStatus(_)) && e.retry();
        if !status_retry && e.esource() == &ErrorSource::Upstream {
            // timeout, reset, invalid header
            if let Some(p) = &ctx.current {
                self.topology.failure(p, Instant::now());
            }
        }
        let idempotent = session.req_header().method.is_idempotent();
        let can_retry = idempotent
            && !ctx.downstream_started
            && !session.as_ref().retry_buffer_truncated()
            && self.more_candidates(ctx);
        let upstream_fault = status_retry || e.esource() == &ErrorSource::Upstream || client_reused;
        e.set_retry(can_retry && upstream_fault);
        e
    }
}
