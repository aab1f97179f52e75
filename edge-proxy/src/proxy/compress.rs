//! `[response] gzip` (nginx `gzip on`, `gzip_comp_level`, `gzip_types`, `gzip_min_length`) on top
//! of Pingora's downstream compression module: whether the client accepts gzip (with q-values,
//! which the module ignores) and whether a response is one nginx would compress.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::compression::{ResponseCompression, ResponseCompressionBuilder};
use pingora::modules::http::HttpModules;
use pingora::protocols::http::compression::Algorithm;
use pingora::proxy::Session;

use super::Edge;

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

impl Edge {
    /// Adds Pingora's compression module, off until [`Edge::gzip_for_request`] turns it on.
    pub(super) fn add_compression_module(&self, modules: &mut HttpModules) {
        // Pingora adds its (disabled) compression module to every request by default; only gzip
        // needs it.
        if self.settings.gzip.is_some() {
            modules.add_module(ResponseCompressionBuilder::enable(0));
        }
    }

    /// Turns compression on for a request whose client accepts gzip (the response decides in
    /// [`Edge::maybe_gzip`]).
    pub(super) fn gzip_for_request(&self, session: &mut Session) {
        if let Some(gz) = &self.settings.gzip {
            if accepts_gzip(session.req_header()) {
                set_gzip_level(session, gz.level);
            }
        }
    }

    /// Keeps compression on for this response only if `[response] gzip` wants it.
    pub(super) fn maybe_gzip(&self, session: &mut Session, resp: &ResponseHeader) {
        let Some(gz) = &self.settings.gzip else {
            return;
        };
        let ranged = session
            .req_header()
            .headers
            .contains_key(http::header::RANGE);
        if !gz.wants(resp, ranged) {
            set_gzip_level(session, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::req_with;
    use super::*;

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
}
