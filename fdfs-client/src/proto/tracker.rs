//! Tracker requests and replies.
//!
//! | request | cmd | reply |
//! |---|---|---|
//! | [`ActiveTest`] | 111 | [`EmptyReply`] (also for storages) |
//! | [`Quit`] | 82 | none |
//! | [`QueryStoreWithoutGroupOne`] / [`QueryStoreWithGroupOne`] | 101 / 104 | [`StoreServer`] |
//! | [`QueryStoreWithoutGroupAll`] / [`QueryStoreWithGroupAll`] | 106 / 107 | [`StoreServers`] |
//! | [`QueryFetchOne`] / [`QueryUpdate`] | 102 / 103 | [`FetchServer`] |
//! | [`QueryFetchAll`] | 105 | [`FetchServers`] |
//! | [`ListOneGroup`] | 90 | [`GroupStat`] |
//! | [`ListAllGroups`] | 91 | [`GroupStats`] |
//! | [`ListStorage`] | 92 | [`StorageStats`] |
//! | [`DeleteStorage`] | 93 | [`EmptyReply`] |
//! | [`GetLeader`] | 95 | [`LeaderReply`] |
//! | [`TrackerClusterStatRequest`] | 96 | [`TrackerClusterStat`] |
//! | [`StorageClusterStatRequest`] | 97 | [`StorageClusterStat`] |
//! | [`VolumeStatRequest`] | 98 | [`VolumeStats`] |
//! | [`StorageParameterReq`] | 75 | [`StorageParameters`] |
//! | [`FetchStorageIds`] | 69 | [`StorageIds`] |
//!
//! Address fields in query replies are 15 bytes (IPv4 trackers) or 45 bytes
//! (`response_ip_addr_size = 46`); decoders tell them apart by body length and record the
//! width in `addr_width` so encoders reproduce it.

use super::cmd;
use super::error::{ProtoError, Result};
use super::stat::{GroupStat, StorageClusterEntry, StorageStat, TrackerStat, VolumeStat};
use super::wire::{
    put_fixed, put_u32, put_u64, AddrWidth, Reader, GROUP_NAME_LEN, MAX_FILENAME_LEN, MAX_GROUPS,
    MAX_SERVERS_EACH_GROUP, MAX_TRACKERS, STORAGE_ID_LEN,
};
use super::{message, Reply, Request};
use crate::addr::ServerAddr;
use crate::conf::storage_ids::{parse_entries, StorageIdEntry};

// ---------------------------------------------------------------------------------------------
// common

/// An empty body: the reply to ACTIVE_TEST, DELETE_FILE, SET_METADATA, APPEND/MODIFY/TRUNCATE,
/// sync commands...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmptyReply;

impl EmptyReply {
    /// Appends nothing.
    pub fn encode_into(&self, _out: &mut Vec<u8>) {}
    /// Accepts only an empty body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Reader::new(body, "empty reply").finish()?;
        Ok(EmptyReply)
    }
}
message!(EmptyReply);
impl Reply for EmptyReply {
    const MAX_BODY: u64 = 0;
}

macro_rules! empty_request {
    ($(#[$m:meta])* $name:ident, $cmd:expr, $reply:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $name {
            /// Appends nothing.
            pub fn encode_into(&self, _out: &mut Vec<u8>) {}
            /// Accepts only an empty body.
            pub fn decode(body: &[u8]) -> Result<Self> {
                Reader::new(body, stringify!($name)).finish()?;
                Ok($name)
            }
        }
        message!($name);
        impl Request for $name {
            const CMD: u8 = $cmd;
            const MAX_BODY: u64 = 0;
            type Reply = $reply;
        }
    };
}

empty_request!(
    /// ACTIVE_TEST (111): keep-alive for trackers and storages; empty reply.
    ActiveTest,
    cmd::ACTIVE_TEST,
    EmptyReply
);
empty_request!(
    /// QUIT (82): the peer closes the connection without replying (`Reply` is a formality).
    Quit,
    cmd::QUIT,
    EmptyReply
);
empty_request!(
    /// QUERY_STORE_WITHOUT_GROUP_ONE (101): a storage to upload to, tracker picks the group.
    QueryStoreWithoutGroupOne,
    cmd::QUERY_STORE_WITHOUT_GROUP_ONE,
    StoreServer
);
empty_request!(
    /// QUERY_STORE_WITHOUT_GROUP_ALL (106): every storage to upload to, tracker picks the group.
    QueryStoreWithoutGroupAll,
    cmd::QUERY_STORE_WITHOUT_GROUP_ALL,
    StoreServers
);
empty_request!(
    /// SERVER_LIST_ALL_GROUPS (91): stat of every group.
    ListAllGroups,
    cmd::SERVER_LIST_ALL_GROUPS,
    GroupStats
);
empty_request!(
    /// SERVER_GET_LEADER (95): the leader tracker's `ip:port`.
    GetLeader,
    cmd::SERVER_GET_LEADER,
    LeaderReply
);
empty_request!(
    /// STORAGE_PARAMETER_REQ (75): the cluster parameters a storage must follow.
    StorageParameterReq,
    cmd::STORAGE_PARAMETER_REQ,
    StorageParameters
);

/// Reads a 16-byte group field that must hold a non-empty name.
pub(crate) fn read_group(r: &mut Reader<'_>) -> Result<String> {
    let g = r.fixed_str(GROUP_NAME_LEN)?;
    if g.is_empty() {
        return Err(ProtoError::InvalidField {
            what: "group name",
            reason: "empty",
        });
    }
    Ok(g)
}

/// Reads a port field (u64) that must fit in 16 bits.
pub(crate) fn read_port(r: &mut Reader<'_>) -> Result<u16> {
    let p = r.u64()?;
    u16::try_from(p).map_err(|_| ProtoError::InvalidField {
        what: "port",
        reason: "greater than 65535",
    })
}

