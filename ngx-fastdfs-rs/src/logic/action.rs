//! The one decision per request: [`Action`], built from the pure rules of the parent module
//! (`analyze`, `not_local`) and what nginx knows of the request ([`Origin`]). The FFI layer only
//! carries these out; anything it learns from the disk (a trunk slot header, a link's bytes, an
//! `open` error) comes back here to be decided on.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use fdfs_client::conf::{GroupConf, ResponseMode};
use fdfs_client::file_id::{
    parse_link_target, FileInfo, LogicName, SlotType, TrunkSlotHeader, TRUNK_HEADER_SIZE,
};

use super::{
    escape_path, id_mtime, not_local, proxy_uri, redirect_location, NotLocal, Refusal, Status,
    Target,
};
use crate::instance::Instance;
use crate::Level;

/// The file a target of this node's groups would be read from (the trunk container for trunk
/// files), for the 404 reason; `None` for a foreign group or an index past the store paths.
pub fn local_file(inst: &Instance, t: &Target<'_>) -> Option<PathBuf> {
    match local_action(inst, t)? {
        Action::ServeFile { path, .. } => Some(path),
        Action::ServeTrunk { container, .. } => Some(container),
        _ => None,
    }
}

/// An answer that ends the request without serving a file: the HTTP status, the `$fastdfs_status`
/// value and the error-log line (with its level), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refuse {
    /// The HTTP status returned to nginx.
    pub code: u16,
    /// `$fastdfs_status`.
    pub status: Status,
    /// Level and text of the error-log line; `None` logs nothing.
    pub log: Option<(Level, String)>,
}

impl Refuse {
    /// `code` with the log line `"<code>: <reason>"` at `level`.
    pub fn new(code: u16, status: Status, level: Level, reason: &str) -> Refuse {
        Refuse {
            code,
            status,
            log: Some((level, format!("{code}: {reason}"))),
        }
    }

    /// `code` without a log line.
    pub fn silent(code: u16, status: Status) -> Refuse {
        Refuse {
            code,
            status,
            log: None,
        }
    }

    /// 400: the request itself is wrong (logged at `info`: clients, not the server).
    pub fn bad_request(reason: &str) -> Refuse {
        Refuse::new(400, Status::BadRequest, Level::Info, reason)
    }
}

/// What the request handler does: the one decision [`ffi`](crate) carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Serve a whole local file (offset 0, its size), with `Last-Modified` `mtime` (`None`: the
    /// file's own). Absent: fall back to [`not_local_action`].
    ServeFile {
        /// The full path.
        path: PathBuf,
        /// See [`id_mtime`].
        mtime: Option<i64>,
    },
    /// Serve a trunk slot: read its 24-byte header at `slot_offset` in `container` and let
    /// [`trunk_slot`] decide on it. Absent or not matching: fall back to [`not_local_action`].
    ServeTrunk {
        /// The trunk container's full path.
        container: PathBuf,
        /// Where the slot header starts.
        slot_offset: u64,
        /// Whose id the slot must match, which also says whether a link slot is followed.
        owner: SlotOwner,
    },
    /// Hand the request to nginx's proxy module, for `http://<host>` + `uri`.
    Proxy {
        /// `host:port` (IPv6 in brackets).
        host: String,
        /// The raw URI with the loop guard.
        uri: Vec<u8>,
    },
    /// Answer 302 with this `Location`.
    Redirect {
        /// The absolute URL.
        location: Vec<u8>,
    },
    /// The token was refused and `http.anti_steal.token_check_fail` names a file: answer it (200),
    /// after logging the reason.
    TokenFailFile {
        /// The log line.
        log: String,
    },
    /// Refuse the request.
    Refuse(Refuse),
}

/// Whose id a trunk slot must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotOwner {
    /// The id of the request (its [`Target`]'s `info`, not copied: this runs on every request);
    /// a link slot is followed.
    Requested,
    /// The id a link slot named: a link here is not followed (links are resolved once).
    LinkTarget(Box<FileInfo>),
}

