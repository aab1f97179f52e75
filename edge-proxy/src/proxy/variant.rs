//! `[images]` in the request path: whether a request asks for a variant, whether it may (a
//! preset, a listed suffix size, a signature over its parameters, or `unsigned_sizes`), its cache
//! key (the original's path and the canonical variant), and its way to the image service on a
//! miss. The image service's own requests for originals are recognised here too.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::path::canonical_query;
use super::{client_ip, Ctx, Edge};
use crate::access::Request;
use crate::clock::unix_now;
use crate::images::{VariantRequest, INTERNAL_HEADER};

impl Edge {
    /// A request of the image service for an original: on the internal socket (the server side
    /// of a Unix connection has the socket's path; the client side is unnamed), with the secret.
    pub(super) fn is_internal(&self, session: &Session) -> bool {
        let Some(images) = &self.images else {
            return false;
        };
        matches!(session.server_addr(), Some(PSocketAddr::Unix(_)))
            && session
                .req_header()
                .headers
                .get(INTERNAL_HEADER)
                .is_some_and(|v| v.as_bytes() == images.secret.as_bytes())
    }

    /// Decides a variant request and keys it; `false` when it was refused (and answered).
    pub(super) async fn check_variant(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        path: &str,
    ) -> Result<bool> {
        let Some(images) = &self.images else {
            return Ok(true);
        };
        let req = session.req_header();
        if req.method != http::Method::GET && req.method != http::Method::HEAD {
            return Ok(true);
        }
        let query = canonical_query(req.uri.query());
        let accept = req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let vr = match images.request(path, query, accept) {
            Ok(None) => return Ok(true),
            Ok(Some(vr)) => vr,
            Err(e) => {
                self.metrics.image_variant("bad_request");
                tracing::info!("400 {path}: variant refused: {e}");
                let body = format!("400 Bad Request: {e}\n");
                self.respond(session, ctx, 400, &body).await?;
                return Ok(false);
            }
        };
        if vr.free && !images.unsigned_sizes && !ctx.signed && !self.variant_signed(session, path) {
            self.metrics.access_denied("unsigned_variant");
            tracing::warn!("403 {path}: free variant parameters without a valid signature");
            self.respond(session, ctx, 403, "403 Forbidden\n").await?;
            return Ok(false);
        }
        ctx.key = vr.key();
        ctx.variant = Some(vr);
        Ok(true)
    }

    /// Whether the URL's signature covers its variant parameters (a public path's variant).
    fn variant_signed(&self, session: &Session, path: &str) -> bool {
        let req = session.req_header();
        let access = &self.settings.access;
        if access.keys.is_empty() {
            return false;
        }
        let request = Request {
            method: req.method.as_str(),
            path,
            query: canonical_query(req.uri.query()),
            client: client_ip(session),
        };
        match access.verify_signed(&request, unix_now()) {
            Ok(_) => true,
            Err(denied) => {
                tracing::info!("variant of {path}: {denied}");
                false
            }
        }
    }

    /// The image service, the upstream of a variant the cache does not hold.
    pub(super) fn image_service_peer(&self, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(images) = &self.images else {
            return Err(Error::explain(ErrorType::InternalError, "no [images]"));
        };
        ctx.upstream_start = Some(std::time::Instant::now());
        let socket = images.service_socket.to_string_lossy();
        let mut peer = HttpPeer::new_uds(&socket, false, String::new())?;
        // making a variant of a large original takes a while
        peer.options.read_timeout = Some(
            self.settings
                .read_timeout
                .max(std::time::Duration::from_secs(60)),
        );
        Ok(Box::new(peer))
    }

    /// The image service's request: the original's path and the canonical variant.
    pub(super) fn image_service_request(
        &self,
        req: &mut RequestHeader,
        vr: &VariantRequest,
    ) -> Result<()> {
        let Some(images) = &self.images else {
            return Ok(());
        };
        let uri = http::Uri::try_from(vr.key())
            .map_err(|e| Error::because(ErrorType::InternalError, "variant target", e))?;
        req.set_uri(uri);
        req.remove_header(&http::header::ACCEPT_ENCODING);
        req.insert_header(INTERNAL_HEADER, images.secret.as_str())?;
        Ok(())
    }
}

/// `Vary: Accept` on a variant whose format came from `Accept` (the cache key holds the chosen
/// format, so one URL has a copy per format).
pub(super) fn add_vary(ctx: &Ctx, resp: &mut ResponseHeader) -> Result<()> {
    if ctx.variant.as_ref().is_some_and(|v| v.negotiated) {
        resp.append_header(http::header::VARY, "Accept")?;
    }
    Ok(())
}