/// Reads the rest as a remote filename (non-empty, at most [`MAX_FILENAME_LEN`]).
pub(crate) fn read_filename_rest(r: &mut Reader<'_>) -> Result<String> {
    let rest = r.rest();
    check_filename_len(rest.len())?;
    Ok(String::from_utf8_lossy(rest).into_owned())
}

/// Reads a u64 length field holding a filename length (1..=MAX_FILENAME_LEN).
pub(crate) fn read_name_len(r: &mut Reader<'_>) -> Result<usize> {
    let n = r.len_field("filename length", MAX_FILENAME_LEN)?;
    check_filename_len(n)?;
    Ok(n)
}

/// Reads a u64 size field that must fit in an i64 (FastDFS sizes are signed).
pub(crate) fn read_size(r: &mut Reader<'_>, what: &'static str) -> Result<u64> {
    let v = r.u64()?;
    if v > i64::MAX as u64 {
        return Err(ProtoError::InvalidField {
            what,
            reason: "negative",
        });
    }
    Ok(v)
}

/// Filename length validation.
pub(crate) fn check_filename_len(n: usize) -> Result<()> {
    if n == 0 {
        return Err(ProtoError::InvalidField {
            what: "filename",
            reason: "empty",
        });
    }
    if n > MAX_FILENAME_LEN {
        return Err(ProtoError::FieldTooLong {
            what: "filename",
            len: n,
            max: MAX_FILENAME_LEN,
        });
    }
    Ok(())
}

macro_rules! group_request {
    ($(#[$m:meta])* $name:ident, $cmd:expr, $reply:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            /// Group name (16-byte field).
            pub group: String,
        }

        impl $name {
            /// A request for `group`.
            pub fn new(group: impl Into<String>) -> Self {
                $name { group: group.into() }
            }
            /// Appends the 16-byte group field.
            pub fn encode_into(&self, out: &mut Vec<u8>) {
                put_fixed(out, &self.group, GROUP_NAME_LEN);
            }
            /// Exactly 16 bytes.
            pub fn decode(body: &[u8]) -> Result<Self> {
                let mut r = Reader::new(body, stringify!($name));
                let group = read_group(&mut r)?;
                r.finish()?;
                Ok($name { group })
            }
        }
        message!($name);
        impl Request for $name {
            const CMD: u8 = $cmd;
            const MAX_BODY: u64 = GROUP_NAME_LEN as u64;
            type Reply = $reply;
        }
    };
}

group_request!(
    /// QUERY_STORE_WITH_GROUP_ONE (104): a storage of `group` to upload to.
    QueryStoreWithGroupOne,
    cmd::QUERY_STORE_WITH_GROUP_ONE,
    StoreServer
);
group_request!(
    /// QUERY_STORE_WITH_GROUP_ALL (107): every storage of `group` to upload to.
    QueryStoreWithGroupAll,
    cmd::QUERY_STORE_WITH_GROUP_ALL,
    StoreServers
);
group_request!(
    /// SERVER_LIST_ONE_GROUP (90): stat of one group.
    ListOneGroup,
    cmd::SERVER_LIST_ONE_GROUP,
    GroupStat
);

/// Defines a `[group 16][filename]` request.
macro_rules! group_file_request {
    ($(#[$m:meta])* $name:ident, $cmd:expr, $reply:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            /// Group name (16-byte field).
            pub group: String,
            /// Remote filename (`M00/00/00/...`), the rest of the body.
            pub filename: String,
        }

        impl $name {
            /// A request for `group`/`filename`.
            pub fn new(group: impl Into<String>, filename: impl Into<String>) -> Self {
                $name {
                    group: group.into(),
                    filename: filename.into(),
                }
            }
            /// Appends `[group 16][filename]`.
            pub fn encode_into(&self, out: &mut Vec<u8>) {
                $crate::proto::wire::put_fixed(out, &self.group, $crate::proto::wire::GROUP_NAME_LEN);
                out.extend_from_slice(self.filename.as_bytes());
            }
            /// Parses `[group 16][filename]`.
            pub fn decode(body: &[u8]) -> $crate::proto::Result<Self> {
                let mut r = $crate::proto::wire::Reader::new(body, stringify!($name));
                let group = $crate::proto::tracker::read_group(&mut r)?;
                let filename = $crate::proto::tracker::read_filename_rest(&mut r)?;
                Ok($name { group, filename })
            }
        }
        $crate::proto::message!($name);
        impl $crate::proto::Request for $name {
            const CMD: u8 = $cmd;
            const MAX_BODY: u64 = ($crate::proto::wire::GROUP_NAME_LEN + $crate::proto::wire::MAX_FILENAME_LEN) as u64;
            type Reply = $reply;
        }
    };
}
pub(crate) use group_file_request;

group_file_request!(
    /// QUERY_FETCH_ONE (102): a storage to download `filename` from.
    QueryFetchOne,
    cmd::QUERY_FETCH_ONE,
    FetchServer
);
group_file_request!(
    /// QUERY_UPDATE (103): the storage to modify `filename` on (its source).
    QueryUpdate,
    cmd::QUERY_UPDATE,
    FetchServer
);
group_file_request!(
    /// QUERY_FETCH_ALL (105): every storage holding `filename`.
    QueryFetchAll,
    cmd::QUERY_FETCH_ALL,
    FetchServers
);

// ---------------------------------------------------------------------------------------------
// query replies

/// Reads a query-reply address `[ip 15|45][port 8]`, keeping the ip text as sent.
fn read_addr(r: &mut Reader<'_>, w: AddrWidth) -> Result<ServerAddr> {
    let host = r.fixed_str(w.query_size())?;
    let port = read_port(r)?;
    Ok(ServerAddr { host, port })
}

