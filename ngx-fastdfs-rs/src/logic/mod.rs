//! The request logic of the module, without any nginx type: URL → file id → what to do (§1.2, §2,
//! §3.6), with the fixes listed in the crate docs. Everything here is unit-tested; the FFI layer only
//! moves bytes between nginx and these functions.

mod action;

use std::borrow::Cow;
use std::net::IpAddr;

use fdfs_client::file_id::{FileIdError, FileInfo, FileKind, LogicName, Source};
use fdfs_client::token::{self, TokenError};

use crate::instance::{Instance, Peer};

pub use action::{
    link_action, local_action, local_file, name_action, not_local_action, open_failure,
    refusal_action, trunk_slot, Action, Origin, Refuse, Slot, SlotOwner, MAX_LINK_LEN,
};

/// Longest `uri?args` the C module accepts (`url` buffer of 4 KiB).
pub const MAX_URL_LEN: usize = 4095;
/// Longest URI path the C module accepts (512-byte buffer).
pub const MAX_URI_LEN: usize = 512;
/// Shortest URL the C module accepts.
pub const MIN_URL_LEN: usize = 16;
/// At most 32 query parameters are parsed (libfastcommon `http_parse_query`).
pub const MAX_QUERY_PARAMS: usize = 32;

/// What the request ended as; also the value of `$fastdfs_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Served from the local disk.
    Local,
    /// Handed to nginx's proxy module.
    Proxy,
    /// Answered with a 302.
    Redirect,
    /// 404.
    NotFound,
    /// 400.
    BadRequest,
    /// Token refused (403 or the token_check_fail file).
    TokenDenied,
    /// 500 (unresolvable storage id, internal error).
    Error,
    /// 405.
    MethodNotAllowed,
}

impl Status {
    /// The `$fastdfs_status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Local => "local",
            Status::Proxy => "proxy",
            Status::Redirect => "redirect",
            Status::NotFound => "not_found",
            Status::BadRequest => "bad_request",
            Status::TokenDenied => "token_denied",
            Status::Error => "error",
            Status::MethodNotAllowed => "method_not_allowed",
        }
    }
}

/// A request that is refused before any disk access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400 with the reason for the error log.
    BadRequest(String),
    /// The anti-steal token was refused (missing, expired or wrong).
    Token(TokenError),
}

/// A parsed query string: `(key, raw value)` in order, first match wins; a value is decoded when
/// asked for (most requests ask for few of the parameters they carry, or none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query<'a> {
    params: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Query<'a> {
    /// libfastcommon's `http_parse_query`: split on `&`, drop items without `=` or with an empty key,
    /// keep the first 32.
    pub fn parse(args: &'a [u8]) -> Query<'a> {
        let mut params = Vec::new();
        for item in args.split(|&b| b == b'&') {
            if params.len() >= MAX_QUERY_PARAMS {
                break;
            }
            let Some(eq) = item.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (k, v) = (&item[..eq], &item[eq + 1..]);
            if k.is_empty() {
                continue;
            }
            params.push((k, v));
        }
        Query { params }
    }

    /// The first value of `key`, URL-decoded (`%XX`, `+`), invalid UTF-8 replaced.
    pub fn get(&self, key: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(&url_decode(v)).into_owned())
    }

    /// True if no parameter was parsed.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

/// True if any item of the raw query, however many there are, is the loop guard's `redirect`
/// (`redirect=…`, or a bare `redirect`). Unlike [`Query::parse`] this has no 32-parameter limit:
/// the guard appended after 32 parameters must still be seen, or a request can proxy to itself.
pub fn has_redirect_param(args: &[u8]) -> bool {
    args.split(|&b| b == b'&').any(|item| {
        let key = item.split(|&b| b == b'=').next().unwrap_or(item);
        key == b"redirect"
    })
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `%XX` and `+` decoding; a malformed `%` is kept literally.
pub fn url_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                v.get(i + 1).and_then(|&c| hex(c)),
                v.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// A file id accepted by the checks that need no disk.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Index into [`Instance::groups`], `None` for a foreign group.
    pub group: Option<usize>,
    /// The group name from the URL (or the configured one), as bytes and borrowed: a request
    /// allocates and converts as little as it can, since nginx's static serving it is measured
    /// against does neither. [`Target::group_name`] gives it as text.
    pub group_bytes: Cow<'a, [u8]>,
    /// The logic name.
    pub logic: LogicName,
    /// What the name carries.
    pub info: FileInfo,
    /// `?filename=`.
    pub filename: Option<String>,
    /// A `redirect` parameter is present (loop guard).
    pub has_redirect_param: bool,
    /// The request has a query string, parsed or not (`?` or `&` before an appended `redirect=1`).
    pub has_args: bool,
    /// `start` and `end` (FLV pseudo-streaming).
    pub flv_start: Option<String>,
    /// See `flv_start`.
    pub flv_end: Option<String>,
}

