//! Building logic names (for the emulator): deterministic given all inputs, including the random parts.

use super::decode::{SizeField, Source, TrunkLocation};
use super::error::EncodeError;
use super::{FORMATTED_EXT_LEN, GROUP_NAME_MAX_LEN, SLAVE_PREFIX_MAX_LEN};
use crate::base64;

/// Everything that goes into a logic name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSpec<'a> {
    /// The creating storage (IP or storage id).
    pub source: Source,
    /// Create timestamp; written as its low 32 bits (signed i32 in FastDFS).
    pub timestamp: i64,
    /// The size field with its flags and random bits (see [`SizeField::compose`]).
    pub size_field: SizeField,
    /// crc32 of the content.
    pub crc32: u32,
    /// Trunk location: present iff `size_field` has the trunk bit.
    pub trunk: Option<TrunkLocation>,
    /// Store path index (`Mxx`).
    pub store_path_index: u8,
    /// The two sub directories (`HH/HH`).
    pub subdirs: (u8, u8),
    /// Extension without the dot, at most 6 chars, may be empty.
    pub ext: &'a str,
    /// `6 − len(ext)` ASCII digits (7 when `ext` is empty).
    pub random_digits: &'a str,
}

fn valid_name_char(c: u8) -> bool {
    c.is_ascii_graphic() && c != b'/'
}

/// `FDFS_FILE_EXT_NAME_MAX_LEN`: the longest extension a storage takes (the 6-byte request field).
pub const EXT_MAX_LEN: usize = FORMATTED_EXT_LEN - 1;

/// Whether a FastDFS storage takes `ext` as an upload extension: at most [`EXT_MAX_LEN`] bytes, each
/// an ASCII letter, digit, `-`, `_` or `.` (`fdfs_validate_filename`). A dot is allowed, so `tar.gz`
/// is one extension, as the C tools send it.
pub fn valid_ext(ext: &str) -> bool {
    ext.len() <= EXT_MAX_LEN
        && ext
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// The extension the FastDFS upload tools take from a local file name (`fdfs_get_file_ext_name`,
/// the two-part form): the text after the last `.`, widened to an earlier `.` when the whole still
/// fits in 6 bytes (`x.tar.gz` gives `tar.gz`, `x.jpg` gives `jpg`, `a.b.c.d` gives `c.d`). `None`
/// when there is no `.`, when the last part is longer than 6 bytes or holds a `/`. Like the C code
/// it works on the whole path, and gives `""` for a name ending in `.`.
pub fn file_ext_name(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    let last = b.iter().rposition(|&c| c == b'.')?;
    let tail = b.get(last + 1..)?;
    if tail.len() > EXT_MAX_LEN || tail.contains(&b'/') {
        return None;
    }
    // An earlier dot strictly after `start` keeps the extension within 6 bytes.
    let start = (last + tail.len()).saturating_sub(EXT_MAX_LEN + 1);
    let wider = (start + 1..last)
        .rev()
        .find(|&i| b.get(i) == Some(&b'.'))
        .filter(|&i| !b.get(i + 1..last).unwrap_or_default().contains(&b'/'));
    let from = wider.unwrap_or(last) + 1;
    name.get(from..)
}

/// The 7-char formatted ext: `random_digits + "." + ext`, or the 7 digits alone with no ext
/// (`tar.gz` takes all 6 chars: `.tar.gz`, no digits).
pub fn format_ext(ext: &str, random_digits: &str) -> Result<String, EncodeError> {
    let eb = ext.as_bytes();
    if eb.len() > EXT_MAX_LEN || !eb.iter().all(|&c| valid_name_char(c)) {
        return Err(EncodeError::BadExtension(ext.to_owned()));
    }
    let expected = if eb.is_empty() {
        FORMATTED_EXT_LEN
    } else {
        FORMATTED_EXT_LEN - 1 - eb.len()
    };
    if random_digits.len() != expected || !random_digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(EncodeError::BadRandomDigits {
            got: random_digits.to_owned(),
            expected,
        });
    }
    Ok(if eb.is_empty() {
        random_digits.to_owned()
    } else {
        format!("{random_digits}.{ext}")
    })
}

