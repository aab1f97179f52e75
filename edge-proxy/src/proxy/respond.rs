//! The answers the edge writes itself rather than a storage: the short text answers of
//! `request_filter` (400, 404, 413, 431 and purge results) and the error page of `fail_to_proxy`.

use std::time::SystemTime;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::{Ctx, Edge};

/// The status Pingora's default `fail_to_proxy` answers an error with (0: the client is gone).
pub(super) fn error_status(e: &Error) -> u16 {
    match (e.etype(), e.esource()) {
        (ErrorType::HTTPStatus(code), _) => *code,
        (_, ErrorSource::Upstream) => 502,
        (
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed,
            ErrorSource::Downstream,
        ) => 0,
        // client_body_timeout: nginx answers 408
        (ErrorType::ReadTimedout, ErrorSource::Downstream) => 408,
        (_, ErrorSource::Downstream) => 400,
        _ => 500,
    }
}

/// An error answer like nginx's: a short body saying the status, no `Server` header.
pub(super) async fn write_error_page(session: &mut Session, code: u16) -> Result<()> {
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let body = Bytes::from(format!("{code} {reason}\n"));
    let mut h = ResponseHeader::build(code, Some(4))?;
    h.insert_header("Content-Type", "text/plain")?;
    h.insert_header("Content-Length", body.len().to_string())?;
    h.insert_header("Cache-Control", "no-store")?;
    h.insert_header("Date", httpdate::fmt_http_date(SystemTime::now()))?;
    let body = if session.req_header().method == http::Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    session
        .as_downstream_mut()
        .write_error_response(h, body)
        .await
}

impl Edge {
    /// Answers `status` with a `text/plain` `body` (not cached), ending the request in
    /// `request_filter` (hence `Ok(true)`).
    pub(super) async fn respond(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        status: u16,
        body: &str,
    ) -> Result<bool> {
        let mut h = ResponseHeader::build(status, Some(4))?;
        h.insert_header("Content-Type", "text/plain")?;
        h.insert_header("Content-Length", body.len().to_string())?;
        h.insert_header("Cache-Control", "no-store")?;
        self.add_cors(session.req_header(), &mut h)?;
        self.maybe_gzip(session, &h);
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(h), head_only)
            .await?;
        if !head_only {
            session
                .write_response_body(Some(Bytes::copy_from_slice(body.as_bytes())), true)
                .await?;
        }
        ctx.local_status = Some(status);
        Ok(true)
    }
}
