//! Per-connection limits nginx has and Pingora lacks.
//!
//! Pingora times out each read of a request header separately (60 s) and buffers up to 1 MiB of
//! header before checking its size, so a client that sends a header line now and then holds a
//! connection forever, and every connection can cost a megabyte before `max_header_size` is
//! looked at. [`Guarded`] wraps a listener's application:
//!
//! - at most `max_connections` connections at once; beyond that a new connection is closed at
//!   once and a warning says so (nginx: `worker_connections are not enough`);
//! - the whole request header must arrive within `header_timeout` (nginx `client_header_timeout`),
//!   an idle keep-alive connection is closed after `keepalive_timeout`;
//! - at most `max_header_size` bytes are read while a request header is incomplete: past that the
//!   client gets 431 and the connection is closed, without reading the rest.
//!
//! The stream of each connection is wrapped in [`LimitedIo`]. Which phase a connection is in (the
//! header of a request being read, or the request being served) is shared through a task-local
//! [`ConnShared`]: every request starts in the header phase, and the proxy calls
//! [`header_received`] once Pingora has parsed the header (the body is then under Pingora's own
//! per-read timeout, set to `client_body_timeout`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The limits of one listener.
#[derive(Debug, Clone)]
pub struct Limits {
    /// nginx `client_header_timeout`: the whole request header, from the connection's accept (or
    /// the first byte of a later request on a keep-alive connection).
    pub header_timeout: Duration,
    /// nginx `keepalive_timeout`: how long a connection may wait idle for its next request.
    pub keepalive_timeout: Duration,
    /// Bytes read while a request header is incomplete.
    pub max_header_size: usize,
    /// Connections open at once; `None`: no limit.
    pub max_connections: Option<usize>,
}

/// Connection counters of a listener, for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    /// Closed at accept because `max_connections` were open.
    pub refused: AtomicU64,
    /// Closed because a request header did not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Answered 431 while reading an over-long request header.
    pub header_too_large: AtomicU64,
}

/// What a connection's stream and the request handlers share.
#[derive(Debug, Default)]
pub struct ConnShared {
    /// A request header is being read (or awaited).
    awaiting_header: AtomicBool,
    /// Requests begun on this connection: the stream resets its header state when it changes.
    requests: AtomicU64,
}

tokio::task_local! {
    static CONN: Arc<ConnShared>;
}

/// Called by the proxy once a request header has been parsed: what follows (the body, the
/// answer) is no longer under the header limits.
pub fn header_received() {
    let _ = CONN.try_with(|c| c.awaiting_header.store(false, Ordering::Relaxed));
}

fn begin_request() {
    let _ = CONN.try_with(|c| {
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.awaiting_header.store(true, Ordering::Relaxed);
    });
}

/// Wraps the application of a listener (see the module docs).
pub struct Guarded<A> {
    app: Arc<PerRequest<A>>,
    limits: Limits,
    stats: Arc<ConnStats>,
    /// When the last "limit reached" warning was logged, and refusals since.
    refusals: Mutex<(Option<Instant>, u64)>,
}

impl<A> Guarded<A> {
    pub fn new(app: A, limits: Limits, stats: Arc<ConnStats>) -> Self {
        Guarded {
            app: Arc::new(PerRequest(Arc::new(app))),
            limits,
            stats,
            refusals: Mutex::new((None, 0)),
        }
    }

    /// Logs a refusal: the first at once, then at most one line every 10 s with the count.
    fn log_refusal(&self, max: usize) {
        let mut r = self.refusals.lock();
        r.1 += 1;
        let due = r.0.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if due {
            tracing::warn!(
                "connection limit reached: {max} connections open (server.max_connections); \
                 closed {} new connection(s)",
                r.1
            );
            *r = (Some(Instant::now()), 0);
        }
    }
}

