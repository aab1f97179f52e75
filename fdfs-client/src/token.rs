//! The anti-steal token (§3.6, `fdfs_http_gen_token` / `fdfs_http_check_token`).
//!
//! `token = lowercase_hex(md5(rest + secret_key + decimal(ts)))` where `rest` is the file id without
//! the group (`M00/00/00/xxx.jpg`: no group, no leading `/`, no query) and `ts` is the `ts` query
//! parameter read with C `atoi`. `ts = 0` never expires; otherwise the token is rejected when
//! `now − ts > ttl` (future timestamps are accepted).
//!
//! ```
//! use fdfs_client::token;
//! let t = token::generate("M00/00/00/a.jpg", "secret", 1700000000);
//! assert_eq!(t.len(), 32);
//! assert!(token::check("M00/00/00/a.jpg", "secret", Some(&t), Some("1700000000"), 600, 1700000100).is_ok());
//! ```

use md5::{Digest, Md5};

/// Why a token was refused. The C module answers 400 for [`TokenError::Missing`] even when a
/// `token_check_fail` file is configured; the other variants get the fail file if there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The `token` or the `ts` parameter is absent.
    #[error("missing {0} parameter")]
    Missing(&'static str),
    /// `now − ts > ttl`.
    #[error("token expired: ts {ts}, now {now}, ttl {ttl} s")]
    Expired { ts: i64, now: i64, ttl: i64 },
    /// The token is not 32 chars long.
    #[error("token must be 32 chars, got {0}")]
    BadLength(usize),
    /// The token does not match.
    #[error("token mismatch")]
    Mismatch,
}

/// Compute the token for `rest` (logic name without group), `secret` and `ts`.
pub fn generate(rest: &str, secret: &str, ts: i64) -> String {
    let mut h = Md5::new();
    h.update(rest.as_bytes());
    h.update(secret.as_bytes());
    // The C code formats an int.
    h.update(c_int(ts).to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// C `atoi` as glibc does it: optional leading whitespace, optional sign, digits; anything else stops
/// the parse; no digits gives 0; the value is truncated to a 32-bit int.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for c in digits.bytes().take_while(u8::is_ascii_digit) {
        // strtol saturates at LONG_MAX / LONG_MIN.
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    c_int(if neg { v.saturating_neg() } else { v })
}

/// `(int)long`: keep the low 32 bits, signed.
fn c_int(v: i64) -> i64 {
    // Truncation intended: mimic the C cast.
    i64::from(v as i32)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Check the `token` and `ts` parameters (raw query values) for `rest` at time `now` (unix seconds).
pub fn check(
    rest: &str,
    secret: &str,
    token: Option<&str>,
    ts: Option<&str>,
    ttl: i64,
    now: i64,
) -> Result<(), TokenError> {
    let token = token.ok_or(TokenError::Missing("token"))?;
    let ts = atoi(ts.ok_or(TokenError::Missing("ts"))?);
    if ts != 0 && now - ts > ttl {
        return Err(TokenError::Expired { ts, now, ttl });
    }
    if token.len() != 32 {
        return Err(TokenError::BadLength(token.len()));
    }
    if ct_eq(token.as_bytes(), generate(rest, secret, ts).as_bytes()) {
        Ok(())
    } else {
        Err(TokenError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REST: &str = "M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg";

    #[test]
    fn known_md5() {
        // printf '%s' "M00/00/00/a.jpgFastDFS12345678901" | md5sum
        assert_eq!(
            generate("M00/00/00/a.jpg", "FastDFS1234567890", 1),
            "f3c2b8d8d6110c99d238376618ba005e"
        );
    }

    #[test]
    fn check_paths() {
        let t = generate(REST, "k", 1000);
        assert_eq!(check(REST, "k", Some(&t), Some("1000"), 600, 1500), Ok(()));
        assert_eq!(check(REST, "k", Some(&t), Some("1000"), 600, 1600), Ok(()));
        assert_eq!(
            check(REST, "k", Some(&t), Some("1000"), 600, 1601),
            Err(TokenError::Expired {
                ts: 1000,
                now: 1601,
                ttl: 600
            })
        );
        // Future timestamps are fine.
        assert_eq!(check(REST, "k", Some(&t), Some("1000"), 600, 0), Ok(()));
        assert_eq!(
            check(REST, "x", Some(&t), Some("1000"), 600, 1500),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            check("M00/x", "k", Some(&t), Some("1000"), 600, 1500),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            check(REST, "k", None, Some("1000"), 600, 1500),
            Err(TokenError::Missing("token"))
        );
        assert_eq!(
            check(REST, "k", Some(&t), None, 600, 1500),
            Err(TokenError::Missing("ts"))
        );
        assert_eq!(
            check(REST, "k", Some("abc"), Some("1000"), 600, 1500),
            Err(TokenError::BadLength(3))
        );
        // Uppercase hex is not accepted (C memcmp against lowercase).
        let up = t.to_uppercase();
        if up != t {
            assert_eq!(
                check(REST, "k", Some(&up), Some("1000"), 600, 1500),
                Err(TokenError::Mismatch)
            );
        }
    }

    #[test]
    fn ts_zero_never_expires_and_atoi() {
        let t0 = generate(REST, "k", 0);
        assert_eq!(
            check(REST, "k", Some(&t0), Some("abc"), 1, i64::from(i32::MAX)),
            Ok(())
        );
        assert_eq!(check(REST, "k", Some(&t0), Some(""), 1, 10_000), Ok(()));
        let t = generate(REST, "k", 1000);
        assert_eq!(
            check(REST, "k", Some(&t), Some("  1000xyz"), 600, 1500),
            Ok(())
        );
        assert_eq!(atoi(" -12ab"), -12);
        assert_eq!(atoi("+7"), 7);
        assert_eq!(atoi("4294967297"), 1);
        assert_eq!(atoi("99999999999999999999999"), -1);
    }
}
