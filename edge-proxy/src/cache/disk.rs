//! A disk `Storage` for Pingora's cache state machine.
//!
//! Layout (like nginx `levels=1:2`): `<dir>/<h[31]>/<h[29..31]>/<hex>` holds the body and
//! `<hex>.meta` the metadata (a small header, `CacheMeta::serialize()` and the primary key).
//! Writes go to `<dir>/tmp/<pid>-<n>` and are renamed into place when complete, so a reader never
//! sees a partial object and a crash leaves only temp files (removed at the next start).
//!
//! An in-memory index (hash → key, sizes, serialized meta, LRU tick; key → hash for prefix purge) is
//! rebuilt by scanning the directory at start. Size limit = LRU eviction inside the storage (no
//! Pingora eviction manager is used); `inactive` entries are dropped by [`DiskCache::sweep_inactive`].
//! Small bodies are also kept in memory (bounded by `memory_size`) from their first hit on, to serve
//! hot objects without I/O.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::RwLock;
use pingora::cache::key::{CacheHashKey, CompactCacheKey, HashBinary};
use pingora::cache::storage::{HandleHit, HandleMiss, MissFinishType};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{
    CacheKey, CacheMeta, HitHandler, MissHandler, PurgeOutcome, PurgeTarget, PurgeType, Storage,
};
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorType, Result};

use super::fill::{Fill, Fills, Progress};

const MAGIC: &[u8; 8] = b"FDEDGE01";
const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 8;
const CHUNK: usize = 256 * 1024;

/// Settings of a [`DiskCache`].
#[derive(Debug, Clone)]
pub struct DiskCacheOptions {
    pub dir: PathBuf,
    pub max_size: u64,
    pub memory_size: u64,
    pub memory_object_size: u64,
    /// Headers added once to the response header kept for [`DiskCache::fast_hit`] (such as
    /// `X-Cache-Status: HIT`), so that a hit does not insert them again.
    pub hit_headers: Vec<(&'static str, http::HeaderValue)>,
}

#[derive(Debug, Default)]
pub struct CacheStats {
    pub evictions: AtomicU64,
    pub purges: AtomicU64,
    pub inactive_removed: AtomicU64,
}

struct Entry {
    key: String,
    body_len: u64,
    disk_size: u64,
    meta0: Arc<[u8]>,
    meta1: Arc<[u8]>,
    tick: u64,
    last_access: SystemTime,
    mem: Option<Bytes>,
    /// For entries with `mem`: the parsed response header and freshness, for [`DiskCache::fast_hit`].
    fast: Option<FastEntry>,
}

/// A fresh object held in memory: header (as stored), body, and when it was stored.
/// A ready hit header, the end of its freshness, and when it was created.
type FastEntry = (Arc<ResponseHeader>, SystemTime, SystemTime);

pub struct FastHit {
    pub header: Arc<ResponseHeader>,
    pub body: Bytes,
    pub created: SystemTime,
}

#[derive(Default)]
struct Index {
    entries: HashMap<HashBinary, Entry>,
    keys: BTreeMap<String, HashBinary>,
    lru: BTreeMap<u64, HashBinary>,
    /// The entries that also hold their body in memory, by the same ticks.
    mem_lru: BTreeMap<u64, HashBinary>,
    tick: u64,
    total: u64,
    mem_total: u64,
}

impl Index {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn remove(&mut self, h: &HashBinary) -> Option<Entry> {
        let e = self.entries.remove(h)?;
        self.lru.remove(&e.tick);
        self.mem_lru.remove(&e.tick);
        if self.keys.get(&e.key) == Some(h) {
            self.keys.remove(&e.key);
        }
        self.total = self.total.saturating_sub(e.disk_size);
        if let Some(m) = &e.mem {
            self.mem_total = self.mem_total.saturating_sub(m.len() as u64);
        }
        Some(e)
    }

    fn insert(&mut self, h: HashBinary, mut e: Entry) -> Option<Entry> {
        let old = self.remove(&h);
        let t = self.next_tick();
        e.tick = t;
        self.lru.insert(t, h);
        self.keys.insert(e.key.clone(), h);
        self.total += e.disk_size;
        if let Some(m) = &e.mem {
            self.mem_total += m.len() as u64;
            self.mem_lru.insert(t, h);
        }
        self.entries.insert(h, e);
        old
    }

