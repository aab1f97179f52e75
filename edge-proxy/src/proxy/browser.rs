//! Browser-friendly answers: CORS (`[response] cors_origins`: the allowed origins' requests get
//! `Access-Control-Allow-Origin`, preflights are answered here, `Vary: Origin` tells caches the
//! answer depends on it) and download names (`?filename=` gives `Content-Disposition` as RFC 6266
//! and 5987 write it, whatever the storage sent: a C module's raw header could carry a CRLF).

use percent_encoding::percent_decode_str;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::Result;

use super::{Ctx, Edge};

/// The response headers a page's script may read.
const EXPOSED: &str = "Content-Length, Content-Range, Content-Disposition, ETag, Last-Modified, \
     X-Cache-Status, Location, Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable, \
     Tus-Version, Tus-Max-Size, Tus-Extension, X-Fdfs-File-Id";

/// A header list a preflight may ask for: header names only, nothing else echoed back.
fn header_list_is_safe(list: &str) -> bool {
    list.len() <= 1024
        && list.split(',').all(|h| {
            let h = h.trim();
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        })
}

/// The decoded `filename` parameter of a query, when there is one.
fn filename_param(query: Option<&str>) -> Option<String> {
    let raw = query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("filename="))?;
    // `+` is a space in a form-encoded query
    let raw = raw.replace('+', " ");
    let name = percent_decode_str(&raw).decode_utf8_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

impl Edge {
    /// The `Access-Control-Allow-Origin` value for the request's `Origin`, if it is allowed.
    fn allowed_origin(&self, req: &RequestHeader) -> Option<String> {
        let origins = &self.settings.cors_origins;
        let origin = req.headers.get("origin")?.to_str().ok()?;
        if origins.iter().any(|o| o == "*") {
            return Some("*".into());
        }
        origins
            .iter()
            .any(|o| o == origin)
            .then(|| origin.to_string())
    }

    /// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    pub(super) fn is_preflight(&self, req: &RequestHeader) -> bool {
        !self.settings.cors_origins.is_empty()
            && req.method == http::Method::OPTIONS
            && req.headers.contains_key("origin")
            && req.headers.contains_key("access-control-request-method")
    }

    /// 204 with what the origin may do, or 403 for an origin that is not allowed.
    pub(super) async fn answer_preflight(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
    ) -> Result<bool> {
        let req = session.req_header();
        let Some(origin) = self.allowed_origin(req) else {
            return self
                .respond(session, ctx, 403, "403 Forbidden: origin not allowed\n")
                .await;
        };
        let methods = if self.gateway.is_some() {
            "GET, HEAD, PUT, POST, DELETE"
        } else {
            "GET, HEAD"
        };
        let mut h = ResponseHeader::build(204, Some(6))?;
        h.insert_header("Access-Control-Allow-Origin", origin.as_str())?;
        h.insert_header("Access-Control-Allow-Methods", methods)?;
        if let Some(asked) = req
            .headers
            .get("access-control-request-headers")
            .and_then(|v| v.to_str().ok())
            .filter(|l| header_list_is_safe(l))
        {
            h.insert_header("Access-Control-Allow-Headers", asked.to_string())?;
        }
        h.insert_header("Access-Control-Max-Age", "86400")?;
        if origin != "*" {
            h.insert_header("Vary", "Origin")?;
        }
        ctx.local_status = Some(204);
        session.write_response_header(Box::new(h), true).await?;
        Ok(true)
    }

    /// `[response] download_name_meta`: a storage's 200 for a file, asked without `?filename=`,
    /// gets `Content-Disposition` from the file's metadata before it is cached (one metadata
    /// request per fill; none when the storage named the file itself).
    pub(super) async fn name_from_metadata(
        &self,
        req: &RequestHeader,
        resp: &mut ResponseHeader,
        ctx: &Ctx,
    ) -> Result<()> {
        let (Some(meta_key), Some(client)) = (&self.settings.download_name_meta, &self.fdfs) else {
            return Ok(());
        };
        let asked_a_name = filename_param(req.uri.query()).is_some();
        if resp.status != 200 || !ctx.cacheable || asked_a_name {
            return Ok(());
        }
        if resp.headers.contains_key(http::header::CONTENT_DISPOSITION) {
            return Ok(());
        }
        let path = ctx.key.split('?').next().unwrap_or("");
        let file_id = path.trim_start_matches('/');
        let timeout = std::time::Duration::from_secs(2);
        // boxed: this filter's future is made for every answer of a storage, and without the box
        // it would be as large as the metadata request's (3 KiB)
        let fetch = Box::pin(client.get_metadata(file_id));
        let meta = match tokio::time::timeout(timeout, fetch).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                tracing::debug!("download name of {file_id}: {e}");
                return Ok(());
            }
            Err(_) => {
                tracing::info!("download name of {file_id}: no metadata within 2s, served without");
                return Ok(());
            }
        };
        if let Some((_, name)) = meta.iter().find(|(k, v)| k == meta_key && !v.is_empty()) {
            let value = fdfs_client::disposition::content_disposition(name);
            resp.insert_header(http::header::CONTENT_DISPOSITION, value)?;
        }
        Ok(())
    }

    /// CORS and `Content-Disposition` on an answer to `req`.
    pub(super) fn add_browser_headers(
        &self,
        req: &RequestHeader,
        resp: &mut ResponseHeader,
    ) -> Result<()> {
        if self.settings.download_names {
            if let Some(name) = filename_param(req.uri.query()) {
                let value = fdfs_client::disposition::content_disposition(&name);
                resp.insert_header(http::header::CONTENT_DISPOSITION, value)?;
            }
        }
        self.add_cors(req, resp)
    }

    /// CORS on an answer to `req` (the edge's own answers too: an upload's JSON, an error).
    pub(super) fn add_cors(&self, req: &RequestHeader, resp: &mut ResponseHeader) -> Result<()> {
        let origins = &self.settings.cors_origins;
        if origins.is_empty() {
            return Ok(());
        }
        let any = origins.iter().any(|o| o == "*");
        if !any {
            // the answer differs by origin, allowed or not
            resp.append_header(http::header::VARY, "Origin")?;
        }
        if let Some(origin) = self.allowed_origin(req) {
            resp.insert_header("Access-Control-Allow-Origin", origin)?;
            resp.insert_header("Access-Control-Expose-Headers", EXPOSED)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_and_header_lists() {
        assert_eq!(
            filename_param(Some("filename=a%20b.pdf&x=1")),
            Some("a b.pdf".into())
        );
        assert_eq!(
            filename_param(Some("x=1&filename=r%C3%A9sum%C3%A9+1.pdf")),
            Some("résumé 1.pdf".into())
        );
        assert_eq!(filename_param(Some("filename=")), None);
        assert_eq!(filename_param(None), None);
        assert!(header_list_is_safe(
            "Authorization, Content-Type, X-Fdfs-Meta-Owner"
        ));
        assert!(!header_list_is_safe("a\r\nSet-Cookie: x"));
        assert!(!header_list_is_safe("a;b"));
    }
}
