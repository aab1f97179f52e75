//! A disk `Storage` for Pingora's cache state machine.
//!
//! Bodies and their meta files live in a directory tree (see [`super::files`]). An in-memory
//! index ([`super::index`]) is rebuilt by scanning the directory at start. Size limit = LRU
//! eviction inside the storage ([`super::evict`]). Small bodies are also kept in memory (bounded
//! by `memory_size`) from their first hit on, to serve hot objects without I/O, either through
//! Pingora or, before it, by [`DiskCache::fast_hit`].
//!
//! This file holds the storage itself: opening, lookups, the memory tier and purges. Bytes are the
//! storage's; which headers an answer carries and how long an object is fresh are the proxy's
//! (see [`PrepareHit`]).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::RwLock;
use pingora::cache::key::{CacheHashKey, CompactCacheKey, HashBinary};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{
    CacheKey, CacheMeta, HitHandler, MissHandler, PurgeOutcome, PurgeTarget, PurgeType, Storage,
};
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorType, Result};

use super::files::hex;
use super::fill::Fills;
use super::hit::DiskHitHandler;
use super::index::{FastEntry, Index};
use super::miss::DiskMiss;
use super::{key, meta_file};

/// The answer header of an object served from memory by [`DiskCache::fast_hit`], built by the
/// proxy once, when the object enters memory, and kept with its body so that a hit does not build
/// it again. `None`: the object is not one the fast path serves.
pub trait PrepareHit: Send + Sync + std::fmt::Debug {
    fn prepare(&self, stored: &ResponseHeader, body_len: u64) -> Option<ResponseHeader>;
}

/// Settings of a [`DiskCache`].
#[derive(Debug, Clone)]
pub struct DiskCacheOptions {
    pub dir: PathBuf,
    pub max_size: u64,
    pub memory_size: u64,
    pub memory_object_size: u64,
    /// The proxy's headers for [`DiskCache::fast_hit`] (such as `X-Cache-Status: HIT`).
    pub hit_headers: Arc<dyn PrepareHit>,
}

#[derive(Debug, Default)]
pub struct CacheStats {
    pub evictions: AtomicU64,
    pub purges: AtomicU64,
    pub inactive_removed: AtomicU64,
    /// Cache hits whose body was in memory ([`DiskCache::fast_hit`] or a lookup).
    pub memory_hits: AtomicU64,
    /// Cache hits whose body was read from its file: not in memory (yet), or too large for it.
    pub memory_misses: AtomicU64,
}

/// A fresh object held in memory: its prepared answer header, body, and when it was stored.
pub struct FastHit {
    pub header: Arc<ResponseHeader>,
    pub body: Bytes,
    pub created: SystemTime,
}

/// The disk cache. Create one with [`DiskCache::open`] and leak it (`&'static`) for Pingora.
pub struct DiskCache {
    pub(super) opts: DiskCacheOptions,
    pub(super) tmp: PathBuf,
    pub(super) index: RwLock<Index>,
    pub(super) tmp_counter: AtomicU64,
    pub(super) fills: Fills,
    pub stats: CacheStats,
}

/// A Pingora error of the disk cache.
pub(super) fn internal(context: &'static str, e: impl std::fmt::Display) -> Box<Error> {
    Error::explain(
        ErrorType::InternalError,
        format!("disk cache: {context}: {e}"),
    )
}

