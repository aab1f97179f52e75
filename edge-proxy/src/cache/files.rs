//! Where the disk cache keeps its files, and reading them back at start.
//!
//! Layout (like nginx `levels=1:2`): `<dir>/<h[31]>/<h[29..31]>/<hex>` holds the object, body
//! then meta (see [`super::object_file`]). Writes go to `<dir>/tmp/<pid>-<n>` and are renamed
//! into place when complete, so a reader never sees a partial object and a crash leaves only temp
//! files (removed at the next start). A file in place is never written again, but for the
//! conversion of the layout before, which only appends to what an older process reads.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use pingora::cache::key::HashBinary;

use super::disk::DiskCache;
use super::index::{Entry, Loaded};

/// Entries indexed per taking of the index lock at start.
const SCAN_BATCH: usize = 4096;
use super::key;
use super::object_file::{self, Object, ObjectMeta};
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
    /// removes the files of unusable ones and of those purged while loading; pairs of the layout
    /// before are converted first. Entries are indexed in batches, so that lookups wait for one
    /// batch at most. Returns the number indexed.
    pub(super) fn scan(&self) -> io::Result<usize> {
        let on_disk = self.hashes_on_disk()?;
        // sized once: 56 MB at a million objects, where growing it by doubling allocated twice that
        let mut found: Vec<(HashBinary, Entry)> = Vec::with_capacity(on_disk.len());
        let mut converted = 0usize;
        for (h, pair) in on_disk {
            if pair && self.convert_pair(&h) {
                converted += 1;
            }
            // (a name without a .meta in the listing has no pair to convert)
            match self.read_unindexed(&h) {
                Some((e, _)) => found.push((h, e)),
                None => {
                    self.unlink(&h);
                }
            }
        }
        if converted > 0 {
            tracing::info!(
                "cache {}: {converted} object(s) of the layout before (a .meta file beside each) \
                 now in one file each",
                self.opts.dir.display()
            );
        }
        // oldest first, to the second of the files' mtimes, as nginx keeps its times
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
                        None => continue, // its file went since the scan read it: a purge
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

    /// The hashes named by the files of the two directory levels, each once, and whether a
    /// `.meta` of the layout before was among them.
    pub(super) fn hashes_on_disk(&self) -> io::Result<Vec<(HashBinary, bool)>> {
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
                    let name = f.file_name();
                    let name = name.as_encoded_bytes();
                    let (stem, pair) = match name.strip_suffix(b".meta") {
                        Some(stem) => (stem, true),
                        None => (name, false),
                    };
                    let mut h: HashBinary = [0; 16];
                    if hex::decode_to_slice(stem, &mut h).is_ok() {
                        hashes.push((h, pair));
                    }
                }
            }
        }
        // a pair's two names once, marked as a pair
        hashes.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        hashes.dedup_by_key(|(h, _)| *h);
        Ok(hashes)
    }

    /// Makes the pair of files of `h` in the layout before (body, and `.meta` beside it) one
    /// object file (see [`object_file::convert_pair`]); whether it did. One conversion at a time
    /// in this process: the loader and a lookup of an object the loader has not reached.
    pub(super) fn convert_pair(&self, h: &HashBinary) -> bool {
        let _one = self.converting.lock();
        let (object, old_meta) = (self.object_path(h), self.file_path(h, ".meta"));
        object_file::convert_pair(&object, &old_meta).unwrap_or_else(|e| {
            tracing::warn!("disk cache: cannot convert {}: {e}", old_meta.display());
            false
        })
    }

    /// Reads one object file but its body: the entry to index (its last access is the file's
    /// mtime) and its meta part. A pair of the layout before is converted first.
    pub(super) fn load_entry(&self, h: &HashBinary) -> Option<(Entry, ObjectMeta)> {
        // The pair first: a body of the layout before is never parsed as an object file (its
        // last bytes are the storage's, and could be made to look like a meta part).
        self.convert_pair(h);
        self.read_unindexed(h)
    }

    fn read_unindexed(&self, h: &HashBinary) -> Option<(Entry, ObjectMeta)> {
        let (_, md, object) = self.read_object_file(h, Reads::Wait, None, None).ok()??;
        let mtime = md.modified().unwrap_or_else(|_| SystemTime::now());
        let m = object.meta;
        let e = Entry::new(m.key(), m.body_len, m.len() as u64, mtime);
        Some((e, m))
    }

    /// The meta part of an indexed object's file: `None` if it is gone or not ours.
    pub(super) fn read_meta(&self, h: &HashBinary) -> Option<ObjectMeta> {
        let hint = self.index.read().lens(h).map(|(_, m)| m);
        let (_, _, object) = self.read_object_file(h, Reads::Wait, hint, None).ok()??;
        Some(object.meta)
    }

    /// The file of `h`, opened and read as `reads` says (see [`object_file::read`]), with its
    /// metadata: `None` when it is not an object file of `h` (another layout, damaged, or a key
    /// that does not hash to its name: not ours).
    pub(super) fn read_object_file(
        &self,
        h: &HashBinary,
        reads: Reads,
        meta_hint: Option<u64>,
        body_up_to: Option<u64>,
    ) -> io::Result<Option<(File, fs::Metadata, Object)>> {
        let f = reads.open(&self.object_path(h))?;
        let md = f.metadata()?;
        let object = object_file::read(&f, reads, md.len(), meta_hint, body_up_to)?;
        Ok(object
            .filter(|o| key::hash(o.meta.key()) == *h)
            .map(|o| (f, md, o)))
    }

    /// `<dir>/<h[31]>/<h[29..31]>/<hex>`, built in one allocation (on each hit from disk, where
    /// joining the parts took three).
    pub(super) fn object_path(&self, h: &HashBinary) -> PathBuf {
        self.file_path(h, "")
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
        self.try_unlink(h).unwrap_or(false)
    }

    /// Removes the file of `h` (while the index loads, a `.meta` of the layout before too):
    /// whether one existed, or why one could not be removed.
    pub(super) fn try_unlink(&self, h: &HashBinary) -> io::Result<bool> {
        let mut any = false;
        let pair = self.is_loading().then(|| self.file_path(h, ".meta"));
        for p in pair.into_iter().chain([self.object_path(h)]) {
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
