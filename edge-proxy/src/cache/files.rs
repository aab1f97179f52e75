//! Where the disk cache keeps its files, and reading them back at start.
//!
//! Layout (like nginx `levels=1:2`): `<dir>/<h[31]>/<h[29..31]>/<hex>` holds the body and
//! `<hex>.meta` the metadata (see [`super::meta_file`]). Writes go to `<dir>/tmp/<pid>-<n>` and
//! are renamed into place when complete, so a reader never sees a partial object and a crash
//! leaves only temp files (removed at the next start).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use pingora::cache::key::HashBinary;

use super::disk::DiskCache;
use super::index::{Entry, Loaded};

/// Entries indexed per taking of the index lock at start.
const SCAN_BATCH: usize = 4096;
use super::key;
use super::meta_file::{self, MetaFile};
use super::reads::Reads;

pub(super) fn hex(h: &HashBinary) -> String {
    hex::encode(h)
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for the existence of the process.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl DiskCache {
    /// Removes temporary files left by processes that are gone (a crash, a kill).
    pub(super) fn clean_tmp(&self) {
        let Ok(rd) = fs::read_dir(&self.tmp) else {
            return;
        };
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().to_string();
            let pid = name
                .split('-')
                .next()
                .and_then(|p| p.parse::<i32>().ok())
                .unwrap_or(0);
            if pid <= 0 || !pid_alive(pid) {
                let _ = fs::remove_file(ent.path());
            }
        }
    }

    /// Indexes every entry found on disk, oldest first (so the LRU order survives a restart), and
    /// removes the files of unusable ones and of those purged while loading. Entries are indexed
    /// in batches, so that lookups wait for one batch at most. Returns the number indexed.
    pub(super) fn scan(&self) -> io::Result<usize> {
        let hashes = self.hashes_on_disk()?;
        // sized once: 56 MB at a million objects, where growing it by doubling allocated twice that
        let mut found: Vec<(HashBinary, Entry)> = Vec::with_capacity(hashes.len());
        for h in hashes {
            match self.load_entry(&h) {
                Some((e, _)) => found.push((h, e)),
                None => {
                    self.unlink(&h);
                }
            }
        }
        // oldest first, to the second of the meta files' mtimes, as nginx keeps its times
        found.sort_by_key(|(_, e)| e.last_access);
        let mut indexed = 0;
        let mut found = found.into_iter().peekable();
        while found.peek().is_some() {
            let batch: Vec<(HashBinary, Entry)> = found.by_ref().take(SCAN_BATCH).collect();
            let (n, purged) = self.index_batch(batch);
            indexed += n;
            for h in purged {
                self.unlink(&h);
            }
        }
        Ok(indexed)
    }

    /// Indexes a batch of entries found on disk under one taking of the lock. When a prefix was
    /// purged while loading, their keys are read first (the index keeps none), outside the lock.
    /// Returns how many were indexed and the hashes whose files are to be removed.
    pub(super) fn index_batch(&self, batch: Vec<(HashBinary, Entry)>) -> (usize, Vec<HashBinary>) {
        let mut keys: Option<Vec<Option<String>>> = None;
        loop {
            let mut idx = self.index.write();
            if keys.is_none() && !idx.purged_while_loading.is_empty() {
                drop(idx);
                let read = batch
                    .iter()
                    .map(|(h, _)| self.read_meta(h).map(|m| m.key().to_owned()));
                keys = Some(read.collect());
                continue;
            }
            let (mut indexed, mut purged) = (0, Vec::new());
            for (n, (h, e)) in batch.into_iter().enumerate() {
                let key = match &keys {
                    None => None,
                    Some(k) => match k[n].as_deref() {
                        Some(k) => Some(k),
                        None => continue, // its meta file went since the scan read it: a purge
                    },
                };
                match idx.insert_loaded(h, e, key) {
                    Loaded::Inserted => indexed += 1,
                    Loaded::Present => {}
                    Loaded::Purged => purged.push(h),
                }
            }
            return (indexed, purged);
        }
    }

    /// The hashes named by the meta files of the two directory levels.
    pub(super) fn hashes_on_disk(&self) -> io::Result<Vec<HashBinary>> {
        let mut hashes = Vec::new();
        for l1 in fs::read_dir(&self.opts.dir)?.flatten() {
            let n1 = l1.file_name().to_string_lossy().to_string();
            if n1.len() != 1 || !l1.path().is_dir() {
                continue;
            }
            let Ok(rd2) = fs::read_dir(l1.path()) else {
                continue;
            };
            for l2 in rd2.flatten() {
                let Ok(rd3) = fs::read_dir(l2.path()) else {
                    continue;
                };
                for f in rd3.flatten() {
                    let name = f.file_name().to_string_lossy().to_string();
                    let Some(stem) = name.strip_suffix(".meta") else {
                        continue;
                    };
                    let mut h: HashBinary = [0; 16];
                    if hex::decode_to_slice(stem, &mut h).is_ok() {
                        hashes.push(h);
                    }
                }
            }
        }
        Ok(hashes)
    }

    /// Reads one entry's meta file and checks its body file: the entry to index (its last access
    /// is the meta file's mtime) and the meta file's content.
    pub(super) fn load_entry(&self, h: &HashBinary) -> Option<(Entry, MetaFile)> {
        let mut buf = Vec::new();
        let mut f = File::open(self.meta_path(h)).ok()?;
        f.read_to_end(&mut buf).ok()?;
        let mtime = f
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let m = meta_file::decode(buf)?;
        let blen = fs::metadata(self.body_path(h)).ok()?.len();
        if blen != m.body_len {
            return None;
        }
        // The key must hash to the file name, or the file is not ours.
        if key::hash(m.key()) != *h {
            return None;
        }
        let e = Entry::new(m.key(), m.body_len, m.len() as u64, mtime);
        Some((e, m))
    }

    /// The meta file of an indexed entry: `None` if it is gone or not ours.
    pub(super) fn read_meta(&self, h: &HashBinary) -> Option<MetaFile> {
        self.read_meta_with(h, Reads::Wait).ok().flatten()
    }

    /// As [`Self::read_meta`], read as `reads` says: an error only when [`Reads::Cached`] could
    /// not answer (then a file that is gone or damaged is also left to a read that waits, which
    /// removes it).
    pub(super) fn read_meta_with(
        &self,
        h: &HashBinary,
        reads: Reads,
    ) -> io::Result<Option<MetaFile>> {
        match meta_file::read(&self.meta_path(h), reads) {
            Ok(buf) => match meta_file::decode(buf).filter(|m| key::hash(m.key()) == *h) {
                None if reads == Reads::Cached => Err(io::ErrorKind::WouldBlock.into()),
                m => Ok(m),
            },
            Err(e) if reads == Reads::Cached => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// The body and meta file paths of `h`.
    pub(super) fn paths(&self, h: &HashBinary) -> (PathBuf, PathBuf) {
        (self.body_path(h), self.meta_path(h))
    }

    /// `<dir>/<h[31]>/<h[29..31]>/<hex>`, built in one allocation (twice on each hit from disk,
    /// where joining the parts took six).
    pub(super) fn body_path(&self, h: &HashBinary) -> PathBuf {
        self.file_path(h, "")
    }

    /// The body path and `.meta`.
    pub(super) fn meta_path(&self, h: &HashBinary) -> PathBuf {
        self.file_path(h, ".meta")
    }

    fn file_path(&self, h: &HashBinary, suffix: &str) -> PathBuf {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let mut x = [0u8; 32];
        // 16 bytes always fill the 32 hex digits: no error to handle
        let _ = hex::encode_to_slice(h, &mut x);
        let dir = self.opts.dir.as_os_str().as_bytes();
        // as `Path::join` would: no doubled slash after a configured `dir/`
        let dir = match dir.strip_suffix(b"/") {
            Some(d) if !d.is_empty() => d,
            _ => dir,
        };
        let mut p = Vec::with_capacity(dir.len() + 6 + x.len() + suffix.len());
        p.extend_from_slice(dir);
        for part in [&x[31..32], &x[29..31], &x[..]] {
            p.push(b'/');
            p.extend_from_slice(part);
        }
        p.extend_from_slice(suffix.as_bytes());
        PathBuf::from(std::ffi::OsString::from_vec(p))
    }

    pub(super) fn unlink(&self, h: &HashBinary) -> bool {
        let (b, m) = self.paths(h);
        let a = fs::remove_file(m).is_ok();
        let c = fs::remove_file(b).is_ok();
        a || c
    }

    /// Removes the files of `h`: whether any existed, or why one could not be removed.
    pub(super) fn try_unlink(&self, h: &HashBinary) -> io::Result<bool> {
        let (b, m) = self.paths(h);
        let mut any = false;
        for p in [m, b] {
            match fs::remove_file(&p) {
                Ok(()) => any = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
            }
        }
        Ok(any)
    }

    /// A new temporary file name, unique among the processes sharing the directory.
    pub(super) fn new_tmp(&self) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{}-{n}", std::process::id()))
    }

    /// Is the cache directory writable right now (for /readyz)?
    pub fn writable(&self) -> bool {
        let p = self.new_tmp();
        let ok = File::create(&p).and_then(|mut f| f.write_all(b"x")).is_ok();
        let _ = fs::remove_file(&p);
        ok
    }
}