/// Decrements the open-connection count when the connection ends.
struct OpenGuard(Arc<ConnStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let open = self.stats.open.fetch_add(1, Ordering::Relaxed) + 1;
        let _open = OpenGuard(self.stats.clone());
        if let Some(max) = self.limits.max_connections {
            if open > max as u64 {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                self.log_refusal(max);
                return None; // dropping the stream closes the connection
            }
        }
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(ConnShared::default());
        let io = LimitedIo::new(stream, shared.clone(), &self.limits, self.stats.clone());
        let app = self.app.clone();
        CONN.scope(shared, async move {
            app.process_new(Box::new(io), shutdown).await
        })
        .await;
        None
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

/// Marks the start of each request, then delegates.
struct PerRequest<A>(Arc<A>);

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for PerRequest<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        begin_request();
        self.0.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.0.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.0.server_options()
    }

    async fn http_cleanup(&self) {
        self.0.http_cleanup().await;
    }
}

/// The answer to a request header over `max_header_size` (nginx also answers 4xx and closes).
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n\
Content-Length: 36\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large\n";

/// A connection's stream under the header limits (see the module docs).
#[derive(Debug)]
pub struct LimitedIo {
    inner: Stream,
    shared: Arc<ConnShared>,
    header_timeout: Duration,
    keepalive_timeout: Duration,
    max_header_size: usize,
    stats: Arc<ConnStats>,
    /// The request (count of [`ConnShared::requests`]) the state below belongs to.
    request: u64,
    /// Bytes of the current request header read so far.
    header_bytes: usize,
    deadline: Pin<Box<Sleep>>,
}

impl LimitedIo {
    fn new(inner: Stream, shared: Arc<ConnShared>, l: &Limits, stats: Arc<ConnStats>) -> Self {
        // The first request's header is due `header_timeout` after the accept.
        shared.awaiting_header.store(true, Ordering::Relaxed);
        LimitedIo {
            inner,
            shared,
            header_timeout: l.header_timeout,
            keepalive_timeout: l.keepalive_timeout,
            max_header_size: l.max_header_size.max(1),
            stats,
            request: 0,
            header_bytes: 0,
            deadline: Box::pin(tokio::time::sleep(l.header_timeout)),
        }
    }

    fn peer(&self) -> String {
        match self
            .inner
            .get_socket_digest()
            .and_then(|d| d.peer_addr().cloned())
        {
            Some(PSocketAddr::Inet(a)) => a.to_string(),
            Some(other) => format!("{other:?}"),
            None => "-".to_string(),
        }
    }

    /// A new request on this connection: reset the header state. A later request on a
    /// keep-alive connection first waits up to `keepalive_timeout` for its first byte.
    fn sync_request(&mut self) {
        let current = self.shared.requests.load(Ordering::Relaxed);
        if current == self.request {
            return;
        }
        let first = self.request == 0 && current <= 1;
        self.request = current;
        if !first {
            self.header_bytes = 0;
            let wait = self.keepalive_timeout;
            self.deadline.as_mut().reset((Instant::now() + wait).into());
        }
    }