/// Appends a query-reply address `[ip 15|45][port 8]`.
fn put_addr(out: &mut Vec<u8>, host: &str, port: u16, w: AddrWidth) {
    put_fixed(out, host, w.query_size());
    put_u64(out, port as u64);
}

/// Reply to QUERY_STORE_*_ONE: `[group 16][ip 15|45][port 8][store_path_index 1]`
/// (40 or 70 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreServer {
    /// Group to upload into.
    pub group: String,
    /// Storage ip.
    pub ip: String,
    /// Storage port.
    pub port: u16,
    /// Store path index to put in the upload request.
    pub store_path_index: u8,
    /// Address field width.
    pub addr_width: AddrWidth,
}

fn width_for_exact(len: usize, v4: usize, v6: usize, what: &'static str) -> Result<AddrWidth> {
    if len == v4 {
        Ok(AddrWidth::V4)
    } else if len == v6 {
        Ok(AddrWidth::V6)
    } else {
        Err(ProtoError::BadLength {
            what,
            got: len as u64,
        })
    }
}

/// Width of a list of `fixed + n * entry(w)` bytes (n >= 1), IPv4 preferred.
fn width_for_list(len: usize, fixed: usize, what: &'static str) -> Result<(AddrWidth, usize)> {
    for w in [AddrWidth::V4, AddrWidth::V6] {
        let entry = w.query_size() + 8;
        if len > fixed && (len - fixed).is_multiple_of(entry) {
            let n = (len - fixed) / entry;
            if n <= MAX_SERVERS_EACH_GROUP {
                return Ok((w, n));
            }
        }
    }
    Err(ProtoError::BadLength {
        what,
        got: len as u64,
    })
}

impl StoreServer {
    /// Encoded size for a width.
    pub const fn size(w: AddrWidth) -> usize {
        GROUP_NAME_LEN + w.query_size() + 8 + 1
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        put_addr(out, &self.ip, self.port, self.addr_width);
        out.push(self.store_path_index);
    }

    /// Parses a 40- or 70-byte body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let w = width_for_exact(
            body.len(),
            Self::size(AddrWidth::V4),
            Self::size(AddrWidth::V6),
            "query store reply",
        )?;
        let mut r = Reader::new(body, "query store reply");
        let group = read_group(&mut r)?;
        let a = read_addr(&mut r, w)?;
        let store_path_index = r.u8()?;
        r.finish()?;
        Ok(StoreServer {
            group,
            ip: a.host,
            port: a.port,
            store_path_index,
            addr_width: w,
        })
    }
}
message!(StoreServer);
impl Reply for StoreServer {
    const MAX_BODY: u64 = StoreServer::size(AddrWidth::V6) as u64;
}

/// Reply to QUERY_STORE_*_ALL: `[group 16]([ip 15|45][port 8])*n[store_path_index 1]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreServers {
    /// Group to upload into.
    pub group: String,
    /// Candidate storages (at least one).
    pub servers: Vec<ServerAddr>,
    /// Store path index.
    pub store_path_index: u8,
    /// Address field width.
    pub addr_width: AddrWidth,
}

impl StoreServers {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        for s in &self.servers {
            put_addr(out, s.host(), s.port(), self.addr_width);
        }
        out.push(self.store_path_index);
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let (w, n) = width_for_list(body.len(), GROUP_NAME_LEN + 1, "query store all reply")?;
        let mut r = Reader::new(body, "query store all reply");
        let group = read_group(&mut r)?;
        let servers = (0..n)
            .map(|_| read_addr(&mut r, w))
            .collect::<Result<Vec<_>>>()?;
        let store_path_index = r.u8()?;
        r.finish()?;
        Ok(StoreServers {
            group,
            servers,
            store_path_index,
            addr_width: w,
        })
    }
}
message!(StoreServers);
impl Reply for StoreServers {
    const MAX_BODY: u64 = (GROUP_NAME_LEN + MAX_SERVERS_EACH_GROUP * (45 + 8) + 1) as u64;
}

/// Reply to QUERY_FETCH_ONE / QUERY_UPDATE: `[group 16][ip 15|45][port 8]` (39 or 69 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchServer {
    /// Group.
    pub group: String,
    /// Storage ip.
    pub ip: String,
    /// Storage port.
    pub port: u16,
    /// Address field width.
    pub addr_width: AddrWidth,
}

impl FetchServer {
    /// Encoded size for a width.
    pub const fn size(w: AddrWidth) -> usize {
        GROUP_NAME_LEN + w.query_size() + 8
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        put_addr(out, &self.ip, self.port, self.addr_width);
    }

    /// Parses a 39- or 69-byte body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let w = width_for_exact(
            body.len(),
            Self::size(AddrWidth::V4),
            Self::size(AddrWidth::V6),
            "query fetch reply",
        )?;
        let mut r = Reader::new(body, "query fetch reply");
        let group = read_group(&mut r)?;
        let a = read_addr(&mut r, w)?;
        r.finish()?;
        Ok(FetchServer {
            group,
            ip: a.host,
            port: a.port,
            addr_width: w,
        })
    }
}
message!(FetchServer);
impl Reply for FetchServer {
    const MAX_BODY: u64 = FetchServer::size(AddrWidth::V6) as u64;
}

/// Reply to QUERY_FETCH_ALL: `[group 16]([ip 15|45][port 8])*n`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchServers {
    /// Group.
    pub group: String,
    /// Storages holding the file (at least one; the first is what FETCH_ONE would give).
    pub servers: Vec<ServerAddr>,
    /// Address field width.
    pub addr_width: AddrWidth,
}

