//! The `ProxyHttp` implementation: each phase says what happens when and delegates the how to the
//! file that owns it:
//!
//! - [`path`]: the canonical spelling of a path (cache key, purge key, storage) and its group;
//! - [`request_size`]: header and body size limits (431, 413);
//! - [`access`]: `[access]` (signed URLs, FastDFS tokens) before any cache lookup (403);
//! - [`purge`]: purge requests;
//! - [`gateway`]: `[upload]`: uploads (`PUT`, `POST`) and deletes (`DELETE`) through the trackers;
//!   [`tus`]: resumable uploads under `/tus/`;
//! - [`fast_hit`]: fresh small objects answered from memory (or from the page cache, read into
//!   memory) before the cache state machine;
//! - [`upstream`]: the storage to try next, its request, retries and its health;
//! - [`cacheable`] and [`freshness`]: whether and how long a storage's answer is cached;
//! - [`headers`]: `X-Cache-Status`, `Expires`, `Cache-Control` of every answer;
//! - [`browser`]: CORS and download names (`Content-Disposition` from `?filename=`);
//! - [`compress`]: `[response] gzip`; [`range`]: range requests;
//! - [`variant`]: `[images]`: variant requests, their keys, their way to the image service;
//! - [`respond`]: the answers the edge writes itself; [`log`]: metrics and the access log.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::cache_control::CacheControl;
use pingora::cache::lock::CacheKeyLockImpl;
use pingora::cache::{CacheKey, CacheOptionOverrides, NoCacheReason, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::proxy::{FailToProxy, ProxyHttp, RangeType, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, Result};

use crate::access_log::AccessLog;
use crate::cache::disk::DiskCache;
use crate::cache::key;
use crate::graceful::RequestGuard;
use crate::metrics::Metrics;
use crate::topology::{Group, Peer, Topology};

mod access;
mod browser;
mod cacheable;
mod compress;
mod fast_hit;
mod freshness;
mod gateway;
mod headers;
mod log;
mod path;
mod purge;
mod range;
mod request_size;
mod respond;
#[cfg(test)]
mod test_util;
mod tus;
mod upstream;
mod variant;

pub use compress::Gzip;
use freshness::Freshness;
use headers::ResponseHeaders;

/// The storage's part of the header policy: the headers of a hit from memory, prepared once per
/// object (see [`ResponseHeaders`]). [`Edge::new`] builds the proxy's part from the same
/// `[response] expires`.
pub fn hit_headers(expires: Option<Duration>) -> Arc<ResponseHeaders> {
    Arc::new(ResponseHeaders::new(expires))
}

/// Settings of the proxy, derived from the configuration.
pub struct EdgeSettings {
    pub valid: Duration,
    pub stale_if_error: Duration,
    pub expires: Option<Duration>,
    pub purge_allow: Vec<ipnet::IpNet>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub max_tries: usize,
    pub client_max_body_size: u64,
    pub max_header_size: usize,
    /// nginx `client_body_timeout`: the longest wait between two reads of a request body.
    pub client_body_timeout: Duration,
    pub lock_timeout: Duration,
    pub max_object_size: Option<u64>,
    /// Answer fresh small objects held in memory directly from `request_filter`.
    pub fast_path: bool,
    /// `[response] gzip`, when on.
    pub gzip: Option<Gzip>,
    /// `[access]`.
    pub access: crate::access::Access,
    /// `[response] cors_origins`.
    pub cors_origins: Vec<String>,
    /// `[response] download_names`.
    pub download_names: bool,
    /// `[response] download_name_meta`.
    pub download_name_meta: Option<String>,
}

/// The shared state of the edge.
pub struct Edge {
    pub settings: EdgeSettings,
    pub topology: Arc<Topology>,
    pub cache: &'static DiskCache,
    pub lock: &'static CacheKeyLockImpl,
    pub metrics: Arc<Metrics>,
    pub access_log: Option<AccessLog>,
    /// `[peers]`: where accepted purges are also sent.
    pub peers: Option<Arc<crate::peers::PeerPurges>>,
    /// `[upload]`.
    pub gateway: Option<crate::gateway::Gateway>,
    /// FastDFS through `[trackers]` (download names from metadata).
    pub fdfs: Option<fdfs_client::client::Client>,
    /// `[images]`.
    pub images: Option<Arc<crate::images::Images>>,
    freshness: Freshness,
    headers: ResponseHeaders,
}

impl Edge {
    pub fn new(
        settings: EdgeSettings,
        topology: Arc<Topology>,
        cache: &'static DiskCache,
        lock: &'static CacheKeyLockImpl,
        metrics: Arc<Metrics>,
        access_log: Option<AccessLog>,
    ) -> Edge {
        Edge {
            freshness: Freshness::new(settings.valid, settings.stale_if_error),
            headers: ResponseHeaders::new(settings.expires),
            settings,
            topology,
            cache,
            lock,
            metrics,
            access_log,
            peers: None,
            gateway: None,
            fdfs: None,
            images: None,
        }
    }
}

#[derive(Default)]
pub struct Ctx {
    key: String,
    group: Option<Arc<Group>>,
    tried: Vec<SocketAddr>,
    current: Option<Arc<Peer>>,
    cacheable: bool,
    downstream_started: bool,
    /// Set when the response was produced in `request_filter` (purge, errors).
    local_status: Option<u16>,
    cache_status: &'static str,
    start: Option<Instant>,
    _in_flight: Option<RequestGuard>,
    /// A purge request: counted by its outcome, not among the requests served.
    purge: bool,
    /// The canonical request target (path and query) sent to the storage.
    target: Option<String>,
    /// Request body bytes seen so far (for `client_max_body_size` without Content-Length).
    body_received: u64,
    /// When the current try at a storage began.
    upstream_start: Option<Instant>,
    /// `[access]` checked a signature or token: the storage gets the bypass header.
    access_checked: bool,
    /// `[access]` verified a URL signature (which covers the variant parameters too).
    signed: bool,
    /// A request of the image service for an original.
    internal: bool,
    /// `[images]`: the variant asked for.
    variant: Option<crate::images::VariantRequest>,
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    match session.client_addr() {
        Some(PSocketAddr::Inet(a)) => Some(a.ip()),
        _ => None,
    }
}

#[async_trait]
impl ProxyHttp for Edge {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            start: Some(Instant::now()),
            cache_status: "-",
            _in_flight: Some(self.metrics.in_flight.enter()),
            ..Ctx::default()
        }
    }

    fn init_downstream_modules(&self, modules: &mut HttpModules) {
        self.add_compression_module(modules);
    }

    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut Ctx) -> Result<()> {
        // The header is in: the connection's header limits end, the body's timeout begins.
        crate::limits::header_received();
        session.set_read_timeout(Some(self.settings.client_body_timeout));
        // Requests sent before the previous answer are answered in order (RFC 9112 §9.3.2)
        // rather than dropped with the connection.
        session.set_pipelining_enabled(true);
        self.gzip_for_request(session);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let req = session.req_header();
        let Some(path) = path::canonical_path(req.uri.path()) else {
            return self.respond(session, ctx, 400, "400 Bad Request\n").await;
        };
        if request_size::header_size(req) > self.settings.max_header_size {
            return self
                .respond(session, ctx, 431, "431 Request Header Fields Too Large\n")
                .await;
        }
        // The rare, large futures (an upload's is 7 KiB) are boxed: this future is made and
        // copied for every request, a cache hit's included, and is as large as the largest it awaits.
        if purge::is_purge(req, &path) {
            return Box::pin(self.handle_purge(session, ctx)).await;
        }
        if self.is_preflight(req) {
            return self.answer_preflight(session, ctx).await;
        }
        if self.is_tus_request(&path) {
            return Box::pin(self.handle_tus(session, ctx, &path)).await;
        }
        if self.is_gateway_request(req) {
            return Box::pin(self.handle_gateway(session, ctx, &path)).await;
        }
        if request_size::declared_body_over(req, self.settings.client_max_body_size) {
            return self
                .respond(session, ctx, 413, "413 Request Entity Too Large\n")
                .await;
        }
        if !self.check_access(session, ctx, &path).await? {
            return Ok(true);
        }
        if !ctx.internal && !self.check_variant(session, ctx, &path).await? {
            return Ok(true);
        }
        let Some(group) = self.group_of(&path) else {
            return self.respond(session, ctx, 404, "404 Not Found\n").await;
        };
        ctx.group = Some(group);
        let req = session.req_header();
        ctx.cacheable = req.method == http::Method::GET || req.method == http::Method::HEAD;
        ctx.target = Some(ctx.key.clone());
        if self.settings.fast_path && ctx.cacheable {
            return self.try_fast_hit(session, ctx).await;
        }
        Ok(false)
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        if !ctx.cacheable {
            return Ok(());
        }
        let mut o = CacheOptionOverrides::default();
        o.wait_timeout = Some(self.settings.lock_timeout);
        session
            .cache
            .enable(self.cache, None, None, Some(self.lock), Some(o));
        if let Some(max) = self.settings.max_object_size {
            session
                .cache
                .set_max_file_size_bytes(usize::try_from(max).unwrap_or(usize::MAX));
        }
        Ok(())
    }

    fn cache_key_callback(&self, _session: &Session, ctx: &mut Ctx) -> Result<CacheKey> {
        Ok(key::cache_key(&ctx.key))
    }

    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        _ctx: &mut Ctx,
    ) -> Result<RespCacheable> {
        if cacheable::uncacheable(resp) {
            return Ok(RespCacheable::Uncacheable(NoCacheReason::OriginNotCache));
        }
        let cc = CacheControl::from_resp_headers(resp);
        Ok(self.freshness.cacheable(cc.as_ref(), resp.clone()))
    }

    fn should_serve_stale(
        &self,
        _session: &mut Session,
        _ctx: &mut Ctx,
        error: Option<&Error>,
    ) -> bool {
        upstream::storages_failed(error)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        if ctx.variant.is_some() {
            return self.image_service_peer(ctx);
        }
        self.next_peer(ctx)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(vr) = &ctx.variant {
            return self.image_service_request(req, vr);
        }
        self.storage_request(session, req, ctx)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.storage_answered(session, resp, ctx)?;
        self.name_from_metadata(session.req_header(), resp, ctx)
            .await
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.downstream_started = true;
        let status = headers::cache_status(session.cache.phase(), ctx.cacheable);
        ctx.cache_status = status;
        self.maybe_gzip(session, resp);
        self.add_browser_headers(session.req_header(), resp)?;
        variant::add_vary(ctx, resp)?;
        self.headers.add(resp, status)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let code = respond::error_status(e);
        if code > 0 {
            if let Err(err) = respond::write_error_page(session, code).await {
                tracing::debug!("error response not sent: {err}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.count_body(session, body, ctx)
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let (false, Some(t)) = (reused, ctx.upstream_start) {
            self.metrics.upstream_connect.observe(t.elapsed());
        }
        Ok(())
    }

    fn range_header_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        _ctx: &mut Ctx,
    ) -> RangeType {
        range::filter(session.req_header(), resp)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        e: Box<Error>,
    ) -> Box<Error> {
        self.connect_failed(ctx, e)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        self.proxy_failed(peer, session, e, ctx, client_reused)
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        self.log_request(session, e, ctx);
    }
}
