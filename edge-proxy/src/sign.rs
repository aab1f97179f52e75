//! `fdfs-edge sign`: the URL an application would make for `[access]`, signed with the keys of the
//! configuration (or, with `--token`, FastDFS's token), for operators, scripts and the demo.

use crate::access::SignRequest;
use crate::config::Config;

/// What `fdfs-edge sign` was asked for.
#[derive(Debug, Clone)]
pub struct SignArgs {
    /// The path (`/group1/M00/00/00/x.jpg`), possibly with a query of its own.
    pub path: String,
    pub method: String,
    /// Unix time after which the URL is refused.
    pub exp: i64,
    pub kid: Option<String>,
    pub scope: Option<String>,
    pub ip: Option<String>,
    /// FastDFS's token (`token`, `ts` = now) instead of a signature.
    pub token: bool,
}

/// The path with its signature (or token) appended, at unix time `now`.
pub fn signed_path(cfg: &Config, args: &SignArgs, now: i64) -> Result<String, String> {
    if !args.path.starts_with('/') {
        return Err(format!("{}: the path must start with /", args.path));
    }
    let access = crate::settings::access(cfg);
    let (path, own_query) = match args.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (args.path.as_str(), None),
    };
    let query = if args.token {
        let t = access
            .token
            .as_ref()
            .ok_or("the configuration has no [access.token]")?;
        format!("token={}&ts={now}", t.generate(path, now))
    } else {
        if access.keys.is_empty() {
            return Err("the configuration has no [[access.key]]".into());
        }
        let r = SignRequest {
            method: &args.method,
            path,
            scope: args.scope.as_deref(),
            exp: args.exp,
            ip: args.ip.as_deref(),
            kid: args.kid.as_deref(),
            variant: own_query,
        };
        access.keys.sign(&r).ok_or_else(|| match &args.kid {
            Some(k) if args.ip.is_none() => format!("no [[access.key]] with id `{k}`"),
            _ => "unknown key id, or `--ip` is not an address or prefix".to_string(),
        })?
    };
    Ok(match own_query {
        Some(q) if !q.is_empty() => format!("{path}?{q}&{query}"),
        _ => format!("{path}?{query}"),
    })
}
