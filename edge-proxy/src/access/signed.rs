//! Signed URLs: `?exp=<unix time>&sig=<signature>`, and optionally `kid=<key id>`,
//! `scope=<path prefix>` and `ip=<client address or prefix>`.
//!
//! The signature is `base64url(HMAC-SHA256(secret, string to sign))` without `=` padding, where
//! the string to sign is five lines joined by `\n` (no newline at the end):
//!
//! ```text
//! GET                                  the method; a GET signature also allows HEAD
//! path                                 `path`, or `prefix` when the URL has a `scope`
//! /group1/M00/00/00/wKgAAWb.jpg        the request's path, or the `scope` value
//! 1767225600                           `exp`: unix time after which the URL is refused
//!                                      the `ip` value as written in the URL, or empty
//! ```
//!
//! The kind line keeps a signature for one path from being reused as a prefix of longer paths.
//! `kid` names the key (rotation: sign with the new key, keep the old one listed until its URLs
//! expired); without `kid` the first key is used. The comparison is constant-time (`hmac`).

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use sha2::Sha256;

use super::{parse_unix_time, Denied, Params, Request};

/// The parameters of a signed URL: left out of the cache key and of the storage's request.
pub const PARAMS: [&str; 5] = ["exp", "sig", "kid", "scope", "ip"];

/// What a query value must escape (a `scope` is a path; an `ip` may hold `:`).
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>');

type HmacSha256 = Hmac<Sha256>;

/// A signing key: its id (`kid`) and its HMAC, keyed once (a keyed HMAC is two SHA-256 blocks of
/// work that every signature would otherwise repeat).
#[derive(Clone)]
pub struct Key {
    pub id: String,
    keyed: HmacSha256,
}

impl Key {
    fn mac(&self, msg: &str) -> HmacSha256 {
        let mut m = self.keyed.clone();
        m.update(msg.as_bytes());
        m
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the secret, in logs or panics
        f.debug_struct("Key").field("id", &self.id).finish()
    }
}

/// The keys of `[[access.key]]`, in file order (the first is the default).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// What to sign (`fdfs-edge sign`, the tests).
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub scope: Option<&'a str>,
    pub exp: i64,
    pub ip: Option<&'a str>,
    pub kid: Option<&'a str>,
    /// `[images]` parameters the URL carries (`w=300&h=200`): the signature covers them.
    pub variant: Option<&'a str>,
}

/// The method line: HEAD is signed as GET (a browser or a checker may ask for the header alone).
pub(super) fn method_line(method: &str) -> &str {
    if method.eq_ignore_ascii_case("HEAD") {
        "GET"
    } else {
        method
    }
}

/// The signed text: five lines, and a sixth with the `[images]` parameters when the URL has some
/// (so a URL without them signs as it always did).
fn string_to_sign(
    method: &str,
    scope: Option<&str>,
    path: &str,
    exp: i64,
    ip: &str,
    variant: &str,
) -> String {
    let (kind, signed) = match scope {
        Some(s) => ("prefix", s),
        None => ("path", path),
    };
    let mut s = format!("{}\n{kind}\n{signed}\n{exp}\n{ip}", method_line(method));
    if !variant.is_empty() {
        s.push('\n');
        s.push_str(variant);
    }
    s
}

/// The `[images]` parameters of a query as a signature covers them (in a fixed order).
pub fn variant_line(query: Option<&str>) -> Result<String, Denied> {
    match crate::images::params::Asked::from_query(query) {
        Ok(Some(a)) => Ok(a.signed_line()),
        Ok(None) => Ok(String::new()),
        Err(_) => Err(Denied::Malformed("variant parameters")),
    }
}

fn mac(secret: &[u8], msg: &str) -> HmacSha256 {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut m = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(msg.as_bytes());
    m
}

/// `base64url(HMAC-SHA256(secret, msg))` without padding.
pub(crate) fn hmac_b64(secret: &[u8], msg: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(secret, msg).finalize().into_bytes())
}

/// Whether `sig` (base64url, padding optional) is the HMAC of `msg`, compared in constant time.
pub(crate) fn hmac_matches(secret: &[u8], msg: &str, sig: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .is_ok_and(|sig| mac(secret, msg).verify_slice(&sig).is_ok())
}

