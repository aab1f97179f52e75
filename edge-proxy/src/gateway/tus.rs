//! Resumable uploads, tus 1.0 (core, creation, termination, expiration) under `/tus/`: an upload
//! is an appender file on one storage, each `PATCH` an `APPEND` at the offset FastDFS reports, its
//! total length and expiry kept in the file's metadata (so either edge of the pair can carry on an
//! upload the other began), and the finished file renamed to a normal id.
//! This file reads the requests; `proxy/tus.rs` carries them out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fdfs_client::file_id::LogicName;

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str = "creation,termination,expiration";
/// The path prefix of tus uploads.
pub const PREFIX: &str = "/tus/";
/// Metadata keys of an upload in progress (removed when it is finished).
pub const META_LENGTH: &str = "tus-length";
pub const META_EXPIRES: &str = "tus-expires";
/// The bearer that created the upload: it may finish and terminate it wherever the trackers put
/// it, when it created it through `auto`.
pub const META_OWNER: &str = "tus-owner";
/// `PATCH` bodies.
pub const PATCH_TYPE: &str = "application/offset+octet-stream";

/// What a tus request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TusOp {
    /// `OPTIONS`: the server's capabilities.
    Options,
    /// `POST /tus/<group|auto>/`: a new upload.
    Create { group: Option<String> },
    /// `HEAD /tus/<file id>`: its offset.
    Head { file_id: String },
    /// `PATCH /tus/<file id>`: bytes at an offset.
    Patch { file_id: String },
    /// `DELETE /tus/<file id>`: termination.
    Delete { file_id: String },
}

impl TusOp {
    /// The group it acts on (`auto` for a new upload into the trackers' choice).
    pub fn group(&self) -> &str {
        match self {
            TusOp::Options => "",
            TusOp::Create { group } => group.as_deref().unwrap_or("auto"),
            TusOp::Head { file_id } | TusOp::Patch { file_id } | TusOp::Delete { file_id } => {
                file_id.split('/').next().unwrap_or("")
            }
        }
    }
}

fn file_id(rest: &str) -> Result<String, String> {
    let (group, logic) = rest.split_once('/').ok_or("not an upload URL")?;
    if group.is_empty() || group.len() > 16 {
        return Err("not an upload URL".into());
    }
    LogicName::parse(logic).map_err(|e| format!("not an upload URL: {e}"))?;
    Ok(rest.to_string())
}

/// Reads a request under [`PREFIX`]; `Err` is a 400 (or 405 for another method).
pub fn parse(method: &str, path: &str) -> Result<TusOp, (u16, String)> {
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let bad = |e: String| (400, e);
    match method {
        "OPTIONS" => Ok(TusOp::Options),
        "POST" => {
            let group = rest.trim_end_matches('/');
            let ok = !group.is_empty()
                && !group.contains('/')
                && group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(bad(format!(
                    "a new upload is POST {PREFIX}<group or auto>/"
                )));
            }
            let group = (group != "auto").then(|| group.to_string());
            Ok(TusOp::Create { group })
        }
        "HEAD" => file_id(rest)
            .map(|file_id| TusOp::Head { file_id })
            .map_err(bad),
        "PATCH" => file_id(rest)
            .map(|file_id| TusOp::Patch { file_id })
            .map_err(bad),
        "DELETE" => file_id(rest)
            .map(|file_id| TusOp::Delete { file_id })
            .map_err(bad),
        other => Err((405, format!("{other} is not a tus method"))),
    }
}

/// A non-negative length or offset header.
pub fn number(value: Option<&str>, name: &str) -> Result<u64, String> {
    let v = value.ok_or_else(|| format!("no {name}"))?.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {name}"));
    }
    v.parse().map_err(|_| format!("bad {name}"))
}

/// `Upload-Metadata: key base64,key2 base64`: the pairs, decoded (keys are kept as metadata of
/// the file; `filename` also gives the extension).
pub fn metadata(header: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let Some(h) = header.filter(|h| !h.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    h.split(',')
        .map(|pair| {
            let mut it = pair.trim().splitn(2, ' ');
            let key = it.next().unwrap_or("");
            if key.is_empty() || key.starts_with("tus-") {
                return Err(format!("bad Upload-Metadata key `{key}`"));
            }
            let value = match it.next() {
                Some(b64) => STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|v| String::from_utf8(v).ok())
                    .ok_or_else(|| format!("Upload-Metadata `{key}`: not base64 of UTF-8"))?,
                None => String::new(),
            };
            Ok((key.to_string(), value))
        })
        .collect()
}

/// The metadata of an upload in progress: its length and expiry, `None` when the file is not one.
pub fn progress_of(meta: &[(String, String)]) -> Option<(u64, i64)> {
    let get = |k: &str| meta.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    Some((
        get(META_LENGTH)?.parse().ok()?,
        get(META_EXPIRES)?.parse().ok()?,
    ))
}

/// The bearer that created an upload in progress.
pub fn owner_of(meta: &[(String, String)]) -> Option<&str> {
    meta.iter()
        .find(|(k, _)| k == META_OWNER)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "group1/M00/00/00/wKgAAWbVnm6EAAAAAAAAAAOYfqA123.bin";

    #[test]
    fn tus_requests_are_read() {
        assert_eq!(
            parse("POST", "/tus/auto/"),
            Ok(TusOp::Create { group: None })
        );
        assert_eq!(
            parse("POST", "/tus/group1/"),
            Ok(TusOp::Create {
                group: Some("group1".into())
            })
        );
        assert!(parse("POST", "/tus/group1/x").is_err());
        let head = parse("HEAD", &format!("/tus/{ID}"));
        assert_eq!(head, Ok(TusOp::Head { file_id: ID.into() }));
        assert_eq!(head.map(|h| h.group().to_string()), Ok("group1".into()));
        assert!(parse("PATCH", "/tus/group1/../x").is_err());
        assert_eq!(parse("GET", "/tus/x").map_err(|e| e.0), Err(405));
    }

    #[test]
    fn headers_and_metadata() {
        assert_eq!(number(Some("123"), "Upload-Offset"), Ok(123));
        assert!(number(Some("-1"), "Upload-Offset").is_err());
        assert!(number(Some(""), "Upload-Offset").is_err());
        assert!(number(None, "Upload-Length").is_err());
        // "filename d29ybGQ=" is filename=world
        assert_eq!(
            metadata(Some("filename d29ybGQ=,is_confidential")),
            Ok(vec![
                ("filename".into(), "world".into()),
                ("is_confidential".into(), String::new())
            ])
        );
        assert!(metadata(Some("filename %%%")).is_err());
        assert!(metadata(Some("tus-length MTA=")).is_err(), "reserved keys");
        let meta = vec![
            (META_LENGTH.to_string(), "10".to_string()),
            (META_EXPIRES.to_string(), "99".to_string()),
        ];
        assert_eq!(progress_of(&meta), Some((10, 99)));
        assert_eq!(progress_of(&[]), None);
    }
}