impl FetchServers {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        for s in &self.servers {
            put_addr(out, s.host(), s.port(), self.addr_width);
        }
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let (w, n) = width_for_list(body.len(), GROUP_NAME_LEN, "query fetch all reply")?;
        let mut r = Reader::new(body, "query fetch all reply");
        let group = read_group(&mut r)?;
        let servers = (0..n)
            .map(|_| read_addr(&mut r, w))
            .collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(FetchServers {
            group,
            servers,
            addr_width: w,
        })
    }
}
message!(FetchServers);
impl Reply for FetchServers {
    const MAX_BODY: u64 = (GROUP_NAME_LEN + MAX_SERVERS_EACH_GROUP * (45 + 8)) as u64;
}

// ---------------------------------------------------------------------------------------------
// monitor

/// Reply to SERVER_LIST_ALL_GROUPS: [`GroupStat`] blocks back to back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupStats {
    /// One per group.
    pub groups: Vec<GroupStat>,
}

impl GroupStats {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for g in &self.groups {
            g.encode_into(out);
        }
    }

    /// Parses a body whose length is a multiple of 113.
    pub fn decode(body: &[u8]) -> Result<Self> {
        if !body.len().is_multiple_of(GroupStat::SIZE) {
            return Err(ProtoError::BadLength {
                what: "group stat list",
                got: body.len() as u64,
            });
        }
        let mut r = Reader::new(body, "group stat list");
        let mut groups = Vec::with_capacity(body.len() / GroupStat::SIZE);
        while r.remaining() > 0 {
            groups.push(GroupStat::read(&mut r)?);
        }
        Ok(GroupStats { groups })
    }
}
message!(GroupStats);
impl Reply for GroupStats {
    const MAX_BODY: u64 = (MAX_GROUPS * GroupStat::SIZE) as u64;
}

/// SERVER_LIST_STORAGE (92): `[group 16]` or `[group 16][storage id]` for a single storage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListStorage {
    /// Group.
    pub group: String,
    /// Only this storage (id or ip), if set.
    pub storage_id: Option<String>,
}

impl ListStorage {
    /// Every storage of `group`.
    pub fn new(group: impl Into<String>) -> Self {
        ListStorage {
            group: group.into(),
            storage_id: None,
        }
    }

    /// Appends the body (the id is not padded).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        if let Some(id) = &self.storage_id {
            let b = id.as_bytes();
            out.extend_from_slice(b.get(..b.len().min(STORAGE_ID_LEN)).unwrap_or(b));
        }
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "list storage request");
        let group = read_group(&mut r)?;
        let rest = r.rest();
        if rest.len() > STORAGE_ID_LEN {
            return Err(ProtoError::BadLength {
                what: "list storage request",
                got: body.len() as u64,
            });
        }
        let storage_id = (!rest.is_empty()).then(|| super::wire::from_fixed(rest));
        Ok(ListStorage { group, storage_id })
    }
}
message!(ListStorage);
impl Request for ListStorage {
    const CMD: u8 = cmd::SERVER_LIST_STORAGE;
    const MAX_BODY: u64 = (GROUP_NAME_LEN + STORAGE_ID_LEN) as u64;
    type Reply = StorageStats;
}

/// Reply to SERVER_LIST_STORAGE: [`StorageStat`] blocks of 487 (IPv4) or 517 (IPv6) bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageStats {
    /// Address field width of every block.
    pub addr_width: AddrWidth,
    /// One per storage.
    pub storages: Vec<StorageStat>,
}

impl StorageStats {
    /// Appends the body (each block with `self.addr_width`).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for s in &self.storages {
            let mut s2 = s.clone();
            s2.addr_width = self.addr_width;
            s2.encode_into(out);
        }
    }

    /// Parses a body whose length is a multiple of 487 (IPv4 preferred) or 517.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let v4 = StorageStat::size(AddrWidth::V4);
        let v6 = StorageStat::size(AddrWidth::V6);
        let w = if body.len().is_multiple_of(v4) {
            AddrWidth::V4
        } else if body.len().is_multiple_of(v6) {
            AddrWidth::V6
        } else {
            return Err(ProtoError::BadLength {
                what: "storage stat list",
                got: body.len() as u64,
            });
        };
        let mut r = Reader::new(body, "storage stat list");
        let mut storages = Vec::with_capacity(body.len() / StorageStat::size(w));
        while r.remaining() > 0 {
            storages.push(StorageStat::read(&mut r, w)?);
        }
        Ok(StorageStats {
            addr_width: w,
            storages,
        })
    }
}
message!(StorageStats);
impl Reply for StorageStats {
    const MAX_BODY: u64 = (MAX_SERVERS_EACH_GROUP * StorageStat::size(AddrWidth::V6)) as u64;
}

/// SERVER_DELETE_STORAGE (93): `[group 16][storage id]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteStorage {
    /// Group.
    pub group: String,
    /// Storage id (or ip).
    pub storage_id: String,
}

impl DeleteStorage {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        let b = self.storage_id.as_bytes();
        out.extend_from_slice(b.get(..b.len().min(STORAGE_ID_LEN)).unwrap_or(b));
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let l = ListStorage::decode(body)?;
        match l.storage_id {
            // An id field of NULs reads as "": refuse it like a missing one (it would encode to
            // no id at all, and names no storage anyway).
            Some(storage_id) if !storage_id.is_empty() => Ok(DeleteStorage {
                group: l.group,
                storage_id,
            }),
            _ => Err(ProtoError::InvalidField {
                what: "storage id",
                reason: "missing",
            }),
        }
    }
}
message!(DeleteStorage);
impl Request for DeleteStorage {
    const CMD: u8 = cmd::SERVER_DELETE_STORAGE;
    const MAX_BODY: u64 = (GROUP_NAME_LEN + STORAGE_ID_LEN) as u64;
    type Reply = EmptyReply;
}

