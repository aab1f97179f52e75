//! Storage requests and replies (client ↔ storage).
//!
//! | request | cmd | body | reply |
//! |---|---|---|---|
//! | [`UploadRequest`] (stream) | 11 / 23 | `[spi 1][size 8][ext 6]` + content | [`UploadReply`] |
//! | [`UploadSlaveRequest`] (stream) | 21 | `[mlen 8][size 8][prefix 16][ext 6][master]` + content | [`UploadReply`] |
//! | [`DownloadRequest`] | 14 | `[offset 8][bytes 8][group 16][name]` | content ([`DownloadReply`]) |
//! | [`DeleteFile`] | 12 | `[group 16][name]` | [`EmptyReply`] |
//! | [`SetMetadataRequest`] | 13 | `[nlen 8][mlen 8][op 1][group 16][name][meta]` | [`EmptyReply`] |
//! | [`GetMetadata`] | 15 | `[group 16][name]` | [`Metadata`] |
//! | [`QueryFileInfo`] | 22 | `[group 16][name]`, flags in header status | [`FileInfoReply`] |
//! | [`AppendRequest`] (stream) | 24 | `[nlen 8][size 8][name]` + content | [`EmptyReply`] |
//! | [`ModifyRequest`] (stream) | 34 | `[nlen 8][offset 8][size 8][name]` + content | [`EmptyReply`] |
//! | [`TruncateRequest`] | 36 | `[nlen 8][new size 8][name]` | [`EmptyReply`] |
//! | [`RegenerateAppenderFilename`] | 38 | `[name]` | [`UploadReply`] |
//! | [`ReportServerId`] | 9 | `[storage id 16]` | [`EmptyReply`] |
//!
//! "stream" requests implement [`StreamPrefix`]: the struct holds the prefix fields and the
//! content length, the content itself is sent/read separately.

use super::cmd;
use super::error::{ProtoError, Result};
use super::metadata::{MetaOp, Metadata};
use super::tracker::{
    group_file_request, read_filename_rest, read_name_len, read_size, EmptyReply,
};
use super::wire::{
    put_fixed, put_i64, put_u64, AddrWidth, Reader, FILE_EXT_LEN, FILE_PREFIX_LEN, GROUP_NAME_LEN,
    MAX_FILENAME_LEN, STORAGE_ID_LEN,
};
use super::{expect_stream_cmd, message, prefix_len_after_name, Reply, Request, StreamPrefix};

/// Store path index meaning "storage chooses" in an upload request.
pub const STORE_PATH_ANY: u8 = 255;

// ---------------------------------------------------------------------------------------------
// upload

/// UPLOAD_FILE (11) / UPLOAD_APPENDER_FILE (23) prefix: `[store_path_index 1][file_size 8][ext 6]`,
/// followed by `file_size` bytes of content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadRequest {
    /// Store path index from the tracker ([`STORE_PATH_ANY`] = storage chooses).
    pub store_path_index: u8,
    /// Content length.
    pub file_size: u64,
    /// Extension without the dot (at most 6 bytes, may be empty).
    pub ext: String,
    /// UPLOAD_APPENDER_FILE instead of UPLOAD_FILE.
    pub appender: bool,
}

impl UploadRequest {
    /// Prefix length (15).
    pub const PREFIX_LEN: usize = 1 + 8 + FILE_EXT_LEN;
}

impl StreamPrefix for UploadRequest {
    const FIXED_LEN: usize = Self::PREFIX_LEN;
    const MAX_PREFIX: usize = Self::PREFIX_LEN;

