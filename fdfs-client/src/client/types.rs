//! Public argument and result types of the client calls.

use std::fmt;

use super::error::{Error, Result};
use crate::addr::ServerAddr;
use crate::file_id::FileKind;
use crate::proto::wire::{FILE_EXT_LEN, FILE_PREFIX_LEN, GROUP_NAME_LEN, MAX_FILENAME_LEN};

/// A storage server picked by a tracker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageServer {
    /// Its group.
    pub group: String,
    /// Its address.
    pub addr: ServerAddr,
    /// The store path to upload into (store queries only; `None` for fetch/update queries).
    pub store_path_index: Option<u8>,
}

impl fmt::Display for StorageServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.group, self.addr)
    }
}

/// The parts of a file id (`group/M00/00/00/name`) as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdParts<'a> {
    pub group: &'a str,
    pub filename: &'a str,
}

/// Splits a file id at its first `/` and checks the field widths (group ≤ 16, name ≤ 128 bytes).
pub(crate) fn split_file_id(file_id: &str) -> Result<IdParts<'_>> {
    let bad = |why: &str| Error::invalid(format!("invalid file id {file_id:?}: {why}"));
    let (group, filename) = file_id
        .split_once('/')
        .ok_or_else(|| bad("no '/' after the group"))?;
    if group.is_empty() || group.len() > GROUP_NAME_LEN {
        return Err(bad("the group must be 1 to 16 bytes"));
    }
    if filename.is_empty() || filename.len() > MAX_FILENAME_LEN {
        return Err(bad("the file name must be 1 to 128 bytes"));
    }
    if file_id.bytes().any(|b| b == 0 || b.is_ascii_control()) {
        return Err(bad("control characters"));
    }
    Ok(IdParts { group, filename })
}

/// What kind of file to upload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UploadKind {
    /// A normal file.
    #[default]
    Normal,
    /// An appender file (can later be appended to, modified, truncated).
    Appender,
    /// A slave file of `master` (a file id), named after it with `prefix` (e.g. `_big`).
    Slave {
        /// The master's file id.
        master: String,
        /// The slave prefix (1 to 16 bytes).
        prefix: String,
    },
}

/// Options of an upload.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Extension without the dot (at most 6 bytes), or empty.
    pub ext: String,
    /// Metadata set (overwrite) after the upload.
    pub metadata: Vec<(String, String)>,
    /// Upload into this group (ignored for slaves, which go where their master is).
    pub group: Option<String>,
    /// Upload to this storage directly, without asking a tracker (ignored for slaves).
    pub storage: Option<ServerAddr>,
    /// Normal, appender or slave.
    pub kind: UploadKind,
}

impl UploadOptions {
    /// Defaults: a normal file, no extension, no metadata, any group.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the extension (a leading dot is dropped).
    pub fn ext(mut self, ext: impl Into<String>) -> Self {
        let e: String = ext.into();
        self.ext = e.strip_prefix('.').map(str::to_owned).unwrap_or(e);
        self
    }

    /// Adds a metadata pair.
    pub fn meta(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((name.into(), value.into()));
        self
    }

    /// Uploads into `group`.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Uploads to this storage directly.
    pub fn storage(mut self, addr: ServerAddr) -> Self {
        self.storage = Some(addr);
        self
    }

    /// Uploads an appender file.
    pub fn appender(mut self) -> Self {
        self.kind = UploadKind::Appender;
        self
    }

    /// Uploads a slave file of `master` with `prefix`.
    pub fn slave(mut self, master: impl Into<String>, prefix: impl Into<String>) -> Self {
        self.kind = UploadKind::Slave {
            master: master.into(),
            prefix: prefix.into(),
        };
        self
    }

    /// Everything an upload sends, checked before anything is sent (the metadata too, which goes
    /// out after the file is stored).
    pub(crate) fn validate(&self) -> Result<()> {
        validate_metadata(&self.metadata)?;
        // What a storage takes (fdfs_validate_filename), dots included: `tar.gz` is one extension.
        if !crate::file_id::valid_ext(&self.ext) {
            return Err(Error::invalid(format!(
                "invalid extension {:?}: at most {FILE_EXT_LEN} bytes of letters, digits, '-', '_' or '.'",
                self.ext
            )));
        }
        if let Some(g) = &self.group {
            if g.is_empty() || g.len() > GROUP_NAME_LEN {
                return Err(Error::invalid(format!(
                    "invalid group {g:?}: 1 to 16 bytes"
                )));
            }
        }
        if let UploadKind::Slave { master, prefix } = &self.kind {
            split_file_id(master)?;
            if prefix.is_empty() || prefix.len() > FILE_PREFIX_LEN || prefix.contains(['/', '\0']) {
                return Err(Error::invalid(format!(
                    "invalid slave prefix {prefix:?}: 1 to {FILE_PREFIX_LEN} bytes, no '/'"
                )));
            }
        }
        Ok(())
    }
}