/// Reply to SERVER_GET_LEADER: the leader's `ip:port` as bare text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderReply {
    /// `ip:port` of the leader tracker.
    pub addr: String,
}

impl LeaderReply {
    /// Appends the text.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.addr.as_bytes());
    }

    /// Parses the text (NUL-trimmed).
    pub fn decode(body: &[u8]) -> Result<Self> {
        if body.len() as u64 > Self::MAX_BODY {
            return Err(ProtoError::BadLength {
                what: "leader reply",
                got: body.len() as u64,
            });
        }
        Ok(LeaderReply {
            addr: super::wire::from_fixed(body),
        })
    }

    /// Splits `addr` into host and port (IPv6 hosts may be bracketed).
    pub fn host_port(&self) -> Option<(&str, u16)> {
        let (h, p) = self.addr.rsplit_once(':')?;
        let h = h
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h);
        Some((h, p.parse().ok()?))
    }
}
message!(LeaderReply);
impl Reply for LeaderReply {
    const MAX_BODY: u64 = 64;
}

/// SERVER_TRACKER_CLUSTER_STAT (96): `[filter_by][is_active][is_leader]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackerClusterStatRequest {
    /// Bit set: 1 = filter by is_active, 2 = filter by is_leader; 0 for all trackers.
    pub filter_by: u8,
    /// Wanted is_active value when filtering.
    pub is_active: u8,
    /// Wanted is_leader value when filtering.
    pub is_leader: u8,
}

impl TrackerClusterStatRequest {
    /// Appends the 3 bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.filter_by, self.is_active, self.is_leader]);
    }

    /// Parses exactly 3 bytes.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "tracker cluster stat request");
        let [filter_by, is_active, is_leader] = r.array::<3>()?;
        r.finish()?;
        Ok(TrackerClusterStatRequest {
            filter_by,
            is_active,
            is_leader,
        })
    }
}
message!(TrackerClusterStatRequest);
impl Request for TrackerClusterStatRequest {
    const CMD: u8 = cmd::SERVER_TRACKER_CLUSTER_STAT;
    const MAX_BODY: u64 = 3;
    type Reply = TrackerClusterStat;
}

/// Reply to SERVER_TRACKER_CLUSTER_STAT: `[count 1]` then `count` × [`TrackerStat`] (90 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackerClusterStat {
    /// One per tracker.
    pub trackers: Vec<TrackerStat>,
}

impl TrackerClusterStat {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.trackers.len().min(255) as u8);
        for t in self.trackers.iter().take(255) {
            t.encode_into(out);
        }
    }

    /// Parses the body (length must be `1 + count * 90`).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "tracker cluster stat");
        let count = r.u8()? as usize;
        if r.remaining() != count * TrackerStat::SIZE {
            return Err(ProtoError::BadLength {
                what: "tracker cluster stat",
                got: body.len() as u64,
            });
        }
        let trackers = (0..count)
            .map(|_| TrackerStat::read(&mut r))
            .collect::<Result<Vec<_>>>()?;
        Ok(TrackerClusterStat { trackers })
    }
}
message!(TrackerClusterStat);
impl Reply for TrackerClusterStat {
    const MAX_BODY: u64 = (1 + MAX_TRACKERS * TrackerStat::SIZE) as u64;
}

