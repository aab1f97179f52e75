//! The file of a cached object, `<hex>`: the body from the file's first byte, then the meta part:
//! `CacheMeta::serialize()`'s two parts, the primary key, and a trailer of fixed size (the three
//! lengths, the body's length, then the magic; little-endian) that says where the parts are.
//!
//! One file, as nginx keeps header and body in one: a hit on a small object is one `open` and
//! one read of the whole file, where a meta file beside the body took a second open and read
//! (BENCHMARKS.md, "One file per object"), and a 10 KiB object takes 12 KiB of 4 KiB blocks
//! instead of 16. The body comes first so that a fill's readers follow it as it is written, a
//! range is read at its own offset, and the layout before this one converts in place (below).
//! The key lets a prefix purge find the objects under its prefix (the index keeps none).
//!
//! The layout before (magic `FDEDGE01`) kept the meta in `<hex>.meta`, a header first, beside
//! the body file `<hex>`. [`convert_pair`] appends the meta part to that body file and removes the
//! `.meta`: an upgrade keeps the cache. (An older process still serving during a graceful upgrade
//! finds the `.meta` gone and takes the object for a miss: it fetches it again, never serves the
//! meta part as body.)

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use bytes::Bytes;

use super::reads::Reads;

/// Changes with any change of the layout below: files of another layout are not ours.
const MAGIC: &[u8; 8] = b"FDEDGE02";
/// The three lengths (u32), the body's (u64), the magic.
const TRAILER_LEN: usize = 4 + 4 + 4 + 8 + 8;
/// What a first read of the meta part takes when its length is not known: most are under this.
const FIRST_READ: u64 = 2048;
/// The largest meta part read (a response header of up to Pingora's 64 KiB, and the key).
pub(super) const MAX_META: u64 = 1 << 20;

/// The meta part of an object file, as read: its bytes, and where its parts are (a hit takes the
/// two meta parts from them without copying each part first).
pub(super) struct ObjectMeta {
    buf: Vec<u8>,
    meta0_len: usize,
    meta1_len: usize,
    pub(super) body_len: u64,
}

impl ObjectMeta {
    pub(super) fn meta0(&self) -> &[u8] {
        &self.buf[..self.meta0_len]
    }

    pub(super) fn meta1(&self) -> &[u8] {
        &self.buf[self.meta0_len..self.meta0_len + self.meta1_len]
    }

    /// The primary key (checked as UTF-8 by [`decode_meta`]).
    pub(super) fn key(&self) -> &str {
        let start = self.meta0_len + self.meta1_len;
        let end = self.buf.len() - TRAILER_LEN;
        std::str::from_utf8(&self.buf[start..end]).unwrap_or_default()
    }

    /// The meta part's length (the object's share of the disk beyond its body).
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }
}

/// An object file as read: its meta part, and its body when asked for.
pub(super) struct Object {
    pub(super) meta: ObjectMeta,
    pub(super) body: Option<Bytes>,
}

/// The meta part written after a body of `body_len` bytes.
pub(super) fn meta_part(meta0: &[u8], meta1: &[u8], key: &str, body_len: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(meta0.len() + meta1.len() + key.len() + TRAILER_LEN);
    v.extend_from_slice(meta0);
    v.extend_from_slice(meta1);
    v.extend_from_slice(key.as_bytes());
    for len in [meta0.len(), meta1.len(), key.len()] {
        v.extend_from_slice(&(len as u32).to_le_bytes());
    }
    v.extend_from_slice(&body_len.to_le_bytes());
    v.extend_from_slice(MAGIC);
    v
}

/// The lengths a trailer (the last bytes of `buf`) gives: the meta part's and the body's.
fn trailer(buf: &[u8]) -> Option<(u64, u64)> {
    let t = buf.get(buf.len().checked_sub(TRAILER_LEN)?..)?;
    if &t[20..] != MAGIC {
        return None;
    }
    let u32_at = |o: usize| u64::from(u32::from_le_bytes([t[o], t[o + 1], t[o + 2], t[o + 3]]));
    let meta_len = u32_at(0) + u32_at(4) + u32_at(8) + TRAILER_LEN as u64;
    let body_len = u64::from_le_bytes(t[12..20].try_into().ok()?);
    Some((meta_len, body_len))
}