    fn cmd(&self) -> u8 {
        if self.appender {
            cmd::UPLOAD_APPENDER_FILE
        } else {
            cmd::UPLOAD_FILE
        }
    }
    fn prefix_len(&self) -> usize {
        Self::PREFIX_LEN
    }
    fn content_len(&self) -> u64 {
        self.file_size
    }
    fn encode_prefix_into(&self, out: &mut Vec<u8>) {
        out.push(self.store_path_index);
        put_u64(out, self.file_size);
        put_fixed(out, &self.ext, FILE_EXT_LEN);
    }
    fn prefix_len_from_fixed(_fixed: &[u8]) -> Result<usize> {
        Ok(Self::PREFIX_LEN)
    }
    fn decode_prefix(cmd: u8, buf: &[u8]) -> Result<(Self, usize)> {
        expect_stream_cmd(cmd, &[cmd::UPLOAD_FILE, cmd::UPLOAD_APPENDER_FILE])?;
        let appender = cmd == cmd::UPLOAD_APPENDER_FILE;
        let mut r = Reader::new(buf, "upload request");
        let store_path_index = r.u8()?;
        let file_size = read_size(&mut r, "file size")?;
        let ext = r.fixed_str(FILE_EXT_LEN)?;
        Ok((
            UploadRequest {
                store_path_index,
                file_size,
                ext,
                appender,
            },
            r.position(),
        ))
    }
}

/// UPLOAD_SLAVE_FILE (21) prefix:
/// `[master_len 8][file_size 8][prefix 16][ext 6][master filename]`, then content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadSlaveRequest {
    /// Master file name (without group).
    pub master_filename: String,
    /// Content length.
    pub file_size: u64,
    /// Slave prefix (e.g. `_s`, at most 16 bytes).
    pub prefix: String,
    /// Extension without the dot (at most 6 bytes).
    pub ext: String,
}

impl UploadSlaveRequest {
    /// Fixed part length (38).
    pub const FIXED: usize = 8 + 8 + FILE_PREFIX_LEN + FILE_EXT_LEN;
}

impl StreamPrefix for UploadSlaveRequest {
    const FIXED_LEN: usize = Self::FIXED;
    const MAX_PREFIX: usize = Self::FIXED + MAX_FILENAME_LEN;

    fn cmd(&self) -> u8 {
        cmd::UPLOAD_SLAVE_FILE
    }
    fn prefix_len(&self) -> usize {
        Self::FIXED + self.master_filename.len()
    }
    fn content_len(&self) -> u64 {
        self.file_size
    }
    fn encode_prefix_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.master_filename.len() as u64);
        put_u64(out, self.file_size);
        put_fixed(out, &self.prefix, FILE_PREFIX_LEN);
        put_fixed(out, &self.ext, FILE_EXT_LEN);
        out.extend_from_slice(self.master_filename.as_bytes());
    }
    fn prefix_len_from_fixed(fixed: &[u8]) -> Result<usize> {
        prefix_len_after_name(fixed, "upload slave request", Self::FIXED_LEN)
    }
    fn decode_prefix(cmd: u8, buf: &[u8]) -> Result<(Self, usize)> {
        expect_stream_cmd(cmd, &[cmd::UPLOAD_SLAVE_FILE])?;
        let mut r = Reader::new(buf, "upload slave request");
        let mlen = read_name_len(&mut r)?;
        let file_size = read_size(&mut r, "file size")?;
        let prefix = r.fixed_str(FILE_PREFIX_LEN)?;
        let ext = r.fixed_str(FILE_EXT_LEN)?;
        let master_filename = r.str_exact(mlen)?;
        Ok((
            UploadSlaveRequest {
                master_filename,
                file_size,
                prefix,
                ext,
            },
            r.position(),
        ))
    }
}

/// Reply to the uploads and to REGENERATE_APPENDER_FILENAME: `[group 16][filename]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadReply {
    /// Group.
    pub group: String,
    /// Remote filename (`M00/00/00/...`).
    pub filename: String,
}

impl UploadReply {
    /// `group/filename`: the file id.
    pub fn file_id(&self) -> String {
        format!("{}/{}", self.group, self.filename)
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "upload reply");
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        if group.is_empty() {
            return Err(ProtoError::InvalidField {
                what: "group name",
                reason: "empty",
            });
        }
        let filename = read_filename_rest(&mut r)?;
        Ok(UploadReply { group, filename })
    }
}
message!(UploadReply);
impl Reply for UploadReply {
    const MAX_BODY: u64 = (GROUP_NAME_LEN + MAX_FILENAME_LEN) as u64;
}