/// Defines a request whose body is four one-byte filter fields (the 6.16 stat filters).
macro_rules! filter_request {
    ($(#[$m:meta])* $name:ident, $what:literal, $cmd:expr, $reply:ty,
     [$($(#[$fm:meta])* $f:ident),+ $(,)?]) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$fm])* pub $f: u8,)+
        }

        impl $name {
            /// Appends the 4 bytes.
            pub fn encode_into(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&[$(self.$f),+]);
            }

            /// Parses exactly 4 bytes.
            pub fn decode(body: &[u8]) -> Result<Self> {
                let mut r = Reader::new(body, $what);
                let [$($f),+] = r.array::<4>()?;
                r.finish()?;
                Ok($name { $($f),+ })
            }
        }
        message!($name);
        impl Request for $name {
            const CMD: u8 = $cmd;
            const MAX_BODY: u64 = 4;
            type Reply = $reply;
        }
    };
}

filter_request!(
    /// SERVER_STORAGE_CLUSTER_STAT (97, FastDFS 6.16 `StorageStatFilter`):
    /// `[filter_by][op_type][status][is_trunk_server]`, what `fdfs_storage_stat` sends.
    StorageClusterStatRequest,
    "storage cluster stat request",
    cmd::SERVER_STORAGE_CLUSTER_STAT,
    StorageClusterStat,
    [
        /// Bit set: [`StorageClusterStatRequest::BY_IS_TRUNK_SERVER`],
        /// [`StorageClusterStatRequest::BY_STATUS`]; 0 for every storage.
        filter_by,
        /// With [`Self::BY_STATUS`]: `b'='` for storages in `status`, `b'!'` for the others (the
        /// tracker lists none for any other byte).
        op_type,
        /// The status to compare with (`FDFS_STORAGE_STATUS_*`).
        status,
        /// With [`Self::BY_IS_TRUNK_SERVER`]: 1 for trunk servers, 0 for the others.
        is_trunk_server,
    ]
);

impl StorageClusterStatRequest {
    /// `FDFS_STORAGE_STAT_FILTER_BY_IS_TRUNK_SERVER`.
    pub const BY_IS_TRUNK_SERVER: u8 = 1;
    /// `FDFS_STORAGE_STAT_FILTER_BY_STATUS`.
    pub const BY_STATUS: u8 = 2;
}

/// Appends a `[count 4]` then each record, the layout of the 6.16 stat replies.
fn put_records<T>(out: &mut Vec<u8>, records: &[T], put: impl Fn(&T, &mut Vec<u8>)) {
    put_u32(out, u32::try_from(records.len()).unwrap_or(u32::MAX));
    for rec in records {
        put(rec, out);
    }
}

/// Reads a `[count 4]` then `count` records of `size` bytes that must fill the rest of the body
/// exactly (the C client's check), so a lying count is refused before anything is read.
fn read_records<T>(
    r: &mut Reader<'_>,
    size: usize,
    what: &'static str,
    body_len: usize,
    read: impl Fn(&mut Reader<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let count = r.u32()? as usize;
    if Some(r.remaining()) != count.checked_mul(size) {
        return Err(ProtoError::BadLength {
            what,
            got: body_len as u64,
        });
    }
    (0..count).map(|_| read(r)).collect()
}

/// Reply to SERVER_STORAGE_CLUSTER_STAT: `[use_storage_id 1][use_trunk_file 1][count 4]` then
/// `count` × [`StorageClusterEntry`] (106 bytes), groups in name order, storages by id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageClusterStat {
    /// 1 when the tracker uses storage ids (`fdfs_storage_stat` then prints the id).
    pub use_storage_id: u8,
    /// 1 when the cluster uses trunk files (`fdfs_storage_stat` then prints `is_trunk_server`).
    pub use_trunk_file: u8,
    /// The storages that passed the filter.
    pub storages: Vec<StorageClusterEntry>,
}

impl StorageClusterStat {
    /// Header length.
    pub const HEADER: usize = 6;

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.use_storage_id);
        out.push(self.use_trunk_file);
        put_records(out, &self.storages, StorageClusterEntry::encode_into);
    }

    /// Parses the body (length must be `6 + count * 106`, as the C client checks).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let what = "storage cluster stat";
        let mut r = Reader::new(body, what);
        let use_storage_id = r.u8()?;
        let use_trunk_file = r.u8()?;
        let storages = read_records(
            &mut r,
            StorageClusterEntry::SIZE,
            what,
            body.len(),
            StorageClusterEntry::read,
        )?;
        Ok(StorageClusterStat {
            use_storage_id,
            use_trunk_file,
            storages,
        })
    }
}
message!(StorageClusterStat);
impl Reply for StorageClusterStat {
    const MAX_BODY: u64 = (StorageClusterStat::HEADER
        + MAX_GROUPS * MAX_SERVERS_EACH_GROUP * StorageClusterEntry::SIZE)
        as u64;
}

filter_request!(
    /// SERVER_STORAGE_VOLUMN_STAT (98, FastDFS 6.16 `VolumnStatFilter`):
    /// `[filter_by][is_disk_available][is_trunk_available][is_space_available]`, what
    /// `fdfs_volumn_stat` sends.
    VolumeStatRequest,
    "volume stat request",
    cmd::SERVER_STORAGE_VOLUMN_STAT,
    VolumeStats,
    [
        /// Bit set: [`Self::BY_IS_DISK_AVAILABLE`], [`Self::BY_IS_TRUNK_AVAILABLE`],
        /// [`Self::BY_IS_SPACE_AVAILABLE`]; 0 for every group.
        filter_by,
        /// Wanted disk availability (0 or 1).
        is_disk_available,
        /// Wanted trunk availability (0 or 1).
        is_trunk_available,
        /// Wanted space availability, disk or trunk (0 or 1).
        is_space_available,
    ]
);

impl VolumeStatRequest {
    /// `FDFS_VOLUMN_STAT_FILTER_BY_IS_DISK_AVAILABLE`.
    pub const BY_IS_DISK_AVAILABLE: u8 = 1;
    /// `FDFS_VOLUMN_STAT_FILTER_BY_IS_TRUNK_AVAILABLE`.
    pub const BY_IS_TRUNK_AVAILABLE: u8 = 2;
    /// `FDFS_VOLUMN_STAT_FILTER_BY_IS_SPACE_AVAILABLE`.
    pub const BY_IS_SPACE_AVAILABLE: u8 = 4;
}

/// Reply to SERVER_STORAGE_VOLUMN_STAT: `[use_trunk_file 1][count 4]` then `count` ×
/// [`VolumeStat`] (59 bytes), in group name order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeStats {
    /// 1 when the cluster uses trunk files.
    pub use_trunk_file: u8,
    /// The groups that passed the filter.
    pub groups: Vec<VolumeStat>,
}

impl VolumeStats {
    /// Header length.
    pub const HEADER: usize = 5;

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.use_trunk_file);
        put_records(out, &self.groups, VolumeStat::encode_into);
    }

    /// Parses the body (length must be `5 + count * 59`).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let what = "volume stat";
        let mut r = Reader::new(body, what);
        let use_trunk_file = r.u8()?;
        let groups = read_records(&mut r, VolumeStat::SIZE, what, body.len(), VolumeStat::read)?;
        Ok(VolumeStats {
            use_trunk_file,
            groups,
        })
    }
}
message!(VolumeStats);
impl Reply for VolumeStats {
    const MAX_BODY: u64 = (VolumeStats::HEADER + MAX_GROUPS * VolumeStat::SIZE) as u64;
}

// ---------------------------------------------------------------------------------------------
// storage-facing

/// Reply to STORAGE_PARAMETER_REQ: `key=value\n` lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageParameters {
    /// The raw text.
    pub text: String,
}