    fn touch(&mut self, h: &HashBinary) {
        let t = self.next_tick();
        if let Some(e) = self.entries.get_mut(h) {
            self.lru.remove(&e.tick);
            if self.mem_lru.remove(&e.tick).is_some() {
                self.mem_lru.insert(t, *h);
            }
            e.tick = t;
            e.last_access = SystemTime::now();
            self.lru.insert(t, *h);
        }
    }

    /// Drops in-memory bodies of the least recently used entries until under `limit`.
    fn trim_memory(&mut self, limit: u64) {
        while self.mem_total > limit {
            let Some((_, h)) = self.mem_lru.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.get_mut(&h) {
                e.fast = None;
                if let Some(m) = e.mem.take() {
                    self.mem_total = self.mem_total.saturating_sub(m.len() as u64);
                }
            }
        }
    }
}

/// The disk cache. Create one with [`DiskCache::open`] and leak it (`&'static`) for Pingora.
pub struct DiskCache {
    opts: DiskCacheOptions,
    tmp: PathBuf,
    index: RwLock<Index>,
    tmp_counter: AtomicU64,
    fills: Fills,
    pub stats: CacheStats,
}

fn hex(h: &HashBinary) -> String {
    hex::encode(h)
}

fn internal(context: &'static str, e: impl std::fmt::Display) -> Box<Error> {
    Error::explain(
        ErrorType::InternalError,
        format!("disk cache: {context}: {e}"),
    )
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for the existence of the process.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

struct MetaFile {
    meta0: Vec<u8>,
    meta1: Vec<u8>,
    key: String,
    body_len: u64,
}

fn encode_meta(meta0: &[u8], meta1: &[u8], key: &str, body_len: u64) -> Vec<u8> {
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

fn decode_meta(buf: &[u8]) -> Option<MetaFile> {
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
    let key = std::str::from_utf8(&rest[l0 + l1..]).ok()?.to_string();
    Some(MetaFile {
        meta0: rest[..l0].to_vec(),
        meta1: rest[l0..l0 + l1].to_vec(),
        key,
        body_len,
    })
}

impl DiskCache {
    /// Opens (creating it if needed) the cache directory, removes stale temp files and rebuilds the
    /// index from the files found.
    pub fn open(opts: DiskCacheOptions) -> io::Result<DiskCache> {
        fs::create_dir_all(&opts.dir)?;
        let tmp = opts.dir.join("tmp");
        fs::create_dir_all(&tmp)?;
        let cache = DiskCache {
            tmp,
            opts,
            index: RwLock::new(Index::default()),
            tmp_counter: AtomicU64::new(0),
            fills: Fills::default(),
            stats: CacheStats::default(),
        };
        cache.clean_tmp();
        cache.scan()?;
        cache.evict_if_needed();
        Ok(cache)
    }

    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    fn clean_tmp(&self) {
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

    fn scan(&self) -> io::Result<()> {
        let mut found: Vec<(SystemTime, HashBinary, Entry)> = Vec::new();
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
                    if hex::decode_to_slice(stem, &mut h).is_err() {
                        continue;
                    }
                    match self.load_entry(&h) {
                        Some((mtime, e)) => found.push((mtime, h, e)),
                        None => {
                            self.unlink(&h);
                        }
                    }
                }
            }
        }
        found.sort_by_key(|(t, _, _)| *t);
        let mut idx = self.index.write();
        for (_, h, e) in found {
            idx.insert(h, e);
        }
        Ok(())
    }

    /// Reads one entry's meta file and checks its body file. Returns the meta mtime too.
    fn load_entry(&self, h: &HashBinary) -> Option<(SystemTime, Entry)> {
        let (body_path, meta_path) = self.paths(h);
        let mut buf = Vec::new();
        let mut f = File::open(&meta_path).ok()?;
        f.read_to_end(&mut buf).ok()?;
        let mtime = f
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let m = decode_meta(&buf)?;
        let blen = fs::metadata(&body_path).ok()?.len();
        if blen != m.body_len {
            return None;
        }
        // The key must hash to the file name, or the file is not ours.
        if CacheKey::new(m.key.clone(), "").combined_bin() != *h {
            return None;
        }
        Some((
            mtime,
            Entry {
                key: m.key,
                body_len: m.body_len,
                disk_size: m.body_len + buf.len() as u64,
                meta0: m.meta0.into(),
                meta1: m.meta1.into(),
                tick: 0,
                last_access: mtime,
                mem: None,
                fast: None,
            },
        ))
    }

    fn paths(&self, h: &HashBinary) -> (PathBuf, PathBuf) {
        let x = hex(h);
        let dir = self.opts.dir.join(&x[31..32]).join(&x[29..31]);
        (dir.join(&x), dir.join(format!("{x}.meta")))
    }

    fn unlink(&self, h: &HashBinary) -> bool {
        let (b, m) = self.paths(h);
        let a = fs::remove_file(m).is_ok();
        let c = fs::remove_file(b).is_ok();
        a || c
    }

    /// Removes the files of `h`: whether any existed, or why one could not be removed.
    fn try_unlink(&self, h: &HashBinary) -> io::Result<bool> {
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

    fn new_tmp(&self) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{}-{n}", std::process::id()))
    }

    fn evict_if_needed(&self) {
        let mut victims = Vec::new();
        {
            let mut idx = self.index.write();
            while idx.total > self.opts.max_size {
                let Some((t, h)) = idx.lru.first_key_value().map(|(t, h)| (*t, *h)) else {
                    break;
                };
                if idx.remove(&h).is_some() {
                    victims.push(h);
                } else {
                    idx.lru.remove(&t);
                }
            }
        }
        for h in victims {
            self.unlink(&h);
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes entries not accessed for `inactive`. Returns how many were removed.
    pub fn sweep_inactive(&self, inactive: Duration) -> usize {
        let now = SystemTime::now();
        let mut victims = Vec::new();
        {
            let mut idx = self.index.write();
            let old: Vec<HashBinary> = idx
                .entries
                .iter()
                .filter(|(_, e)| {
                    now.duration_since(e.last_access)
                        .map(|d| d >= inactive)
                        .unwrap_or(false)
                })
                .map(|(h, _)| *h)
                .collect();
            for h in old {
                if idx.remove(&h).is_some() {
                    victims.push(h);
                }
            }
        }
        let n = victims.len();
        for h in victims {
            self.unlink(&h);
        }
        self.stats
            .inactive_removed
            .fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Bytes on disk accounted by the index.
    pub fn total_size(&self) -> u64 {
        self.index.read().total
    }

    pub fn total_items(&self) -> usize {
        self.index.read().entries.len()
    }

    /// Fills in progress (for /metrics).
    pub fn fills_in_progress(&self) -> usize {
        self.fills.in_progress()
    }

    pub fn memory_bytes(&self) -> u64 {
        self.index.read().mem_total
    }

    fn remember_in_memory(&self, h: &HashBinary, meta: &CacheMeta, body: Bytes) {
        let mut idx = self.index.write();
        let Some(e) = idx.entries.get_mut(h) else {
            return;
        };
        if e.mem.is_some() {
            return;
        }
        let len = body.len() as u64;
        e.mem = Some(body);
        e.fast = self.fast_entry(meta, len);
        let tick = e.tick;
        idx.mem_total += len;
        idx.mem_lru.insert(tick, *h);
        idx.trim_memory(self.opts.memory_size);
    }

    /// What [`DiskCache::fast_hit`] answers with for a body of `body_len` bytes in memory: a 200's
    /// header, ready to send but for `Age` and `Expires`, and its freshness.
    fn fast_entry(&self, meta: &CacheMeta, body_len: u64) -> Option<FastEntry> {
        if meta.response_header().status.as_u16() != 200 {
            return None;
        }
        let mut header = meta.response_header().clone();
        header.remove_header(&http::header::TRANSFER_ENCODING);
        header.insert_header("Content-Length", body_len).ok()?;
        for (name, value) in &self.opts.hit_headers {
            header.insert_header(*name, value.clone()).ok()?;
        }
        Some((Arc::new(header), meta.fresh_until(), meta.created()))
    }

    /// A fresh 200 response held in memory for `key`, if any (counts as an access).
    pub fn fast_hit(&self, key: &str) -> Option<FastHit> {
        let h = CacheKey::new(key.to_string(), "").combined_bin();
        let now = SystemTime::now();
        let (hit, stale_lru) = {
            let idx = self.index.read();
            let e = idx.entries.get(&h)?;
            let (header, fresh_until, created) = e.fast.as_ref()?;
            if now >= *fresh_until {
                return None;
            }
            let hit = FastHit {
                header: header.clone(),
                body: e.mem.clone()?,
                created: *created,
            };
            // Move in the LRU at most once a second per object: hot hits stay on the read lock.
            let stale_lru = now
                .duration_since(e.last_access)
                .map_or(true, |d| d >= Duration::from_secs(1));
            (hit, stale_lru)
        };
        if stale_lru {
            self.index.write().touch(&h);
        }
        Some(hit)
    }

    /// Purges the entry of exactly `key` (the cache key string). Returns whether something was
    /// removed; an error when its files could not be removed (the entry then stays cached).
    pub fn purge_key(&self, key: &str) -> io::Result<bool> {
        let h = CacheKey::new(key.to_string(), "").combined_bin();
        self.try_purge_hash(&h)
    }

    /// Drops an entry found unusable; a file that cannot be removed is only logged.
    fn purge_hash(&self, h: &HashBinary) -> bool {
        self.try_purge_hash(h).unwrap_or_else(|e| {
            tracing::warn!("disk cache: cannot remove {}: {e}", hex(h));
            false
        })
    }

    /// Removes the files first: if that fails (a read-only cache) the entry stays indexed and
    /// served, and the caller says the purge failed, rather than reporting a purge that the next
    /// lookup would undo by finding the files again.
    fn try_purge_hash(&self, h: &HashBinary) -> io::Result<bool> {
        // The files may exist without an index entry (written by another process during an upgrade).
        let on_disk = self.try_unlink(h)?;
        let in_index = self.index.write().remove(h).is_some();
        let purged = in_index || on_disk;
        if purged {
            self.stats.purges.fetch_add(1, Ordering::Relaxed);
        }
        Ok(purged)
    }

    /// Purges every entry whose key starts with `prefix`. Returns the number removed, or the
    /// first error (entries before it are purged).
    pub fn purge_prefix(&self, prefix: &str) -> io::Result<usize> {
        let hashes: Vec<HashBinary> = {
            let idx = self.index.read();
            idx.keys
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, h)| *h)
                .collect()
        };
        let mut n = 0;
        for h in &hashes {
            n += usize::from(self.try_purge_hash(h)?);
        }
        Ok(n)
    }

    /// Is the cache directory writable right now (for /readyz)?
    pub fn writable(&self) -> bool {
        let p = self.new_tmp();
        let ok = File::create(&p).and_then(|mut f| f.write_all(b"x")).is_ok();
        let _ = fs::remove_file(&p);
        ok
    }

    fn lookup_sync(&self, h: &HashBinary) -> Result<Option<(CacheMeta, HitHandler)>> {
        let found = {
            let mut idx = self.index.write();
            idx.touch(h);
            idx.entries
                .get(h)
                .map(|e| (e.meta0.clone(), e.meta1.clone(), e.body_len, e.mem.clone()))
        };
        let (meta0, meta1, body_len, mem) = match found {
            Some(f) => f,
            None => {
                // Not indexed: maybe written by another process (graceful upgrade) after our scan.
                let Some((_, e)) = self.load_entry(h) else {
                    return Ok(None);
                };
                let r = (e.meta0.clone(), e.meta1.clone(), e.body_len, None);
                self.index.write().insert(*h, e);
                self.evict_if_needed();
                r
            }
        };
        let meta = match CacheMeta::deserialize(&meta0, &meta1) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("disk cache: dropping entry with unreadable meta: {e}");
                self.purge_hash(h);
                return Ok(None);
            }
        };
        let source = match mem {
            Some(b) => Source::Mem(b),
            None => {
                let (body_path, _) = self.paths(h);
                match File::open(&body_path) {
                    Ok(f)
                        if self.opts.memory_size > 0
                            && body_len <= self.opts.memory_object_size =>
                    {
                        // A small object's first hit: from now on it is served from memory.
                        let mut buf = Vec::with_capacity(body_len as usize);
                        let mut f = f;
                        f.read_to_end(&mut buf)
                            .map_err(|e| internal("read body", e))?;
                        if buf.len() as u64 != body_len {
                            self.purge_hash(h);
                            return Ok(None);
                        }
                        let b = Bytes::from(buf);
                        self.remember_in_memory(h, &meta, b.clone());
                        Source::Mem(b)
                    }
                    Ok(f) => Source::File(f),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        self.index.write().remove(h);
                        return Ok(None);
                    }
                    Err(e) => return Err(internal("open body", e)),
                }
            }
        };
        let hit = DiskHit {
            source,
            pos: 0,
            end: body_len,
            body_len,
            file_pos: 0,
        };
        Ok(Some((meta, Box::new(hit))))
    }
}