/// Reply to REGENERATE_APPENDER_FILENAME (same layout as an upload reply).
pub type RegenerateReply = UploadReply;

// ---------------------------------------------------------------------------------------------
// download / delete / metadata / info

/// DOWNLOAD_FILE (14): `[offset 8][bytes 8][group 16][filename]`; `bytes == 0` means "to the end".
/// The reply body is the content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DownloadRequest {
    /// Start offset.
    pub offset: u64,
    /// Bytes wanted (0 = to the end).
    pub bytes: u64,
    /// Group.
    pub group: String,
    /// Remote filename.
    pub filename: String,
}

impl DownloadRequest {
    /// The bound for the reply body: `bytes` if set, else `i64::MAX`.
    pub fn max_reply_body(&self) -> u64 {
        if self.bytes > 0 {
            self.bytes
        } else {
            i64::MAX as u64
        }
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.offset);
        put_u64(out, self.bytes);
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "download request");
        let offset = read_size(&mut r, "offset")?;
        let bytes = read_size(&mut r, "download bytes")?;
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        let filename = read_filename_rest(&mut r)?;
        Ok(DownloadRequest {
            offset,
            bytes,
            group,
            filename,
        })
    }
}
message!(DownloadRequest);
impl Request for DownloadRequest {
    const CMD: u8 = cmd::DOWNLOAD_FILE;
    const MAX_BODY: u64 = (16 + GROUP_NAME_LEN + MAX_FILENAME_LEN) as u64;
    type Reply = DownloadReply;
}

/// A download reply held in memory (the body is the content). Streaming clients should not use
/// this: read the header, check it against [`DownloadRequest::max_reply_body`], then copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DownloadReply {
    /// The bytes.
    pub content: Vec<u8>,
}

impl DownloadReply {
    /// Appends the content.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.content);
    }
    /// Takes the content.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Ok(DownloadReply {
            content: body.to_vec(),
        })
    }
}
message!(DownloadReply);
impl Reply for DownloadReply {
    const MAX_BODY: u64 = i64::MAX as u64;
}

group_file_request!(
    /// DELETE_FILE (12): `[group 16][filename]`; empty reply.
    DeleteFile,
    cmd::DELETE_FILE,
    EmptyReply
);
group_file_request!(
    /// GET_METADATA (15): `[group 16][filename]`; reply [`Metadata`].
    GetMetadata,
    cmd::GET_METADATA,
    Metadata
);

/// SET_METADATA (13): `[filename_len 8][meta_len 8][op 1][group 16][filename][metadata]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetMetadataRequest {
    /// Group.
    pub group: String,
    /// Remote filename.
    pub filename: String,
    /// Overwrite or merge.
    pub op: MetaOp,
    /// The pairs.
    pub meta: Metadata,
}

impl SetMetadataRequest {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.meta.encoded_len() as u64);
        out.push(self.op.as_byte());
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
        self.meta.encode_into(out);
    }

    /// Parses the body (the metadata length must match what is left).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "set metadata request");
        let nlen = read_name_len(&mut r)?;
        let mlen = r.len_field("metadata length", Metadata::MAX_BODY as usize)?;
        let op = MetaOp::from_byte(r.u8()?)?;
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        let filename = r.str_exact(nlen)?;
        if r.remaining() != mlen {
            return Err(ProtoError::BadLength {
                what: "set metadata request",
                got: body.len() as u64,
            });
        }
        let meta = Metadata::decode(r.rest())?;
        Ok(SetMetadataRequest {
            group,
            filename,
            op,
            meta,
        })
    }
}
message!(SetMetadataRequest);
impl Request for SetMetadataRequest {
    const CMD: u8 = cmd::SET_METADATA;
    const MAX_BODY: u64 = (17 + GROUP_NAME_LEN + MAX_FILENAME_LEN) as u64 + Metadata::MAX_BODY;
    type Reply = EmptyReply;
}