impl StorageParameters {
    /// Builds the text from pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut text = String::new();
        for (k, v) in pairs {
            text.push_str(k);
            text.push('=');
            text.push_str(v);
            text.push('\n');
        }
        StorageParameters { text }
    }

    /// `(key, value)` pairs in order (lines without '=' are skipped).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Appends the text.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.text.as_bytes());
    }

    /// Parses the text.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Ok(StorageParameters {
            text: String::from_utf8_lossy(body).into_owned(),
        })
    }
}
message!(StorageParameters);
impl Reply for StorageParameters {
    const MAX_BODY: u64 = 64 * 1024;
}

/// STORAGE_FETCH_STORAGE_IDS (69): `[start_index 4]` (before 6.12) or
/// `[start_index 4][allow_empty 1]` (6.12+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchStorageIds {
    /// First id to return.
    pub start_index: u32,
    /// `Some` for the 5-byte form: an empty reply instead of EOPNOTSUPP when the tracker does
    /// not use storage ids.
    pub allow_empty: Option<bool>,
}

impl FetchStorageIds {
    /// Appends 4 or 5 bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u32(out, self.start_index);
        if let Some(a) = self.allow_empty {
            out.push(a as u8);
        }
    }

    /// Parses 4 or 5 bytes.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "fetch storage ids request");
        let start_index = r.u32()?;
        let allow_empty = match r.remaining() {
            0 => None,
            1 => Some(r.u8()? != 0),
            _ => {
                return Err(ProtoError::BadLength {
                    what: "fetch storage ids request",
                    got: body.len() as u64,
                })
            }
        };
        Ok(FetchStorageIds {
            start_index,
            allow_empty,
        })
    }
}
message!(FetchStorageIds);
impl Request for FetchStorageIds {
    const CMD: u8 = cmd::STORAGE_FETCH_STORAGE_IDS;
    const MAX_BODY: u64 = 5;
    type Reply = StorageIds;
}

/// Reply to FETCH_STORAGE_IDS: `[total 4][count 4]` then `count` text lines
/// (8 zero bytes when allowed empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageIds {
    /// Total ids on the tracker.
    pub total: u32,
    /// Ids in this reply.
    pub count: u32,
    /// The `\n`-terminated lines.
    pub text: String,
}

impl StorageIds {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u32(out, self.total);
        put_u32(out, self.count);
        out.extend_from_slice(self.text.as_bytes());
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "storage ids reply");
        let total = r.u32()?;
        let count = r.u32()?;
        if count > total {
            return Err(ProtoError::InvalidField {
                what: "storage ids count",
                reason: "greater than total",
            });
        }
        let text = String::from_utf8_lossy(r.rest()).into_owned();
        Ok(StorageIds { total, count, text })
    }

    /// The entries, by the one storage-id parser and its rules
    /// ([`crate::conf::storage_ids::parse_entries`]): the text is the tracker's storage_ids.conf.
    /// Empty for the 8-zero-byte reply of a tracker without storage ids.
    pub fn entries(&self) -> Result<Vec<StorageIdEntry>> {
        parse_entries(&self.text).map_err(ProtoError::StorageIds)
    }
}
message!(StorageIds);
impl Reply for StorageIds {
    const MAX_BODY: u64 = 1 << 20;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_storage_refuses_nul_id() {
        // Found by fuzz/proto_request: a NUL-only id decoded to "" and then encoded to no id.
        let mut b = b"group1".to_vec();
        b.resize(GROUP_NAME_LEN, 0);
        b.extend_from_slice(&[0, 0x18, 0]);
        assert!(DeleteStorage::decode(&b).is_err());
        let ok = DeleteStorage {
            group: "group1".into(),
            storage_id: "100001".into(),
        };
        assert_eq!(DeleteStorage::decode(&ok.encode()).unwrap(), ok);
    }

    #[test]
    fn store_server() {
        let s = StoreServer {
            group: "group1".into(),
            ip: "127.0.0.11".into(),
            port: 23000,
            store_path_index: 0,
            addr_width: AddrWidth::V4,
        };
        let b = s.encode();
        assert_eq!(b.len(), 40);
        assert_eq!(StoreServer::decode(&b).unwrap(), s);
        let s6 = StoreServer {
            ip: "fe80::1".into(),
            addr_width: AddrWidth::V6,
            ..s.clone()
        };
        let b6 = s6.encode();
        assert_eq!(b6.len(), 70);
        assert_eq!(StoreServer::decode(&b6).unwrap(), s6);
        assert!(StoreServer::decode(&b[..39]).is_err());
    }

    #[test]
    fn lists() {
        let s = StoreServers {
            group: "g".into(),
            servers: vec![ServerAddr::new("1.2.3.4", 1), ServerAddr::new("1.2.3.5", 2)],
            store_path_index: 3,
            addr_width: AddrWidth::V4,
        };
        let b = s.encode();
        assert_eq!(b.len(), 63);
        assert_eq!(StoreServers::decode(&b).unwrap(), s);
        let f = FetchServers {
            group: "g".into(),
            servers: s.servers.clone(),
            addr_width: AddrWidth::V6,
        };
        assert_eq!(FetchServers::decode(&f.encode()).unwrap(), f);
        assert!(FetchServers::decode(&[0u8; 16]).is_err());
    }

    #[test]
    fn bad_port() {
        let mut b = Vec::new();
        put_fixed(&mut b, "g", 16);
        put_fixed(&mut b, "1.1.1.1", 15);
        put_u64(&mut b, 70000);
        assert!(FetchServer::decode(&b).is_err());
    }

