//! What a logic name carries (§1.3): source, timestamp, size field, crc32, trunk location.

use std::net::Ipv4Addr;

use super::error::FileIdError;
use super::parse::LogicName;
use super::{
    BASE64_BLOCK_LEN, FORMATTED_EXT_LEN, NORMAL_LOGIC_NAME_LEN, TRUNK_BLOCK_LEN,
    TRUNK_LOGIC_NAME_LEN, TRUNK_TRUE_NAME_LEN,
};
use crate::base64;

/// The storage that created a file: bytes 0..4 of the decoded name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address (`b0.b1.b2.b3`).
    Ip(Ipv4Addr),
    /// A storage id (1..=0xFFFFFF), to resolve through `storage_ids.conf` (its first IP).
    StorageId(u32),
}

impl Source {
    /// Interpret the 4 bytes: read little-endian, 1..=0xFFFFFF is a storage id, else an IPv4 address.
    /// (Quirk kept from C: an address `a.b.c.0` with a,b,c not all 0 reads as an id.)
    pub fn from_bytes(b: [u8; 4]) -> Source {
        let v = u32::from_le_bytes(b);
        if (1..=0xFF_FFFF).contains(&v) {
            Source::StorageId(v)
        } else {
            Source::Ip(Ipv4Addr::from(b))
        }
    }

    /// The 4 bytes as written in a name (IP in network order; id little-endian).
    pub fn to_bytes(self) -> [u8; 4] {
        match self {
            Source::Ip(ip) => ip.octets(),
            Source::StorageId(id) => id.to_le_bytes(),
        }
    }

    /// The IP if the source is an address.
    pub fn ip(self) -> Option<Ipv4Addr> {
        match self {
            Source::Ip(ip) => Some(ip),
            Source::StorageId(_) => None,
        }
    }

    /// The storage id as FastDFS writes it (decimal), if the source is an id.
    pub fn storage_id(self) -> Option<String> {
        match self {
            Source::StorageId(id) => Some(id.to_string()),
            Source::Ip(_) => None,
        }
    }
}

impl std::fmt::Display for Source {
    /// An IP prints as `a.b.c.d`, an id as its decimal value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Ip(ip) => write!(f, "{ip}"),
            Source::StorageId(id) => write!(f, "{id}"),
        }
    }
}

/// The 8-byte size field (bytes 8..16, big-endian) with its flag bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SizeField(pub u64);

impl SizeField {
    /// Bit 63: the random marker (bits 32..=54 hold random bits).
    pub const RANDOM_MARKER: u64 = 1 << 63;
    /// Bit 59: `FDFS_TRUNK_FILE_MARK_SIZE`.
    pub const TRUNK: u64 = 1 << 59;
    /// Bit 58: `INFINITE_FILE_SIZE`, the appender mark.
    pub const APPENDER: u64 = 1 << 58;
    /// Mask of the 23 random bits once shifted down by 32.
    pub const RANDOM_MASK: u32 = 0x007F_FFFF;

    /// Compose a size field as the storage does.
    ///
    /// - `random = Some(r)`: bit 63 | `(r & 0x7FFFFF) << 32` | low 32 bits of `file_size` (what FastDFS
    ///   does for files below 4 GiB, and for appenders with size 0).
    /// - `random = None`: `file_size` unmasked (files ≥ 4 GiB, or V5 appenders).
    ///
    /// Then the appender (58) and trunk (59) bits are or-ed in.
    pub fn compose(file_size: u64, appender: bool, trunk: bool, random: Option<u32>) -> SizeField {
        let mut v = match random {
            Some(r) => {
                Self::RANDOM_MARKER
                    | (u64::from(r & Self::RANDOM_MASK) << 32)
                    | (file_size & 0xFFFF_FFFF)
            }
            None => file_size,
        };
        if appender {
            v |= Self::APPENDER;
        }
        if trunk {
            v |= Self::TRUNK;
        }
        SizeField(v)
    }

    /// The raw 64-bit value.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// Bit 58 set.
    pub fn is_appender(self) -> bool {
        self.0 & Self::APPENDER != 0
    }

    /// Bit 59 set.
    pub fn is_trunk(self) -> bool {
        self.0 & Self::TRUNK != 0
    }

    /// Bit 63 set.
    pub fn has_random_marker(self) -> bool {
        self.0 & Self::RANDOM_MARKER != 0
    }

