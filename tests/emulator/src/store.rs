//! On-disk layout: `<store path>/data/HH/HH/<name>`, `<name>-m` metadata files, trunk containers.
//! Everything here is blocking std I/O (call it from `spawn_blocking` or keep it short).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fdfs_client::file_id::{FileInfo, FileKind, LogicName, TrunkSlotHeader, TRUNK_HEADER_SIZE};

/// Mode of created directories (nginx workers run as `nobody`).
pub const DIR_MODE: u32 = 0o755;
/// Mode of created files.
pub const FILE_MODE: u32 = 0o644;

/// Creates `dir` and its parents with mode 0755 (explicitly, whatever the umask).
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    for d in missing {
        fs::set_permissions(&d, fs::Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Opens a new file for writing with mode 0644.
pub fn create_file(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// `<store path>/data`.
pub fn data_dir(store_path: &Path) -> PathBuf {
    store_path.join("data")
}

/// Where a logic name lies under a store path (`<store>/data/HH/HH/<name>`).
pub fn data_path(store_path: &Path, logic: &LogicName) -> PathBuf {
    store_path.join(logic.local_path())
}

/// The metadata file of a data file.
pub fn meta_path(data: &Path) -> PathBuf {
    let mut s = data.as_os_str().to_os_string();
    s.push("-m");
    PathBuf::from(s)
}

/// A temp file name next to `dir`'s entries.
pub fn temp_path(dir: &Path) -> PathBuf {
    dir.join(format!(".emu-{:016x}.tmp", rand::random::<u64>()))
}

/// Writes `bytes` atomically (temp + rename), mode 0644.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let tmp = temp_path(dir);
    let res = (|| {
        let mut f = create_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data().ok();
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Copies `src` over `dst` atomically; returns the bytes copied.
pub fn copy_atomic(src: &Path, dst: &Path) -> io::Result<u64> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let tmp = temp_path(dir);
    let res = (|| {
        let mut from = File::open(src)?;
        let mut to = create_file(&tmp)?;
        let n = io::copy(&mut from, &mut to)?;
        fs::rename(&tmp, dst)?;
        Ok(n)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn remove_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes `dst_root/rel` (and its `-m`) equal to `src_root/rel`: copy, or delete when absent.
/// Returns the bytes copied.
pub fn mirror(src_root: &Path, dst_root: &Path, rel: &str) -> io::Result<u64> {
    let src = src_root.join(rel);
    let dst = dst_root.join(rel);
    let mut n = 0;
    for (s, d) in [
        (src.clone(), dst.clone()),
        (meta_path(&src), meta_path(&dst)),
    ] {
        if s.is_file() {
            n += copy_atomic(&s, &d)?;
        } else {
            remove_if_exists(&d)?;
        }
    }
    Ok(n)
}

/// Copies `len` bytes at `offset` of container `src` into `dst` (created with `size` if absent).
pub fn copy_range(src: &Path, dst: &Path, offset: u64, len: u64, size: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let mut f = File::open(src)?;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(&mut buf)?;
    let mut out = open_container(dst, size)?;
    out.seek(SeekFrom::Start(offset))?;
    out.write_all(&buf)?;
    Ok(len)
}

/// Opens (creating, sparse, with `size` bytes) a trunk container.
pub fn open_container(path: &Path, size: u64) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    if f.metadata()?.len() < size {
        f.set_len(size)?;
    }
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// `<store>/data/HH/HH/<trunk id 6 digits>`: the container of a trunk file, relative to
/// `<store>/data`.
pub fn container_rel(info: &FileInfo) -> Option<String> {
    let t = info.trunk?;
    Some(format!(
        "{:02X}/{:02X}/{}",
        info.subdirs.0,
        info.subdirs.1,
        t.container_name()
    ))
}

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub enum Located {
    /// A file of its own.
    Plain { path: PathBuf, len: u64 },
    /// A slot of a trunk container.
    Trunk {
        container: PathBuf,
        data_offset: u64,
        len: u64,
    },
}

#[allow(clippy::len_without_is_empty)]
impl Located {
    /// Content length.
    pub fn len(&self) -> u64 {
        match self {
            Located::Plain { len, .. } | Located::Trunk { len, .. } => *len,
        }
    }

    /// File and offset of the first content byte.
    pub fn source(&self) -> (&Path, u64) {
        match self {
            Located::Plain { path, .. } => (path, 0),
            Located::Trunk {
                container,
                data_offset,
                ..
            } => (container, *data_offset),
        }
    }
}

/// Finds a file's bytes on one store path; `None` if it is not there (or its slot does not match).
pub fn locate(store_path: &Path, logic: &LogicName, info: Option<&FileInfo>) -> Option<Located> {
    if let Some(info) = info.filter(|i| i.kind == FileKind::Trunk) {
        let rel = container_rel(info)?;
        let t = info.trunk?;
        let container = data_dir(store_path).join(rel);
        let mut f = File::open(&container).ok()?;
        f.seek(SeekFrom::Start(u64::from(t.offset))).ok()?;
        let mut hb = [0u8; TRUNK_HEADER_SIZE];
        f.read_exact(&mut hb).ok()?;
        let header = TrunkSlotHeader::parse(&hb).ok()?;
        header.validate(info).ok()?;
        return Some(Located::Trunk {
            container,
            data_offset: t.data_offset(),
            len: u64::from(header.file_size),
        });
    }
    let path = data_path(store_path, logic);
    let md = fs::metadata(&path).ok()?;
    if !md.is_file() {
        return None;
    }
    Some(Located::Plain {
        path,
        len: md.len(),
    })
}

/// crc32 of `len` bytes at `offset` of `path`.
pub fn crc32_of(path: &Path, offset: u64, len: u64) -> io::Result<u32> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut h = crc32fast::Hasher::new();
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = f.read(chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        h.update(chunk.get(..n).unwrap_or_default());
        left -= n as u64;
    }
    Ok(h.finalize())
}

/// Parses a metadata file / body: `name\x02value` records separated by `\x01`.
pub fn parse_meta(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    bytes
        .split(|&b| b == 0x01)
        .filter(|r| !r.is_empty())
        .map(|r| match r.iter().position(|&b| b == 0x02) {
            Some(i) => (
                r.get(..i).unwrap_or_default().to_vec(),
                r.get(i + 1..).unwrap_or_default().to_vec(),
            ),
            None => (r.to_vec(), Vec::new()),
        })
        .collect()
}

/// Encodes metadata records.
pub fn encode_meta(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(0x01);
        }
        out.extend_from_slice(k);
        out.push(0x02);
        out.extend_from_slice(v);
    }
    out
}

/// FastDFS's merge: the union sorted by name, new values winning.
/// Overwrite: FastDFS sorts the records by name before writing them (`storage_sort_metadata_buff`;
/// duplicates are kept).
pub fn sort_meta(meta: &[u8]) -> Vec<u8> {
    let mut records = parse_meta(meta);
    records.sort_by(|a, b| a.0.cmp(&b.0));
    encode_meta(&records)
}

pub fn merge_meta(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut merged: Vec<(Vec<u8>, Vec<u8>)> = parse_meta(old);
    for (k, v) in parse_meta(new) {
        match merged.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = v,
            None => merged.push((k, v)),
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    encode_meta(&merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_sorted_like_fastdfs() {
        // raw_probe: overwrite "a=b, width=160" then merge "c=dd".
        let old = b"a\x02b\x01width\x02160";
        let merged = merge_meta(old, b"c\x02dd");
        assert_eq!(merged, b"a\x02b\x01c\x02dd\x01width\x02160");
        let replaced = merge_meta(&merged, b"width\x02320");
        assert_eq!(replaced, b"a\x02b\x01c\x02dd\x01width\x02320");
    }

    #[test]
    fn overwrite_is_sorted_like_fastdfs() {
        // A real 6.16 storage, overwrite "z=1, a=2, m=3": stored (and read back) sorted by name.
        assert_eq!(
            sort_meta(b"z\x021\x01a\x022\x01m\x023"),
            b"a\x022\x01m\x023\x01z\x021"
        );
        assert_eq!(sort_meta(b"k\x021\x01k\x022"), b"k\x021\x01k\x022");
    }

    #[test]
    fn dirs_and_files_are_world_readable() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data/0A/1F");
        ensure_dir(&d).unwrap();
        let f = d.join("x");
        write_atomic(&f, b"hi").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d), 0o755);
        assert_eq!(mode(&t.path().join("data")), 0o755);
        assert_eq!(mode(&f), 0o644);
    }
}
