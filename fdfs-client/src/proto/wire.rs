//! Field widths and the low-level readers/writers shared by every message.
//!
//! Integers are big-endian; strings live in fixed-width NUL-padded fields or are sized by a
//! preceding 8-byte length.

use super::error::{ProtoError, Result};

/// Group name field width (`FDFS_GROUP_NAME_MAX_LEN`).
pub const GROUP_NAME_LEN: usize = 16;
/// IPv4 address field width (`IPV4_ADDRESS_SIZE`, incl. the NUL). Query replies use `size - 1`.
pub const IPV4_ADDRESS_SIZE: usize = 16;
/// IPv6 address field width (`IPV6_ADDRESS_SIZE`, incl. the NUL). Query replies use `size - 1`.
pub const IPV6_ADDRESS_SIZE: usize = 46;
/// Classic `IP_ADDRESS_SIZE` (IPv4) used by fields that did not grow with IPv6 support.
pub const IP_ADDRESS_SIZE: usize = IPV4_ADDRESS_SIZE;
/// Storage id field width (`FDFS_STORAGE_ID_MAX_SIZE`).
pub const STORAGE_ID_LEN: usize = 16;
/// File extension field width (`FDFS_FILE_EXT_NAME_MAX_LEN`).
pub const FILE_EXT_LEN: usize = 6;
/// Slave prefix field width (`FDFS_FILE_PREFIX_MAX_LEN`).
pub const FILE_PREFIX_LEN: usize = 16;
/// Version string field width (`FDFS_VERSION_SIZE`).
pub const VERSION_LEN: usize = 8;
/// `ip:port` field width (`FDFS_MAX_IP_PORT_SIZE` = IPv6 size + 6).
pub const MAX_IP_PORT_SIZE: usize = IPV6_ADDRESS_SIZE + 6;
/// Longest remote file name (`M00/00/00/xxx.ext`, slave and trunk names included) we accept.
pub const MAX_FILENAME_LEN: usize = 128;
/// Most storages in a group (`FDFS_MAX_SERVERS_EACH_GROUP`).
pub const MAX_SERVERS_EACH_GROUP: usize = 32;
/// Most groups (`FDFS_MAX_GROUPS`).
pub const MAX_GROUPS: usize = 512;
/// Most trackers (`FDFS_MAX_TRACKERS`).
pub const MAX_TRACKERS: usize = 16;
/// Metadata record separator (between `name\x02value` pairs).
pub const META_RECORD_SEP: u8 = 0x01;
/// Metadata field separator (between name and value).
pub const META_FIELD_SEP: u8 = 0x02;
/// Longest metadata name the server keeps (`FDFS_MAX_META_NAME_LEN`).
pub const MAX_META_NAME_LEN: usize = 64;
/// Longest metadata value the server keeps (`FDFS_MAX_META_VALUE_LEN`).
pub const MAX_META_VALUE_LEN: usize = 256;

/// Which address width a reply uses: the tracker's `response_ip_addr_size` (16 or 46).
///
/// Decoders detect it from the body length; encoders need it to reproduce the server's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddrWidth {
    /// 16-byte fields (15 in query replies): the default.
    #[default]
    V4,
    /// 46-byte fields (45 in query replies).
    V6,
}

impl AddrWidth {
    /// The full field size including the terminating NUL (16 or 46).
    pub const fn size(self) -> usize {
        match self {
            AddrWidth::V4 => IPV4_ADDRESS_SIZE,
            AddrWidth::V6 => IPV6_ADDRESS_SIZE,
        }
    }

    /// The width used in query replies (`size - 1`: 15 or 45).
    pub const fn query_size(self) -> usize {
        self.size() - 1
    }

    /// The narrowest width that can hold `ip` (`V6` if it does not fit in 15 bytes or contains ':').
    pub fn for_ip(ip: &str) -> AddrWidth {
        if ip.len() > IPV4_ADDRESS_SIZE - 1 || ip.contains(':') {
            AddrWidth::V6
        } else {
            AddrWidth::V4
        }
    }
}

