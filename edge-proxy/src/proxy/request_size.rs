//! How big a request may be once Pingora has parsed it: its header (`[server] max_header_size`,
//! 431), its declared body and its body as it arrives (`[server] client_max_body_size`, 413). The limits
//! on a header still arriving are the connection's (`crate::limits`).

use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::{client_ip, Ctx, Edge};

/// The size `[server] max_header_size` limits: request line (method and target) and headers,
/// counting `: ` and CRLF for each header.
pub(super) fn header_size(req: &RequestHeader) -> usize {
    req.raw_path().len()
        + req.method.as_str().len()
        + req
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
}

/// Whether the request's `Content-Length` is over `max` bytes.
pub(super) fn declared_body_over(req: &RequestHeader, max: u64) -> bool {
    req.headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > max)
}

impl Edge {
    /// Counts a piece of request body: a body without Content-Length (chunked) is counted as it
    /// arrives, and answered 413 once over `client_max_body_size`.
    pub(super) fn count_body(
        &self,
        session: &Session,
        body: &Option<Bytes>,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.body_received += body.as_ref().map_or(0, |b| b.len() as u64);
        let max = self.settings.client_max_body_size;
        if ctx.body_received > max {
            tracing::info!(
                "client {}: request body larger than client_max_body_size ({max} bytes): 413",
                client_ip(session).map_or_else(|| "-".to_string(), |i| i.to_string())
            );
            return Err(Error::explain(
                ErrorType::HTTPStatus(413),
                "request body larger than client_max_body_size",
            ));
        }
        Ok(())
    }
}