/// What a lookup needs of an index entry, taken under the lock.
struct Found {
    meta: (Arc<[u8]>, Arc<[u8]>),
    body_len: u64,
    mem: Option<Bytes>,
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
        let fast = self.fast_entry(meta, body.len() as u64);
        let mut idx = self.index.write();
        idx.remember(h, body, fast);
        idx.trim_memory(self.opts.memory_size);
    }

    /// What [`DiskCache::fast_hit`] answers with for a body of `body_len` bytes in memory: the
    /// proxy's header, ready to send but for what changes with each hit, and its freshness.
    fn fast_entry(&self, meta: &CacheMeta, body_len: u64) -> Option<FastEntry> {
        let header = self
            .opts
            .hit_headers
            .prepare(meta.response_header(), body_len)?;
        Some((Arc::new(header), meta.fresh_until(), meta.created()))
    }

    /// A fresh object held in memory for `key`, if any, with the header prepared for it (counts as
    /// an access).
    pub fn fast_hit(&self, key: &str) -> Option<FastHit> {
        let h = key::hash(key);
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
        self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
        Some(hit)
    }

    /// Purges the entry of exactly `key` (the cache key string). Returns whether something was
    /// removed; an error when its files could not be removed (the entry then stays cached).
    pub fn purge_key(&self, key: &str) -> io::Result<bool> {
        self.try_purge_hash(&key::hash(key))
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

    /// The index entry of `h`, made the most recently used; or, when not indexed, one written by
    /// another process (graceful upgrade) after our scan, indexed now.
    fn find(&self, h: &HashBinary) -> Option<Found> {
        let found = {
            let mut idx = self.index.write();
            idx.touch(h);
            idx.entries.get(h).map(|e| Found {
                meta: (e.meta0.clone(), e.meta1.clone()),
                body_len: e.body_len,
                mem: e.mem.clone(),
            })
        };
        if found.is_some() {
            return found;
        }
        let (_, e) = self.load_entry(h)?;
        let found = Found {
            meta: (e.meta0.clone(), e.meta1.clone()),
            body_len: e.body_len,
            mem: None,
        };
        self.index.write().insert(*h, e);
        self.evict_if_needed();
        Some(found)
    }

    /// The hit handler of an entry whose body is not in memory: a small one is read into memory
    /// on this first hit, a larger one is read from its file. `None` if the body is gone.
    fn open_body(
        &self,
        h: &HashBinary,
        meta: &CacheMeta,
        body_len: u64,
    ) -> Result<Option<DiskHitHandler>> {
        let (body_path, _) = self.paths(h);
        let mut f = match File::open(&body_path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.index.write().remove(h);
                return Ok(None);
            }
            Err(e) => return Err(internal("open body", e)),
        };
        if self.opts.memory_size == 0 || body_len > self.opts.memory_object_size {
            return Ok(Some(DiskHitHandler::file(f, body_len)));
        }
        // A small object's first hit: from now on it is served from memory.
        let mut buf = Vec::with_capacity(body_len as usize);
        f.read_to_end(&mut buf)
            .map_err(|e| internal("read body", e))?;
        if buf.len() as u64 != body_len {
            self.purge_hash(h);
            return Ok(None);
        }
        let b = Bytes::from(buf);
        self.remember_in_memory(h, meta, b.clone());
        Ok(Some(DiskHitHandler::mem(b)))
    }

    fn lookup_sync(&self, h: &HashBinary) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Some(found) = self.find(h) else {
            return Ok(None);
        };
        let meta = match CacheMeta::deserialize(&found.meta.0, &found.meta.1) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("disk cache: dropping entry with unreadable meta: {e}");
                self.purge_hash(h);
                return Ok(None);
            }
        };
        // A memory miss is counted only for a body found on disk: one gone is a cache miss.
        let hit = match found.mem {
            Some(b) => {
                self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
                DiskHitHandler::mem(b)
            }
            None => match self.open_body(h, &meta, found.body_len)? {
                Some(hit) => {
                    self.stats.memory_misses.fetch_add(1, Ordering::Relaxed);
                    hit
                }
                None => return Ok(None),
            },
        };
        Ok(Some((meta, Box::new(hit))))
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
        Ok(Box::new(DiskMiss::start(self, key, meta)?))
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
        let bytes = meta_file::encode(&meta0, &meta1, &key_str, body_len);
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
    use std::sync::atomic::Ordering;

    use super::super::test_util::{body, get, leak, leak_with, put};

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
    async fn memory_tier_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let c = leak_with(d.path(), 1 << 30, 2500, 1000);
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
    async fn memory_hits_and_misses_are_counted() {
        let d = tempfile::tempdir().unwrap();
        let c = leak_with(d.path(), 1 << 30, 2500, 1000);
        let counts = || {
            (
                c.stats.memory_hits.load(Ordering::Relaxed),
                c.stats.memory_misses.load(Ordering::Relaxed),
            )
        };
        put(c, "/small", &body(900, 1)).await;
        put(c, "/large", &body(5000, 2)).await;
        assert!(c.fast_hit("/small").is_none());
        assert!(get(c, "/nothing").await.is_none());
        assert_eq!(counts(), (0, 0), "neither a fill nor a cache miss counts");
        assert!(get(c, "/small").await.is_some());
        assert_eq!(counts(), (0, 1), "first hit: read from disk into memory");
        assert!(get(c, "/small").await.is_some());
        assert!(c.fast_hit("/small").is_some());
        assert_eq!(counts(), (2, 1), "then from memory, through Pingora or not");
        assert!(get(c, "/large").await.is_some());
        assert_eq!(counts(), (2, 2), "too large for memory: read from disk");
    }
}