impl Target<'_> {
    /// The group name, for messages.
    pub fn group_name(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.group_bytes)
    }

    /// True if the group is one this instance serves.
    pub fn same_group(&self) -> bool {
        self.group.is_some()
    }
}

/// `Last-Modified` of a served file: the id's timestamp for normal and trunk files (as the C module,
/// whatever the disk says); `None` for slave and appender files, whose own mtime counts.
pub fn id_mtime(info: &FileInfo) -> Option<i64> {
    match info.kind {
        FileKind::Normal | FileKind::Trunk => Some(info.timestamp),
        FileKind::Slave | FileKind::Appender => None,
    }
}

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal::BadRequest(reason.into())
}

fn id_err(e: FileIdError) -> Refusal {
    bad(format!("invalid file id: {e}"))
}

/// A URL path split at its group.
struct GroupSplit<'a> {
    /// Index into [`Instance::groups`], `None` for a foreign group.
    index: Option<usize>,
    /// The group name.
    name: &'a [u8],
    /// The rest of the path: the logic name.
    rest: &'a [u8],
}

/// The group of a URL path (`group/rest` with `url_have_group_name`, else the configured group).
fn split_group<'a>(inst: &'a Instance, path: &'a [u8]) -> Result<GroupSplit<'a>, Refusal> {
    if !inst.conf.url_have_group_name {
        let name = inst
            .conf
            .groups
            .first()
            .map_or("", |g| g.group_name.as_str());
        return Ok(GroupSplit {
            index: Some(0),
            name: name.as_bytes(),
            rest: path,
        });
    }
    let Some(slash) = path.iter().position(|&b| b == b'/') else {
        return Err(bad("no group name in the url"));
    };
    let name = &path[..slash];
    let index = inst
        .conf
        .groups
        .iter()
        .position(|gc| gc.group_name.as_bytes() == name);
    Ok(GroupSplit {
        index,
        name,
        rest: &path[slash + 1..],
    })
}

/// Steps 1–9 of §1.2 for `uri` (percent-decoded by nginx) and the raw `args`.
/// `bypass_token` is true when the anti-steal bypass header matched.
pub fn analyze<'a>(
    inst: &'a Instance,
    uri: &'a [u8],
    args: &[u8],
    bypass_token: bool,
    now: i64,
) -> Result<Target<'a>, Refusal> {
    let url_len = uri.len() + if args.is_empty() { 0 } else { 1 + args.len() };
    if url_len < MIN_URL_LEN {
        return Err(bad(format!("url too short ({url_len} < {MIN_URL_LEN})")));
    }
    if url_len >= MAX_URL_LEN {
        return Err(bad(format!("url too long ({url_len} bytes)")));
    }
    if uri.len() >= MAX_URI_LEN {
        return Err(bad(format!("uri too long ({} bytes)", uri.len())));
    }
    if uri.contains(&0) {
        return Err(bad("NUL byte in uri"));
    }
    let path = uri.strip_prefix(b"/").unwrap_or(uri);
    let query = Query::parse(args);

    let GroupSplit {
        index: group,
        name: group_bytes,
        rest,
    } = split_group(inst, path)?;

    if rest.len() < fdfs_client::file_id::MIN_LOGIC_NAME_LEN {
        return Err(bad(format!("file id too short ({} chars)", rest.len())));
    }

    let http = &inst.conf.http;
    if !http.disabled && http.anti_steal.check_token && !bypass_token {
        let rest_str = String::from_utf8_lossy(rest);
        token::check(
            &rest_str,
            &http.anti_steal.secret_key,
            query.get("token").as_deref(),
            query.get("ts").as_deref(),
            http.anti_steal.token_ttl,
            now,
        )
        .map_err(Refusal::Token)?;
    }

    let logic = LogicName::parse_bytes(rest).map_err(id_err)?;
    if let Some(gi) = group {
        let count = inst.conf.groups.get(gi).map_or(0, |g| g.store_paths.len());
        logic.check_store_path_index(count).map_err(id_err)?;
    }
    let info = FileInfo::decode(&logic).map_err(id_err)?;
    if info.source == Source::Ip(std::net::Ipv4Addr::UNSPECIFIED) {
        // All-zero (or undecodable) source bytes: no storage ever writes this.
        return Err(bad(format!(
            "invalid file id {}: source address 0.0.0.0",
            logic.as_str()
        )));
    }
    Ok(Target {
        group,
        group_bytes: Cow::Borrowed(group_bytes),
        logic,
        info,
        filename: query.get("filename"),
        has_redirect_param: has_redirect_param(args),
        has_args: !args.is_empty(),
        flv_start: query.get("start"),
        flv_end: query.get("end"),
    })
}

