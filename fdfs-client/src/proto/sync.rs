//! Storage-to-storage sync commands (sent by the source storage to its peers after
//! [`super::ReportServerId`]); all replies are empty.
//!
//! | request | cmd | body |
//! |---|---|---|
//! | [`SyncCreateFile`] (stream) | 16 / 18 | `[nlen 8][size 8][ts 4][group 16][name]` + content |
//! | [`SyncDeleteFile`] | 17 | `[ts 4][group 16][name]` |
//! | [`SyncRenameFile`] | 40 / 19 | `[nlen 8][src_len 8][ts 4][group 16][name][src name]` |
//! | [`SyncModifyFile`] (stream) | 25 / 35 | `[nlen 8][offset 8][len 8][ts 4][group 16][name]` + content |
//! | [`SyncTruncateFile`] | 37 | `[nlen 8][old size 8][new size 8][ts 4][group 16][name]` |

use super::cmd;
use super::error::Result;
use super::tracker::{read_filename_rest, read_name_len, read_size, EmptyReply};
use super::wire::{put_fixed, put_u32, put_u64, Reader, GROUP_NAME_LEN, MAX_FILENAME_LEN};
use super::{expect_stream_cmd, message, prefix_len_after_name, Request, StreamPrefix};

/// SYNC_CREATE_FILE (16) / SYNC_UPDATE_FILE (18) prefix, then `file_size` bytes of content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncCreateFile {
    /// Filename (without group).
    pub filename: String,
    /// Content length.
    pub file_size: u64,
    /// Binlog timestamp.
    pub timestamp: u32,
    /// Group.
    pub group: String,
    /// SYNC_UPDATE_FILE instead of SYNC_CREATE_FILE.
    pub update: bool,
}

impl StreamPrefix for SyncCreateFile {
    const FIXED_LEN: usize = 20 + GROUP_NAME_LEN;
    const MAX_PREFIX: usize = Self::FIXED_LEN + MAX_FILENAME_LEN;

    fn cmd(&self) -> u8 {
        if self.update {
            cmd::SYNC_UPDATE_FILE
        } else {
            cmd::SYNC_CREATE_FILE
        }
    }
    fn prefix_len(&self) -> usize {
        Self::FIXED_LEN + self.filename.len()
    }
    fn content_len(&self) -> u64 {
        self.file_size
    }
    fn encode_prefix_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.file_size);
        put_u32(out, self.timestamp);
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
    }
    fn prefix_len_from_fixed(fixed: &[u8]) -> Result<usize> {
        prefix_len_after_name(fixed, "sync create file", Self::FIXED_LEN)
    }
    fn decode_prefix(c: u8, buf: &[u8]) -> Result<(Self, usize)> {
        expect_stream_cmd(c, &[cmd::SYNC_CREATE_FILE, cmd::SYNC_UPDATE_FILE])?;
        let mut r = Reader::new(buf, "sync create file");
        let nlen = read_name_len(&mut r)?;
        let file_size = read_size(&mut r, "file size")?;
        let timestamp = r.u32()?;
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        let filename = r.str_exact(nlen)?;
        Ok((
            SyncCreateFile {
                filename,
                file_size,
                timestamp,
                group,
                update: c == cmd::SYNC_UPDATE_FILE,
            },
            r.position(),
        ))
    }
}

/// SYNC_DELETE_FILE (17): `[timestamp 4][group 16][filename]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncDeleteFile {
    /// Binlog timestamp.
    pub timestamp: u32,
    /// Group.
    pub group: String,
    /// Filename.
    pub filename: String,
}

impl SyncDeleteFile {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u32(out, self.timestamp);
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "sync delete file");
        let timestamp = r.u32()?;
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        let filename = read_filename_rest(&mut r)?;
        Ok(SyncDeleteFile {
            timestamp,
            group,
            filename,
        })
    }
}
message!(SyncDeleteFile);
impl Request for SyncDeleteFile {
    const CMD: u8 = cmd::SYNC_DELETE_FILE;
    const MAX_BODY: u64 = (4 + GROUP_NAME_LEN + MAX_FILENAME_LEN) as u64;
    type Reply = EmptyReply;
}

/// SYNC_RENAME_FILE (40) and SYNC_CREATE_LINK (19):
/// `[filename_len 8][src_len 8][timestamp 4][group 16][filename][src filename]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRenameFile {
    /// New (or link) filename.
    pub filename: String,
    /// Old (or target) filename.
    pub src_filename: String,
    /// Binlog timestamp.
    pub timestamp: u32,
    /// Group.
    pub group: String,
    /// SYNC_CREATE_LINK instead of SYNC_RENAME_FILE.
    pub link: bool,
}

impl SyncRenameFile {
    /// The command code.
    pub fn cmd(&self) -> u8 {
        if self.link {
            cmd::SYNC_CREATE_LINK
        } else {
            cmd::SYNC_RENAME_FILE
        }
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.src_filename.len() as u64);
        put_u32(out, self.timestamp);
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
        out.extend_from_slice(self.src_filename.as_bytes());
    }

    /// Parses the body (as SYNC_RENAME_FILE; set `link` from the header for 19).
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "sync rename file");
        let nlen = read_name_len(&mut r)?;
        let slen = read_name_len(&mut r)?;
        let timestamp = r.u32()?;
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        let filename = r.str_exact(nlen)?;
        let src_filename = r.str_exact(slen)?;
        r.finish()?;
        Ok(SyncRenameFile {
            filename,
            src_filename,
            timestamp,
            group,
            link: false,
        })
    }
}
message!(SyncRenameFile);
impl Request for SyncRenameFile {
    const CMD: u8 = cmd::SYNC_RENAME_FILE;
    const MAX_BODY: u64 = (20 + GROUP_NAME_LEN + 2 * MAX_FILENAME_LEN) as u64;
    type Reply = EmptyReply;
}