/// The action for a request [`analyze`] refused.
pub fn refusal_action(inst: &Instance, refusal: Refusal) -> Action {
    match refusal {
        Refusal::BadRequest(reason) => Action::Refuse(Refuse::bad_request(&reason)),
        Refusal::Token(e) => {
            let log = format!("token refused: {e}");
            if inst.fail_file.is_some() {
                Action::TokenFailFile { log }
            } else {
                Action::Refuse(Refuse {
                    code: 403,
                    status: Status::TokenDenied,
                    log: Some((Level::Info, log)),
                })
            }
        }
    }
}

/// Where a target of this node's own groups is on disk: `None` for a foreign group.
pub fn local_action(inst: &Instance, t: &Target<'_>) -> Option<Action> {
    let group = inst.conf.groups.get(t.group?)?;
    name_action(group, &t.logic, &t.info, true)
}

/// Where `logic` (a requested name, or the target of a trunk link) is in `group`'s store paths:
/// the file itself, or its slot in a trunk container. `None` for an index past the store paths.
pub fn name_action(
    group: &GroupConf,
    logic: &LogicName,
    info: &FileInfo,
    follow_link: bool,
) -> Option<Action> {
    let store = group
        .store_paths
        .get(usize::from(logic.store_path_index()))?;
    Some(match info.trunk {
        Some(loc) => Action::ServeTrunk {
            container: store_file(store, |p| info.write_trunk_container_path(p)),
            slot_offset: u64::from(loc.offset),
            owner: if follow_link {
                SlotOwner::Requested
            } else {
                SlotOwner::LinkTarget(Box::new(info.clone()))
            },
        },
        None => Action::ServeFile {
            path: store_file(store, |p| Some(logic.write_local_path(p))),
            mtime: id_mtime(info),
        },
    })
}

/// `store` joined with the relative path `write` writes (as `Path::join` would), in one
/// allocation (room for `data/` and the longest logic name): this runs on every request, and
/// nginx's static serving it is measured against allocates nothing.
fn store_file(
    store: &Path,
    write: impl FnOnce(&mut OsString) -> Option<std::fmt::Result>,
) -> PathBuf {
    let room = "/data/".len() + fdfs_client::file_id::LOGIC_NAME_MAX_LEN;
    let mut path = OsString::with_capacity(store.as_os_str().len() + room);
    path.push(store);
    if !store.as_os_str().as_bytes().ends_with(b"/") {
        path.push("/");
    }
    // Writing into an OsString cannot fail, and both writers write for the case chosen above.
    let _ = write(&mut path);
    PathBuf::from(path)
}

/// What a trunk slot holds, decided from its header (§1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The file's bytes: `len` bytes at `start` of the container, `Last-Modified` `mtime`.
    Data {
        /// Offset in the container.
        start: u64,
        /// Length.
        len: u64,
        /// See [`id_mtime`].
        mtime: i64,
    },
    /// A link: the name of the target file is the `len` bytes at `start` (read them and call
    /// [`link_action`]).
    Link {
        /// Offset in the container.
        start: u64,
        /// Length (1..=256).
        len: u64,
    },
    /// Treated as a missing file, with the reason for the `info` log (`None`: nothing logged).
    Missing(Option<String>),
}

/// The longest link slot followed: a file id fits, anything longer is not one.
pub const MAX_LINK_LEN: u64 = 256;

/// Decide on the slot header `header` read at `slot_offset` of a container of `container_size`
/// bytes, for the id `info`: its data, a link to follow (when `follow_link`), or missing.
pub fn trunk_slot(
    header: &[u8],
    slot_offset: u64,
    container_size: u64,
    info: &FileInfo,
    follow_link: bool,
) -> Slot {
    let Ok(h) = TrunkSlotHeader::parse(header) else {
        return Slot::Missing(Some("trunk slot header unreadable".into()));
    };
    let start = slot_offset + TRUNK_HEADER_SIZE as u64;
    let len = u64::from(h.file_size);
    if start + len > container_size {
        return Slot::Missing(Some("trunk slot beyond the container end".into()));
    }
    match h.validate(info) {
        Ok(SlotType::Regular) => Slot::Data {
            start,
            len,
            // A trunk id always carries its timestamp.
            mtime: id_mtime(info).unwrap_or(info.timestamp),
        },
        Ok(SlotType::Link) if follow_link && (1..=MAX_LINK_LEN).contains(&len) => {
            Slot::Link { start, len }
        }
        // A link's target that is itself a link (resolved once, like C), or a link too long to
        // be a name.
        Ok(_) => Slot::Missing(Some("trunk link to a link: treated as missing".into())),
        Err(e) => Slot::Missing(Some(format!("trunk slot does not match the id: {e}"))),
    }
}