    /// The 23 random bits (bits 32..=54), when the marker is set.
    pub fn random_bits(self) -> Option<u32> {
        // Truncation intended: the mask keeps 23 bits.
        self.has_random_marker()
            .then_some(((self.0 >> 32) as u32) & Self::RANDOM_MASK)
    }

    /// The file size: the low 32 bits when bit 63 or 59 is set, else the whole value.
    pub fn real_size(self) -> u64 {
        if self.has_random_marker() || self.is_trunk() {
            self.0 & 0xFFFF_FFFF
        } else {
            self.0
        }
    }
}

/// File classification (`fdfs_get_file_info_ex` + the trunk rule of §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A plain file stored as its own file.
    Normal,
    /// A file inside a trunk container (true name 56 chars and bit 59 set).
    Trunk,
    /// An appender file (bit 58): size and mtime only known from `stat`.
    Appender,
    /// A slave file (logic name > 60, or > 44 without bit 59): size/mtime from `stat`; the embedded
    /// source and timestamp are the master's.
    Slave,
}

/// Where a trunk file lies (the 16-char block: trunk id, offset, alloc size, big-endian u32 each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrunkLocation {
    /// The container number (`data/HH/HH/<id as %06d>`).
    pub trunk_id: u32,
    /// Offset of the 24-byte slot header in the container.
    pub offset: u32,
    /// Size of the slot (header + data + padding).
    pub alloc_size: u32,
}

impl TrunkLocation {
    /// Decode the 16-char block (lenient base64, zero-filled).
    pub fn decode(block: &[u8]) -> TrunkLocation {
        let b: [u8; 12] = base64::decode_array(block);
        let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        TrunkLocation {
            trunk_id: be(0),
            offset: be(4),
            alloc_size: be(8),
        }
    }

    /// The 12 bytes.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.trunk_id.to_be_bytes());
        b[4..8].copy_from_slice(&self.offset.to_be_bytes());
        b[8..].copy_from_slice(&self.alloc_size.to_be_bytes());
        b
    }

    /// The 16-char block as it appears in a name.
    pub fn encode(self) -> String {
        base64::encode(&self.to_bytes())
    }

    /// The container file name: the trunk id as 6-digit zero-padded decimal.
    pub fn container_name(self) -> String {
        format!("{:06}", self.trunk_id)
    }

    /// Where the file data starts in the container (after the 24-byte header).
    pub fn data_offset(self) -> u64 {
        u64::from(self.offset) + super::trunk::TRUNK_HEADER_SIZE as u64
    }
}

/// Everything a logic name carries (§1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileInfo {
    /// The 20 decoded bytes.
    pub raw: [u8; 20],
    /// Bytes 0..4.
    pub source: Source,
    /// Bytes 4..8, a signed 32-bit create timestamp (mtime at upload end; trunk: upload start).
    pub timestamp: i64,
    /// Bytes 8..16.
    pub size_field: SizeField,
    /// Bytes 16..20 (never verified by the module).
    pub crc32: u32,
    /// The classification.
    pub kind: FileKind,
    /// For [`FileKind::Trunk`] only.
    pub trunk: Option<TrunkLocation>,
    /// The last 7 bytes of the name, as C copies them: the "formatted ext" for non-slave names
    /// (a trunk slot's header must hold the same bytes).
    pub formatted_ext: [u8; FORMATTED_EXT_LEN],
    /// The subdirectories, store path index and true name, copied from the logic name.
    pub store_path_index: u8,
    /// `(HH, HH)`.
    pub subdirs: (u8, u8),
    /// Length of the logic name the info was decoded from.
    pub logic_len: usize,
}

