//! The headers the edge adds to its answers: `X-Cache-Status` (nginx `add_header X-Cache-Status
//! $upstream_cache_status`) and `Expires` + `Cache-Control` of `[response] expires` (nginx
//! `expires`). One owner for the two ways an answer leaves: through Pingora's cache state machine
//! ([`ResponseHeaders::add`]), or straight from the memory tier, where the part that does not
//! change is prepared once per object when it enters memory ([`PrepareHit`], called by the
//! storage, which keeps the result next to the body) and the part that changes every second is
//! added to each hit ([`ResponseHeaders::finish_fast_hit`]).

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use pingora::cache::CachePhase;
use pingora::http::ResponseHeader;
use pingora::Result;

use crate::cache::disk::PrepareHit;

// Header names as &str: Pingora sends a `HeaderName` in lower case, a &str as written, and
// nginx (and the storages' headers around them) use these spellings.
const X_CACHE_STATUS: &str = "X-Cache-Status";
const EXPIRES: &str = "Expires";
const CACHE_CONTROL: &str = "Cache-Control";

/// The header policy of the edge, from `[response] expires`.
#[derive(Debug, Clone)]
pub struct ResponseHeaders {
    /// `[response] expires` and its `Cache-Control` value, formatted once.
    expires: Option<(Duration, HeaderValue)>,
}

impl ResponseHeaders {
    pub fn new(expires: Option<Duration>) -> ResponseHeaders {
        ResponseHeaders {
            expires: expires.map(|e| (e, max_age(e))),
        }
    }

    /// X-Cache-Status, and Expires + Cache-Control from `[response] expires`, for an answer
    /// through Pingora (a hit, a miss, an error of the storage...).
    pub fn add(&self, resp: &mut ResponseHeader, status: &'static str) -> Result<()> {
        resp.insert_header(X_CACHE_STATUS, status)?;
        if let Some((exp, cc)) = &self.expires {
            if matches!(
                resp.status.as_u16(),
                200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
            ) {
                resp.insert_header(EXPIRES, expires_from_now(*exp))?;
                resp.insert_header(CACHE_CONTROL, cc.clone())?;
            }
        }
        Ok(())
    }

    /// What a hit from memory needs on top of its prepared header: `Age` (from `created`, when
    /// the object was stored) and `Expires`.
    pub fn finish_fast_hit(&self, resp: &mut ResponseHeader, created: SystemTime) -> Result<()> {
        let age = SystemTime::now()
            .duration_since(created)
            .map_or(0, |d| d.as_secs());
        resp.insert_header("Age", age)?;
        if let Some((exp, _)) = &self.expires {
            resp.insert_header(EXPIRES, expires_from_now(*exp))?;
        }
        Ok(())
    }
}

impl PrepareHit for ResponseHeaders {
    /// The answer to a plain GET of a 200 on the fast path (in memory, or read from disk into
    /// it), but for what
    /// [`ResponseHeaders::finish_fast_hit`] adds: the stored header with the body's
    /// `Content-Length`, `X-Cache-Status: HIT` and `[response] expires`'s `Cache-Control`, which
    /// every hit carries whatever its age. Other statuses go through Pingora.
    fn prepare(&self, stored: &ResponseHeader, body_len: u64) -> Option<ResponseHeader> {
        if stored.status.as_u16() != 200 {
            return None;
        }
        let mut header = stored.clone();
        header.remove_header(&http::header::TRANSFER_ENCODING);
        header.insert_header("Content-Length", body_len).ok()?;
        header
            .insert_header(X_CACHE_STATUS, HeaderValue::from_static("HIT"))
            .ok()?;
        if let Some((_, cc)) = &self.expires {
            header.insert_header(CACHE_CONTROL, cc.clone()).ok()?;
        }
        Some(header)
    }
}

/// The `X-Cache-Status` (nginx `$upstream_cache_status`) of an answer through Pingora, from the
/// phase of its cache state machine; `cacheable`: the request could be cached (GET, HEAD).
pub fn cache_status(phase: CachePhase, cacheable: bool) -> &'static str {
    match phase {
        CachePhase::Hit => "HIT",
        CachePhase::Miss => "MISS",
        CachePhase::Expired => "EXPIRED",
        CachePhase::Stale => "STALE",
        CachePhase::StaleUpdating => "UPDATING",
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => "REVALIDATED",
        // cache enabled but the response was not cacheable: nginx says MISS
        CachePhase::Disabled(_) if cacheable => "MISS",
        _ => "BYPASS",
    }
}

/// `Cache-Control` of `[response] expires` (nginx `expires`).
fn max_age(expires: Duration) -> HeaderValue {
    HeaderValue::try_from(format!("max-age={}", expires.as_secs()))
        .unwrap_or_else(|_| HeaderValue::from_static("max-age=0"))
}

/// `Expires` for a response sent now: formatted at most once a second per thread, since every hit
/// carries it.
fn expires_from_now(expires: Duration) -> HeaderValue {
    thread_local! {
        static LAST: RefCell<Option<(u64, Duration, HeaderValue)>> = const { RefCell::new(None) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|last| match last {
        Some((s, e, v)) if *s == second && *e == expires => v.clone(),
        _ => {
            let at = UNIX_EPOCH + Duration::from_secs(second) + expires;
            let v = HeaderValue::from_str(&httpdate::fmt_http_date(at))
                .unwrap_or_else(|_| HeaderValue::from_static("0"));
            *last = Some((second, expires, v.clone()));
            v
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: u16) -> ResponseHeader {
        let mut h = ResponseHeader::build(status, None).expect("response");
        h.insert_header("Content-Type", "image/jpeg")
            .expect("header");
        h.insert_header("Transfer-Encoding", "chunked")
            .expect("header");
        h
    }

    fn value<'a>(h: &'a ResponseHeader, name: &str) -> Option<&'a str> {
        h.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A hit from memory carries what a hit through Pingora carries (Age is Pingora's there).
    #[test]
    fn fast_hits_carry_the_same_headers() {
        let policy = ResponseHeaders::new(Some(Duration::from_secs(86400)));
        let mut fast = policy.prepare(&stored(200), 1234).expect("a 200");
        policy
            .finish_fast_hit(&mut fast, SystemTime::now())
            .expect("finish");
        let mut normal = stored(200);
        policy.add(&mut normal, "HIT").expect("add");
        for name in ["X-Cache-Status", "Cache-Control", "Expires", "Content-Type"] {
            assert_eq!(value(&fast, name), value(&normal, name), "{name}");
        }
        assert_eq!(value(&fast, "Cache-Control"), Some("max-age=86400"));
        assert_eq!(value(&fast, "Content-Length"), Some("1234"));
        assert_eq!(value(&fast, "Transfer-Encoding"), None);
        assert_eq!(value(&fast, "Age"), Some("0"));
        assert!(policy.prepare(&stored(404), 10).is_none(), "200s only");
    }

    #[test]
    fn expires_off_and_statuses() {
        let off = ResponseHeaders::new(None);
        let mut h = stored(200);
        off.add(&mut h, "MISS").expect("add");
        assert_eq!(value(&h, "X-Cache-Status"), Some("MISS"));
        assert_eq!(value(&h, "Expires"), None);
        let on = ResponseHeaders::new(Some(Duration::from_secs(60)));
        let mut not_found = stored(404);
        on.add(&mut not_found, "BYPASS").expect("add");
        assert_eq!(value(&not_found, "Cache-Control"), None);
        let prepared = off.prepare(&stored(200), 1).expect("a 200");
        assert_eq!(value(&prepared, "Cache-Control"), None);
    }
}