/// QUERY_FILE_INFO (22): `[group 16][filename]`; `flags` travel in the header status byte
/// (1 = don't compute crc32, 2 = keep silent in the log).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryFileInfo {
    /// Group.
    pub group: String,
    /// Remote filename.
    pub filename: String,
    /// Header status flags.
    pub flags: u8,
}

impl QueryFileInfo {
    /// Flag: do not compute the crc32.
    pub const FLAG_NOT_CALC_CRC32: u8 = 1;
    /// Flag: do not log a missing file.
    pub const FLAG_KEEP_SILENCE: u8 = 2;

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
    }

    /// Parses the body (flags are 0; take them from the header).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let d = GetMetadata::decode(body)?;
        Ok(QueryFileInfo {
            group: d.group,
            filename: d.filename,
            flags: 0,
        })
    }
}
message!(QueryFileInfo);
impl Request for QueryFileInfo {
    const CMD: u8 = cmd::QUERY_FILE_INFO;
    const MAX_BODY: u64 = (GROUP_NAME_LEN + MAX_FILENAME_LEN) as u64;
    type Reply = FileInfoReply;

    fn header_status(&self) -> u8 {
        self.flags
    }

    fn decode_request(header: &super::Header, body: &[u8]) -> Result<Self> {
        header.expect_request(Self::CMD, Self::MAX_BODY)?;
        super::check_body_len(header, body)?;
        let mut q = Self::decode(body)?;
        q.flags = header.status;
        Ok(q)
    }
}

/// Reply to QUERY_FILE_INFO: `[file_size 8][create_timestamp 8][crc32 8][source ip 16|46]`.
///
/// The crc32 travels sign-extended (`0xdd6703c3` is sent as `ffffffffdd6703c3`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileInfoReply {
    /// File size.
    pub file_size: u64,
    /// Creation time (unix seconds).
    pub create_timestamp: u64,
    /// CRC32 of the content.
    pub crc32: u32,
    /// IP of the storage the file was uploaded to.
    pub source_ip: String,
    /// Width of the ip field.
    pub addr_width: AddrWidth,
}

impl FileInfoReply {
    /// Encoded size for a width (40 or 70).
    pub const fn size(w: AddrWidth) -> usize {
        24 + w.size()
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.file_size);
        put_u64(out, self.create_timestamp);
        put_i64(out, self.crc32 as i32 as i64);
        put_fixed(out, &self.source_ip, self.addr_width.size());
    }

    /// Parses a 40- or 70-byte body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let w = if body.len() == Self::size(AddrWidth::V4) {
            AddrWidth::V4
        } else if body.len() == Self::size(AddrWidth::V6) {
            AddrWidth::V6
        } else {
            return Err(ProtoError::BadLength {
                what: "file info reply",
                got: body.len() as u64,
            });
        };
        let mut r = Reader::new(body, "file info reply");
        let file_size = r.u64()?;
        let create_timestamp = r.u64()?;
        let crc32 = r.u64()? as u32;
        let source_ip = r.fixed_str(w.size())?;
        Ok(FileInfoReply {
            file_size,
            create_timestamp,
            crc32,
            source_ip,
            addr_width: w,
        })
    }
}
message!(FileInfoReply);
impl Reply for FileInfoReply {
    const MAX_BODY: u64 = FileInfoReply::size(AddrWidth::V6) as u64;
}

// ---------------------------------------------------------------------------------------------
// appender operations

/// APPEND_FILE (24) prefix: `[filename_len 8][file_size 8][filename]`, then content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendRequest {
    /// Appender filename (without group).
    pub filename: String,
    /// Bytes appended.
    pub file_size: u64,
}

impl StreamPrefix for AppendRequest {
    const FIXED_LEN: usize = 16;
    const MAX_PREFIX: usize = 16 + MAX_FILENAME_LEN;