/// The 20 bytes of a name: source, timestamp, size field, crc32.
pub fn raw20(source: Source, timestamp: i64, size_field: SizeField, crc32: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&source.to_bytes());
    // Truncation intended: FastDFS stores an i32.
    b[4..8].copy_from_slice(&(timestamp as i32).to_be_bytes());
    b[8..16].copy_from_slice(&size_field.0.to_be_bytes());
    b[16..].copy_from_slice(&crc32.to_be_bytes());
    b
}

/// Build the logic name `Mxx/HH/HH/<27 b64>[<16 trunk b64>]<formatted ext>`.
pub fn encode_logic_name(spec: &NameSpec<'_>) -> Result<String, EncodeError> {
    if let Source::StorageId(id) = spec.source {
        if !(1..=0xFF_FFFF).contains(&id) {
            return Err(EncodeError::BadStorageId(id));
        }
    }
    if spec.trunk.is_some() != spec.size_field.is_trunk() {
        return Err(EncodeError::TrunkFlagMismatch);
    }
    let ext = format_ext(spec.ext, spec.random_digits)?;
    let raw = raw20(spec.source, spec.timestamp, spec.size_field, spec.crc32);
    let mut s = String::with_capacity(super::TRUNK_LOGIC_NAME_LEN);
    s.push_str(&format!(
        "M{:02X}/{:02X}/{:02X}/",
        spec.store_path_index, spec.subdirs.0, spec.subdirs.1
    ));
    s.push_str(&base64::encode(&raw));
    if let Some(t) = spec.trunk {
        s.push_str(&t.encode());
    }
    s.push_str(&ext);
    Ok(s)
}

/// Build `group/` + [`encode_logic_name`].
pub fn encode_file_id(group: &str, spec: &NameSpec<'_>) -> Result<String, EncodeError> {
    if group.is_empty() || group.len() > GROUP_NAME_MAX_LEN || group.contains('/') {
        return Err(EncodeError::BadGroup(group.to_owned()));
    }
    Ok(format!("{group}/{}", encode_logic_name(spec)?))
}

/// The slave name for a master logic name (`fdfs_gen_slave_filename`): the master up to its `.ext`
/// (the first `.` within its last 7 chars), then `prefix`, then the extension:
/// `ext = None` keeps the master's extension, `Some("")` means none, `Some("png")` / `Some(".png")`
/// gives `.png` (a plain `&str` is taken as `Some`). Works on logic names (`Mxx/...`) and bare
/// names alike. An empty prefix is refused when the slave name would equal the master's.
///
/// `slave_name("M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697.jpg", "_big", None)` →
/// `"M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697_big.jpg"`.
pub fn slave_name<'e>(
    master: &str,
    prefix: &str,
    ext: impl Into<Option<&'e str>>,
) -> Result<String, EncodeError> {
    let ext: Option<&str> = ext.into();
    let mb = master.as_bytes();
    // The C code wants at least 28 + 6 chars.
    if mb.len() < 28 + FORMATTED_EXT_LEN - 1 || !mb.iter().all(|&c| c.is_ascii_graphic()) {
        return Err(EncodeError::BadMaster(master.to_owned()));
    }
    let pb = prefix.as_bytes();
    if pb.len() > SLAVE_PREFIX_MAX_LEN || !pb.iter().all(|&c| valid_name_char(c)) {
        return Err(EncodeError::BadPrefix(prefix.to_owned()));
    }
    let tail_start = mb.len() - FORMATTED_EXT_LEN;
    let dot = mb
        .get(tail_start..)
        .and_then(|t| t.iter().position(|&c| c == b'.'))
        .map(|i| tail_start + i);
    let (stem, master_ext) = match dot {
        // master_ext keeps its '.'.
        Some(d) => (
            master.get(..d).unwrap_or(master),
            master.get(d..).unwrap_or(""),
        ),
        None => (master, ""),
    };
    let true_ext = match ext {
        None => master_ext.to_owned(),
        Some("") => String::new(),
        Some(e) => {
            let bare = e.strip_prefix('.').unwrap_or(e);
            let bb = bare.as_bytes();
            if bb.is_empty() || bb.len() > EXT_MAX_LEN || !bb.iter().all(|&c| valid_name_char(c)) {
                return Err(EncodeError::BadExtension(e.to_owned()));
            }
            format!(".{bare}")
        }
    };
    if prefix.is_empty() && true_ext == master_ext {
        return Err(EncodeError::BadPrefix(prefix.to_owned()));
    }
    Ok(format!("{stem}{prefix}{true_ext}"))
}
