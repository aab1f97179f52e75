//! The hot path: a fresh small object held in memory, or whose files are in the page cache,
//! answered from `request_filter` without the cache state machine (`[cache] fast_path`), with the
//! headers of a normal hit.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::Result;

use super::{Ctx, Edge};

/// A plain GET/HEAD: no Range and no conditional, which the cache state machine handles.
fn plain(req: &RequestHeader) -> bool {
    !req.headers.contains_key(http::header::RANGE)
        && !req.headers.contains_key(http::header::IF_NONE_MATCH)
        && !req.headers.contains_key(http::header::IF_MODIFIED_SINCE)
        && !req.headers.contains_key(http::header::IF_MATCH)
        && !req.headers.contains_key(http::header::IF_UNMODIFIED_SINCE)
}

impl Edge {
    /// Answers a plain GET/HEAD of `ctx.key` if the object is fresh, small, and in memory or in
    /// the page cache (`DiskCache::fast_hit`);
    /// `Ok(false)` lets the request go on through Pingora.
    pub(super) async fn try_fast_hit(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let req = session.req_header();
        if !plain(req) {
            return Ok(false);
        }
        let Some(hit) = self.cache.fast_hit(&ctx.key) else {
            return Ok(false);
        };
        let head_only = req.method == http::Method::HEAD;
        let mut resp = ResponseHeader::clone(&hit.header);
        self.headers.finish_fast_hit(&mut resp, hit.created)?;
        self.add_browser_headers(session.req_header(), &mut resp)?;
        super::variant::add_vary(ctx, &mut resp)?;
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
}
