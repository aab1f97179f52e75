//! Who may upload or delete: an application with a bearer token of `[[upload.bearer]]` (limited
//! to its groups), or a URL signed for the request's method with a key of `[[access.key]]` (the
//! signed-URL scheme of downloads, method `PUT`, `POST` or `DELETE`). Never open.

use crate::access::{Access, Denied, Request};

/// A bearer token and the groups it may act on (empty: all).
#[derive(Clone)]
pub struct Bearer {
    pub id: String,
    pub token: Vec<u8>,
    pub groups: Vec<String>,
}

impl Bearer {
    /// True when it may act on `group` (`auto`: a new upload into the trackers' choice).
    pub fn may_act_on(&self, group: &str) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|g| g == group)
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bearer").field("id", &self.id).finish()
    }
}

/// Why an upload or delete was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No credentials at all: 401 with `WWW-Authenticate: Bearer`.
    #[error("no bearer token and no signature")]
    NoCredentials,
    #[error("unknown bearer token")]
    UnknownToken,
    #[error("bearer `{id}` may not act on group `{group}`")]
    OtherGroup { id: String, group: String },
    #[error("signature refused: {0}")]
    Signature(Denied),
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer whose token the `Authorization` header carries; `None` without a bearer token.
pub fn bearer_of<'a>(
    bearers: &'a [Bearer],
    authorization: Option<&str>,
) -> Option<Result<&'a Bearer, Refused>> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim().as_bytes();
    // every token compared, in constant time: the time taken says nothing of which matched
    let found = bearers.iter().fold(None, |found, b| {
        if ct_eq(&b.token, token) {
            Some(b)
        } else {
            found
        }
    });
    Some(found.ok_or(Refused::UnknownToken))
}

/// Who an authorized request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A bearer of `[[upload.bearer]]`, by its id.
    Bearer(String),
    /// A URL signed with a key of `[[access.key]]`.
    Signed,
}

/// As logs name it: the bearer's id, or `signed`.
impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::Bearer(id) => f.write_str(id),
            Who::Signed => f.write_str("signed"),
        }
    }
}

/// Who a request is, when it may act on `group`.
pub fn authorize(
    bearers: &[Bearer],
    access: &Access,
    authorization: Option<&str>,
    req: &Request<'_>,
    group: &str,
    now: i64,
) -> Result<Who, Refused> {
    if let Some(found) = bearer_of(bearers, authorization) {
        let found = found?;
        if !found.may_act_on(group) {
            return Err(Refused::OtherGroup {
                id: found.id.clone(),
                group: group.to_string(),
            });
        }
        return Ok(Who::Bearer(found.id.clone()));
    }
    let signed = req
        .query
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("sig=")));
    if !signed || access.keys.is_empty() {
        return Err(Refused::NoCredentials);
    }
    access
        .verify_signed(req, now)
        .map(|_| Who::Signed)
        .map_err(Refused::Signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{KeySet, Policy, SignRequest};

    const NOW: i64 = 1_767_225_600;

    fn bearers() -> Vec<Bearer> {
        vec![
            Bearer {
                id: "app".into(),
                token: b"token-of-the-app-0123".to_vec(),
                groups: vec!["group1".into()],
            },
            Bearer {
                id: "ops".into(),
                token: b"token-of-the-ops-0123".to_vec(),
                groups: vec![],
            },
        ]
    }

    fn access() -> Access {
        let keys = KeySet::new(vec![("k".into(), b"0123456789abcdef-key".to_vec())]);
        Access::new(Policy::Public, vec![], keys, 30)
    }

    fn req<'a>(method: &'a str, path: &'a str, query: Option<&'a str>) -> Request<'a> {
        Request {
            method,
            path,
            query,
            client: None,
        }
    }

    #[test]
    fn bearer_tokens_and_their_groups() {
        let (b, a) = (bearers(), access());
        let put = req("PUT", "/group1/", None);
        let auth = |h, g| authorize(&b, &a, h, &put, g, NOW);
        assert_eq!(
            auth(Some("Bearer token-of-the-app-0123"), "group1"),
            Ok(Who::Bearer("app".into()))
        );
        assert_eq!(
            auth(Some("bearer  token-of-the-ops-0123 "), "group2"),
            Ok(Who::Bearer("ops".into()))
        );
        assert_eq!(
            auth(Some("Bearer token-of-the-app-0123"), "group2"),
            Err(Refused::OtherGroup {
                id: "app".into(),
                group: "group2".into()
            })
        );
        assert_eq!(
            auth(Some("Bearer nope"), "group1"),
            Err(Refused::UnknownToken)
        );
        assert_eq!(
            auth(Some("Basic dXNlcjpwdw=="), "group1"),
            Err(Refused::NoCredentials)
        );
        assert_eq!(auth(None, "group1"), Err(Refused::NoCredentials));
    }

    #[test]
    fn a_url_signed_for_the_method() {
        let (b, a) = (bearers(), access());
        let sign = |method, path| {
            a.keys
                .sign(&SignRequest {
                    method,
                    path,
                    scope: None,
                    exp: NOW + 60,
                    ip: None,
                    kid: None,
                    variant: None,
                })
                .expect("signs")
        };
        let q = sign("PUT", "/group2/a.jpg");
        let ok = req("PUT", "/group2/a.jpg", Some(&q));
        assert_eq!(authorize(&b, &a, None, &ok, "group2", NOW), Ok(Who::Signed));
        // a download signature does not allow an upload
        let get = sign("GET", "/group2/a.jpg");
        let put = req("PUT", "/group2/a.jpg", Some(&get));
        assert_eq!(
            authorize(&b, &a, None, &put, "group2", NOW),
            Err(Refused::Signature(Denied::BadSignature))
        );
    }
}