    #[test]
    fn storage_ids() {
        let r = StorageIds {
            total: 2,
            count: 2,
            text: "100001 group1 127.0.0.1:23000\n100002 group1 [::1]:23001 rw=read\n".into(),
        };
        let d = StorageIds::decode(&r.encode()).unwrap();
        assert_eq!(d, r);
        let e = d.entries().unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].port, Some(23000));
        assert_eq!(e[1].first_ip(), "::1");
        assert_eq!(e[1].option("rw"), Some("read"));
        // One table, one rule: either every line has a port or none does (the two dual-address
        // forms are in separate replies for that reason).
        let dual = StorageIds {
            total: 3,
            count: 1,
            text: "100003 group2 10.0.0.1,192.168.0.1:23002\n".into(),
        };
        let e = dual.entries().unwrap();
        assert_eq!(e[0].addrs, vec!["10.0.0.1", "192.168.0.1"]);
        assert_eq!(e[0].port, Some(23002));
        let dual6 = StorageIds {
            total: 3,
            count: 1,
            text: "100004 group2 [fe80::1,::1]\n".into(),
        };
        let e = dual6.entries().unwrap();
        assert_eq!(e[0].addrs, vec!["fe80::1", "::1"]);
        assert_eq!(e[0].port, None);
        let mixed = StorageIds {
            total: 2,
            count: 2,
            text: "100003 group2 10.0.0.1:23002\n100004 group2 [fe80::1,::1]\n".into(),
        };
        assert!(matches!(
            mixed.entries(),
            Err(ProtoError::StorageIds(e)) if e.line == 2
        ));
        // allow_empty reply of a tracker without storage ids
        let empty = StorageIds::decode(&[0; 8]).unwrap();
        assert!(empty.entries().unwrap().is_empty());
        let f = FetchStorageIds {
            start_index: 0,
            allow_empty: Some(true),
        };
        assert_eq!(f.encode().len(), 5);
        assert_eq!(FetchStorageIds::decode(&f.encode()).unwrap(), f);
        assert_eq!(
            FetchStorageIds::decode(&[0, 0, 0, 1]).unwrap().allow_empty,
            None
        );
        assert!(FetchStorageIds::decode(&[0; 6]).is_err());
    }

    #[test]
    fn params() {
        let text = "use_storage_id=0\nid_type_in_filename=ip\nstorage_sync_file_max_delay=86400\n\
                    reserved_storage_space=20%\ntrunk_create_file_time_base=02:00\n";
        let p = StorageParameters::decode(text.as_bytes()).unwrap();
        assert_eq!(p.get("storage_sync_file_max_delay"), Some("86400"));
        assert_eq!(p.get("use_storage_id"), Some("0"));
        assert_eq!(p.get("trunk_create_file_time_base"), Some("02:00"));
        assert_eq!(p.get("missing"), None);
        assert_eq!(p.encode(), text.as_bytes());
        let p = StorageParameters::from_pairs([("use_storage_id", "0"), ("store_path", "0")]);
        assert_eq!(p.get("store_path"), Some("0"));
        assert_eq!(StorageParameters::decode(&p.encode()).unwrap(), p);
    }

    #[test]
    fn storage_cluster_and_volume_stat() {
        // Request bytes as fdfs_storage_stat -A / fdfs_volumn_stat -A build them (6.16).
        let a = StorageClusterStatRequest {
            filter_by: StorageClusterStatRequest::BY_STATUS,
            op_type: b'=',
            status: 7,
            is_trunk_server: 0,
        };
        assert_eq!(a.to_frame(), [0, 0, 0, 0, 0, 0, 0, 4, 97, 0, 2, b'=', 7, 0]);
        assert_eq!(StorageClusterStatRequest::decode(&a.encode()).unwrap(), a);
        assert!(StorageClusterStatRequest::decode(&[0; 3]).is_err());
        let v = VolumeStatRequest {
            filter_by: VolumeStatRequest::BY_IS_SPACE_AVAILABLE,
            is_space_available: 1,
            ..Default::default()
        };
        assert_eq!(v.to_frame(), [0, 0, 0, 0, 0, 0, 0, 4, 98, 0, 4, 0, 0, 1]);
        assert_eq!(VolumeStatRequest::decode(&v.encode()).unwrap(), v);

        let e = crate::proto::captured::storage_cluster_entry();
        let r = StorageClusterStat {
            use_storage_id: 0,
            use_trunk_file: 0,
            storages: vec![e.clone(), e],
        };
        let b = r.encode();
        assert_eq!(b.len(), 6 + 2 * 106);
        // count is a 4-byte big-endian int after the two flags.
        assert_eq!(&b[..6], &[0, 0, 0, 0, 0, 2]);
        // id 16, host 52, then is_trunk_server and status.
        assert_eq!((b[6 + 68], b[6 + 69]), (0, 7));
        assert_eq!(StorageClusterStat::decode(&b).unwrap(), r);
        assert!(StorageClusterStat::decode(&b[..b.len() - 1]).is_err());
        assert!(StorageClusterStat::decode(&[0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());

        let g = crate::proto::captured::volume_stat();
        let r = VolumeStats {
            use_trunk_file: 0,
            groups: vec![g],
        };
        let b = r.encode();
        assert_eq!(b.len(), 5 + 59);
        assert_eq!((b[5 + 57], b[5 + 58]), (1, 0));
        assert_eq!(VolumeStats::decode(&b).unwrap(), r);
        assert!(VolumeStats::decode(&b[..60]).is_err());
        assert_eq!(
            crate::proto::max_reply_body(cmd::SERVER_STORAGE_VOLUMN_STAT),
            Some(VolumeStats::MAX_BODY)
        );
        assert_eq!(
            crate::proto::max_request_body(cmd::SERVER_STORAGE_CLUSTER_STAT),
            Some(4)
        );
    }

    #[test]
    fn leader() {
        let l = LeaderReply::decode(b"127.0.0.10:22123").unwrap();
        assert_eq!(l.host_port(), Some(("127.0.0.10", 22123)));
        assert_eq!(l.encode(), b"127.0.0.10:22123");
    }
}
