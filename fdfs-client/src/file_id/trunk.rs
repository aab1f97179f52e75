//! The 24-byte trunk slot header (§1.5, `trunk_file_do_lstat_func_ex`).
//!
//! Layout: `[0]` type (`F` regular, `L` link, `0` free), `[1..5)` alloc size, `[5..9)` file size,
//! `[9..13)` crc32, `[13..17)` mtime (all big-endian u32), `[17..24)` the name's last 7 chars.

use super::decode::FileInfo;
use super::error::{FileIdError, TrunkSlotError};
use super::parse::LogicName;

/// Size of the slot header; data starts right after it.
pub const TRUNK_HEADER_SIZE: usize = 24;

/// The slot type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotType {
    /// `F`: the data follows the header.
    Regular,
    /// `L`: the slot holds another logic name of the same group (resolve it once).
    Link,
    /// `0`: free (deleted).
    Free,
    /// Anything else.
    Unknown(u8),
}

impl SlotType {
    /// The byte for this type.
    pub fn to_byte(self) -> u8 {
        match self {
            SlotType::Regular => b'F',
            SlotType::Link => b'L',
            SlotType::Free => 0,
            SlotType::Unknown(b) => b,
        }
    }

    /// The type of a byte.
    pub fn from_byte(b: u8) -> SlotType {
        match b {
            b'F' => SlotType::Regular,
            b'L' => SlotType::Link,
            0 => SlotType::Free,
            b => SlotType::Unknown(b),
        }
    }
}

/// A parsed slot header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrunkSlotHeader {
    /// Byte 0.
    pub slot_type: SlotType,
    /// Bytes 1..5.
    pub alloc_size: u32,
    /// Bytes 5..9.
    pub file_size: u32,
    /// Bytes 9..13.
    pub crc32: u32,
    /// Bytes 13..17 (the id's timestamp).
    pub mtime: u32,
    /// Bytes 17..24: the last 7 chars of the file name.
    pub formatted_ext: [u8; 7],
}

fn be(b: &[u8; TRUNK_HEADER_SIZE], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

impl TrunkSlotHeader {
    /// Parse the first 24 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<TrunkSlotHeader, TrunkSlotError> {
        let b: &[u8; TRUNK_HEADER_SIZE] = buf
            .get(..TRUNK_HEADER_SIZE)
            .and_then(|s| s.try_into().ok())
            .ok_or(TrunkSlotError::HeaderTooShort(buf.len()))?;
        let mut ext = [0u8; 7];
        ext.copy_from_slice(&b[17..24]);
        Ok(TrunkSlotHeader {
            slot_type: SlotType::from_byte(b[0]),
            alloc_size: be(b, 1),
            file_size: be(b, 5),
            crc32: be(b, 9),
            mtime: be(b, 13),
            formatted_ext: ext,
        })
    }

    /// Serialise to 24 bytes.
    pub fn to_bytes(&self) -> [u8; TRUNK_HEADER_SIZE] {
        let mut b = [0u8; TRUNK_HEADER_SIZE];
        b[0] = self.slot_type.to_byte();
        b[1..5].copy_from_slice(&self.alloc_size.to_be_bytes());
        b[5..9].copy_from_slice(&self.file_size.to_be_bytes());
        b[9..13].copy_from_slice(&self.crc32.to_be_bytes());
        b[13..17].copy_from_slice(&self.mtime.to_be_bytes());
        b[17..24].copy_from_slice(&self.formatted_ext);
        b
    }

    /// The header a regular slot for this file must have (`None` if the id is not a trunk id).
    pub fn expected_for(info: &FileInfo) -> Option<TrunkSlotHeader> {
        let t = info.trunk?;
        Some(TrunkSlotHeader {
            slot_type: SlotType::Regular,
            alloc_size: t.alloc_size,
            // Truncations intended: the header holds 32-bit values (the size of a trunk file is the low
            // 32 bits of the size field, the timestamp is an i32).
            file_size: info.size_field.real_size() as u32,
            crc32: info.crc32,
            mtime: info.timestamp as u32,
            formatted_ext: info.formatted_ext,
        })
    }

    /// Check this header against the id (§1.5): every field but the type must equal what the id
    /// implies, and the type must be `F` or `L`. Returns the type on success; any error means "not
    /// found".
    pub fn validate(&self, info: &FileInfo) -> Result<SlotType, TrunkSlotError> {
        let exp = Self::expected_for(info).ok_or(TrunkSlotError::NotTrunk)?;
        match self.slot_type {
            SlotType::Regular | SlotType::Link => {}
            SlotType::Free => return Err(TrunkSlotError::FreeSlot),
            SlotType::Unknown(b) => return Err(TrunkSlotError::BadType(b)),
        }
        let check = |field: &'static str, found: u32, expected: u32| {
            if found == expected {
                Ok(())
            } else {
                Err(TrunkSlotError::Mismatch {
                    field,
                    found: found.to_string(),
                    expected: expected.to_string(),
                })
            }
        };
        check("alloc_size", self.alloc_size, exp.alloc_size)?;
        check("file_size", self.file_size, exp.file_size)?;
        check("crc32", self.crc32, exp.crc32)?;
        check("mtime", self.mtime, exp.mtime)?;
        if self.formatted_ext != exp.formatted_ext {
            return Err(TrunkSlotError::Mismatch {
                field: "formatted_ext",
                found: String::from_utf8_lossy(&self.formatted_ext).into_owned(),
                expected: String::from_utf8_lossy(&exp.formatted_ext).into_owned(),
            });
        }
        Ok(self.slot_type)
    }
}

/// The target of a link slot (type `L`, `trunk_file_stat_func_ex`): its data (`file_size` bytes after
/// the header) is another logic name of the same group (`Mxx/HH/HH/name`), resolved once: a link to a
/// link is not followed by the C code. The name ends at the first NUL byte, surrounding whitespace is
/// ignored, and a leading `<group>/` of the container's own `group` is accepted (a link written with
/// the full file id); any other group prefix is not a logic name and is refused.
pub fn parse_link_target(data: &[u8], group: &str) -> Result<LogicName, FileIdError> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let raw = data.get(..end).unwrap_or(&[]);
    // Not UTF-8: left as is, so that the name check below names the bad byte.
    let text = std::str::from_utf8(raw).map_or(raw, |s| s.trim().as_bytes());
    let text = text
        .strip_prefix(group.as_bytes())
        .and_then(|t| t.strip_prefix(b"/"))
        .unwrap_or(text);
    LogicName::parse_bytes(text)
}