enum Source {
    Mem(Bytes),
    File(File),
}

struct DiskHit {
    source: Source,
    pos: u64,
    end: u64,
    body_len: u64,
    /// The offset of `Source::File`'s file descriptor.
    file_pos: u64,
}

#[async_trait]
impl HandleHit for DiskHit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        match &self.source {
            Source::Mem(b) => {
                let s = b.slice(self.pos as usize..self.end as usize);
                self.pos = self.end;
                Ok(Some(s))
            }
            Source::File(f) => {
                let want = ((self.end - self.pos) as usize).min(CHUNK);
                // Page-cache reads, blocking like nginx without aio: sequential from the file
                // offset (a seek only after a Range seek), into a buffer that is not zeroed first.
                let mut file = f;
                if self.file_pos != self.pos {
                    file.seek(SeekFrom::Start(self.pos))
                        .map_err(|e| internal("seek body", e))?;
                    self.file_pos = self.pos;
                }
                let mut buf = Vec::with_capacity(want);
                let n = file
                    .take(want as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| internal("read body", e))?;
                if n == 0 {
                    return Err(internal("read body", "file shorter than recorded"));
                }
                self.pos += n as u64;
                self.file_pos += n as u64;
                Ok(Some(Bytes::from(buf)))
            }
        }
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        let start = start as u64;
        if start >= self.body_len {
            return Error::e_explain(
                ErrorType::InternalError,
                format!("seek start out of range {start} >= {}", self.body_len),
            );
        }
        self.pos = start;
        self.end = end.map_or(self.body_len, |e| (e as u64).min(self.body_len));
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.body_len as usize
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn std::any::Any + Send + Sync) {
        self
    }
}

