//! The FastDFS 6.x wire protocol as a pure codec: bytes to frames and back, no I/O.
//!
//! Both directions are covered: a client encodes requests and decodes replies, a server (the
//! emulator) decodes requests and encodes replies. Decoders validate every length, never panic
//! and never allocate more than the input they are given.
//!
//! # Layout of this module
//! - [`header`]: the 10-byte [`Header`] (`body_len` u64 BE, `cmd`, `status`) with
//!   [`Header::expect_reply`] to refuse a bad command, a non-zero status or an over-long body
//!   *before* allocating.
//! - [`reply`]: the reply rules as one pure function, [`reply::reply_head`] (RESP, a non-zero
//!   status with its short error body skipped, a storage closing after a bare EINVAL).
//! - [`cmd`]: every command code (tracker, storage, storage-to-storage sync) and [`cmd::name`].
//! - [`status`]: errno status codes and [`status::errno_name`].
//! - [`error`]: the error type, [`ProtoError`].
//! - [`wire`]: field widths (group 16, IP 16/46, storage id 16, ext 6, prefix 16, ...),
//!   [`AddrWidth`], the bounds-checked [`wire::Reader`] and the fixed-field writers.
//! - [`tracker`]: the messages both servers know ([`ActiveTest`], [`Quit`], [`EmptyReply`]) and
//!   the tracker requests and replies: query store/fetch/update (one and all), list
//!   groups/storages, get leader, tracker/storage cluster stat, volume stat, STORAGE_PARAMETER_REQ,
//!   FETCH_STORAGE_IDS, delete storage.
//! - [`stat`]: the monitor blocks: [`GroupStat`], [`StorageStat`] (+ [`StorageStatBuff`]
//!   counters), [`TrackerStat`], [`stat::storage_status`] names and [`stat::rw_mode_name`].
//! - [`storage`]: storage requests and replies: upload (normal, appender, slave), download,
//!   delete, set/get metadata, query file info, append, modify, truncate, regenerate appender
//!   filename, report server id.
//! - [`metadata`]: [`Metadata`] (name/value pairs, 0x01/0x02 separated) and [`MetaOp`].
//! - [`sync`]: storage-to-storage sync commands (create/update, delete, rename/link,
//!   append/modify, truncate).
//!
//! # Traits
//! - [`Message`]: a body with `encode`/`decode`.
//! - [`Request`]: a request whose whole body is in memory; names its command, its reply type
//!   and the max body length in both directions.
//! - [`Reply`]: a reply body with its `MAX_BODY` (what a client accepts before allocating).
//! - [`StreamPrefix`]: a request whose body is a fixed prefix followed by file content (upload,
//!   append, modify, sync create): `encode_prefix`, `prefix_len`, `content_len`; the header's
//!   `body_len` is `prefix_len + content_len`. Download replies stream the whole body as content.
//!
//! Every message type also has inherent `encode`/`encode_into`/`decode` so no trait import is
//! needed for plain use. [`max_reply_body`] / [`max_request_body`] / [`is_stream_request`] give
//! the bounds by command code.
//!
//! # Example
//! ```
//! use fdfs_client::proto::{Header, QueryStoreWithoutGroupOne, Reply, Request, StoreServer};
//!
//! // client: frame a request
//! let frame = QueryStoreWithoutGroupOne.to_frame();
//! assert_eq!(frame, [0, 0, 0, 0, 0, 0, 0, 0, 101, 0]);
//!
//! // server: answer it
//! let reply = StoreServer {
//!     group: "group1".into(),
//!     ip: "127.0.0.11".into(),
//!     port: 23000,
//!     store_path_index: 0,
//!     addr_width: Default::default(),
//! };
//! let bytes = Reply::to_frame(&reply);
//!
//! // client: check the header before reading (and allocating) the body, then decode
//! let header = Header::decode(bytes[..10].try_into().unwrap());
//! header.expect_reply(<StoreServer as Reply>::MAX_BODY).unwrap();
//! let got = StoreServer::decode_reply(&header, &bytes[10..]).unwrap();
//! assert_eq!(got, reply);
//! ```