/// Where a file that is not on this node's disk should be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The host part: an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    /// The HTTP port, when known from `storage_peers`; else the local port is used.
    pub port: Option<u16>,
}

impl Forward {
    /// The HTTP port to forward to: the member's own when `storage_peers` gives one, else the port
    /// the request came in on (the cluster's storages usually share it).
    pub fn http_port(&self, local_port: u16) -> u16 {
        self.port.unwrap_or(local_port)
    }
}

/// The §2 decision for a file that is not local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotLocal {
    /// 404 with the reason.
    NotFound(String),
    /// 400 with the reason (the loop guard).
    BadRequest(String),
    /// 500 with the reason.
    Error(String),
    /// Proxy or redirect there.
    Forward(Forward),
}

/// Spec §2 plus the membership check and the self-forward check. `local_port` is the port the
/// request came in on (the default HTTP port of the forward target).
pub fn not_local(inst: &Instance, t: &Target<'_>, now: i64, local_port: u16) -> NotLocal {
    let resolved = resolve_source(inst, t.info.source);
    if t.same_group() {
        if let Some((ip, _)) = &resolved {
            if inst.is_self(ip, t.info.source, t.group) {
                return NotLocal::NotFound(format!(
                    "file {}/{} not found on this storage, which is its source",
                    t.group_name(),
                    t.logic.as_str()
                ));
            }
        }
        let age = now - t.info.timestamp;
        if t.info.timestamp > 0 && age > inst.sync_max_delay {
            return NotLocal::NotFound(format!(
                "file {}/{} not found, and older ({age} s) than storage_sync_file_max_delay ({} s)",
                t.group_name(),
                t.logic.as_str(),
                inst.sync_max_delay
            ));
        }
    }
    if t.has_redirect_param {
        return NotLocal::BadRequest(format!(
            "file {}/{} not found and the request was already forwarded (redirect parameter)",
            t.group_name(),
            t.logic.as_str()
        ));
    }
    let Some((ip, port)) = resolved else {
        return NotLocal::Error(format!(
            "cannot resolve the source storage of {}/{} ({:?})",
            t.group_name(),
            t.logic.as_str(),
            t.info.source
        ));
    };
    let port = match inst.member(&ip) {
        Membership::Unknown if inst.conf.allow_unknown_peers => port,
        Membership::Unknown => {
            return NotLocal::NotFound(format!(
                "file {}/{}: the cluster members are unknown (no storage_peers, storage ids or \
                 tracker storage list), not forwarding to its source {ip} (set storage_peers, or \
                 allow_unknown_peers = true)",
                t.group_name(),
                t.logic.as_str()
            ))
        }
        Membership::Member(p) => p.or(port),
        Membership::Stranger => {
            return NotLocal::NotFound(format!(
                "file {}/{}: source {ip} is not a known storage of the cluster, not forwarding",
                t.group_name(),
                t.logic.as_str()
            ))
        }
    };
    let fwd = Forward {
        host: host_text(ip),
        port,
    };
    if inst.is_local_ip(&ip) && fwd.http_port(local_port) == local_port {
        // Forwarding to this very node would come back here (a loop), whatever the query holds.
        return NotLocal::BadRequest(format!(
            "file {}/{} not found, and its source {ip}:{local_port} is this node itself: not \
             forwarding to myself",
            t.group_name(),
            t.logic.as_str()
        ));
    }
    NotLocal::Forward(fwd)
}