impl FileInfo {
    /// Decode a validated logic name. Fails with [`FileIdError::NameTooShort`] below 44 chars.
    pub fn decode(name: &LogicName) -> Result<FileInfo, FileIdError> {
        let len = name.len();
        if len < NORMAL_LOGIC_NAME_LEN {
            return Err(FileIdError::NameTooShort { len });
        }
        let file = name.file_name().as_bytes();
        let raw: [u8; 20] = base64::decode_array(file.get(..BASE64_BLOCK_LEN).unwrap_or(file));
        let source = Source::from_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let timestamp = i64::from(i32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]));
        let mut sz = [0u8; 8];
        sz.copy_from_slice(&raw[8..16]);
        let size_field = SizeField(u64::from_be_bytes(sz));
        let crc32 = u32::from_be_bytes([raw[16], raw[17], raw[18], raw[19]]);

        let kind = if size_field.is_appender() {
            FileKind::Appender
        } else if len > TRUNK_LOGIC_NAME_LEN
            || (len > NORMAL_LOGIC_NAME_LEN && !size_field.is_trunk())
        {
            FileKind::Slave
        } else if size_field.is_trunk() && name.true_name().len() == TRUNK_TRUE_NAME_LEN {
            FileKind::Trunk
        } else {
            FileKind::Normal
        };
        let trunk = (kind == FileKind::Trunk).then(|| {
            let block = file
                .get(BASE64_BLOCK_LEN..BASE64_BLOCK_LEN + TRUNK_BLOCK_LEN)
                .unwrap_or(&[]);
            TrunkLocation::decode(block)
        });
        let tail = file
            .get(file.len().saturating_sub(FORMATTED_EXT_LEN)..)
            .unwrap_or(&[]);
        let mut formatted_ext = [0u8; FORMATTED_EXT_LEN];
        for (o, c) in formatted_ext.iter_mut().zip(tail) {
            *o = *c;
        }
        Ok(FileInfo {
            raw,
            source,
            timestamp,
            size_field,
            crc32,
            kind,
            trunk,
            formatted_ext,
            store_path_index: name.store_path_index(),
            subdirs: name.subdirs(),
            logic_len: len,
        })
    }

    /// The file size the module uses: `None` (C: −1) for slave and appender files, whose size comes
    /// from `stat`; else [`SizeField::real_size`].
    pub fn file_size(&self) -> Option<u64> {
        match self.kind {
            FileKind::Slave | FileKind::Appender => None,
            FileKind::Normal | FileKind::Trunk => Some(self.size_field.real_size()),
        }
    }

    /// True for a trunk file.
    pub fn is_trunk(&self) -> bool {
        self.kind == FileKind::Trunk
    }

    /// The extension carried by the formatted ext (`"jpg"` of `"570.jpg"`, `""` for 7 digits).
    /// (`""` also when those bytes are not UTF-8.)
    pub fn ext(&self) -> &str {
        let e = &self.formatted_ext;
        match e.iter().position(|&c| c == b'.') {
            Some(i) => std::str::from_utf8(e.get(i + 1..).unwrap_or(&[])).unwrap_or(""),
            None => "",
        }
    }

    /// The random digits of the formatted ext (before the `.`, or all 7 chars; `""` when those
    /// bytes are not UTF-8).
    pub fn random_digits(&self) -> &str {
        let e = &self.formatted_ext;
        let digits = match e.iter().position(|&c| c == b'.') {
            Some(i) => e.get(..i).unwrap_or(&[]),
            None => e,
        };
        std::str::from_utf8(digits).unwrap_or("")
    }

    /// The trunk container path relative to the store path: `data/HH/HH/<trunk id %06d>`.
    pub fn trunk_container_path(&self) -> Option<String> {
        let mut path = String::new();
        // Writing into a String cannot fail.
        self.write_trunk_container_path(&mut path)?.ok()?;
        Some(path)
    }

    /// [`trunk_container_path`](Self::trunk_container_path) written into `out` (`None` for a
    /// file that is not in a trunk), for callers that build a full path on every request.
    pub fn write_trunk_container_path(
        &self,
        out: &mut impl std::fmt::Write,
    ) -> Option<std::fmt::Result> {
        let t = self.trunk?;
        Some(write_container_path(out, self.subdirs, t.trunk_id))
    }
}

/// `data/{d1:02X}/{d2:02X}/{trunk_id:06}`, written part by part: the nginx module builds it on
/// every request for a trunk file, and `write!` interprets a format at run time.
fn write_container_path(
    out: &mut impl std::fmt::Write,
    (d1, d2): (u8, u8),
    trunk_id: u32,
) -> std::fmt::Result {
    out.write_str("data/")?;
    write_hex_byte(out, d1)?;
    out.write_char('/')?;
    write_hex_byte(out, d2)?;
    out.write_char('/')?;
    crate::decimal::write(out, trunk_id, 6)
}

/// `{b:02X}`.
fn write_hex_byte(out: &mut impl std::fmt::Write, b: u8) -> std::fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for nibble in [b >> 4, b & 0x0f] {
        out.write_char(char::from(HEX[usize::from(nibble)]))?;
    }
    Ok(())
}