    fn cmd(&self) -> u8 {
        cmd::APPEND_FILE
    }
    fn prefix_len(&self) -> usize {
        16 + self.filename.len()
    }
    fn content_len(&self) -> u64 {
        self.file_size
    }
    fn encode_prefix_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.file_size);
        out.extend_from_slice(self.filename.as_bytes());
    }
    fn prefix_len_from_fixed(fixed: &[u8]) -> Result<usize> {
        prefix_len_after_name(fixed, "append request", Self::FIXED_LEN)
    }
    fn decode_prefix(cmd: u8, buf: &[u8]) -> Result<(Self, usize)> {
        expect_stream_cmd(cmd, &[cmd::APPEND_FILE])?;
        let mut r = Reader::new(buf, "append request");
        let nlen = read_name_len(&mut r)?;
        let file_size = read_size(&mut r, "file size")?;
        let filename = r.str_exact(nlen)?;
        Ok((
            AppendRequest {
                filename,
                file_size,
            },
            r.position(),
        ))
    }
}

/// MODIFY_FILE (34) prefix: `[filename_len 8][offset 8][file_size 8][filename]`, then content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModifyRequest {
    /// Appender filename (without group).
    pub filename: String,
    /// Where to write.
    pub offset: u64,
    /// Bytes written.
    pub file_size: u64,
}

impl StreamPrefix for ModifyRequest {
    const FIXED_LEN: usize = 24;
    const MAX_PREFIX: usize = 24 + MAX_FILENAME_LEN;

    fn cmd(&self) -> u8 {
        cmd::MODIFY_FILE
    }
    fn prefix_len(&self) -> usize {
        24 + self.filename.len()
    }
    fn content_len(&self) -> u64 {
        self.file_size
    }
    fn encode_prefix_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.offset);
        put_u64(out, self.file_size);
        out.extend_from_slice(self.filename.as_bytes());
    }
    fn prefix_len_from_fixed(fixed: &[u8]) -> Result<usize> {
        prefix_len_after_name(fixed, "modify request", Self::FIXED_LEN)
    }
    fn decode_prefix(cmd: u8, buf: &[u8]) -> Result<(Self, usize)> {
        expect_stream_cmd(cmd, &[cmd::MODIFY_FILE])?;
        let mut r = Reader::new(buf, "modify request");
        let nlen = read_name_len(&mut r)?;
        let offset = read_size(&mut r, "offset")?;
        let file_size = read_size(&mut r, "file size")?;
        let filename = r.str_exact(nlen)?;
        Ok((
            ModifyRequest {
                filename,
                offset,
                file_size,
            },
            r.position(),
        ))
    }
}

/// TRUNCATE_FILE (36): `[filename_len 8][truncated_size 8][filename]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TruncateRequest {
    /// Appender filename (without group).
    pub filename: String,
    /// New size.
    pub truncated_size: u64,
}

impl TruncateRequest {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.truncated_size);
        out.extend_from_slice(self.filename.as_bytes());
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "truncate request");
        let nlen = read_name_len(&mut r)?;
        let truncated_size = read_size(&mut r, "truncated size")?;
        let filename = r.str_exact(nlen)?;
        r.finish()?;
        Ok(TruncateRequest {
            filename,
            truncated_size,
        })
    }
}
message!(TruncateRequest);
impl Request for TruncateRequest {
    const CMD: u8 = cmd::TRUNCATE_FILE;
    const MAX_BODY: u64 = (16 + MAX_FILENAME_LEN) as u64;
    type Reply = EmptyReply;
}

/// REGENERATE_APPENDER_FILENAME (38): `[appender filename]`; reply [`UploadReply`] with the new
/// name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegenerateAppenderFilename {
    /// Appender filename (without group).
    pub filename: String,
}

impl RegenerateAppenderFilename {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.filename.as_bytes());
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "regenerate appender filename request");
        Ok(RegenerateAppenderFilename {
            filename: read_filename_rest(&mut r)?,
        })
    }
}
message!(RegenerateAppenderFilename);
impl Request for RegenerateAppenderFilename {
    const CMD: u8 = cmd::REGENERATE_APPENDER_FILENAME;
    const MAX_BODY: u64 = MAX_FILENAME_LEN as u64;
    type Reply = UploadReply;
}

