//! FastDFS file ids: parsing, validation, decoding and encoding (§1.2–§1.5).
//!
//! A file id is `group/Mxx/HH/HH/<name>`; everything after `group/` is the *logic name*, and
//! `HH/HH/<name>` is the *true name* (relative to `<store path>/data`).
//!
//! - [`FileId`], [`LogicName`] ([`parse`]): split and validate (C module steps 4, 6, 8; step 7 with
//!   [`LogicName::check_store_path_index`]). Hostile input (URLs) never panics; each rejection is a
//!   distinct [`FileIdError`] variant so callers can log the reason and pick a status.
//! - [`FileInfo`] ([`decode`]): what the name carries — [`Source`] (IPv4 or storage id), timestamp,
//!   [`SizeField`] (appender bit 58, trunk bit 59, random marker bit 63, real size), crc32,
//!   [`FileKind`] (Normal / Trunk / Appender / Slave), [`TrunkLocation`], formatted ext; plus the local
//!   path ([`LogicName::local_path`]) and trunk container path ([`FileInfo::trunk_container_path`]).
//! - [`TrunkSlotHeader`] ([`trunk`]): the 24-byte slot header, parsed and validated against an id;
//!   [`parse_link_target`] for `L` slots.
//! - [`encode_logic_name`], [`encode_file_id`], [`slave_name`] ([`encode`]): build names for the
//!   emulator; deterministic (the caller supplies the random parts).
//!
//! ```
//! use fdfs_client::file_id::{FileId, FileKind, Source};
//! let id = FileId::parse("group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").unwrap();
//! let info = id.decode().unwrap();
//! assert_eq!(info.source, Source::Ip([127, 0, 0, 11].into()));
//! assert_eq!(info.timestamp, 1795576548);
//! assert_eq!(info.file_size(), Some(10240));
//! assert_eq!(info.kind, FileKind::Normal);
//! assert_eq!(id.logic().local_path(), "data/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg");
//! ```

pub mod decode;
pub mod encode;
pub mod error;
pub mod parse;
pub mod trunk;

pub use decode::{FileInfo, FileKind, SizeField, Source, TrunkLocation};
pub use encode::{
    encode_file_id, encode_logic_name, file_ext_name, format_ext, raw20, slave_name, valid_ext,
    NameSpec, EXT_MAX_LEN,
};
pub use error::{EncodeError, FileIdError, TrunkSlotError};
pub use parse::{check_data_filename, http_extension, split_store_path, FileId, LogicName};
pub use trunk::{parse_link_target, SlotType, TrunkSlotHeader, TRUNK_HEADER_SIZE};

/// `FDFS_GROUP_NAME_MAX_LEN`.
pub const GROUP_NAME_MAX_LEN: usize = 16;
/// Longest logic name accepted (the C module truncates `group/rest` to 127 chars).
pub const LOGIC_NAME_MAX_LEN: usize = 127;
/// Shorter logic names are rejected before anything else (§1.2 step 4).
pub const MIN_LOGIC_NAME_LEN: usize = 22;
/// Chars of the base64 block (20 bytes).
pub const BASE64_BLOCK_LEN: usize = 27;
/// Chars of the trunk block (12 bytes).
pub const TRUNK_BLOCK_LEN: usize = 16;
/// Chars of the formatted ext.
pub const FORMATTED_EXT_LEN: usize = 7;
/// `Mxx/HH/HH/` + 27 + 7: a normal logic name; also the minimum to decode.
pub const NORMAL_LOGIC_NAME_LEN: usize = 44;
/// `Mxx/HH/HH/` + 27 + 16 + 7: a trunk logic name.
pub const TRUNK_LOGIC_NAME_LEN: usize = 60;
/// A trunk true name (`HH/HH/` + 27 + 16 + 7).
pub const TRUNK_TRUE_NAME_LEN: usize = 56;
/// `FDFS_FILE_PREFIX_MAX_LEN`: longest slave prefix.
pub const SLAVE_PREFIX_MAX_LEN: usize = 16;

#[cfg(test)]
mod tests;
