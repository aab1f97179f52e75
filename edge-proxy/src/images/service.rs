//! The image service: an HTTP listener on a private Unix socket that only the edge's proxy talks
//! to. A variant the cache does not hold is asked of it like any upstream; it fetches the
//! original through the proxy's internal socket (so the original comes from the cache when it is
//! there, from a storage otherwise, with the proxy's retries and health), makes the variant in
//! the bounded pool, and answers it for the proxy to cache. A variant never travels to a storage.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::protocols::http::ServerSession;
use pingora::upstreams::peer::HttpPeer;

use super::params::Variant;
use super::pool::PoolError;
use super::render::{render, RenderError};
use super::Images;
use crate::metrics::Metrics;

pub struct ImageService {
    pub images: Arc<Images>,
    pub metrics: Arc<Metrics>,
    connector: Connector,
}

/// Why the original could not be read.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("the original is larger than max_source_bytes ({0})")]
    TooLarge(u64),
    #[error("fetching the original through the proxy: {0}")]
    Proxy(String),
}

fn proxy_err(e: impl std::fmt::Display) -> FetchError {
    FetchError::Proxy(e.to_string())
}

/// The original as the proxy answered it.
struct Original {
    status: u16,
    body: Vec<u8>,
    /// Validators and freshness of the original, which the variant shares.
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

const PASSED_ON: [http::HeaderName; 4] = [
    http::header::CACHE_CONTROL,
    http::header::EXPIRES,
    http::header::LAST_MODIFIED,
    http::header::DATE,
];

fn answer(status: u16, body: String) -> Response<Vec<u8>> {
    let mut r = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain")
        // an error is not cached: the next request tries again
        .header(http::header::CACHE_CONTROL, "no-store");
    if status == 503 {
        r = r.header(http::header::RETRY_AFTER, "1");
    }
    let body = format!("{body}\n").into_bytes();
    r.header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

impl ImageService {
    pub fn new(images: Arc<Images>, metrics: Arc<Metrics>) -> ImageService {
        ImageService {
            images,
            metrics,
            connector: Connector::new(None),
        }
    }

    /// The original's bytes, through the proxy (at most `max_source_bytes`).
    async fn fetch(&self, path: &str) -> Result<Original, FetchError> {
        let peer = HttpPeer::new_uds(
            &self.images.origin_socket.to_string_lossy(),
            false,
            String::new(),
        )
        .map_err(proxy_err)?;
        let (mut s, _) = self
            .connector
            .get_http_session(&peer)
            .await
            .map_err(proxy_err)?;
        let mut req = RequestHeader::build("GET", path.as_bytes(), None).map_err(proxy_err)?;
        req.insert_header("Host", "fdfs-edge-images")
            .and_then(|_| req.insert_header(super::INTERNAL_HEADER, self.images.secret.as_str()))
            .map_err(proxy_err)?;
        s.write_request_header(Box::new(req))
            .await
            .map_err(proxy_err)?;
        s.finish_request_body().await.map_err(proxy_err)?;
        s.read_response_header().await.map_err(proxy_err)?;
        let (status, headers) = match s.response_header() {
            Some(h) => (
                h.status.as_u16(),
                PASSED_ON
                    .iter()
                    .filter_map(|n| h.headers.get(n).map(|v| (n.clone(), v.clone())))
                    .collect(),
            ),
            None => return Err(proxy_err("no response header")),
        };
        let mut body = Vec::new();
        while let Some(chunk) = s.read_response_body().await.map_err(proxy_err)? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > self.images.max_source_bytes {
                return Err(FetchError::TooLarge(self.images.max_source_bytes));
            }
        }
        self.connector.release_http_session(s, &peer, None).await;
        Ok(Original {
            status,
            body,
            headers,
        })
    }

    async fn make(&self, path: &str, variant: Variant) -> Response<Vec<u8>> {
        // a place in the pool before the original is fetched: a refused request costs nothing
        let admission = match self.images.pool.admit() {
            Ok(a) => a,
            Err(e) => {
                self.metrics.image_variant("queue_full");
                return answer(503, format!("503 Service Unavailable: {e}"));
            }
        };
        let worker = match admission.worker().await {
            Ok(w) => w,
            Err(e) => {
                self.metrics.image_variant("failed");
                return answer(500, format!("500 Internal Server Error: {e}"));
            }
        };
        let original = match self.fetch(path).await {
            Ok(o) if o.status == 200 => o,
            Ok(o) => {
                self.metrics.image_variant("original_missing");
                let status = if o.status == 404 { 404 } else { 502 };
                return answer(status, format!("the original answered {}", o.status));
            }
            Err(e @ FetchError::TooLarge(_)) => {
                self.metrics.image_variant("original_refused");
                tracing::warn!("422 variant of {path}: {e}");
                return answer(422, format!("422 Unprocessable Content: {e}"));
            }
            Err(e) => {
                self.metrics.image_variant("failed");
                tracing::error!("variant of {path}: {e}");
                return answer(502, "502 Bad Gateway".into());
            }
        };
        let limits = self.images.limits;
        let bytes = original.body;
        let made = worker.run(move || render(&bytes, &variant, &limits)).await;
        match made {
            Ok(Ok(r)) => {
                self.metrics.image_variant("made");
                // Content-Length: the proxy's cache sees the size up front, so a variant over
                // `[cache] max_object_size` is passed on uncached instead of aborted midway
                let mut resp = Response::builder()
                    .status(200)
                    .header(http::header::CONTENT_TYPE, r.content_type)
                    .header(http::header::CONTENT_LENGTH, r.bytes.len());
                for (n, v) in &original.headers {
                    resp = resp.header(n, v);
                }
                resp.body(r.bytes)
                    .unwrap_or_else(|_| answer(500, "500 Internal Server Error".into()))
            }
            Ok(Err(e)) => self.refused(path, &e),
            Err(PoolError::Full) => answer(503, "503 Service Unavailable".into()),
            Err(e) => {
                self.metrics.image_variant("failed");
                tracing::error!("variant of {path}: {e}");
                answer(500, "500 Internal Server Error".into())
            }
        }
    }

    fn refused(&self, path: &str, e: &RenderError) -> Response<Vec<u8>> {
        let status = e.status();
        self.metrics.image_variant(if status == 500 {
            "failed"
        } else {
            "refused_source"
        });
        tracing::warn!("{status} variant of {path}: {e}");
        let reason = match status {
            415 => "415 Unsupported Media Type",
            422 => "422 Unprocessable Content",
            _ => "500 Internal Server Error",
        };
        answer(status, format!("{reason}: {e}"))
    }
}

#[async_trait]
impl ServeHttp for ImageService {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let internal = req
            .headers
            .get(super::INTERNAL_HEADER)
            .is_some_and(|v| v.as_bytes() == self.images.secret.as_bytes());
        if !internal {
            return answer(403, "403 Forbidden".into());
        }
        let path = req.uri.path().to_string();
        let Some(variant) = req.uri.query().and_then(Variant::parse_canonical) else {
            return answer(400, "400 Bad Request: not a canonical variant".into());
        };
        self.make(&path, variant).await
    }
}