/// STORAGE_REPORT_SERVER_ID (9): `[storage id 16]`, sent by a storage opening a sync connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportServerId {
    /// The sender's storage id (its ip in IP mode).
    pub storage_id: String,
}

impl ReportServerId {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.storage_id, STORAGE_ID_LEN);
    }

    /// Parses exactly 16 bytes.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "report server id");
        let storage_id = r.fixed_str(STORAGE_ID_LEN)?;
        r.finish()?;
        Ok(ReportServerId { storage_id })
    }
}
message!(ReportServerId);
impl Request for ReportServerId {
    const CMD: u8 = cmd::STORAGE_REPORT_SERVER_ID;
    const MAX_BODY: u64 = STORAGE_ID_LEN as u64;
    type Reply = EmptyReply;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_prefix() {
        let u = UploadRequest {
            store_path_index: 0,
            file_size: 12,
            ext: "txt".into(),
            appender: true,
        };
        let f = u.frame_prefix();
        assert_eq!(
            f,
            [
                0, 0, 0, 0, 0, 0, 0, 0x1b, 0x17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, b't', b'x', b't',
                0, 0, 0
            ]
        );
        let (d, n) = UploadRequest::decode_prefix_checked(&u.header(), &f[10..]).unwrap();
        assert_eq!((d, n), (u, 15));
    }

    #[test]
    fn slave_prefix() {
        let s = UploadSlaveRequest {
            master_filename: "M00/00/00/abc.jpg".into(),
            file_size: 3,
            prefix: "_s".into(),
            ext: "txt".into(),
        };
        let p = s.encode_prefix();
        assert_eq!(p.len(), s.prefix_len());
        assert_eq!(
            UploadSlaveRequest::prefix_len_from_fixed(&p[..UploadSlaveRequest::FIXED_LEN]).unwrap(),
            p.len()
        );
        let (d, n) = UploadSlaveRequest::decode_prefix(cmd::UPLOAD_SLAVE_FILE, &p).unwrap();
        assert_eq!(d, s);
        assert_eq!(n, p.len());
        assert!(UploadSlaveRequest::decode_prefix(cmd::UPLOAD_FILE, &p).is_err());
        let mut huge = p.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(UploadSlaveRequest::decode_prefix(cmd::UPLOAD_SLAVE_FILE, &huge).is_err());
    }

    #[test]
    fn set_meta() {
        let s = SetMetadataRequest {
            group: "group1".into(),
            filename: "M00/00/00/x.txt".into(),
            op: MetaOp::Merge,
            meta: Metadata::new([("c", "dd")]),
        };
        let b = s.encode();
        assert_eq!(SetMetadataRequest::decode(&b).unwrap(), s);
        assert!(SetMetadataRequest::decode(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn file_info_crc_sign() {
        let f = FileInfoReply {
            file_size: 18,
            create_timestamp: 0x6b0656eb,
            crc32: 0xdd6703c3,
            source_ip: "127.0.0.11".into(),
            addr_width: AddrWidth::V4,
        };
        let b = f.encode();
        assert_eq!(
            &b[16..24],
            &[0xff, 0xff, 0xff, 0xff, 0xdd, 0x67, 0x03, 0xc3]
        );
        assert_eq!(FileInfoReply::decode(&b).unwrap(), f);
    }

    #[test]
    fn download() {
        let d = DownloadRequest {
            offset: 1,
            bytes: 3,
            group: "group1".into(),
            filename: "M00/00/00/a".into(),
        };
        assert_eq!(DownloadRequest::decode(&d.encode()).unwrap(), d);
        assert_eq!(d.max_reply_body(), 3);
        let q = QueryFileInfo {
            group: "g".into(),
            filename: "f".into(),
            flags: 1,
        };
        let fr = q.to_frame();
        assert_eq!(fr[9], 1);
        let h = crate::proto::Header::decode_slice(&fr).unwrap();
        assert_eq!(QueryFileInfo::decode_request(&h, &fr[10..]).unwrap(), q);
    }
}
