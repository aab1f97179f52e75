//! Who may download what (`[access]`): each path is public, needs a signed URL ([`signed`]) or
//! needs FastDFS's anti-steal token ([`token`]), by the longest matching rule.
//!
//! Decisions only: no I/O and no clock (`now` is an argument). The proxy asks [`Access::check`]
//! in `request_filter`, before any cache lookup, so a cached object is never served to a request
//! that was not checked; the parameters the check consumed are then left out of the cache key
//! and of the storage's request, so every signature of one file shares one cached copy.

pub mod signed;
pub mod token;
mod verified;

use std::net::IpAddr;

use percent_encoding::percent_decode_str;

pub use signed::{KeySet, SignRequest};
pub use token::TokenCheck;

/// What a path needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    #[default]
    Public,
    Signed,
    Token,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Public => "public",
            Policy::Signed => "signed",
            Policy::Token => "token",
        }
    }
}

/// Why a request was refused: the log says the whole reason, the metric the label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("no `{0}` parameter")]
    Missing(&'static str),
    #[error("bad `{0}` parameter")]
    Malformed(&'static str),
    #[error("`{0}` given twice")]
    Repeated(&'static str),
    #[error("signature expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("no key `{0}`")]
    UnknownKey(String),
    #[error("signature does not match")]
    BadSignature,
    #[error("path outside the signed scope `{0}`")]
    OutOfScope(String),
    #[error("client address {0} outside the signed `ip`")]
    WrongAddress(String),
    #[error("token refused: {0}")]
    Token(String),
    #[error("token timestamp {ts} is in the future (now {now})")]
    TokenInFuture { ts: i64, now: i64 },
    #[error("token expired: ts {ts}, now {now}")]
    TokenExpired { ts: i64, now: i64 },
}

impl Denied {
    /// The `reason` label of `fdfs_edge_access_denied_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Missing(_) => "missing",
            Denied::Malformed(_) | Denied::Repeated(_) => "malformed",
            Denied::Expired { .. } => "expired",
            Denied::UnknownKey(_) => "unknown_key",
            Denied::BadSignature => "bad_signature",
            Denied::OutOfScope(_) => "out_of_scope",
            Denied::WrongAddress(_) => "wrong_address",
            Denied::Token(_) => "bad_token",
            Denied::TokenInFuture { .. } => "token_in_future",
            Denied::TokenExpired { .. } => "token_expired",
        }
    }

    /// Every label, so that `/metrics` shows each from the start.
    pub const REASONS: [&'static str; 10] = [
        "bad_signature",
        "bad_token",
        "expired",
        "malformed",
        "missing",
        "out_of_scope",
        "token_expired",
        "token_in_future",
        "unknown_key",
        "wrong_address",
    ];
}

/// A rule: paths starting with `prefix` need `policy`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub prefix: String,
    pub policy: Policy,
}

/// The request as the check sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The canonical path (`proxy::path`), which is what signatures cover.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub client: Option<IpAddr>,
}

/// A request the check let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub policy: Policy,
    /// The query without the parameters the check consumed (`None` when nothing is left): what
    /// the cache key and the storage's request use.
    pub query: Option<String>,
}

/// The whole `[access]` policy.
#[derive(Debug, Default)]
pub struct Access {
    pub default: Policy,
    /// Longest prefix first.
    rules: Vec<Rule>,
    pub keys: KeySet,
    pub token: Option<TokenCheck>,
    /// Seconds a signature or token may be late (or early) by the edge's clock.
    pub skew: i64,
    /// `[access] storage_bypass_header`: sent with every checked request to the storages, so
    /// that storages checking tokens themselves let the edge's fetch through.
    pub bypass_header: Option<(String, String)>,
    verified: verified::Verified,
}

impl Access {
    pub fn new(default: Policy, mut rules: Vec<Rule>, keys: KeySet, skew: i64) -> Access {
        rules.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Access {
            default,
            rules,
            keys,
            token: None,
            skew,
            bypass_header: None,
            verified: verified::Verified::default(),
        }
    }

    /// Whether any path needs a check (with no `[access]`, none does and nothing is parsed).
    pub fn enabled(&self) -> bool {
        self.default != Policy::Public || self.rules.iter().any(|r| r.policy != Policy::Public)
    }