/// A client address as the `ip` rule compares it: an IPv4 client on an IPv6 socket is IPv4.
fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `client` may use a URL signed with the `ip` rule `net`.
pub(super) fn check_ip(net: Option<&IpNet>, client: Option<IpAddr>) -> Result<(), Denied> {
    let Some(net) = net else {
        return Ok(());
    };
    let client = client.map(plain_ip);
    if client.is_some_and(|c| net.contains(&c)) {
        return Ok(());
    }
    let shown = client.map_or_else(|| "unknown".to_string(), |c| c.to_string());
    Err(Denied::WrongAddress(shown))
}

/// An `ip` value: an address or a prefix (`203.0.113.7`, `203.0.113.0/24`, `2001:db8::/48`).
pub(super) fn parse_ip_rule(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

impl KeySet {
    /// Keys as (id, secret), in file order.
    pub fn new(keys: Vec<(String, Vec<u8>)>) -> KeySet {
        KeySet {
            keys: keys
                .into_iter()
                .map(|(id, secret)| Key {
                    id,
                    keyed: mac(&secret, ""),
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn find(&self, kid: Option<&str>) -> Result<&Key, Denied> {
        match kid {
            None => self.keys.first().ok_or(Denied::UnknownKey(String::new())),
            Some(id) => self
                .keys
                .iter()
                .find(|k| k.id == id)
                .ok_or_else(|| Denied::UnknownKey(id.to_string())),
        }
    }

    /// Checks a signed request at unix time `now`, allowing `skew` seconds past `exp`.
    pub fn verify(
        &self,
        req: &Request<'_>,
        params: &Params,
        now: i64,
        skew: i64,
    ) -> Result<(), Denied> {
        let exp = parse_unix_time(params.require("exp")?, "exp")?;
        let sig = params.require("sig")?;
        if now > exp.saturating_add(skew) {
            return Err(Denied::Expired { exp, now });
        }
        let key = self.find(params.get("kid"))?;
        let scope = params.get("scope");
        if let Some(s) = scope {
            if !s.starts_with('/') {
                return Err(Denied::Malformed("scope"));
            }
            if !req.path.starts_with(s) {
                return Err(Denied::OutOfScope(s.to_string()));
            }
        }
        let ip = params.get("ip").unwrap_or("");
        // padding is optional: some encoders add it
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig.trim_end_matches('=')) else {
            return Err(Denied::Malformed("sig"));
        };
        let msg = string_to_sign(
            req.method,
            scope,
            req.path,
            exp,
            ip,
            &variant_line(req.query)?,
        );
        if key.mac(&msg).verify_slice(&sig).is_err() {
            return Err(Denied::BadSignature);
        }
        // After the signature: a client cannot learn anything from changing `ip`.
        if !ip.is_empty() {
            let net = parse_ip_rule(ip).ok_or(Denied::Malformed("ip"))?;
            check_ip(Some(&net), req.client)?;
        }
        Ok(())
    }

    /// The query (`exp=…&sig=…&kid=…[&scope=…][&ip=…]`) that signs `r`; `None` when `r.kid` names
    /// no key (or there is no key), or `r.ip` is not an address or prefix.
    pub fn sign(&self, r: &SignRequest<'_>) -> Option<String> {
        let key = self.find(r.kid).ok()?;
        if r.ip.is_some_and(|ip| parse_ip_rule(ip).is_none()) {
            return None;
        }
        let variant = variant_line(r.variant).ok()?;
        let msg = string_to_sign(
            r.method,
            r.scope,
            r.path,
            r.exp,
            r.ip.unwrap_or(""),
            &variant,
        );
        let sig = URL_SAFE_NO_PAD.encode(key.mac(&msg).finalize().into_bytes());
        let mut q = format!(
            "exp={}&sig={sig}&kid={}",
            r.exp,
            utf8_percent_encode(&key.id, QUERY_VALUE)
        );
        for (name, value) in [("scope", r.scope), ("ip", r.ip)] {
            if let Some(v) = value {
                q.push_str(&format!("&{name}={}", utf8_percent_encode(v, QUERY_VALUE)));
            }
        }
        Some(q)
    }
}
