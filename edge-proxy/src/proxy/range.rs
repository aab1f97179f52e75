//! Range requests: Pingora's range handling, but for `bytes=-0`, which it answers with a 206 of an
//! invalid `Content-Range` where RFC 9110 wants a 416.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::RangeType;
use pingora::Result;

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

/// The `range_header_filter` phase: `bytes=-0` of a 200 to a GET or HEAD is a 416, the rest is
/// Pingora's.
pub(super) fn filter(req: &RequestHeader, resp: &mut ResponseHeader) -> RangeType {
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

#[cfg(test)]
mod tests {
    use super::super::test_util::req_with;
    use super::*;

    #[test]
    fn zero_suffix_ranges() {
        assert!(zero_suffix_range(&req_with("Range", "bytes=-0")));
        assert!(zero_suffix_range(&req_with("Range", "bytes=-0, -0")));
        assert!(!zero_suffix_range(&req_with("Range", "bytes=-1")));
        assert!(!zero_suffix_range(&req_with("Range", "bytes=0-0")));
        assert!(!zero_suffix_range(&req_with("Range", "bytes=-0,0-1")));
    }
}