#[cfg(test)]
pub(crate) mod captured;
pub mod cmd;
pub mod error;
pub mod header;
pub mod metadata;
pub mod reply;
pub mod stat;
pub mod status;
pub mod storage;
pub mod sync;
pub mod tracker;
pub mod wire;

pub use error::{ProtoError, Result};
pub use header::{Header, HEADER_LEN};
pub use metadata::{MetaOp, Metadata};
pub use stat::{
    GroupStat, RawField, StorageClusterEntry, StorageStat, StorageStatBuff, TrackerStat, VolumeStat,
};
// Explicit lists, so that each name says which file it comes from (no glob hides a second type
// of the same name).
pub use storage::{
    AppendRequest, DeleteFile, DownloadReply, DownloadRequest, FileInfoReply, GetMetadata,
    ModifyRequest, QueryFileInfo, RegenerateAppenderFilename, RegenerateReply, ReportServerId,
    SetMetadataRequest, TruncateRequest, UploadReply, UploadRequest, UploadSlaveRequest,
    STORE_PATH_ANY,
};
pub use sync::{SyncCreateFile, SyncDeleteFile, SyncModifyFile, SyncRenameFile, SyncTruncateFile};
pub use tracker::{
    ActiveTest, DeleteStorage, EmptyReply, FetchServer, FetchServers, FetchStorageIds, GetLeader,
    GroupStats, LeaderReply, ListAllGroups, ListOneGroup, ListStorage, QueryFetchAll,
    QueryFetchOne, QueryStoreWithGroupAll, QueryStoreWithGroupOne, QueryStoreWithoutGroupAll,
    QueryStoreWithoutGroupOne, QueryUpdate, Quit, StorageClusterStat, StorageClusterStatRequest,
    StorageIds, StorageParameterReq, StorageParameters, StorageStats, StoreServer, StoreServers,
    TrackerClusterStat, TrackerClusterStatRequest, VolumeStatRequest, VolumeStats,
};
pub use wire::AddrWidth;

/// A message body: encodes to and decodes from the bytes after the header.
pub trait Message: Sized {
    /// Appends the body bytes to `out`.
    fn encode_into(&self, out: &mut Vec<u8>);

    /// The body bytes.
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// Parses a complete body.
    fn decode(body: &[u8]) -> Result<Self>;
}

/// A request whose body is entirely in memory.
pub trait Request: Message {
    /// Command code.
    const CMD: u8;
    /// Largest body a well-formed request of this kind can have (for servers).
    const MAX_BODY: u64;
    /// The reply type.
    type Reply: Reply;

    /// The header status byte (0, except QUERY_FILE_INFO flags).
    fn header_status(&self) -> u8 {
        0
    }

    /// Header + body, ready to send.
    fn to_frame(&self) -> Vec<u8> {
        let body = self.encode();
        let h = Header {
            body_len: body.len() as u64,
            cmd: Self::CMD,
            status: self.header_status(),
        };
        let mut v = Vec::with_capacity(HEADER_LEN + body.len());
        v.extend_from_slice(&h.encode());
        v.extend_from_slice(&body);
        v
    }

    /// Server side: checks `header` (command, length bound) then decodes `body`.
    fn decode_request(header: &Header, body: &[u8]) -> Result<Self> {
        header.expect_request(Self::CMD, Self::MAX_BODY)?;
        check_body_len(header, body)?;
        Self::decode(body)
    }
}

/// A reply body.
pub trait Reply: Message {
    /// Largest body a well-formed reply can have: refuse a longer declared length before
    /// allocating.
    const MAX_BODY: u64;

    /// Client side: checks `header` (RESP, status 0, `body_len <= MAX_BODY`) then decodes `body`.
    fn decode_reply(header: &Header, body: &[u8]) -> Result<Self> {
        header.expect_reply(Self::MAX_BODY)?;
        check_body_len(header, body)?;
        Self::decode(body)
    }

    /// RESP header (status 0) + body, ready to send.
    fn to_frame(&self) -> Vec<u8> {
        let body = self.encode();
        let mut v = Vec::with_capacity(HEADER_LEN + body.len());
        v.extend_from_slice(&Header::reply(0, body.len() as u64).encode());
        v.extend_from_slice(&body);
        v
    }
}