/// SYNC_APPEND_FILE (25) / SYNC_MODIFY_FILE (35) prefix, then `length` bytes of content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncModifyFile {
    /// Filename.
    pub filename: String,
    /// Start offset.
    pub offset: u64,
    /// Content length.
    pub length: u64,
    /// Binlog timestamp.
    pub timestamp: u32,
    /// Group.
    pub group: String,
    /// SYNC_APPEND_FILE instead of SYNC_MODIFY_FILE.
    pub append: bool,
}

impl StreamPrefix for SyncModifyFile {
    const FIXED_LEN: usize = 28 + GROUP_NAME_LEN;
    const MAX_PREFIX: usize = Self::FIXED_LEN + MAX_FILENAME_LEN;

    fn cmd(&self) -> u8 {
        if self.append {
            cmd::SYNC_APPEND_FILE
        } else {
            cmd::SYNC_MODIFY_FILE
        }
    }
    fn prefix_len(&self) -> usize {
        Self::FIXED_LEN + self.filename.len()
    }
    fn content_len(&self) -> u64 {
        self.length
    }
    fn encode_prefix_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.offset);
        put_u64(out, self.length);
        put_u32(out, self.timestamp);
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
    }
    fn prefix_len_from_fixed(fixed: &[u8]) -> Result<usize> {
        prefix_len_after_name(fixed, "sync modify file", Self::FIXED_LEN)
    }
    fn decode_prefix(c: u8, buf: &[u8]) -> Result<(Self, usize)> {
        expect_stream_cmd(c, &[cmd::SYNC_MODIFY_FILE, cmd::SYNC_APPEND_FILE])?;
        let mut r = Reader::new(buf, "sync modify file");
        let nlen = read_name_len(&mut r)?;
        let offset = read_size(&mut r, "offset")?;
        let length = read_size(&mut r, "length")?;
        let timestamp = r.u32()?;
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        let filename = r.str_exact(nlen)?;
        Ok((
            SyncModifyFile {
                filename,
                offset,
                length,
                timestamp,
                group,
                append: c == cmd::SYNC_APPEND_FILE,
            },
            r.position(),
        ))
    }
}

/// SYNC_TRUNCATE_FILE (37): `[filename_len 8][old_size 8][new_size 8][timestamp 4][group 16][filename]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncTruncateFile {
    /// Filename.
    pub filename: String,
    /// Size before.
    pub old_size: u64,
    /// Size after.
    pub new_size: u64,
    /// Binlog timestamp.
    pub timestamp: u32,
    /// Group.
    pub group: String,
}

impl SyncTruncateFile {
    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u64(out, self.filename.len() as u64);
        put_u64(out, self.old_size);
        put_u64(out, self.new_size);
        put_u32(out, self.timestamp);
        put_fixed(out, &self.group, GROUP_NAME_LEN);
        out.extend_from_slice(self.filename.as_bytes());
    }

    /// Parses the body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "sync truncate file");
        let nlen = read_name_len(&mut r)?;
        let old_size = read_size(&mut r, "old size")?;
        let new_size = read_size(&mut r, "new size")?;
        let timestamp = r.u32()?;
        let group = r.fixed_str(GROUP_NAME_LEN)?;
        let filename = r.str_exact(nlen)?;
        r.finish()?;
        Ok(SyncTruncateFile {
            filename,
            old_size,
            new_size,
            timestamp,
            group,
        })
    }
}
message!(SyncTruncateFile);
impl Request for SyncTruncateFile {
    const CMD: u8 = cmd::SYNC_TRUNCATE_FILE;
    const MAX_BODY: u64 = (44 + MAX_FILENAME_LEN) as u64;
    type Reply = EmptyReply;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips() {
        let c = SyncCreateFile {
            filename: "M00/00/00/a.txt".into(),
            file_size: 5,
            timestamp: 7,
            group: "group1".into(),
            update: false,
        };
        let p = c.encode_prefix();
        assert_eq!(
            SyncCreateFile::decode_prefix(cmd::SYNC_CREATE_FILE, &p).unwrap(),
            (c.clone(), p.len())
        );
        let d = SyncDeleteFile {
            timestamp: 1,
            group: "g".into(),
            filename: "f".into(),
        };
        assert_eq!(SyncDeleteFile::decode(&d.encode()).unwrap(), d);
        let rn = SyncRenameFile {
            filename: "new".into(),
            src_filename: "old".into(),
            timestamp: 3,
            group: "g".into(),
            link: false,
        };
        assert_eq!(SyncRenameFile::decode(&rn.encode()).unwrap(), rn);
        let t = SyncTruncateFile {
            filename: "f".into(),
            old_size: 9,
            new_size: 2,
            timestamp: 4,
            group: "g".into(),
        };
        assert_eq!(SyncTruncateFile::decode(&t.encode()).unwrap(), t);
        let m = SyncModifyFile {
            filename: "f".into(),
            offset: 1,
            length: 2,
            timestamp: 3,
            group: "g".into(),
            append: true,
        };
        let p = m.encode_prefix();
        assert_eq!(
            SyncModifyFile::decode_prefix(cmd::SYNC_APPEND_FILE, &p).unwrap(),
            (m, p.len())
        );
    }
}