/// The metadata rules (`fdfs_set_metadata`'s): a name of 1 to 64 bytes, a value of at most 256,
/// no 0x01/0x02 separator byte in either.
pub(crate) fn validate_metadata(pairs: &[(String, String)]) -> Result<()> {
    for (n, v) in pairs {
        if n.is_empty()
            || n.len() > crate::proto::wire::MAX_META_NAME_LEN
            || v.len() > crate::proto::wire::MAX_META_VALUE_LEN
        {
            return Err(Error::invalid(format!(
                "invalid metadata {n:?}={v:?}: name 1 to {} bytes, value at most {} bytes",
                crate::proto::wire::MAX_META_NAME_LEN,
                crate::proto::wire::MAX_META_VALUE_LEN
            )));
        }
        if n.contains(['\x01', '\x02']) || v.contains(['\x01', '\x02']) {
            return Err(Error::invalid(format!(
                "invalid metadata {n:?}: separator bytes 0x01/0x02"
            )));
        }
    }
    Ok(())
}

/// What FastDFS knows of a file: decoded from its id for normal files (like `fdfs_file_info`), asked
/// from a storage for appender and slave files (and ids whose source is a storage id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDetails {
    /// Normal, trunk, appender or slave.
    pub kind: FileKind,
    /// True when a storage was asked (QUERY_FILE_INFO).
    pub from_server: bool,
    /// The storage id embedded in the name, if the name carries an id rather than an IP.
    pub source_storage_id: Option<String>,
    /// IP of the storage the file was uploaded to.
    pub source_ip: String,
    /// Creation time, unix seconds.
    pub create_timestamp: i64,
    /// Size in bytes.
    pub file_size: u64,
    /// CRC32 of the content.
    pub crc32: u32,
}

impl FileDetails {
    /// `normal`, `appender`, `slave` (`fdfs_file_info` wording; trunk files count as normal there).
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }
}

pub(crate) fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Normal => "normal",
        FileKind::Trunk => "trunk",
        FileKind::Appender => "appender",
        FileKind::Slave => "slave",
    }
}

/// A group with its storages, as the monitor shows them.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    /// The group's stat.
    pub stat: crate::proto::GroupStat,
    /// Its storages.
    pub storages: Vec<crate::proto::StorageStat>,
}

/// The cluster as one tracker sees it (what `fdfs_monitor` prints): which tracker answered and
/// every group with its storages.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// The tracker that answered every call.
    pub tracker: ServerAddr,
    /// Its position among the configured trackers (`current server index` of `fdfs_monitor`).
    pub tracker_index: usize,
    /// The groups (one when a group was asked for), with their storages.
    pub groups: Vec<GroupInfo>,
}

/// The name of a storage status code (`FDFS_STORAGE_STATUS_*`), as fdfs_monitor prints it.
pub fn storage_status_name(status: u8) -> &'static str {
    match status {
        0 => "INIT",
        1 => "WAIT_SYNC",
        2 => "SYNCING",
        3 => "IP_CHANGED",
        4 => "DELETED",
        5 => "OFFLINE",
        6 => "ONLINE",
        7 => "ACTIVE",
        9 => "RECOVERY",
        99 => "NONE",
        _ => "UNKNOWN",
    }
}

/// A storage status that serves requests (ONLINE or ACTIVE).
pub const STORAGE_STATUS_ACTIVE: u8 = 7;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ids() {
        let p = split_file_id("group1/M00/00/00/a.jpg").unwrap();
        assert_eq!((p.group, p.filename), ("group1", "M00/00/00/a.jpg"));
        for bad in [
            "",
            "group1",
            "/M00/x",
            "group1/",
            "g12345678901234567/M00/x",
            "g/\u{1}x",
        ] {
            assert!(split_file_id(bad).is_err(), "{bad:?}");
        }
        let long = format!("g/{}", "a".repeat(129));
        assert!(split_file_id(&long).is_err());
    }

    #[test]
    fn options() {
        assert_eq!(UploadOptions::new().ext(".jpg").ext, "jpg");
        assert!(UploadOptions::new().ext("toolong").validate().is_err());
        assert!(UploadOptions::new().ext("tar.gz").validate().is_ok());
        assert!(UploadOptions::new().ext("a/b").validate().is_err());
        assert!(UploadOptions::new().ext("a b").validate().is_err());
        assert!(UploadOptions::new()
            .slave("group1/M00/00/00/a.jpg", "")
            .validate()
            .is_err());
        assert!(UploadOptions::new()
            .slave("group1/M00/00/00/a.jpg", "_big")
            .validate()
            .is_ok());
        assert!(UploadOptions::new().group("").validate().is_err());
        // Metadata is checked with the rest, before anything is sent.
        assert!(UploadOptions::new().meta("", "v").validate().is_err());
        assert!(UploadOptions::new().meta("a\x01", "v").validate().is_err());
        assert!(UploadOptions::new()
            .meta("n", "v".repeat(257))
            .validate()
            .is_err());
        assert!(UploadOptions::new()
            .meta("width", "1024")
            .validate()
            .is_ok());
        assert_eq!(storage_status_name(7), "ACTIVE");
    }
}
