//! Graceful shutdown and upgrade that lose no request.
//!
//! Pingora's HTTP proxy, when its listeners close (SIGTERM, or SIGQUIT after the sockets went to
//! the new process), at once drops every connection still waiting for a request header. That is
//! right for an idle keep-alive connection, but a connection accepted a moment before has its
//! first request on the wire: dropping it fails that request ("connection closed before the
//! response header"). Then Pingora sleeps the whole `grace_period` whatever is in flight and
//! cancels what is left.
//!
//! [`GracefulHttp`] wraps the proxy: after the listeners close it gives fresh connections
//! [`FIRST_REQUEST_WAIT`] to deliver their request, only then closes idle connections, waits until
//! the last request in flight is answered, and ends the process; `grace_period` stays the upper
//! bound after which Pingora cancels whatever is still running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

/// How long a connection accepted just before shutdown may take to send its first request.
pub const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(1);

/// The number of requests being processed (header read, response not finished).
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one request until the guard is dropped.
    pub fn enter(&self) -> RequestGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        RequestGuard(self.0.clone())
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Held by a request's context; dropping it ends the request for [`InFlight`].
#[derive(Debug)]
pub struct RequestGuard(Arc<AtomicUsize>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An HTTP application that delegates to `A` and shuts down without dropping requests.
pub struct GracefulHttp<A> {
    inner: Arc<A>,
    in_flight: InFlight,
    first_request_wait: Duration,
    /// End the process once drained (the real server); `false` in tests of this type.
    exit_when_drained: bool,
}

impl<A> GracefulHttp<A> {
    /// `grace_period` is Pingora's: the wait for fresh connections stays well inside it.
    pub fn new(inner: A, in_flight: InFlight, grace_period: Duration) -> Self {
        GracefulHttp {
            inner: Arc::new(inner),
            in_flight,
            first_request_wait: FIRST_REQUEST_WAIT.min(grace_period / 2),
            exit_when_drained: true,
        }
    }

    async fn drain(&self) {
        while self.in_flight.get() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for GracefulHttp<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        self.inner.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.inner.server_options()
    }

    async fn http_cleanup(&self) {
        tokio::time::sleep(self.first_request_wait).await;
        // now idle keep-alive connections close; requests being served carry on
        self.inner.http_cleanup().await;
        let pending = self.in_flight.get();
        if pending > 0 {
            tracing::info!("shutdown: waiting for {pending} request(s) in flight");
        }
        self.drain().await;
        if self.exit_when_drained {
            // Nothing is left to answer: spare the rest of Pingora's fixed grace period.
            tracing::info!("shutdown: all requests answered, exiting");
            std::process::exit(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_requests_in_flight() {
        let n = InFlight::default();
        let a = n.enter();
        let b = n.enter();
        assert_eq!(n.get(), 2);
        drop(a);
        assert_eq!(n.get(), 1);
        drop(b);
        assert_eq!(n.get(), 0);
    }

    struct Idle;

    #[async_trait]
    impl HttpServerApp for Idle {
        async fn process_new_http(
            self: &Arc<Self>,
            _session: ServerSession,
            _shutdown: &ShutdownWatch,
        ) -> Option<ReusedHttpStream> {
            None
        }
    }

    #[tokio::test]
    async fn cleanup_waits_for_the_last_request() {
        let n = InFlight::default();
        let mut app = GracefulHttp::new(Idle, n.clone(), Duration::from_millis(100));
        app.exit_when_drained = false;
        assert_eq!(app.first_request_wait, Duration::from_millis(50));
        let guard = n.enter();
        let cleanup = tokio::spawn(async move { app.http_cleanup().await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !cleanup.is_finished(),
            "cleanup returned with a request in flight"
        );
        drop(guard);
        tokio::time::timeout(Duration::from_secs(30), cleanup)
            .await
            .expect("cleanup finishes once drained")
            .expect("cleanup task");
    }
}
