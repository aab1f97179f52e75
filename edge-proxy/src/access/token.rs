//! FastDFS's anti-steal token at the edge (`?token=<md5 hex>&ts=<unix time>`, the module's
//! `http.anti_steal.*`): applications that make these URLs keep working when the check moves from
//! the storages to the edge. The token itself is `fdfs_client::token`'s (one implementation for
//! the module and the edge).
//!
//! Stricter than the C module, on purpose: `token` and `ts` must both be there and not empty
//! (fastdfs issue 405: the C check let empty values through, since `atoi("")` is 0 and `ts = 0`
//! never expires), `ts` is decimal digits only, `ts = 0` is expired rather than eternal, and a
//! `ts` more than the clock skew ahead of the edge's clock is refused (a far-future `ts` would be
//! a token that never expires).

use fdfs_client::token::{self, TokenError};

use super::{parse_unix_time, Denied, Params};

/// The parameters of a token URL: left out of the cache key and of the storage's request.
pub const PARAMS: [&str; 2] = ["token", "ts"];

/// `[access.token]`: the storages' `http.anti_steal.secret_key` and `token_ttl`.
#[derive(Clone)]
pub struct TokenCheck {
    pub secret: String,
    pub ttl: i64,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The file id without its group, as the token covers it: `/group1/M00/00/00/x.jpg` →
/// `M00/00/00/x.jpg`.
fn without_group(path: &str) -> &str {
    path.trim_start_matches('/')
        .split_once('/')
        .map_or("", |(_, rest)| rest)
}

impl TokenCheck {
    /// Checks the token of canonical `path` at unix time `now`.
    pub fn verify(&self, path: &str, params: &Params, now: i64, skew: i64) -> Result<(), Denied> {
        let tok = params.require("token")?;
        let ts_text = params.require("ts")?;
        let ts = parse_unix_time(ts_text, "ts")?;
        if ts > i64::from(i32::MAX) {
            // FastDFS keeps `ts` in a C int
            return Err(Denied::Malformed("ts"));
        }
        if ts == 0 {
            return Err(Denied::TokenExpired { ts, now });
        }
        if ts > now.saturating_add(skew) {
            return Err(Denied::TokenInFuture { ts, now });
        }
        let rest = without_group(path);
        match token::check(rest, &self.secret, Some(tok), Some(ts_text), self.ttl, now) {
            Ok(()) => Ok(()),
            Err(TokenError::Expired { ts, now, .. }) => Err(Denied::TokenExpired { ts, now }),
            Err(e) => Err(Denied::Token(e.to_string())),
        }
    }

    /// The token of `path` at `ts` (tests, and what an application computes).
    pub fn generate(&self, path: &str, ts: i64) -> String {
        token::generate(without_group(path), &self.secret, ts)
    }
}