/// The host part of a URL for `ip` (an IPv6 address in brackets), with room for `:<port>`. An
/// IPv4 address is written digit by digit (`fdfs_client::decimal`): every proxied or redirected
/// request needs one, and `Ipv4Addr`'s `Display` took more instructions than the rest of the
/// decision.
fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut host = String::with_capacity("255.255.255.255:65535".len());
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    host.push('.');
                }
                // Writing into a String cannot fail.
                let _ = fdfs_client::decimal::write(&mut host, octet.into(), 1);
            }
            host
        }
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The membership of a source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Nothing is known: refuse, unless `allow_unknown_peers` (then forward like the C module).
    Unknown,
    /// A known storage, with its HTTP port if `storage_peers` gives one.
    Member(Option<u16>),
    /// Not a member: refuse.
    Stranger,
}

/// The source storage's address (and HTTP port if a peer entry gives it). `None`: unresolvable id.
pub fn resolve_source(inst: &Instance, src: Source) -> Option<(IpAddr, Option<u16>)> {
    match src {
        Source::Ip(ip) => Some((IpAddr::V4(ip), None)),
        Source::StorageId(id) => inst.storage_id_ip(id).map(|ip| (ip, None)),
    }
}

/// The `Location` of a redirect: `<scheme>://<host>[:port]<url>{?|&}redirect=1`.
/// `url` is the request's URI as sent (raw, so percent-escapes survive) with its query.
pub fn redirect_location(
    scheme: &str,
    fwd: &Forward,
    local_port: u16,
    raw_uri: &[u8],
    has_args: bool,
) -> Vec<u8> {
    let port = fwd.http_port(local_port);
    let default_port = if scheme == "https" { 443 } else { 80 };
    let mut out = Vec::with_capacity(raw_uri.len() + 64);
    out.extend_from_slice(scheme.as_bytes());
    out.extend_from_slice(b"://");
    out.extend_from_slice(fwd.host.as_bytes());
    if port != default_port {
        out.extend_from_slice(format!(":{port}").as_bytes());
    }
    out.extend_from_slice(&proxy_uri(raw_uri, has_args));
    out
}

/// The FLV header prepended when `start > 0` (§3.5).
pub const FLV_HEADER: [u8; 13] = [0x46, 0x4C, 0x56, 0x01, 0x01, 0, 0, 0, 0x09, 0, 0, 0, 0x09];

/// FLV pseudo-streaming (§3.5): `Some(Ok((start, end)))` (end exclusive) when it applies,
/// `Some(Err(reason))` for an invalid `start`/`end` (400), `None` when it does not apply (not enabled,
/// another extension, a Range header, or no `start`).
pub fn flv_range(
    inst: &Instance,
    t: &Target<'_>,
    has_range: bool,
    size: u64,
) -> Option<Result<(u64, u64), String>> {
    if !inst.conf.flv_support || has_range {
        return None;
    }
    let name = t.logic.file_name();
    let ext = fdfs_client::file_id::http_extension(name)?;
    if ext != inst.conf.flv_extension {
        return None;
    }
    let start = t.flv_start.as_deref()?;
    let strict = |v: &str| -> Option<u64> {
        (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse().ok())
            .flatten()
    };
    let Some(s) = strict(start) else {
        return Some(Err(format!("invalid flv start {start:?}")));
    };
    let e = match t.flv_end.as_deref() {
        None => size,
        Some(v) => match strict(v) {
            Some(e) => e.min(size),
            None => return Some(Err(format!("invalid flv end {v:?}"))),
        },
    };
    if s >= size || s >= e {
        return Some(Err(format!("invalid flv range {s}-{e} for size {size}")));
    }
    Some(Ok((s, e)))
}

/// The URI sent upstream when proxying, also the path of a redirect: the raw request URI plus the
/// loop guard `redirect=1`, after `&` when the request has a query string, else after `?`.
pub fn proxy_uri(raw_uri: &[u8], has_args: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw_uri.len() + 12);
    out.extend_from_slice(raw_uri);
    out.extend_from_slice(if has_args {
        b"&redirect=1"
    } else {
        b"?redirect=1"
    });
    out
}