struct DiskMiss {
    cache: &'static DiskCache,
    hash: HashBinary,
    key: String,
    meta0: Vec<u8>,
    meta1: Vec<u8>,
    tmp: PathBuf,
    file: Option<File>,
    written: u64,
    finished: bool,
    /// Readers follow the write through this.
    fill: Arc<Fill>,
    tag: [u8; 8],
    /// The whole body is in the file: readers can finish even if storing it then fails.
    body_complete: bool,
}

impl Drop for DiskMiss {
    fn drop(&mut self) {
        if !self.finished {
            if !self.body_complete {
                self.fill.set(Progress::Failed);
            }
            self.cache.fills.end(&self.hash, self.fill.id);
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait]
impl HandleMiss for DiskMiss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Err(internal("write body", "already finished"));
        };
        f.write_all(&data).map_err(|e| internal("write body", e))?;
        self.written += data.len() as u64;
        self.fill.set(Progress::Writing(self.written));
        Ok(())
    }

    fn streaming_write_tag(&self) -> Option<&[u8]> {
        Some(&self.tag)
    }

    async fn finish(mut self: Box<Self>) -> Result<MissFinishType> {
        let Some(f) = self.file.take() else {
            return Err(internal("finish", "already finished"));
        };
        drop(f);
        // The body is complete in the file: its readers can finish whatever happens to the entry.
        self.body_complete = true;
        self.fill.set(Progress::Done(self.written));
        let cache = self.cache;
        let (body_path, meta_path) = cache.paths(&self.hash);
        if let Some(dir) = body_path.parent() {
            fs::create_dir_all(dir).map_err(|e| internal("mkdir", e))?;
        }
        let meta_bytes = encode_meta(&self.meta0, &self.meta1, &self.key, self.written);
        let meta_tmp = cache.new_tmp();
        let write_meta = || -> io::Result<()> {
            let mut mf = File::create(&meta_tmp)?;
            mf.write_all(&meta_bytes)?;
            Ok(())
        };
        if let Err(e) = write_meta() {
            let _ = fs::remove_file(&meta_tmp);
            return Err(internal("write meta", e));
        }
        // Body first, then meta: a meta file always has its complete body next to it.
        let renamed =
            fs::rename(&self.tmp, &body_path).and_then(|_| fs::rename(&meta_tmp, &meta_path));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&meta_tmp);
            return Err(internal("rename", e));
        }
        self.finished = true;
        // Not into memory yet: an object enters the memory tier on its first hit, so objects asked
        // for once (a crawl, a warm-up) do not push the hot ones out.
        let entry = Entry {
            fast: None,
            key: std::mem::take(&mut self.key),
            body_len: self.written,
            disk_size: self.written + meta_bytes.len() as u64,
            meta0: std::mem::take(&mut self.meta0).into(),
            meta1: std::mem::take(&mut self.meta1).into(),
            tick: 0,
            last_access: SystemTime::now(),
            mem: None,
        };
        cache.index.write().insert(self.hash, entry);
        // New lookups find the index entry from now on.
        cache.fills.end(&self.hash, self.fill.id);
        cache.evict_if_needed();
        Ok(MissFinishType::Created(self.written as usize))
    }
}