/// The target of a link slot whose bytes are `content`, in the same group: served once, never
/// followed further. `Err` is the reason for the log.
pub fn link_action(group: &GroupConf, content: &[u8]) -> Result<Option<Action>, String> {
    let invalid = |_| "trunk link slot holds no valid file name".to_string();
    let logic = parse_link_target(content, &group.group_name).map_err(invalid)?;
    let info = FileInfo::decode(&logic).map_err(invalid)?;
    Ok(name_action(group, &logic, &info, false))
}

/// What nginx knows of the request that a forward needs.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The request line's URI as sent (`None` when nginx rewrote it and only the decoded form is
    /// left).
    pub unparsed_uri: Option<&'a [u8]>,
    /// The decoded URI.
    pub uri: &'a [u8],
    /// The raw query string (empty if none).
    pub args: &'a [u8],
    /// The port the request came in on.
    pub local_port: u16,
    /// Whether it came in over TLS (the scheme of a redirect).
    pub https: bool,
}

impl Origin<'_> {
    /// The request target to forward: the raw URI when nginx has it, else the decoded one escaped
    /// again, with the query.
    pub fn raw_uri(&self) -> Vec<u8> {
        if let Some(raw) = self.unparsed_uri {
            return raw.to_vec();
        }
        let mut u = escape_path(self.uri);
        if !self.args.is_empty() {
            u.push(b'?');
            u.extend_from_slice(self.args);
        }
        u
    }
}

/// The action for a target that is not on this node's disk (§2 with [`not_local`]): refuse,
/// or proxy or redirect to its source as `response_mode` says.
pub fn not_local_action(inst: &Instance, t: &Target<'_>, now: i64, origin: &Origin<'_>) -> Action {
    let fwd = match not_local(inst, t, now, origin.local_port) {
        NotLocal::NotFound(reason) => {
            let looked = local_file(inst, t)
                .map(|p| format!(" (looked for {})", p.display()))
                .unwrap_or_default();
            let reason = format!("{reason}{looked}");
            return Action::Refuse(Refuse::new(404, Status::NotFound, Level::Info, &reason));
        }
        NotLocal::BadRequest(reason) => return Action::Refuse(Refuse::bad_request(&reason)),
        NotLocal::Error(reason) => {
            return Action::Refuse(Refuse::new(500, Status::Error, Level::Error, &reason))
        }
        NotLocal::Forward(fwd) => fwd,
    };
    let raw_uri = origin.raw_uri();
    if inst.conf.response_mode == ResponseMode::Redirect {
        let scheme = if origin.https { "https" } else { "http" };
        let location = redirect_location(scheme, &fwd, origin.local_port, &raw_uri, t.has_args);
        return Action::Redirect { location };
    }
    let port = fwd.http_port(origin.local_port);
    let mut host = fwd.host;
    host.push(':');
    // Writing into a String cannot fail.
    let _ = fdfs_client::decimal::write(&mut host, port.into(), 1);
    Action::Proxy {
        host,
        uri: proxy_uri(&raw_uri, t.has_args),
    }
}

/// How `open` failing with `errno` on `path` ends the request: `None` when the file is simply not
/// there (fall back to [`not_local_action`]).
pub fn open_failure(path: &Path, errno: i32) -> Option<Refuse> {
    match errno {
        libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG => None,
        libc::EACCES | libc::ELOOP | libc::EMLINK => Some(Refuse {
            code: 403,
            status: Status::Error,
            log: Some((
                Level::Info,
                format!(
                    "403: {} refused (errno {errno}, disable_symlinks or permissions)",
                    path.display()
                ),
            )),
        }),
        // nginx failed without an errno (e.g. its pool): nothing to say.
        0 => Some(Refuse::silent(500, Status::Error)),
        _ => Some(Refuse {
            code: 500,
            status: Status::Error,
            log: Some((
                Level::Error,
                format!("open {} failed: errno {errno}", path.display()),
            )),
        }),
    }
}
