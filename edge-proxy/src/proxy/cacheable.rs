//! Which storage responses the cache keeps at all (how long is [`super::freshness`]): not those
//! that set cookies (as nginx), not those whose `Vary` asks for more than one copy per URL.

use pingora::http::ResponseHeader;

/// Whether a storage's response must not be cached because of its headers: `Set-Cookie`
/// (nginx does not cache responses that set cookies) or its `Vary` (see
/// [`vary_prevents_caching`]).
pub(super) fn uncacheable(resp: &ResponseHeader) -> bool {
    resp.headers.contains_key(http::header::SET_COOKIE) || vary_prevents_caching(resp)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