/// A request made of a fixed prefix followed by `content_len` bytes of file content, so that
/// content can be streamed. `header().body_len == prefix_len() + content_len()`.
pub trait StreamPrefix: Sized {
    /// Bytes of the fixed part of the prefix (before any variable-length name).
    const FIXED_LEN: usize;
    /// Largest whole prefix (fixed part + names).
    const MAX_PREFIX: usize;

    /// The command code of this request.
    fn cmd(&self) -> u8;
    /// Length of the whole prefix (fixed part and any names).
    fn prefix_len(&self) -> usize;
    /// Bytes of content following the prefix.
    fn content_len(&self) -> u64;
    /// Appends the prefix bytes to `out`.
    fn encode_prefix_into(&self, out: &mut Vec<u8>);

    /// The prefix bytes.
    fn encode_prefix(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.prefix_len());
        self.encode_prefix_into(&mut v);
        v
    }

    /// Total body length.
    fn body_len(&self) -> u64 {
        (self.prefix_len() as u64).saturating_add(self.content_len())
    }

    /// The header to send before the prefix.
    fn header(&self) -> Header {
        Header::new(self.cmd(), self.body_len())
    }

    /// Header + prefix: everything before the content.
    fn frame_prefix(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.prefix_len());
        v.extend_from_slice(&self.header().encode());
        self.encode_prefix_into(&mut v);
        v
    }

    /// Given the first [`Self::FIXED_LEN`] bytes, the length of the whole prefix (so a server
    /// knows how much more to read before the content starts).
    fn prefix_len_from_fixed(fixed: &[u8]) -> Result<usize>;

    /// Parses a prefix from the start of `buf` (which may continue with content); returns the
    /// request and the number of prefix bytes consumed. `cmd` is the header's command (some
    /// prefixes serve two commands).
    fn decode_prefix(cmd: u8, buf: &[u8]) -> Result<(Self, usize)>;

    /// Server side: decodes the prefix and checks that `header.body_len` equals
    /// `prefix_len + content_len`.
    fn decode_prefix_checked(header: &Header, buf: &[u8]) -> Result<(Self, usize)> {
        let (req, n) = Self::decode_prefix(header.cmd, buf)?;
        if req.body_len() != header.body_len || (req.prefix_len() as u64) > header.body_len {
            return Err(ProtoError::BadLength {
                what: "stream request",
                got: header.body_len,
            });
        }
        Ok((req, n))
    }
}

/// [`StreamPrefix::decode_prefix`]'s command check: `got` must be one of `accepted` (a prefix
/// type may serve two commands); the error names the first.
pub(crate) fn expect_stream_cmd(got: u8, accepted: &[u8]) -> Result<()> {
    if accepted.contains(&got) {
        return Ok(());
    }
    Err(ProtoError::UnexpectedCmd {
        expected: accepted.first().copied().unwrap_or_default(),
        got,
    })
}

/// [`StreamPrefix::prefix_len_from_fixed`] for prefixes that start with the filename length:
/// `fixed_len` plus that length (checked like every filename length).
pub(crate) fn prefix_len_after_name(
    fixed: &[u8],
    what: &'static str,
    fixed_len: usize,
) -> Result<usize> {
    let mut r = wire::Reader::new(fixed, what);
    Ok(fixed_len + tracker::read_name_len(&mut r)?)
}

/// [`ProtoError::BadLength`] unless `body.len() == header.body_len`.
pub fn check_body_len(header: &Header, body: &[u8]) -> Result<()> {
    if body.len() as u64 != header.body_len {
        return Err(ProtoError::BadLength {
            what: "body length differs from header",
            got: body.len() as u64,
        });
    }
    Ok(())
}

