//! The end of a request (the `logging` phase): the request counters and histograms of `/metrics`
//! and the access log line.

use http::HeaderValue;
use pingora::proxy::Session;
use pingora::Error;

use super::{client_ip, Ctx, Edge};

impl Edge {
    /// Counts a finished request (a purge only by its outcome, already counted) and writes its
    /// access log line.
    pub(super) fn log_request(&self, session: &Session, e: Option<&Error>, ctx: &Ctx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.local_status)
            .unwrap_or(0);
        let cs = ctx.cache_status;
        if !ctx.purge {
            self.metrics.request(status, cs);
            if let Some(start) = ctx.start {
                self.metrics.request_duration.observe(start.elapsed());
            }
            let received = session.as_ref().body_bytes_read();
            self.metrics.bytes(cs, session.body_bytes_sent(), received);
        }
        if let Some(log) = &self.access_log {
            let req = session.req_header();
            let hv = |n| req.headers.get(n).map(HeaderValue::as_bytes);
            let uri = req.uri.to_string();
            let version = format!("{:?}", req.version);
            log.log(&crate::access_log::Entry {
                client: client_ip(session),
                method: req.method.as_str(),
                uri: &uri,
                version: &version,
                status,
                body_bytes: session.body_bytes_sent(),
                referer: hv(http::header::REFERER),
                user_agent: hv(http::header::USER_AGENT),
                cache: cs,
                upstream: &ctx.tried,
                request_time: ctx.start.map_or(0.0, |s| s.elapsed().as_secs_f64()),
                error: e.map(|e| e.etype().as_str()),
            });
        }
    }
}