/// Percent-escape what may not appear raw in a request target (used when the URI was rewritten and
/// only the decoded form exists).
pub fn escape_path(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    for &b in p {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

pub use fdfs_client::disposition::content_disposition;

/// A parsed `storage_peers` entry match: does `peers` contain `ip`?
pub fn find_peer<'a>(peers: &'a [Peer], ip: &IpAddr) -> Option<&'a Peer> {
    peers.iter().find(|p| &p.ip == ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;
    use fdfs_client::conf::ModFastdfsConf;
    use fdfs_client::file_id::{encode_logic_name, NameSpec, SizeField};
    use fdfs_client::file_id::{SlotType, TrunkSlotHeader};
    use std::path::{Path, PathBuf};

    fn inst(extra: &str) -> Instance {
        let text = format!(
            "base_path=/tmp\ngroup_name=group1\nurl_have_group_name=true\nstore_path0=/tmp\n\
             http.need_find_content_type=false\nhttp.multi_range.enabled=false\n{extra}"
        );
        let conf = ModFastdfsConf::parse_str(&text, "t.conf").expect("conf");
        let ifaddrs = vec![("lo:a0".to_string(), IpAddr::from([127, 0, 0, 11]))];
        let mut i = Instance::from_conf(conf, &ifaddrs).expect("instance");
        i.check_members();
        i
    }

    fn name(src: [u8; 4], ts: i64) -> String {
        encode_logic_name(&NameSpec {
            source: Source::Ip(src.into()),
            timestamp: ts,
            size_field: SizeField::compose(10, false, false, Some(5)),
            crc32: 1,
            trunk: None,
            store_path_index: 0,
            subdirs: (0, 0),
            ext: "jpg",
            random_digits: "123",
        })
        .expect("encode")
    }

    const NOW: i64 = 1_800_000_000;

    const PORT: u16 = 8080;

    fn decide(i: &Instance, uri: &str, args: &str) -> Result<NotLocal, Refusal> {
        analyze(i, uri.as_bytes(), args.as_bytes(), false, NOW).map(|t| not_local(i, &t, NOW, PORT))
    }

    #[test]
    fn refusals() {
        let i = inst("");
        let bad = |u: &str| matches!(decide(&i, u, ""), Err(Refusal::BadRequest(_)));
        assert!(bad("/group1/M00/00/00/abc.jpg"));
        assert!(bad("/group1M00000000000000000000000000"));
        let n = name([127, 0, 0, 12], NOW - 10);
        assert!(bad(&format!("/group1/M01/{}", &n[4..])));
        assert!(bad(&format!("/group1/{}/", n)));
        assert!(bad(&format!("/group1/M00/00/00/{}", "!".repeat(40))));
        assert!(bad(&format!("/group1/{}\0", n)));
        let t = inst(
            "http.anti_steal.check_token=true\nhttp.anti_steal.secret_key=k\n\
             http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=a/b\n",
        );
        let uri = format!("/group1/{n}");
        let r = analyze(&t, uri.as_bytes(), b"", false, NOW);
        assert!(matches!(r, Err(Refusal::Token(TokenError::Missing(_)))));
        let tok = token::generate(&n, "k", NOW);
        let args = format!("token={tok}&ts={NOW}");
        assert!(analyze(
            &t,
            format!("/group1/{n}").as_bytes(),
            args.as_bytes(),
            false,
            NOW
        )
        .is_ok());
        assert!(analyze(&t, format!("/group1/{n}").as_bytes(), b"", true, NOW).is_ok());
    }

    #[test]
    fn url_without_group_name() {
        let text = "base_path=/tmp\ngroup_name=group7\nstore_path0=/tmp\n\
                    http.need_find_content_type=false\nhttp.multi_range.enabled=false\n";
        let conf = ModFastdfsConf::parse_str(text, "t.conf").expect("conf");
        let i = Instance::from_conf(conf, &[]).expect("instance");
        let n = name([127, 0, 0, 12], NOW - 10);
        let uri = format!("/{n}");
        let t = analyze(&i, uri.as_bytes(), b"", false, NOW).expect("ok");
        assert_eq!((t.group, &*t.group_name()), (Some(0), "group7"));
        assert_eq!(t.logic.as_str(), n);
    }

    #[test]
    fn not_local_rules() {
        let i = inst("");
        // Source is this storage.
        let own = name([127, 0, 0, 11], NOW - 10);
        assert!(matches!(
            decide(&i, &format!("/group1/{own}"), ""),
            Ok(NotLocal::NotFound(_))
        ));
        // Another storage, recent, but no member list: refused (no forwarding to any address).
        let other = name([127, 0, 0, 12], NOW - 10);
        assert!(matches!(
            decide(&i, &format!("/group1/{other}"), ""),
            Ok(NotLocal::NotFound(r)) if r.contains("members are unknown")
        ));
        // The same with the explicit opt-in: forwarded like the C module, to the local port.
        let i = inst("allow_unknown_peers = true\n");
        assert_eq!(
            decide(&i, &format!("/group1/{other}"), "").ok(),
            Some(NotLocal::Forward(Forward {
                host: "127.0.0.12".into(),
                port: None
            }))
        );
        // Too old for the sync window.
        let old = name([127, 0, 0, 12], NOW - 90_000);
        assert!(matches!(
            decide(&i, &format!("/group1/{old}"), ""),
            Ok(NotLocal::NotFound(_))
        ));
        // A foreign group is forwarded whatever its age.
        assert!(matches!(
            decide(&i, &format!("/group2/{old}"), ""),
            Ok(NotLocal::Forward(_))
        ));
        // Loop guard.
        assert!(matches!(
            decide(&i, &format!("/group1/{other}"), "redirect=1"),
            Ok(NotLocal::BadRequest(_))
        ));
        // Members: peers give the port; strangers are refused.
        let p = inst("storage_peers = 127.0.0.12:8081, [::1]:8082\n");
        assert_eq!(
            decide(&p, &format!("/group1/{other}"), "").ok(),
            Some(NotLocal::Forward(Forward {
                host: "127.0.0.12".into(),
                port: Some(8081)
            }))
        );
        let stranger = name([10, 9, 8, 7], NOW - 10);
        assert!(matches!(
            decide(&p, &format!("/group1/{stranger}"), ""),
            Ok(NotLocal::NotFound(_))
        ));
        assert!(i
            .warnings
            .iter()
            .any(|w| w.contains("allow_unknown_peers = true")));
        assert!(!p.warnings.iter().any(|w| w.contains("storage_peers")));
        // The loop guard holds after 32 parameters too.
        let many: Vec<String> = (0..32).map(|n| format!("a{n}={n}")).collect();
        let args = format!("{}&redirect=1", many.join("&"));
        assert!(matches!(
            decide(&p, &format!("/group1/{other}"), &args),
            Ok(NotLocal::BadRequest(_))
        ));
        // A foreign group whose source is this node (127.0.0.11, same port): never forwarded.
        let own = name([127, 0, 0, 11], NOW - 10);
        let p = inst("storage_peers = 127.0.0.11, 127.0.0.12\n");
        assert!(matches!(
            decide(&p, &format!("/group9/{own}"), ""),
            Ok(NotLocal::BadRequest(r)) if r.contains("this node itself")
        ));
    }

    #[test]
    fn redirect_anywhere() {
        assert!(has_redirect_param(b"redirect=1"));
        assert!(has_redirect_param(b"a=1&redirect"));
        assert!(!has_redirect_param(b"redirects=1&x=redirect"));
        let many: Vec<String> = (0..100).map(|n| format!("k{n}=v")).collect();
        assert!(has_redirect_param(
            format!("{}&redirect=1", many.join("&")).as_bytes()
        ));
    }

    #[test]
    fn query_parsing() {
        let q = Query::parse(b"a=1&b&=x&filename=a%20b+c.pdf&a=2&redirect=");
        assert_eq!(q.get("a").as_deref(), Some("1"));
        assert_eq!(q.get("b"), None);
        assert_eq!(q.get("filename").as_deref(), Some("a b c.pdf"));
        assert_eq!(q.get("redirect").as_deref(), Some(""));
        let q = Query::parse(b"n=%FF%41&%C3=x");
        assert_eq!(q.get("n").as_deref(), Some("\u{FFFD}A"));
        assert!(Query::parse(b"x&y").is_empty());
    }

    #[test]
    fn locations() {
        let f = Forward {
            host: "[::1]".into(),
            port: None,
        };
        let long = format!("/group1/M00/00/00/{}", "a".repeat(400));
        let l = redirect_location("https", &f, 8443, long.as_bytes(), false);
        let l = String::from_utf8(l).unwrap();
        assert!(l.starts_with("https://[::1]:8443/group1/"));
        assert!(l.ends_with("?redirect=1"));
        let f = Forward {
            host: "10.0.0.1".into(),
            port: Some(80),
        };
        assert_eq!(
            redirect_location("http", &f, 8080, b"/g/x?a=1", true),
            b"http://10.0.0.1/g/x?a=1&redirect=1".to_vec()
        );
        assert_eq!(proxy_uri(b"/a", false), b"/a?redirect=1".to_vec());
        assert_eq!(escape_path(b"/a b%"), b"/a%20b%25".to_vec());
    }

    #[test]
    fn host_texts() {
        for ip in ["0.0.0.0", "10.1.20.255", "255.255.255.255", "192.168.0.9"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(host_text(ip), ip.to_string());
        }
        assert_eq!(host_text("::1".parse().unwrap()), "[::1]");
    }

    fn trunk_name(ts: i64, file_size: u64, offset: u32) -> String {
        encode_logic_name(&NameSpec {
            source: Source::Ip([127, 0, 0, 12].into()),
            timestamp: ts,
            size_field: SizeField::compose(file_size, false, true, Some(5)),
            crc32: 7,
            trunk: Some(fdfs_client::file_id::TrunkLocation {
                trunk_id: 1,
                offset,
                alloc_size: 512,
            }),
            store_path_index: 0,
            subdirs: (0, 0),
            ext: "jpg",
            random_digits: "123",
        })
        .expect("encode")
    }

    /// The target of `uri?args`, with its group name copied so the URI can be a temporary.
    fn target(i: &Instance, uri: &str, args: &str) -> Target<'static> {
        let t = analyze(i, uri.as_bytes(), args.as_bytes(), false, NOW).expect("target");
        Target {
            group: t.group,
            group_bytes: Cow::Owned(t.group_bytes.into_owned()),
            logic: t.logic,
            info: t.info,
            filename: t.filename,
            has_redirect_param: t.has_redirect_param,
            has_args: t.has_args,
            flv_start: t.flv_start,
            flv_end: t.flv_end,
        }
    }

    #[test]
    fn local_actions() {
        let i = inst("");
        let n = name([127, 0, 0, 12], NOW - 10);
        let t = target(&i, &format!("/group1/{n}"), "");
        assert_eq!(
            local_action(&i, &t),
            Some(Action::ServeFile {
                path: PathBuf::from(format!("/tmp/data/{}", &n[4..])),
                mtime: Some(NOW - 10)
            })
        );
        assert_eq!(
            local_action(&i, &target(&i, &format!("/group2/{n}"), "")),
            None
        );
        let tn = trunk_name(NOW - 10, 100, 4096);
        let t = target(&i, &format!("/group1/{tn}"), "");
        assert!(matches!(
            local_action(&i, &t),
            Some(Action::ServeTrunk { container, slot_offset: 4096, owner: SlotOwner::Requested })
                if container == Path::new("/tmp/data/00/00/000001")
        ));
        assert_eq!(
            local_file(&i, &t),
            Some(PathBuf::from("/tmp/data/00/00/000001"))
        );
    }

    #[test]
    fn trunk_slots() {
        let i = inst("");
        let tn = trunk_name(NOW - 10, 100, 4096);
        let t = target(&i, &format!("/group1/{tn}"), "");
        let good = TrunkSlotHeader::expected_for(&t.info).expect("trunk");
        let hdr = good.to_bytes();
        let size = 4096 + 24 + 100;
        assert_eq!(
            trunk_slot(&hdr, 4096, size, &t.info, true),
            Slot::Data {
                start: 4120,
                len: 100,
                mtime: NOW - 10
            }
        );
        let missing = |s: Slot, what: &str| matches!(s, Slot::Missing(Some(r)) if r.contains(what));
        assert!(missing(
            trunk_slot(&hdr[..20], 4096, size, &t.info, true),
            "unreadable"
        ));
        assert!(missing(
            trunk_slot(&hdr, 4096, size - 1, &t.info, true),
            "beyond"
        ));
        let mut link = good;
        link.slot_type = SlotType::Link;
        let link = link.to_bytes();
        assert_eq!(
            trunk_slot(&link, 4096, size, &t.info, true),
            Slot::Link {
                start: 4120,
                len: 100
            }
        );
        assert!(missing(
            trunk_slot(&link, 4096, size, &t.info, false),
            "link to a link"
        ));
        let mut other = good;
        other.crc32 ^= 1;
        assert!(missing(
            trunk_slot(&other.to_bytes(), 4096, size, &t.info, true),
            "does not match"
        ));
        // The link's target: served once, never followed again; garbage is logged.
        let group = &i.conf.groups[0];
        let n = name([127, 0, 0, 12], NOW - 10);
        assert!(matches!(
            link_action(group, format!("group1/{n}\0").as_bytes()),
            Ok(Some(Action::ServeFile { .. }))
        ));
        assert!(matches!(
            link_action(group, tn.as_bytes()),
            Ok(Some(Action::ServeTrunk {
                owner: SlotOwner::LinkTarget(_),
                ..
            }))
        ));
        assert!(link_action(group, b"../../etc/passwd").is_err());
    }

    fn origin<'a>(uri: &'a [u8], args: &'a [u8], unparsed: Option<&'a [u8]>) -> Origin<'a> {
        Origin {
            unparsed_uri: unparsed,
            uri,
            args,
            local_port: PORT,
            https: false,
        }
    }

    #[test]
    fn not_local_actions() {
        let p = inst("storage_peers = 127.0.0.12:8081\n");
        let other = name([127, 0, 0, 12], NOW - 10);
        let uri = format!("/group1/{other}");
        let t = target(&p, &uri, "");
        let o = origin(uri.as_bytes(), b"", Some(uri.as_bytes()));
        assert_eq!(
            not_local_action(&p, &t, NOW, &o),
            Action::Proxy {
                host: "127.0.0.12:8081".into(),
                uri: format!("{uri}?redirect=1").into_bytes()
            }
        );
        // A query string, even one without a parameter, takes `&`; a rewritten URI is escaped.
        let t = target(&p, &uri, "x");
        let o = origin(b"/group1/a b", b"x", None);
        assert!(matches!(
            not_local_action(&p, &t, NOW, &o),
            Action::Proxy { uri, .. } if uri == b"/group1/a%20b?x&redirect=1"
        ));
        let r = inst("storage_peers = 127.0.0.12\nresponse_mode = redirect\n");
        let t = target(&r, &uri, "");
        let o = origin(uri.as_bytes(), b"", Some(uri.as_bytes()));
        assert_eq!(
            not_local_action(&r, &t, NOW, &o),
            Action::Redirect {
                location: format!("http://127.0.0.12:{PORT}{uri}?redirect=1").into_bytes()
            }
        );
        // Refusals carry status, code and the log line.
        let own = name([127, 0, 0, 11], NOW - 10);
        let t = target(&p, &format!("/group1/{own}"), "");
        let Action::Refuse(refusal) = not_local_action(&p, &t, NOW, &o) else {
            panic!("not refused");
        };
        assert_eq!((refusal.code, refusal.status), (404, Status::NotFound));
        assert!(
            matches!(&refusal.log, Some((Level::Info, l)) if l.starts_with("404: ") && l.contains("(looked for /tmp/data/"))
        );
        let t = target(&p, &uri, "redirect=1");
        assert!(matches!(
            not_local_action(&p, &t, NOW, &o),
            Action::Refuse(Refuse {
                code: 400,
                status: Status::BadRequest,
                ..
            })
        ));
    }

    #[test]
    fn refusal_actions() {
        let i = inst("");
        assert_eq!(
            refusal_action(&i, Refusal::BadRequest("x".into())),
            Action::Refuse(Refuse::new(400, Status::BadRequest, Level::Info, "x"))
        );
        let denied = refusal_action(&i, Refusal::Token(TokenError::Missing("token")));
        assert!(matches!(
            denied,
            Action::Refuse(Refuse { code: 403, status: Status::TokenDenied, log: Some((Level::Info, l)) })
                if l.starts_with("token refused: ")
        ));
        let p = Path::new("/s/data/00/00/x");
        assert_eq!(open_failure(p, libc::ENOENT), None);
        assert_eq!(open_failure(p, libc::EACCES).map(|r| r.code), Some(403));
        assert_eq!(
            open_failure(p, libc::EIO).and_then(|r| r.log).map(|l| l.0),
            Some(Level::Error)
        );
        assert_eq!(open_failure(p, 0), Some(Refuse::silent(500, Status::Error)));
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode(b"%41%zz+%4"), b"A%zz %4".to_vec());
    }
}