/// The largest reply body a client should accept for a request command (`None` for unknown
/// commands and for QUIT, which has no reply). Download replies are the file content: the bound
/// is `i64::MAX` here; use [`DownloadRequest::max_reply_body`] for a tighter one.
pub fn max_reply_body(request_cmd: u8) -> Option<u64> {
    use cmd::*;
    Some(match request_cmd {
        ACTIVE_TEST => EmptyReply::MAX_BODY,
        QUERY_STORE_WITHOUT_GROUP_ONE | QUERY_STORE_WITH_GROUP_ONE => StoreServer::MAX_BODY,
        QUERY_STORE_WITHOUT_GROUP_ALL | QUERY_STORE_WITH_GROUP_ALL => StoreServers::MAX_BODY,
        QUERY_FETCH_ONE | QUERY_UPDATE => FetchServer::MAX_BODY,
        QUERY_FETCH_ALL => FetchServers::MAX_BODY,
        SERVER_LIST_ONE_GROUP => GroupStat::MAX_BODY,
        SERVER_LIST_ALL_GROUPS => GroupStats::MAX_BODY,
        SERVER_LIST_STORAGE => StorageStats::MAX_BODY,
        SERVER_GET_LEADER => LeaderReply::MAX_BODY,
        SERVER_TRACKER_CLUSTER_STAT => TrackerClusterStat::MAX_BODY,
        SERVER_STORAGE_CLUSTER_STAT => StorageClusterStat::MAX_BODY,
        SERVER_STORAGE_VOLUMN_STAT => VolumeStats::MAX_BODY,
        STORAGE_PARAMETER_REQ => StorageParameters::MAX_BODY,
        STORAGE_FETCH_STORAGE_IDS => StorageIds::MAX_BODY,
        SERVER_DELETE_STORAGE | SERVER_DELETE_GROUP => EmptyReply::MAX_BODY,
        UPLOAD_FILE | UPLOAD_APPENDER_FILE | UPLOAD_SLAVE_FILE | REGENERATE_APPENDER_FILENAME => {
            UploadReply::MAX_BODY
        }
        DOWNLOAD_FILE => i64::MAX as u64,
        GET_METADATA => Metadata::MAX_BODY,
        QUERY_FILE_INFO => FileInfoReply::MAX_BODY,
        DELETE_FILE
        | SET_METADATA
        | APPEND_FILE
        | MODIFY_FILE
        | TRUNCATE_FILE
        | STORAGE_REPORT_SERVER_ID
        | SYNC_CREATE_FILE
        | SYNC_DELETE_FILE
        | SYNC_UPDATE_FILE
        | SYNC_CREATE_LINK
        | SYNC_APPEND_FILE
        | SYNC_MODIFY_FILE
        | SYNC_TRUNCATE_FILE
        | SYNC_RENAME_FILE => EmptyReply::MAX_BODY,
        _ => return None,
    })
}

/// True for requests whose body is a [`StreamPrefix`] followed by content (uploads, append,
/// modify, sync create/update/append/modify): a server reads `FIXED_LEN` bytes, asks
/// `prefix_len_from_fixed`, reads the rest of the prefix, then streams the content.
pub fn is_stream_request(request_cmd: u8) -> bool {
    use cmd::*;
    matches!(
        request_cmd,
        UPLOAD_FILE
            | UPLOAD_APPENDER_FILE
            | UPLOAD_SLAVE_FILE
            | APPEND_FILE
            | MODIFY_FILE
            | SYNC_CREATE_FILE
            | SYNC_UPDATE_FILE
            | SYNC_APPEND_FILE
            | SYNC_MODIFY_FILE
    )
}