/// `None` for anything that is not exactly one meta part of this layout.
pub(super) fn decode_meta(buf: Vec<u8>) -> Option<ObjectMeta> {
    let (meta_len, body_len) = trailer(&buf)?;
    if meta_len != buf.len() as u64 {
        return None;
    }
    let t = buf.len() - TRAILER_LEN;
    let len_at = |o: usize| u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
    let (meta0_len, meta1_len) = (len_at(t) as usize, len_at(t + 4) as usize);
    std::str::from_utf8(&buf[meta0_len + meta1_len..t]).ok()?;
    Some(ObjectMeta {
        buf,
        meta0_len,
        meta1_len,
        body_len,
    })
}

/// Reads the object file `f` of `size` bytes: its meta part, and its body too when it is no longer
/// than `body_up_to`, in one read when `meta_hint` (the meta part's length the index has) is
/// right. `Ok(None)`: not an object file of this layout.
pub(super) fn read(
    f: &File,
    reads: Reads,
    size: u64,
    meta_hint: Option<u64>,
    body_up_to: Option<u64>,
) -> io::Result<Option<Object>> {
    if size < TRAILER_LEN as u64 {
        return Ok(None);
    }
    let want_body = |body_len: u64| body_up_to.is_some_and(|max| body_len <= max);
    let guess = meta_hint
        .filter(|&m| (TRAILER_LEN as u64..=size).contains(&m))
        .unwrap_or_else(|| size.min(FIRST_READ));
    let (mut body, mut tail) = read_parts(f, reads, size - guess, guess, want_body(size - guess))?;
    let Some((meta_len, body_len)) = trailer(&tail) else {
        return Ok(None);
    };
    if body_len.checked_add(meta_len) != Some(size) || meta_len > MAX_META {
        return Ok(None);
    }
    if meta_len != guess {
        // the hint was wrong (the file was written again since it was indexed)
        let with_body = want_body(body_len);
        if with_body || meta_len > guess {
            (body, tail) = read_parts(f, reads, body_len, meta_len, with_body)?;
        } else {
            body = None;
            tail = tail.split_off((guess - meta_len) as usize);
        }
    }
    Ok(decode_meta(tail).map(|meta| Object {
        meta,
        body: body.map(Bytes::from),
    }))
}

/// The `meta_len` bytes after `body_len` bytes, and those before them when `with_body`: one
/// read, into buffers of their exact sizes (a body goes into the memory tier as it is).
fn read_parts(
    f: &File,
    reads: Reads,
    body_len: u64,
    meta_len: u64,
    with_body: bool,
) -> io::Result<(Option<Vec<u8>>, Vec<u8>)> {
    let short = || {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "object file shorter than read",
        )
    };
    let mut tail = vec![0u8; meta_len as usize];
    if !with_body {
        if reads.read_full_at(f, &mut tail, body_len)? != tail.len() {
            return Err(short());
        }
        return Ok((None, tail));
    }
    let mut body = vec![0u8; body_len as usize];
    if reads.read_two_at(f, &mut body, &mut tail, 0)? != body.len() + tail.len() {
        return Err(short());
    }
    Ok((Some(body), tail))
}