/// A bounds-checked cursor over a body. Every accessor returns [`ProtoError::Truncated`] instead
/// of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the message in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e).map(|s| (s, e))) {
            Some((s, e)) => {
                self.pos = e;
                Ok(s)
            }
            None => Err(ProtoError::Truncated {
                what: self.what,
                need: self.pos.saturating_add(n),
                got: self.buf.len(),
            }),
        }
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian u32 (FastDFS `buff2int`).
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian u64 (FastDFS `buff2long`).
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A big-endian i64 (FastDFS `buff2long`, signed view).
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A length field (u64) that must be at most `max`, as usize.
    pub fn len_field(&mut self, field: &'static str, max: usize) -> Result<usize> {
        let v = self.u64()?;
        if v > max as u64 {
            return Err(ProtoError::InvalidField {
                what: field,
                reason: "length too large",
            });
        }
        Ok(v as usize)
    }

    /// A NUL-padded fixed-width string field of `n` bytes.
    pub fn fixed_str(&mut self, n: usize) -> Result<String> {
        Ok(from_fixed(self.take(n)?))
    }

    /// A string of exactly `n` bytes (not NUL-trimmed).
    pub fn str_exact(&mut self, n: usize) -> Result<String> {
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }

    /// Errors with [`ProtoError::BadLength`] unless every byte was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(ProtoError::BadLength {
                what: self.what,
                got: self.buf.len() as u64,
            });
        }
        Ok(())
    }
}

/// The text of a NUL-padded field: bytes up to the first NUL (lossy UTF-8).
pub fn from_fixed(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or(field)).into_owned()
}

/// Appends `s` NUL-padded to `width` bytes. Longer values are cut to `width` bytes, like the C
/// code does; check with [`check_fixed`] first where that matters.
pub fn put_fixed(out: &mut Vec<u8>, s: &str, width: usize) {
    put_fixed_bytes(out, s.as_bytes(), width);
}

/// Appends `b` NUL-padded (or cut) to `width` bytes.
pub fn put_fixed_bytes(out: &mut Vec<u8>, b: &[u8], width: usize) {
    let n = b.len().min(width);
    out.extend_from_slice(b.get(..n).unwrap_or(b));
    out.resize(out.len() + (width - n), 0);
}

/// Appends a big-endian u64.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian i64.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian u32.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// [`ProtoError::FieldTooLong`] if `s` does not fit in a fixed field of `width` bytes.
/// (A value of exactly `width` bytes fits: the field is then not NUL-terminated, as in FastDFS.)
pub fn check_fixed(what: &'static str, s: &str, width: usize) -> Result<()> {
    if s.len() > width {
        return Err(ProtoError::FieldTooLong {
            what,
            len: s.len(),
            max: width,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let mut r = Reader::new(&[0, 0, 0, 0, 0, 0, 0, 5, 1], "t");
        assert_eq!(r.u64().unwrap(), 5);
        assert_eq!(r.u8().unwrap(), 1);
        assert!(r.u8().is_err());
        assert!(r.take(usize::MAX).is_err());
        r.finish().unwrap();
    }

    #[test]
    fn fixed() {
        let mut v = Vec::new();
        put_fixed(&mut v, "group1", 16);
        assert_eq!(v.len(), 16);
        assert_eq!(from_fixed(&v), "group1");
        let mut v = Vec::new();
        put_fixed(&mut v, "0123456789abcdefXYZ", 16);
        assert_eq!(from_fixed(&v), "0123456789abcdef");
        assert!(check_fixed("g", "0123456789abcdefX", 16).is_err());
        assert_eq!(AddrWidth::for_ip("127.0.0.1"), AddrWidth::V4);
        assert_eq!(AddrWidth::for_ip("::1"), AddrWidth::V6);
    }
}
