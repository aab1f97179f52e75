//! The `ProxyHttp` implementation: routing by group, retries (nginx `proxy_next_upstream error
//! timeout invalid_header http_502 http_504`), caching with the disk storage, purge, headers.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::cache::cache_control::CacheControl;
use pingora::cache::lock::CacheKeyLockImpl;
use pingora::cache::{CacheKey, CacheOptionOverrides, CachePhase, NoCacheReason, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::compression::{ResponseCompression, ResponseCompressionBuilder};
use pingora::modules::http::HttpModules;
use pingora::protocols::http::compression::Algorithm;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::proxy::{FailToProxy, ProxyHttp, RangeType, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::access_log::AccessLog;
use crate::cache::disk::DiskCache;
use crate::cache::key;
use crate::graceful::RequestGuard;
use crate::metrics::Metrics;
use crate::topology::{Group, Peer, Topology};

mod freshness;
mod headers;

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
}

/// nginx `gzip on` with `gzip_comp_level`, `gzip_types` and `gzip_min_length`.
pub struct Gzip {
    pub level: u32,
    /// Lower-case MIME types, `text/html` included.
    pub types: Vec<String>,
    pub min_length: u64,
}

impl Gzip {
    pub fn new(level: u32, types: &[String], min_length: u64) -> Gzip {
        let mut types: Vec<String> = types.iter().map(|t| t.to_ascii_lowercase()).collect();
        if !types.iter().any(|t| t == "text/html") {
            types.push("text/html".into());
        }
        Gzip {
            level,
            types,
            min_length,
        }
    }

    /// Whether `resp` (to a request with or without Range) is one nginx would gzip; whether the
    /// client accepts gzip is Pingora's compression module's call.
    fn wants(&self, resp: &ResponseHeader, ranged: bool) -> bool {
        if resp.status.as_u16() != 200
            || ranged
            || resp.headers.contains_key(http::header::CONTENT_ENCODING)
        {
            return false;
        }
        let header = |name| resp.headers.get(name).and_then(|v| v.to_str().ok());
        let short = header(http::header::CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n < self.min_length);
        let mime = header(http::header::CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        !short && mime.is_some_and(|m| self.types.contains(&m))
    }
}

/// The shared state of the edge.
pub struct Edge {
    pub settings: EdgeSettings,
    pub topology: Arc<Topology>,
    pub cache: &'static DiskCache,
    pub lock: &'static CacheKeyLockImpl,
    pub metrics: Arc<Metrics>,
    pub access_log: Option<AccessLog>,
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
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    match session.client_addr() {
        Some(PSocketAddr::Inet(a)) => Some(a.ip()),
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Rejects paths that are not absolute, contain NUL, a bad escape, or a `..` segment (also encoded).
fn path_is_safe(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    let Some(dec) = percent_decode(path) else {
        return false;
    };
    if dec.contains(&0) {
        return false;
    }
    !dec.split(|&c| c == b'/' || c == b'\\')
        .any(|seg| seg == b"..")
}

/// The status Pingora's default `fail_to_proxy` answers an error with (0: the client is gone).
fn error_status(e: &Error) -> u16 {
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
async fn write_error_page(session: &mut Session, code: u16) -> Result<()> {
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

/// Decodes the escapes of unreserved characters (RFC 3986 §2.3) and writes the others in upper
/// case. `None` on a bad escape.
fn decode_unreserved(path: &str) -> Option<Vec<u8>> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let h = b.get(i + 1..i + 3)?;
        let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        if v.is_ascii_alphanumeric() || b"-._~".contains(&v) {
            out.push(v);
        } else {
            out.extend_from_slice(format!("%{v:02X}").as_bytes());
        }
        i += 3;
    }
    Some(out)
}

/// The one spelling of a path used for the cache key, the purge key and the storage (RFC 3986
/// §6.2.2, and nginx's `merge_slashes`): unreserved characters decoded, `//` merged, `.`
/// segments removed. `None` when the path is not safe (see [`path_is_safe`]).
fn canonical_path(path: &str) -> Option<String> {
    if !path_is_safe(path) {
        return None;
    }
    let decoded = String::from_utf8(decode_unreserved(path)?).ok()?;
    let segs: Vec<&str> = decoded[1..].split('/').collect();
    let mut kept = Vec::with_capacity(segs.len());
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "" | "." if !last => {}
            // `/a/.` is `/a/`
            "." => kept.push(""),
            seg => kept.push(seg),
        }
    }
    Some(format!("/{}", kept.join("/")))
}

/// The query as part of a key: an empty one (a bare `?`) is no query.
fn canonical_query(query: Option<&str>) -> Option<&str> {
    query.filter(|q| !q.is_empty())
}

/// Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): `q=0` refuses a coding, `*` stands
/// for the codings not listed. Pingora's compression module ignores q-values.
fn accepts_gzip(req: &RequestHeader) -> bool {
    let (mut gzip, mut star) = (None, None);
    let values = req.headers.get_all(http::header::ACCEPT_ENCODING);
    for item in values
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// Whether a storage's response must not be cached because of its `Vary`: the cache keeps one
/// copy per URL. The storage is asked without `Accept-Encoding`, so a plain body that varies on
/// it is the copy for everyone (the edge compresses itself, see `[response] gzip`); an encoded
/// one, `Vary: *` or a variance on any other header is not cached.
fn vary_prevents_caching(resp: &ResponseHeader) -> bool {
    let mut on_encoding = false;
    for v in resp.headers.get_all(http::header::VARY) {
        let Ok(v) = v.to_str() else {
            return true;
        };
        for field in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if field.eq_ignore_ascii_case("accept-encoding") {
                on_encoding = true;
            } else {
                return true;
            }
        }
    }
    on_encoding
        && resp
            .headers
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|ce| !ce.as_bytes().eq_ignore_ascii_case(b"identity"))
}

/// `Range: bytes=-0`: a suffix of no bytes, which no representation satisfies (RFC 9110 §14.1.3).
fn zero_suffix_range(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .is_some_and(|r| r.split(',').all(|spec| spec.trim() == "-0"))
}

/// Turns a 200 into the 416 answer for an unsatisfiable range, as Pingora does for the others.
fn unsatisfiable(resp: &mut ResponseHeader, len: u64) -> Result<()> {
    resp.set_status(http::StatusCode::RANGE_NOT_SATISFIABLE)?;
    resp.insert_header(http::header::CONTENT_LENGTH, "0")?;
    for h in [
        http::header::ACCEPT_RANGES,
        http::header::CONTENT_TYPE,
        http::header::CONTENT_ENCODING,
        http::header::TRANSFER_ENCODING,
    ] {
        resp.remove_header(&h);
    }
    resp.insert_header(http::header::CONTENT_RANGE, format!("bytes */{len}"))
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

    async fn respond(
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

    /// The hot path: a fresh small object held in memory, a plain GET/HEAD (no Range, no
    /// conditional), answered without the cache state machine. Same headers as a normal hit.
    async fn try_fast_hit(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let req = session.req_header();
        let plain = !req.headers.contains_key(http::header::RANGE)
            && !req.headers.contains_key(http::header::IF_NONE_MATCH)
            && !req.headers.contains_key(http::header::IF_MODIFIED_SINCE)
            && !req.headers.contains_key(http::header::IF_MATCH)
            && !req.headers.contains_key(http::header::IF_UNMODIFIED_SINCE);
        if !plain {
            return Ok(false);
        }
        let Some(hit) = self.cache.fast_hit(&ctx.key) else {
            return Ok(false);
        };
        let head_only = req.method == http::Method::HEAD;
        let mut resp = ResponseHeader::clone(&hit.header);
        self.headers.finish_fast_hit(&mut resp, hit.created)?;
        ctx.cache_status = "HIT";
        self.maybe_gzip(session, &resp);
        session
            .write_response_header(Box::new(resp), head_only)
            .await?;
        if !head_only {
            session.write_response_body(Some(hit.body), true).await?;
        }
        ctx.local_status = Some(200);
        ctx.downstream_started = true;
        Ok(true)
    }

    /// Sets the gzip level of Pingora's downstream compression for this request. Called before
    /// the request header reaches the compression module (it reads Accept-Encoding only when
    /// enabled), and again for the response, which decides.
    fn set_gzip_level(session: &mut Session, level: u32) {
        if let Some(c) = session
            .downstream_modules_ctx
            .get_mut::<ResponseCompression>()
        {
            // the level can only change before the body starts
            if c.is_header_phase() {
                c.adjust_algorithm_level(Algorithm::Gzip, level);
            }
        }
    }

    /// Keeps compression on for this response only if `[response] gzip` wants it.
    fn maybe_gzip(&self, session: &mut Session, resp: &ResponseHeader) {
        let Some(gz) = &self.settings.gzip else {
            return;
        };
        let ranged = session
            .req_header()
            .headers
            .contains_key(http::header::RANGE);
        if !gz.wants(resp, ranged) {
            Self::set_gzip_level(session, 0);
        }
    }

    async fn handle_purge(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
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
        let (result, what) = match key.strip_suffix('*') {
            Some(prefix) => (self.cache.purge_prefix(prefix), "prefix"),
            None => (self.cache.purge_key(&key).map(usize::from), "key"),
        };
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                self.metrics.purge("failed");
                tracing::error!("purge of {what} {key} failed: {e}");
                let body = format!("Purge failed: {e}\nKey: {key}\n");
                return self.respond(session, ctx, 500, &body).await;
            }
        };
        if n > 0 {
            self.metrics.purge("purged");
            tracing::info!("purged {n} object(s) for {what} {key}");
            self.respond(
                session,
                ctx,
                200,
                &format!("Successful purge: {n} object(s)\nKey: {key}\n"),
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
        // Pingora adds its (disabled) compression module to every request by default; only gzip
        // needs it.
        if self.settings.gzip.is_some() {
            modules.add_module(ResponseCompressionBuilder::enable(0));
        }
    }

    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut Ctx) -> Result<()> {
        // The header is in: the connection's header limits end, the body's timeout begins.
        crate::limits::header_received();
        session.set_read_timeout(Some(self.settings.client_body_timeout));
        // Requests sent before the previous answer are answered in order (RFC 9112 §9.3.2)
        // rather than dropped with the connection.
        session.set_pipelining_enabled(true);
        if let Some(gz) = &self.settings.gzip {
            if accepts_gzip(session.req_header()) {
                Self::set_gzip_level(session, gz.level);
            }
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let req = session.req_header();
        let Some(path) = canonical_path(req.uri.path()) else {
            return self.respond(session, ctx, 400, "400 Bad Request\n").await;
        };
        let header_size = req.raw_path().len()
            + req.method.as_str().len()
            + req
                .headers
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>();
        if header_size > self.settings.max_header_size {
            return self
                .respond(session, ctx, 431, "431 Request Header Fields Too Large\n")
                .await;
        }
        if req.method.as_str() == "PURGE" || path.starts_with("/purge/") {
            return self.handle_purge(session, ctx).await;
        }
        let too_big = req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > self.settings.client_max_body_size);
        if too_big {
            return self
                .respond(session, ctx, 413, "413 Request Entity Too Large\n")
                .await;
        }
        let group_name = path[1..].split('/').next().unwrap_or("");
        let Some(group) = self.topology.group(group_name) else {
            // nginx logs why it answers 404; an unknown group is usually a configuration mistake
            tracing::info!(
                "404 {path}: group `{group_name}` is not configured (groups: {})",
                self.topology.group_names().join(", ")
            );
            return self.respond(session, ctx, 404, "404 Not Found\n").await;
        };
        ctx.group = Some(group);
        let req = session.req_header();
        ctx.cacheable = req.method == http::Method::GET || req.method == http::Method::HEAD;
        ctx.key = key::of_request(&path, canonical_query(req.uri.query()));
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
        // nginx does not cache responses that set cookies.
        if resp.headers.contains_key(http::header::SET_COOKIE) || vary_prevents_caching(resp) {
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
        // Stale-if-error: any upstream failure (including "no storage left" and 5xx),
        // never stale-while-revalidate.
        error.is_some_and(|e| {
            e.esource() == &ErrorSource::Upstream
                || matches!(
                    e.etype(),
                    ErrorType::ConnectNoRoute | ErrorType::HTTPStatus(_)
                )
        })
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
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

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // The storage gets the spelling the object is cached under.
        if let Some(uri) = ctx
            .target
            .as_deref()
            .and_then(|t| http::Uri::try_from(t).ok())
        {
            req.set_uri(uri);
        }
        // One cached copy serves every client: ask for the plain body (see vary_prevents_caching).
        req.remove_header(&http::header::ACCEPT_ENCODING);
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

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
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

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.downstream_started = true;
        let status = match session.cache.phase() {
            CachePhase::Hit => "HIT",
            CachePhase::Miss => "MISS",
            CachePhase::Expired => "EXPIRED",
            CachePhase::Stale => "STALE",
            CachePhase::StaleUpdating => "UPDATING",
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => "REVALIDATED",
            // cache enabled but the response was not cacheable: nginx says MISS
            CachePhase::Disabled(_) if ctx.cacheable => "MISS",
            _ => "BYPASS",
        };
        ctx.cache_status = status;
        self.maybe_gzip(session, resp);
        self.headers.add(resp, status)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let code = error_status(e);
        if code > 0 {
            if let Err(err) = write_error_page(session, code).await {
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
        // A body without Content-Length (chunked) is counted as it arrives.
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
        let req = session.req_header();
        let plain = req.method == http::Method::GET || req.method == http::Method::HEAD;
        if plain && resp.status == http::StatusCode::OK && zero_suffix_range(req) {
            // Pingora answers `bytes=-0` with a 206 of an invalid Content-Range.
            let len = resp
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(len) = len {
                if unsatisfiable(resp, len).is_ok() {
                    return RangeType::Invalid;
                }
            }
        }
        pingora::proxy::range_header_filter(req, resp, Some(200))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(p) = &ctx.current {
            self.topology.failure(p, Instant::now());
        }
        // Nothing was sent yet: always safe to try the next storage.
        e.set_retry(self.more_candidates(ctx));
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
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

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_rejected() {
        assert!(path_is_safe("/group1/M00/00/00/a.jpg"));
        assert!(!path_is_safe("/group1/../etc/passwd"));
        assert!(!path_is_safe("/group1/%2e%2e/x"));
        assert!(!path_is_safe("/group1/%2E%2E"));
        assert!(!path_is_safe("/group1/a%00b"));
        assert!(!path_is_safe("/group1/a%zz"));
        assert!(!path_is_safe("relative"));
        assert!(path_is_safe("/group1/a..b"));
    }

    #[test]
    fn one_spelling_per_path() {
        for (spelled, canonical) in [
            ("/group1/M00/00/00/a.jpg", "/group1/M00/00/00/a.jpg"),
            ("/group1/M00/./00/00/a.jpg", "/group1/M00/00/00/a.jpg"),
            ("//group1//M00///a.jpg", "/group1/M00/a.jpg"),
            ("/group1/M00/%61%2Ejpg", "/group1/M00/a.jpg"),
            ("/group1/%7e%2dx", "/group1/~-x"),
            ("/group1/a%2fb%3f", "/group1/a%2Fb%3F"),
            ("/group1/dir/", "/group1/dir/"),
            ("/group1/dir/.", "/group1/dir/"),
            ("/", "/"),
        ] {
            assert_eq!(
                canonical_path(spelled).as_deref(),
                Some(canonical),
                "{spelled}"
            );
        }
        assert_eq!(canonical_path("/group1/../x"), None);
        assert_eq!(canonical_path("/group1/%2e%2E/x"), None);
        assert_eq!(canonical_path("/group1/a%2"), None);
        assert_eq!(canonical_query(Some("")), None);
        assert_eq!(canonical_query(Some("w=1")), Some("w=1"));
    }

    fn req_with(name: &str, value: &str) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/g/a", None).expect("request");
        r.insert_header(name.to_string(), value).expect("header");
        r
    }

    #[test]
    fn gzip_acceptance_follows_q_values() {
        for (ae, yes) in [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("GZIP;q=0.5", true),
            ("gzip;q=0", false),
            ("gzip; q=0.000, br", false),
            ("br", false),
            ("*", true),
            ("*;q=0", false),
            ("gzip;q=0, *", false),
            ("identity", false),
        ] {
            assert_eq!(accepts_gzip(&req_with("Accept-Encoding", ae)), yes, "{ae}");
        }
        let none = RequestHeader::build("GET", b"/g/a", None).expect("request");
        assert!(!accepts_gzip(&none));
    }

    fn resp_with(headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(200, None).expect("response");
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn vary_decides_caching() {
        assert!(!vary_prevents_caching(&resp_with(&[])));
        assert!(!vary_prevents_caching(&resp_with(&[(
            "Vary",
            "Accept-Encoding"
        )])));
        assert!(vary_prevents_caching(&resp_with(&[("Vary", "*")])));
        assert!(vary_prevents_caching(&resp_with(&[(
            "Vary",
            "Accept-Encoding, User-Agent"
        )])));
        assert!(vary_prevents_caching(&resp_with(&[
            ("Vary", "accept-encoding"),
            ("Content-Encoding", "gzip"),
        ])));
    }

    #[test]
    fn zero_suffix_ranges() {
        assert!(zero_suffix_range(&req_with("Range", "bytes=-0")));
        assert!(zero_suffix_range(&req_with("Range", "bytes=-0, -0")));
        assert!(!zero_suffix_range(&req_with("Range", "bytes=-1")));
        assert!(!zero_suffix_range(&req_with("Range", "bytes=0-0")));
        assert!(!zero_suffix_range(&req_with("Range", "bytes=-0,0-1")));
    }
}
