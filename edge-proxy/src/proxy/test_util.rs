//! Requests for the proxy's unit tests (gzip acceptance, ranges).

use pingora::http::RequestHeader;

/// `GET /g/a` with one header.
pub fn req_with(name: &str, value: &str) -> RequestHeader {
    let mut r = RequestHeader::build("GET", b"/g/a", None).expect("request");
    r.insert_header(name.to_string(), value).expect("header");
    r
}