    /// Writes the 431 answer if the socket takes it at once (it is empty: no answer is being
    /// sent while a header is read); the connection is closed after it either way.
    fn refuse_too_large(&mut self, cx: &mut Context<'_>) -> io::Error {
        self.stats.header_too_large.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            "closing connection from {}: request header larger than {} bytes (server.max_header_size)",
            self.peer(),
            self.max_header_size
        );
        if let Poll::Ready(Ok(n)) = Pin::new(&mut self.inner).poll_write(cx, TOO_LARGE) {
            if n == TOO_LARGE.len() {
                let _ = Pin::new(&mut self.inner).poll_flush(cx);
            }
        }
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("request header larger than {} bytes", self.max_header_size),
        )
    }

    /// The header deadline passed: end the connection (quietly when nothing was sent).
    fn timed_out(&mut self) -> Poll<io::Result<()>> {
        if self.header_bytes == 0 && self.request > 1 {
            // an idle keep-alive connection: nginx closes these without a word
            return Poll::Ready(Ok(()));
        }
        self.stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            "closing connection from {}: request header not complete within {:?} \
             (server.client_header_timeout), {} byte(s) received",
            self.peer(),
            self.header_timeout,
            self.header_bytes
        );
        if self.header_bytes == 0 {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client_header_timeout",
        )))
    }

    fn poll_read_header(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.sync_request();
        let room = self.max_header_size.saturating_sub(self.header_bytes);
        if room == 0 {
            return Poll::Ready(Err(self.refuse_too_large(cx)));
        }
        let mut part = buf.take(room);
        match Pin::new(&mut self.inner).poll_read(cx, &mut part) {
            Poll::Ready(Ok(())) => {
                let n = part.filled().len();
                // SAFETY: `part` is the start of `buf`'s unfilled part and the inner stream
                // initialised and filled its first `n` bytes.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                if n > 0 && self.header_bytes == 0 && self.request > 1 {
                    // the next request began: its header is due within header_timeout
                    let due = Instant::now() + self.header_timeout;
                    self.deadline.as_mut().reset(due.into());
                }
                self.header_bytes += n;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => self.timed_out(),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncRead for LimitedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.shared.awaiting_header.load(Ordering::Relaxed) {
            this.poll_read_header(cx, buf)
        } else {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        }
    }
}

impl AsyncWrite for LimitedIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, b)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for LimitedIo {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for LimitedIo {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

/// The TLS facts of the connection under the limits: Pingora picks HTTP/2 by the ALPN it reads here.
impl Ssl for LimitedIo {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for LimitedIo {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for LimitedIo {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for LimitedIo {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

#[async_trait]
impl Peek for LimitedIo {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

/// The connection cap for a process allowed `nofile` descriptors: each proxied connection may
/// hold a second one towards a storage, and the cache, logs and listeners need a few more.
pub fn cap_for_nofile(configured: usize, nofile: u64) -> usize {
    let fit = usize::try_from(nofile.saturating_sub(64) / 2).unwrap_or(usize::MAX);
    configured.min(fit.max(1))
}

/// Raises the soft limit on open files towards `want`, as far as the hard limit allows (nginx
/// `worker_rlimit_nofile`; systemd's default soft limit is 1024); returns the soft limit in force.
pub fn raise_nofile(want: u64) -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return None;
    }
    if r.rlim_cur >= want || r.rlim_cur >= r.rlim_max {
        return Some(r.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: want.min(r.rlim_max),
        rlim_max: r.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        Some(raised.rlim_cur)
    } else {
        Some(r.rlim_cur)
    }
}

/// The limits of the proxy listeners.
pub fn proxy_limits(cfg: &crate::config::Config) -> Limits {
    let mut max = cfg.server.max_connections;
    let want = (max as u64).saturating_mul(2).saturating_add(64);
    if let Some(nofile) = raise_nofile(want) {
        let fit = cap_for_nofile(max, nofile);
        if fit < max {
            tracing::warn!(
                "server.max_connections = {max} lowered to {fit}: the open files limit is \
                 {nofile} and a proxied connection may need two (raise LimitNOFILE / ulimit -n)"
            );
            max = fit;
        }
    }
    Limits {
        max_connections: Some(max),
        ..admin_limits(cfg)
    }
}

/// The admin listener: the same header limits, no connection cap (its probes must get through
/// while the proxy listeners are full; slow clients are cut by the header timeout).
pub fn admin_limits(cfg: &crate::config::Config) -> Limits {
    let s = &cfg.server;
    Limits {
        header_timeout: s.client_header_timeout.0,
        keepalive_timeout: s.keepalive_timeout.0,
        max_header_size: usize::try_from(s.max_header_size.0).unwrap_or(usize::MAX),
        max_connections: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_leaves_room_for_upstream_descriptors() {
        assert_eq!(cap_for_nofile(10_000, 512), 224);
        assert_eq!(cap_for_nofile(100, 512), 100);
        assert_eq!(cap_for_nofile(100, 10), 1);
    }
}