/// The largest request body a server should accept for a command (`None` for unknown
/// commands). For stream requests this is the largest *prefix*; the content that follows is
/// bounded by the declared file size only.
pub fn max_request_body(request_cmd: u8) -> Option<u64> {
    use cmd::*;
    fn m<T: Request>() -> u64 {
        T::MAX_BODY
    }
    Some(match request_cmd {
        ACTIVE_TEST => m::<ActiveTest>(),
        QUIT => m::<Quit>(),
        QUERY_STORE_WITHOUT_GROUP_ONE => m::<QueryStoreWithoutGroupOne>(),
        QUERY_STORE_WITH_GROUP_ONE => m::<QueryStoreWithGroupOne>(),
        QUERY_STORE_WITHOUT_GROUP_ALL => m::<QueryStoreWithoutGroupAll>(),
        QUERY_STORE_WITH_GROUP_ALL => m::<QueryStoreWithGroupAll>(),
        QUERY_FETCH_ONE => m::<QueryFetchOne>(),
        QUERY_UPDATE => m::<QueryUpdate>(),
        QUERY_FETCH_ALL => m::<QueryFetchAll>(),
        SERVER_LIST_ONE_GROUP => m::<ListOneGroup>(),
        SERVER_LIST_ALL_GROUPS => m::<ListAllGroups>(),
        SERVER_LIST_STORAGE => m::<ListStorage>(),
        SERVER_DELETE_STORAGE => m::<DeleteStorage>(),
        SERVER_GET_LEADER => m::<GetLeader>(),
        SERVER_TRACKER_CLUSTER_STAT => m::<TrackerClusterStatRequest>(),
        SERVER_STORAGE_CLUSTER_STAT => m::<StorageClusterStatRequest>(),
        SERVER_STORAGE_VOLUMN_STAT => m::<VolumeStatRequest>(),
        STORAGE_PARAMETER_REQ => m::<StorageParameterReq>(),
        STORAGE_FETCH_STORAGE_IDS => m::<FetchStorageIds>(),
        STORAGE_REPORT_SERVER_ID => m::<ReportServerId>(),
        DOWNLOAD_FILE => m::<DownloadRequest>(),
        DELETE_FILE => m::<DeleteFile>(),
        GET_METADATA => m::<GetMetadata>(),
        SET_METADATA => m::<SetMetadataRequest>(),
        QUERY_FILE_INFO => m::<QueryFileInfo>(),
        TRUNCATE_FILE => m::<TruncateRequest>(),
        REGENERATE_APPENDER_FILENAME => m::<RegenerateAppenderFilename>(),
        SYNC_DELETE_FILE => m::<SyncDeleteFile>(),
        SYNC_RENAME_FILE | SYNC_CREATE_LINK => m::<SyncRenameFile>(),
        SYNC_TRUNCATE_FILE => m::<SyncTruncateFile>(),
        UPLOAD_FILE | UPLOAD_APPENDER_FILE => UploadRequest::MAX_PREFIX as u64,
        UPLOAD_SLAVE_FILE => UploadSlaveRequest::MAX_PREFIX as u64,
        APPEND_FILE => AppendRequest::MAX_PREFIX as u64,
        MODIFY_FILE => ModifyRequest::MAX_PREFIX as u64,
        SYNC_CREATE_FILE | SYNC_UPDATE_FILE => SyncCreateFile::MAX_PREFIX as u64,
        SYNC_APPEND_FILE | SYNC_MODIFY_FILE => SyncModifyFile::MAX_PREFIX as u64,
        _ => return None,
    })
}

/// Implements [`Message`] by delegating to the type's inherent `encode_into`/`decode`, and adds
/// an inherent `encode`.
macro_rules! message {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::proto::Message for $t {
            fn encode_into(&self, out: &mut Vec<u8>) {
                <$t>::encode_into(self, out)
            }
            fn decode(body: &[u8]) -> $crate::proto::Result<Self> {
                <$t>::decode(body)
            }
        }
        impl $t {
            /// The body bytes.
            pub fn encode(&self) -> Vec<u8> {
                let mut v = Vec::new();
                <$t>::encode_into(self, &mut v);
                v
            }
        }
    )*};
}
pub(crate) use message;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_cover_every_named_command() {
        for c in 0..=255u8 {
            if c == cmd::RESP {
                continue;
            }
            let named = cmd::name(c).is_some();
            if max_request_body(c).is_some() {
                assert!(named, "{c}");
            }
            if is_stream_request(c) {
                assert!(max_request_body(c).is_some(), "{c}");
                assert!(max_reply_body(c).is_some(), "{c}");
            }
        }
        assert_eq!(max_reply_body(cmd::QUERY_STORE_WITH_GROUP_ONE), Some(70));
        assert_eq!(max_reply_body(cmd::QUIT), None);
        assert_eq!(max_request_body(cmd::UPLOAD_FILE), Some(15));
    }
}
