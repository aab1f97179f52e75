//! The front door (`[upload]`): uploads and deletes over HTTP, through the trackers. What a request
//! asks ([`Op`]), who may do it ([`auth`]) and which checksum it carries ([`digest`]) are decided
//! here without I/O; [`store`] moves the bytes into FastDFS.

pub mod auth;
pub mod digest;
pub mod rate;
pub mod store;
pub mod tus;

use std::collections::HashMap;
use std::net::IpAddr;

use fdfs_client::client::Client;
use fdfs_client::file_id::{file_ext_name, LogicName};
use parking_lot::Mutex;

/// `[upload]` at run time.
#[derive(Debug)]
pub struct Gateway {
    pub client: Client,
    pub settings: GatewaySettings,
    in_progress: Mutex<HashMap<IpAddr, usize>>,
    rate: Mutex<rate::RateLimit>,
}

/// Why a client's request must wait (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// `max_concurrent_per_client` in progress.
    Concurrent,
    /// Over `requests_per_minute_per_client`: seconds until the next one is allowed.
    Rate(u64),
}

/// What `[upload]` says.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub bearers: Vec<auth::Bearer>,
    pub delete: bool,
    /// Block size of a body of unknown length.
    pub block: usize,
    /// Seconds the signed URL of an answer is valid.
    pub url_ttl: i64,
    pub tus: TusSettings,
    pub max_per_client: usize,
    /// Uploads and deletes a minute per client address (0: no limit).
    pub per_minute: u32,
}

/// `[upload] tus_*`.
#[derive(Debug, Clone, Copy)]
pub struct TusSettings {
    pub max_size: u64,
    pub expires: i64,
    pub rename: bool,
}

/// An upload or delete in progress for a client address (released when dropped).
pub struct ClientSlot<'a> {
    gateway: &'a Gateway,
    ip: IpAddr,
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        let mut m = self.gateway.in_progress.lock();
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Gateway {
    pub fn new(client: Client, settings: GatewaySettings) -> Gateway {
        Gateway {
            client,
            rate: Mutex::new(rate::RateLimit::new(settings.per_minute)),
            settings,
            in_progress: Mutex::default(),
        }
    }

    /// A slot for one more request of `ip` at `now`, within its rate and concurrency limits.
    pub fn enter(&self, ip: IpAddr, now: std::time::Instant) -> Result<ClientSlot<'_>, Busy> {
        let mut m = self.in_progress.lock();
        let n = m.entry(ip).or_insert(0);
        if *n >= self.settings.max_per_client {
            return Err(Busy::Concurrent);
        }
        if let Err(wait) = self.rate.lock().take(ip, now) {
            return Err(Busy::Rate(wait.as_secs().max(1)));
        }
        *n += 1;
        Ok(ClientSlot { gateway: self, ip })
    }
}

/// What an upload or delete request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Store the body in `group` (`None`: the group the trackers choose, written `auto`), with
    /// extension `ext` (may be empty).
    Upload { group: Option<String>, ext: String },
    /// Delete a file (its id: `group1/M00/00/00/x.jpg`).
    Delete { file_id: String },
}

impl Op {
    /// The group the request acts on, as `[[upload.bearer]] groups` names it (`auto` for the
    /// trackers' choice).
    pub fn group(&self) -> &str {
        match self {
            Op::Upload { group, .. } => group.as_deref().unwrap_or("auto"),
            Op::Delete { file_id } => file_id.split('/').next().unwrap_or(""),
        }
    }
}

fn valid_group(g: &str) -> bool {
    !g.is_empty()
        && g.len() <= 16
        && g.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The value of `name` in a query (raw, not decoded: an extension needs no escape).
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Reads an upload or delete request: `PUT|POST /<group|auto>/[<file name>][?ext=<ext>]`,
/// `DELETE /<file id>`. `Err` is the reason of a 400.
pub fn parse(method: &str, path: &str, query: Option<&str>) -> Result<Op, String> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match method {
        "PUT" | "POST" => {
            let (group, name) = rest.split_once('/').unwrap_or((rest, ""));
            if name.contains('/') {
                return Err("an upload goes to /<group>/ or /<group>/<file name>".into());
            }
            if !valid_group(group) {
                return Err(format!("bad group `{group}`"));
            }
            let ext = match query_value(query, "ext") {
                Some(e) => e,
                None => file_ext_name(name).unwrap_or(""),
            };
            if ext.len() > 6 || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "bad extension `{ext}` (letters and digits, 6 at most)"
                ));
            }
            let group = (group != "auto").then(|| group.to_string());
            Ok(Op::Upload {
                group,
                ext: ext.to_string(),
            })
        }
        "DELETE" => {
            let (group, logic) = rest.split_once('/').unwrap_or((rest, ""));
            if !valid_group(group) {
                return Err(format!("bad group `{group}`"));
            }
            LogicName::parse(logic).map_err(|e| format!("not a file id: {e}"))?;
            Ok(Op::Delete {
                file_id: rest.to_string(),
            })
        }
        other => Err(format!("method {other} is not an upload or a delete")),
    }
}

/// The JSON answer of an upload: the id, its size, and its URL on this edge (signed when the
/// group's downloads are).
pub fn answer(file_id: &str, size: u64, url: &str) -> String {
    let v = serde_json::json!({ "file_id": file_id, "size": size, "url": url });
    format!("{v}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_and_deletes_are_read_from_the_request() {
        let up = |m, p, q| parse(m, p, q);
        assert_eq!(
            up("PUT", "/group1/photo.jpg", None),
            Ok(Op::Upload {
                group: Some("group1".into()),
                ext: "jpg".into()
            })
        );
        assert_eq!(
            up("POST", "/auto/", Some("ext=png&x=1")),
            Ok(Op::Upload {
                group: None,
                ext: "png".into()
            })
        );
        assert_eq!(
            up("PUT", "/auto/", None).map(|o| o.group().to_string()),
            Ok("auto".into())
        );
        assert!(up("PUT", "/group1/M00/00/00/x.jpg", None).is_err());
        assert!(up("PUT", "/gr oup/", None).is_err());
        assert!(up("PUT", "/group1/", Some("ext=toolongext")).is_err());
        assert!(up("PUT", "/group1/", Some("ext=j%2Fg")).is_err());
        let id = "group1/M00/00/00/wKgAAWbVnm6AYz5PAAAABHf3mjE123.txt";
        assert_eq!(
            parse("DELETE", &format!("/{id}"), None),
            Ok(Op::Delete { file_id: id.into() })
        );
        assert!(parse("DELETE", "/group1/", None).is_err());
        assert!(parse("DELETE", "/group1/../etc/passwd", None).is_err());
        assert!(parse("PATCH", "/group1/", None).is_err());
    }

    #[test]
    fn the_answer_is_json() {
        let a = answer("group1/M00/00/00/a\"b.jpg", 3, "/group1/M00/00/00/a\"b.jpg");
        let v: serde_json::Value = serde_json::from_str(&a).expect("json");
        assert_eq!(v["file_id"], "group1/M00/00/00/a\"b.jpg");
        assert_eq!(v["size"], 3);
    }
}