    /// The policy of a canonical path.
    pub fn policy_of(&self, path: &str) -> Policy {
        self.rules
            .iter()
            .find(|r| path.starts_with(&r.prefix))
            .map_or(self.default, |r| r.policy)
    }

    /// Lets `req` through or says why not, at unix time `now`.
    pub fn check(&self, req: &Request<'_>, now: i64) -> Result<Allowed, Denied> {
        let policy = self.policy_of(req.path);
        match policy {
            Policy::Public => Ok(Allowed {
                policy,
                query: req.query.map(str::to_string),
            }),
            Policy::Signed => self.check_signed(req, now),
            Policy::Token => {
                let params = Params::parse(req.query.unwrap_or(""), &token::PARAMS)?;
                match &self.token {
                    Some(t) => t.verify(req.path, &params, now, self.skew)?,
                    // Refused by the configuration check; never open by accident.
                    None => return Err(Denied::Missing("token")),
                }
                Ok(Allowed {
                    policy,
                    query: params.rest,
                })
            }
        }
    }

    /// A signed URL: from the table of verified ones, or verified and added to it.
    fn check_signed(&self, req: &Request<'_>, now: i64) -> Result<Allowed, Denied> {
        let query = req.query.unwrap_or("");
        let key = verified::key(signed::method_line(req.method), req.path, query);
        if let Some(e) = self.verified.get(&key) {
            if now > e.exp.saturating_add(self.skew) {
                return Err(Denied::Expired { exp: e.exp, now });
            }
            signed::check_ip(e.ip.as_ref(), req.client)?;
            return Ok(Allowed {
                policy: Policy::Signed,
                query: e.rest,
            });
        }
        let params = Params::parse(query, &signed::PARAMS)?;
        self.keys.verify(req, &params, now, self.skew)?;
        let entry = verified::Entry {
            // both checked by `verify`
            exp: params.get("exp").and_then(|e| e.parse().ok()).unwrap_or(0),
            ip: params.get("ip").and_then(signed::parse_ip_rule),
            rest: params.rest,
        };
        let query = entry.rest.clone();
        self.verified.insert(key, entry);
        Ok(Allowed {
            policy: Policy::Signed,
            query,
        })
    }
}

impl Access {
    /// Checks the URL signature of `req` whatever the path's policy (uploads and deletes); the
    /// query without the signature's parameters.
    pub fn verify_signed(&self, req: &Request<'_>, now: i64) -> Result<Option<String>, Denied> {
        let params = Params::parse(req.query.unwrap_or(""), &signed::PARAMS)?;
        self.keys.verify(req, &params, now, self.skew)?;
        Ok(params.rest)
    }
}

/// The check's parameters of a query (percent-decoded), and the rest of the query as it was.
#[derive(Debug, Default)]
pub struct Params {
    found: Vec<(&'static str, String)>,
    rest: Option<String>,
}

impl Params {
    /// Splits `query` into the parameters named in `names` and the others. A name given twice is
    /// refused: which of the two a signer meant cannot be known.
    fn parse(query: &str, names: &[&'static str]) -> Result<Params, Denied> {
        let mut p = Params::default();
        let mut rest: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(&name) = names.iter().find(|n| **n == k) else {
                rest.push(pair);
                continue;
            };
            if p.get(name).is_some() {
                return Err(Denied::Repeated(name));
            }
            let v = percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| Denied::Malformed(name))?;
            p.found.push((name, v.into_owned()));
        }
        p.rest = (!rest.is_empty()).then(|| rest.join("&"));
        Ok(p)
    }

    /// The decoded value of `name`; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.found
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, which must be there.
    pub fn require(&self, name: &'static str) -> Result<&str, Denied> {
        self.get(name).ok_or(Denied::Missing(name))
    }
}

/// A unix time written as decimal digits only (no sign, no spaces, at most 10 digits: C `atoi`'s
/// leniency is what let empty and odd values through in the C module).
pub fn parse_unix_time(s: &str, name: &'static str) -> Result<i64, Denied> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Denied::Malformed(name));
    }
    s.parse().map_err(|_| Denied::Malformed(name))
}

#[cfg(test)]
mod tests;