#[async_trait]
impl Storage for DiskCache {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let h = key.combined_bin();
        // A fill in progress first: it is newer than an expired entry being refreshed.
        match self.fills.read_any(&h) {
            Some(reader) => reader.map(Some),
            None => self.lookup_sync(&h),
        }
    }

    async fn lookup_streaming_write(
        &'static self,
        key: &CacheKey,
        streaming_write_tag: Option<&[u8]>,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        self.fills
            .read_tagged(&key.combined_bin(), streaming_write_tag)
            .map(Some)
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let (meta0, meta1) = meta.serialize()?;
        let key_str = key
            .primary_key_str()
            .ok_or_else(|| internal("miss", "cache key is not UTF-8"))?
            .to_string();
        let tmp = self.new_tmp();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| internal("create temp file", e))?;
        let read_handle = File::open(&tmp).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            internal("open temp file", e)
        })?;
        let hash = key.combined_bin();
        let fill = self
            .fills
            .start(hash, (meta0.clone(), meta1.clone()), read_handle);
        Ok(Box::new(DiskMiss {
            cache: self,
            hash,
            key: key_str,
            meta0,
            meta1,
            tmp,
            file: Some(file),
            written: 0,
            finished: false,
            tag: fill.tag(),
            fill,
            body_complete: false,
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let key: &CompactCacheKey = target.key();
        let purged = self
            .try_purge_hash(&key.combined_bin())
            .map_err(|e| internal("purge", e))?;
        if purged {
            Ok(PurgeOutcome::Purged(None))
        } else {
            Ok(PurgeOutcome::NotFound)
        }
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let h = key.combined_bin();
        let (meta0, meta1) = meta.serialize()?;
        let (key_str, body_len) = {
            let idx = self.index.write();
            match idx.entries.get(&h) {
                Some(e) => (e.key.clone(), e.body_len),
                None => return Ok(false),
            }
        };
        let bytes = encode_meta(&meta0, &meta1, &key_str, body_len);
        let tmp = self.new_tmp();
        let (_, meta_path) = self.paths(&h);
        let res = fs::write(&tmp, &bytes).and_then(|_| fs::rename(&tmp, &meta_path));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(internal("update meta", e));
        }
        let mut idx = self.index.write();
        if let Some(e) = idx.entries.get_mut(&h) {
            e.meta0 = meta0.into();
            e.meta1 = meta1.into();
            if e.fast.is_some() {
                e.fast = self.fast_entry(meta, e.body_len);
            }
        }
        Ok(true)
    }

    fn support_streaming_partial_write(&self) -> bool {
        true
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync + 'static) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::ResponseHeader;

    fn leak(dir: &Path, max: u64) -> &'static DiskCache {
        Box::leak(Box::new(
            DiskCache::open(DiskCacheOptions {
                dir: dir.to_path_buf(),
                max_size: max,
                memory_size: 1 << 20,
                memory_object_size: 1024,
                hit_headers: Vec::new(),
            })
            .unwrap(),
        ))
    }

    fn sp() -> SpanHandle {
        pingora::cache::trace::Span::inactive().handle()
    }

    fn meta() -> CacheMeta {
        let mut h = ResponseHeader::build(200, None).unwrap();
        h.insert_header("content-type", "text/plain").unwrap();
        let now = SystemTime::now();
        CacheMeta::new(now + Duration::from_secs(3600), now, 0, 0, h)
    }

    async fn put(c: &'static DiskCache, key: &str, body: &[u8]) {
        let k = CacheKey::new(key.to_string(), "");
        let span = sp();
        let mut m = c.get_miss_handler(&k, &meta(), &span).await.unwrap();
        for part in body.chunks(7000) {
            m.write_body(Bytes::copy_from_slice(part), false)
                .await
                .unwrap();
        }
        m.finish().await.unwrap();
    }

    async fn get(c: &'static DiskCache, key: &str) -> Option<Vec<u8>> {
        let k = CacheKey::new(key.to_string(), "");
        let (m, mut hit) = c.lookup(&k, &sp()).await.unwrap()?;
        assert_eq!(m.response_header().status.as_u16(), 200);
        let mut out = Vec::new();
        while let Some(b) = hit.read_body().await.unwrap() {
            out.extend_from_slice(&b);
        }
        Some(out)
    }

    fn body(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[tokio::test]
    async fn write_read_purge_restart() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let big = body(200_000, 1);
        let small = body(100, 2);
        put(c, "/group1/M00/a?x=1", &big).await;
        put(c, "/group1/M00/b", &small).await;
        assert_eq!(get(c, "/group1/M00/a?x=1").await.unwrap(), big);
        assert_eq!(get(c, "/group1/M00/b").await.unwrap(), small);
        assert!(get(c, "/group1/M00/a").await.is_none());
        assert_eq!(c.total_items(), 2);

        // restart = a new instance on the same directory
        let c2 = leak(d.path(), 1 << 30);
        assert_eq!(c2.total_items(), 2);
        assert_eq!(get(c2, "/group1/M00/a?x=1").await.unwrap(), big);
        assert!(c2.fast_hit("/group1/M00/b").is_none());
        assert_eq!(get(c2, "/group1/M00/b").await.unwrap(), small);
        assert!(
            c2.fast_hit("/group1/M00/b").is_some(),
            "loaded into memory on a hit"
        );
        assert!(c2.fast_hit("/group1/M00/a?x=1").is_none());

        assert!(c2.purge_key("/group1/M00/b").expect("purge"));
        assert!(!c2.purge_key("/group1/M00/b").expect("purge"));
        assert!(get(c2, "/group1/M00/b").await.is_none());
        assert_eq!(c2.total_items(), 1);
    }

    #[tokio::test]
    async fn readers_of_a_fill_stream_it_and_finish_even_if_storing_fails() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let k = CacheKey::new("/g1/M00/fill".to_string(), "");
        let body = body(20_000, 5);
        let mut m = c.get_miss_handler(&k, &meta(), &sp()).await.unwrap();
        m.write_body(Bytes::copy_from_slice(&body[..8000]), false)
            .await
            .unwrap();
        // a reader arriving during the fill gets what is written so far, then the rest
        let (_, mut early) = c.lookup(&k, &sp()).await.unwrap().expect("fill visible");
        assert_eq!(early.read_body().await.unwrap().unwrap(), &body[..8000]);
        assert_eq!(c.fills_in_progress(), 1);
        // the entry's directory cannot be created: storing fails after the body is complete
        let (body_path, _) = c.paths(&k.combined_bin());
        let level2 = body_path.parent().unwrap();
        fs::create_dir_all(level2.parent().unwrap()).unwrap();
        fs::write(level2, b"not a directory").unwrap();
        m.write_body(Bytes::copy_from_slice(&body[8000..]), true)
            .await
            .unwrap();
        assert!(m.finish().await.is_err());
        let mut rest = Vec::new();
        while let Some(b) = early.read_body().await.unwrap() {
            rest.extend_from_slice(&b);
        }
        assert_eq!(rest, &body[8000..]);
        assert_eq!(c.fills_in_progress(), 0);
        assert!(get(c, "/g1/M00/fill").await.is_none(), "not stored");
    }

    #[tokio::test]
    async fn prefix_purge() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        for k in ["/g1/M00/aa", "/g1/M00/ab", "/g1/M00/b", "/g2/M00/aa"] {
            put(c, k, b"xyz").await;
        }
        assert_eq!(c.purge_prefix("/g1/M00/a").expect("purge"), 2);
        assert!(get(c, "/g1/M00/b").await.is_some());
        assert!(get(c, "/g1/M00/aa").await.is_none());
        assert_eq!(c.purge_prefix("/").expect("purge"), 2);
        assert_eq!(c.total_items(), 0);
    }

    #[tokio::test]
    async fn lru_eviction_and_inactive() {
        let d = tempfile::tempdir().unwrap();
        // room for about three 10 KB objects (+ meta)
        let c = leak(d.path(), 32_000);
        put(c, "/k1", &body(10_000, 1)).await;
        put(c, "/k2", &body(10_000, 2)).await;
        put(c, "/k3", &body(10_000, 3)).await;
        // touch k1 so k2 is the least recently used
        assert!(get(c, "/k1").await.is_some());
        put(c, "/k4", &body(10_000, 4)).await;
        assert!(get(c, "/k2").await.is_none(), "LRU victim must be k2");
        assert!(get(c, "/k1").await.is_some());
        assert!(get(c, "/k4").await.is_some());
        assert!(c.total_size() <= 32_000);
        assert!(c.stats.evictions.load(Ordering::Relaxed) >= 1);
        assert_eq!(c.sweep_inactive(Duration::from_secs(3600)), 0);
        let n = c.total_items();
        assert_eq!(c.sweep_inactive(Duration::ZERO), n);
        assert_eq!(c.total_items(), 0);
    }

    #[tokio::test]
    async fn memory_tier_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let c: &'static DiskCache = Box::leak(Box::new(
            DiskCache::open(DiskCacheOptions {
                dir: d.path().to_path_buf(),
                max_size: 1 << 30,
                memory_size: 2500,
                memory_object_size: 1000,
                hit_headers: Vec::new(),
            })
            .unwrap(),
        ));
        for i in 0..10 {
            put(c, &format!("/m{i}"), &body(900, i as u8)).await;
            assert_eq!(c.memory_bytes(), 0, "a fill does not enter memory");
        }
        for i in 0..10 {
            assert_eq!(get(c, &format!("/m{i}")).await.unwrap(), body(900, i as u8));
            assert!(c.memory_bytes() <= 2500);
        }
        assert!(c.fast_hit("/m9").is_some(), "in memory after its first hit");
        assert!(c.fast_hit("/m0").is_none(), "trimmed from memory");
        put(c, "/large", &body(5000, 1)).await;
        assert!(get(c, "/large").await.is_some());
        assert!(c.fast_hit("/large").is_none(), "too large for memory");
        assert_eq!(c.memory_bytes(), 1800, "two most recent small objects");
        for i in 0..10 {
            assert_eq!(get(c, &format!("/m{i}")).await.unwrap(), body(900, i as u8));
        }
    }

    #[tokio::test]
    async fn range_seek() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let b = body(150_000, 9);
        put(c, "/r", &b).await;
        let k = CacheKey::new("/r".to_string(), "");
        let (_, mut hit) = c.lookup(&k, &sp()).await.unwrap().unwrap();
        hit.seek(100_000, Some(100_010)).unwrap();
        let mut out = Vec::new();
        while let Some(x) = hit.read_body().await.unwrap() {
            out.extend_from_slice(&x);
        }
        assert_eq!(out, &b[100_000..100_010]);
        assert!(hit.seek(150_000, None).is_err());
    }

    #[tokio::test]
    async fn abandoned_write_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let k = CacheKey::new("/x".to_string(), "");
        let mut m = c.get_miss_handler(&k, &meta(), &sp()).await.unwrap();
        m.write_body(Bytes::from_static(b"partial"), false)
            .await
            .unwrap();
        drop(m);
        assert!(get(c, "/x").await.is_none());
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }
}