/// Turns the pair of the layout before (`object`, the body, beside `old_meta`) into one object
/// file, and removes `old_meta`. Whether `object` is now an object file; `Ok(false)` when the
/// pair was not usable (both then removed, as a start removes what it cannot use).
pub(super) fn convert_pair(object: &Path, old_meta: &Path) -> io::Result<bool> {
    let (old, mtime) = match fs::read(old_meta).and_then(|b| Ok((b, fs::metadata(old_meta)?))) {
        Ok((b, md)) => (b, md.modified().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let opened = OpenOptions::new().read(true).write(true).open(object);
    let converted = match (decode_pair_meta(&old), opened) {
        (Some((m0, m1, key, body_len)), Ok(f)) => {
            let done = append_meta(&f, m0, m1, key, body_len)?;
            if let (true, Some(t)) = (done, mtime) {
                // the loader takes the last access from the mtime: the pair's, not the conversion's
                let _ = f.set_modified(t);
            }
            done
        }
        (_, Err(e)) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => false,
    };
    if !converted {
        remove_if_there(object)?;
    }
    remove_if_there(old_meta)?;
    Ok(converted)
}

/// Appends the meta part to the body file `f` of the layout before, unless it is an object
/// file already (a fill since the pair was written; a body of the recorded length is always
/// taken as a body, whatever its last bytes). What follows the body is cut off only when it is
/// the start of that same meta part (an append cut short by a crash): anything else is another
/// body (an older process's fill between the renames of its body and its `.meta`), for which
/// this `.meta` is not, and the pair is not used.
fn append_meta(f: &File, m0: &[u8], m1: &[u8], key: &str, body_len: u64) -> io::Result<bool> {
    let size = f.metadata()?.len();
    let part = meta_part(m0, m1, key, body_len);
    if size != body_len {
        if read(f, Reads::Wait, size, None, None).is_ok_and(|o| o.is_some()) {
            return Ok(true);
        }
        let after = size.saturating_sub(body_len);
        if size < body_len || after > part.len() as u64 {
            return Ok(false);
        }
        let mut have = vec![0u8; after as usize];
        f.read_exact_at(&mut have, body_len)?;
        if have[..] != part[..have.len()] {
            return Ok(false);
        }
        f.set_len(body_len)?;
    }
    f.write_all_at(&part, body_len)?;
    Ok(true)
}

fn remove_if_there(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The `<hex>.meta` of the layout before: magic `FDEDGE01`, the three lengths (u32) and the
/// body's (u64), then the two meta parts and the key.
fn decode_pair_meta(buf: &[u8]) -> Option<(&[u8], &[u8], &str, u64)> {
    const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 8;
    if buf.get(..8)? != b"FDEDGE01" {
        return None;
    }
    let u32_at = |o: usize| -> Option<usize> {
        let b: [u8; 4] = buf.get(o..o + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    };
    let (l0, l1, lk) = (u32_at(8)?, u32_at(12)?, u32_at(16)?);
    let body_len = u64::from_le_bytes(buf.get(20..28)?.try_into().ok()?);
    let rest = &buf[HEADER_LEN..];
    if rest.len() != l0 + l1 + lk {
        return None;
    }
    let key = std::str::from_utf8(&rest[l0 + l1..]).ok()?;
    Some((&rest[..l0], &rest[l0..l0 + l1], key, body_len))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A `<hex>.meta` of the layout before, as the edge wrote it until this layout.
    pub(crate) fn pair_meta(meta0: &[u8], meta1: &[u8], key: &str, body_len: u64) -> Vec<u8> {
        let mut v = b"FDEDGE01".to_vec();
        for len in [meta0.len(), meta1.len(), key.len()] {
            v.extend_from_slice(&(len as u32).to_le_bytes());
        }
        v.extend_from_slice(&body_len.to_le_bytes());
        for part in [meta0, meta1, key.as_bytes()] {
            v.extend_from_slice(part);
        }
        v
    }

    fn object(body: &[u8], key: &str) -> Vec<u8> {
        let mut v = body.to_vec();
        v.extend(meta_part(b"m0", b"meta1", key, body.len() as u64));
        v
    }

    fn read_path(p: &Path, hint: Option<u64>, with_body: bool) -> Option<Object> {
        let f = File::open(p).unwrap();
        let size = f.metadata().unwrap().len();
        read(&f, Reads::Wait, size, hint, with_body.then_some(u64::MAX)).unwrap()
    }

    #[test]
    fn a_meta_part_round_trips_and_anything_else_is_refused() {
        let part = meta_part(b"m0", b"meta1", "/g1/M00/a?x=1", 12345);
        let m = decode_meta(part.clone()).expect("decodes");
        assert_eq!(
            (m.meta0(), m.meta1(), m.key(), m.body_len, m.len()),
            (
                &b"m0"[..],
                &b"meta1"[..],
                "/g1/M00/a?x=1",
                12345,
                part.len()
            )
        );
        assert!(
            decode_meta(part[1..].to_vec()).is_none(),
            "cut at the front"
        );
        let mut other = part.clone();
        *other.last_mut().unwrap() = b'1';
        assert!(decode_meta(other).is_none(), "another layout");
        assert!(decode_meta(part[part.len() - 3..].to_vec()).is_none());
        let mut not_utf8 = meta_part(b"m0", b"meta1", "k", 1);
        not_utf8[7] = 0xff;
        assert!(decode_meta(not_utf8).is_none(), "a key that is not UTF-8");
    }

    #[test]
    fn a_file_is_read_whole_or_its_meta_only_with_or_without_a_right_hint() {
        let d = tempfile::tempdir().unwrap();
        for (body_len, key_len) in [(0, 10), (10_240, 10), (100, 3 * FIRST_READ as usize + 7)] {
            let body: Vec<u8> = (0..body_len).map(|i| (i % 251) as u8).collect();
            let key = "k".repeat(key_len);
            let p = d.path().join("o");
            fs::write(&p, object(&body, &key)).unwrap();
            let meta_len = (TRAILER_LEN + 2 + 5 + key_len) as u64;
            for hint in [Some(meta_len), None, Some(meta_len - 1), Some(meta_len + 1)] {
                let case = format!("body {body_len}, key {key_len}, hint {hint:?}");
                let whole = read_path(&p, hint, true).expect(&case);
                assert_eq!(whole.body.as_deref(), Some(&body[..]), "{case}");
                assert_eq!(whole.meta.key(), key, "{case}");
                let meta = read_path(&p, hint, false).expect(&case);
                assert!(meta.body.is_none());
                assert_eq!(
                    (meta.meta.key(), meta.meta.body_len),
                    (&key[..], body_len as u64)
                );
                assert_eq!(meta.meta.len() as u64, meta_len, "{case}");
            }
        }
        let p = d.path().join("not ours");
        fs::write(&p, b"a body of the layout before, without its meta part").unwrap();
        assert!(read_path(&p, None, true).is_none());
        fs::write(&p, b"FDEDGE02").unwrap();
        assert!(
            read_path(&p, None, false).is_none(),
            "shorter than a trailer"
        );
        let mut cut = object(b"body", "k");
        cut.remove(0);
        fs::write(&p, cut).unwrap();
        assert!(
            read_path(&p, None, false).is_none(),
            "lengths that do not add up"
        );
    }

    #[test]
    fn a_pair_of_the_layout_before_becomes_one_object_file() {
        let d = tempfile::tempdir().unwrap();
        let (obj, old) = (d.path().join("o"), d.path().join("o.meta"));
        let body = vec![7u8; 5000];
        let write_pair = |body: &[u8]| {
            fs::write(&obj, body).unwrap();
            fs::write(&old, pair_meta(b"m0", b"meta1", "/k", 5000)).unwrap();
        };
        write_pair(&body);
        assert!(convert_pair(&obj, &old).unwrap());
        assert!(!old.exists(), "the .meta removed");
        assert_eq!(fs::read(&obj).unwrap(), object(&body, "/k"));
        // a conversion cut short by a crash: cut back and done again
        let mut half = body.clone();
        half.extend_from_slice(&meta_part(b"m0", b"meta1", "/k", 5000)[..9]);
        write_pair(&half);
        assert!(convert_pair(&obj, &old).unwrap());
        assert_eq!(fs::read(&obj).unwrap(), object(&body, "/k"));
        // an object file written since (a fill) is kept as it is
        fs::write(&old, pair_meta(b"m0", b"meta1", "/k", 5000)).unwrap();
        let newer = object(&[1u8; 300], "/k");
        fs::write(&obj, &newer).unwrap();
        assert!(convert_pair(&obj, &old).unwrap());
        assert_eq!(fs::read(&obj).unwrap(), newer);
        assert!(!old.exists());
        // unusable pairs go: a body shorter than recorded, a damaged .meta, no body
        write_pair(&body[..4000]);
        assert!(!convert_pair(&obj, &old).unwrap());
        assert!(!obj.exists() && !old.exists());
        fs::write(&obj, &body).unwrap();
        fs::write(&old, b"FDEDGE01 damaged").unwrap();
        assert!(!convert_pair(&obj, &old).unwrap());
        assert!(!obj.exists() && !old.exists());
        fs::write(&old, pair_meta(b"m0", b"meta1", "/k", 5000)).unwrap();
        assert!(!convert_pair(&obj, &old).unwrap());
        assert!(!old.exists());
        assert!(!convert_pair(&obj, &old).unwrap(), "nothing there");
    }
}
