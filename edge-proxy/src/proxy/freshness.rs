//! How long a cached response stays fresh: the storage's `Cache-Control` or `Expires` when it
//! sends one, else `[cache] valid` for 200 and 304 (nginx `proxy_cache_valid 200 304 <valid>`);
//! how long it may then be served when the storages fail (`[cache] stale_if_error`).

use std::time::{Duration, SystemTime};

use pingora::cache::cache_control::{CacheControl, Cacheable, InterpretCacheControl};
use pingora::cache::filters::{calculate_fresh_until, calculate_serve_stale_durations};
use pingora::cache::{CacheMeta, CacheMetaDefaults, NoCacheReason, RespCacheable};
use pingora::http::ResponseHeader;

/// The freshness rules of the edge, from its configuration.
pub struct Freshness {
    valid: Duration,
    /// Pingora's defaults take the TTL as a plain `fn`, which cannot read a configured value:
    /// they are used without one (headers only), with `valid` applied after them.
    defaults: CacheMetaDefaults,
}

impl Freshness {
    pub fn new(valid: Duration, stale_if_error: Duration) -> Freshness {
        let sie = u32::try_from(stale_if_error.as_secs()).unwrap_or(u32::MAX);
        Freshness {
            valid,
            defaults: CacheMetaDefaults::new(|_| None, 0, sie),
        }
    }

    /// The freshness of a response that says nothing about its own.
    fn by_status(&self, status: http::StatusCode) -> Option<Duration> {
        match status.as_u16() {
            200 | 304 => Some(self.valid),
            _ => None,
        }
    }

    /// Pingora's `resp_cacheable` (for a request without `Authorization`, which the edge does not
    /// look at) with `valid` as the default TTL: `Cache-Control`'s freshness first, then
    /// `Expires`, then [`Self::by_status`]; `no-store` and `private` are never cached.
    pub fn cacheable(&self, cc: Option<&CacheControl>, mut resp: ResponseHeader) -> RespCacheable {
        let now = SystemTime::now();
        let fresh_until = match calculate_fresh_until(now, cc, &resp, false, &self.defaults) {
            Some(t) => Some(t),
            None if cc.is_some_and(|cc| cc.is_cacheable() == Cacheable::No) => None,
            None => self.by_status(resp.status).and_then(|ttl| {
                // as Pingora: a TTL of zero is stale at once
                if ttl.is_zero() {
                    now.checked_sub(Duration::from_secs(1))
                } else {
                    now.checked_add(ttl)
                }
            }),
        };
        let Some(fresh_until) = fresh_until else {
            return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
        };
        let (swr, sie) = calculate_serve_stale_durations(cc, &self.defaults);
        if let Some(cc) = cc {
            cc.strip_private_headers(&mut resp);
        }
        RespCacheable::Cacheable(CacheMeta::new(fresh_until, now, swr, sie, resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::cache::filters::resp_cacheable;

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).expect("response");
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).expect("header");
        }
        r
    }

    /// (fresh seconds from creation, stale-while-revalidate, stale-if-error), or None.
    fn outcome(c: RespCacheable) -> Option<(i64, u32, u32)> {
        match c {
            RespCacheable::Cacheable(m) => {
                let fresh = match m.fresh_until().duration_since(m.created()) {
                    Ok(d) => d.as_secs() as i64,
                    Err(e) => -(e.duration().as_secs() as i64),
                };
                let h = m.response_header();
                assert!(
                    !h.headers.contains_key("set-cookie"),
                    "private header stripped"
                );
                Some((
                    fresh,
                    m.stale_while_revalidate_sec(),
                    m.stale_if_error_sec(),
                ))
            }
            RespCacheable::Uncacheable(_) => None,
        }
    }

    /// The same answers as Pingora's own `resp_cacheable` with `valid` in its TTL function (what
    /// the edge used to do through a global), for 1 h and for 0.
    #[test]
    fn same_rules_as_pingoras_defaults() {
        const HOUR: CacheMetaDefaults = CacheMetaDefaults::new(
            |s| matches!(s.as_u16(), 200 | 304).then_some(Duration::from_secs(3600)),
            0,
            300,
        );
        const ZERO: CacheMetaDefaults = CacheMetaDefaults::new(
            |s| matches!(s.as_u16(), 200 | 304).then_some(Duration::ZERO),
            0,
            300,
        );
        let cases: &[(u16, &[(&str, &str)])] = &[
            (200, &[]),
            (304, &[]),
            (404, &[]),
            (200, &[("Cache-Control", "max-age=60")]),
            (404, &[("Cache-Control", "max-age=60")]),
            (200, &[("Cache-Control", "no-store")]),
            (200, &[("Cache-Control", "private")]),
            (200, &[("Cache-Control", "no-cache")]),
            (200, &[("Cache-Control", "public")]),
            (200, &[("Cache-Control", "max-age=0")]),
            (200, &[("Cache-Control", "max-age=60, stale-if-error=5")]),
            (
                200,
                &[
                    ("Cache-Control", "no-cache=\"set-cookie\""),
                    ("Set-Cookie", "a=b"),
                ],
            ),
            (200, &[("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")]),
            (200, &[("Expires", "garbage")]),
            (500, &[("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")]),
        ];
        for (valid, defaults) in [(3600, &HOUR), (0, &ZERO)] {
            let ours = Freshness::new(Duration::from_secs(valid), Duration::from_secs(300));
            for (status, headers) in cases {
                let r = resp(*status, headers);
                let cc = CacheControl::from_resp_headers(&r);
                let theirs = outcome(resp_cacheable(cc.as_ref(), r.clone(), false, defaults));
                let got = outcome(ours.cacheable(cc.as_ref(), r));
                // Expires dates are absolute: compare whether cached and the stale settings only
                let comparable = |o: Option<(i64, u32, u32)>| {
                    let absolute = headers.iter().any(|(k, _)| *k == "Expires");
                    o.map(|(f, w, e)| (if absolute { 0 } else { f }, w, e))
                };
                assert_eq!(
                    comparable(got),
                    comparable(theirs),
                    "valid {valid}, {status} {headers:?}"
                );
            }
        }
    }

    #[test]
    fn valid_applies_without_headers() {
        let f = Freshness::new(Duration::from_secs(7200), Duration::from_secs(60));
        let r = resp(200, &[]);
        assert_eq!(outcome(f.cacheable(None, r)), Some((7200, 0, 60)));
        assert_eq!(outcome(f.cacheable(None, resp(404, &[]))), None);
    }
}
