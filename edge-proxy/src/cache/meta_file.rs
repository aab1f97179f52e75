//! The `<hex>.meta` file next to each cached body: a fixed header (magic, the three lengths, the
//! body length, little-endian), then `CacheMeta::serialize()`'s two parts and the primary key.
//! The body length lets a start check the body file without reading it; the key lets a prefix
//! purge find the objects under its prefix (the index keeps no key).

/// Changes with any change of the layout below: files of another layout are not ours.
use std::io;
use std::path::Path;

use super::reads::Reads;

const MAGIC: &[u8; 8] = b"FDEDGE01";
const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 8;

/// A decoded meta file: the file's bytes, read once, and where its parts are (a hit takes the
/// two meta parts from them without copying each part first).
pub(super) struct MetaFile {
    buf: Vec<u8>,
    meta0_len: usize,
    meta1_len: usize,
    pub(super) body_len: u64,
}

impl MetaFile {
    pub(super) fn meta0(&self) -> &[u8] {
        &self.buf[HEADER_LEN..HEADER_LEN + self.meta0_len]
    }

    pub(super) fn meta1(&self) -> &[u8] {
        let start = HEADER_LEN + self.meta0_len;
        &self.buf[start..start + self.meta1_len]
    }

    /// The primary key (checked as UTF-8 by [`decode`]).
    pub(super) fn key(&self) -> &str {
        let start = HEADER_LEN + self.meta0_len + self.meta1_len;
        std::str::from_utf8(&self.buf[start..]).unwrap_or_default()
    }

    /// The file's size.
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }
}

pub(super) fn encode(meta0: &[u8], meta1: &[u8], key: &str, body_len: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + meta0.len() + meta1.len() + key.len());
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&(meta0.len() as u32).to_le_bytes());
    v.extend_from_slice(&(meta1.len() as u32).to_le_bytes());
    v.extend_from_slice(&(key.len() as u32).to_le_bytes());
    v.extend_from_slice(&body_len.to_le_bytes());
    v.extend_from_slice(meta0);
    v.extend_from_slice(meta1);
    v.extend_from_slice(key.as_bytes());
    v
}

/// Reads a meta file on the hit path: one `read` for a whole file of usual size (its header says
/// how long it is), where `fs::read` asks for the size first and reads again to see the end.
pub(super) fn read(path: &Path, reads: Reads) -> io::Result<Vec<u8>> {
    let f = reads.open(path)?;
    let mut buf = vec![0u8; FIRST_READ];
    let mut have = 0;
    loop {
        let n = reads.read_at(&f, &mut buf[have..], have as u64)?;
        have += n;
        let want = expected_len(&buf[..have]).unwrap_or(buf.len());
        if n == 0 || have >= want {
            buf.truncate(have);
            return Ok(buf);
        }
        if want > buf.len() {
            buf.resize(want.min(MAX_META), 0);
            if have == buf.len() {
                // longer than any meta file of ours: decode refuses what was read
                return Ok(buf);
            }
        }
    }
}

/// What a first read takes: most meta files are well under this.
const FIRST_READ: usize = 2048;
/// The largest meta file read (a response header of up to Pingora's 64 KiB, and the key).
const MAX_META: usize = 1 << 20;

/// The length of the whole file, from its header.
fn expected_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    let u32_at =
        |o: usize| u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]) as usize;
    Some(HEADER_LEN + u32_at(8) + u32_at(12) + u32_at(16))
}

/// `None` for anything that is not exactly one meta file of this layout.
pub(super) fn decode(buf: Vec<u8>) -> Option<MetaFile> {
    if buf.len() < HEADER_LEN || &buf[..8] != MAGIC {
        return None;
    }
    let u32_at = |o: usize| -> Option<usize> {
        buf.get(o..o + 4)
            .and_then(|s| s.try_into().ok())
            .map(|a: [u8; 4]| u32::from_le_bytes(a) as usize)
    };
    let l0 = u32_at(8)?;
    let l1 = u32_at(12)?;
    let lk = u32_at(16)?;
    let body_len = u64::from_le_bytes(buf.get(20..28)?.try_into().ok()?);
    let rest = &buf[HEADER_LEN..];
    if rest.len() != l0 + l1 + lk {
        return None;
    }
    std::str::from_utf8(&rest[l0 + l1..]).ok()?;
    Some(MetaFile {
        buf,
        meta0_len: l0,
        meta1_len: l1,
        body_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let bytes = encode(b"m0", b"meta1", "/g1/M00/a?x=1", 12345);
        let m = decode(bytes.clone()).expect("decodes");
        assert_eq!(
            (m.meta0(), m.meta1(), m.key(), m.body_len, m.len()),
            (
                &b"m0"[..],
                &b"meta1"[..],
                "/g1/M00/a?x=1",
                12345,
                bytes.len()
            )
        );
        assert!(
            decode(bytes[..bytes.len() - 1].to_vec()).is_none(),
            "truncated"
        );
        let mut other = bytes.clone();
        other[7] = b'2';
        assert!(decode(other).is_none(), "another layout");
        assert!(decode(b"FDEDGE01".to_vec()).is_none(), "header only");
        let mut not_utf8 = encode(b"m0", b"meta1", "k", 1);
        *not_utf8.last_mut().unwrap() = 0xff;
        assert!(decode(not_utf8).is_none(), "a key that is not UTF-8");
    }

    #[test]
    fn read_takes_the_whole_file_of_any_size() {
        let d = tempfile::tempdir().unwrap();
        for key_len in [10, FIRST_READ, 3 * FIRST_READ + 7] {
            let key = "k".repeat(key_len);
            let bytes = encode(b"m0", b"meta1", &key, 1);
            let p = d.path().join("m");
            std::fs::write(&p, &bytes).unwrap();
            assert_eq!(
                read(&p, Reads::Wait).unwrap(),
                bytes,
                "key of {key_len} bytes"
            );
            assert_eq!(
                read(&p, Reads::Cached).unwrap(),
                bytes,
                "from the page cache"
            );
        }
        let p = d.path().join("short");
        std::fs::write(&p, b"FDED").unwrap();
        assert_eq!(read(&p, Reads::Wait).unwrap(), b"FDED");
    }
}
