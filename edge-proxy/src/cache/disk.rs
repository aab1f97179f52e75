//! A disk `Storage` for Pingora's cache state machine.
//!
//! Objects live in one file each (body, then meta) in a directory tree (see [`super::files`]). An in-memory
//! index ([`super::index`]) is rebuilt by scanning the directory after a start. Size limit = LRU
//! eviction inside the storage ([`super::evict`]). Small bodies are offered to the memory tier
//! ([`super::tier`], bounded by `memory_size`) on their first hit, to serve hot objects without
//! I/O, either through Pingora or, before it, by [`DiskCache::fast_hit`].
//!
//! This file holds the storage itself: opening, lookups and purges. Bytes are the
//! storage's; which headers an answer carries and how long an object is fresh are the proxy's
//! (see [`PrepareHit`]).

use std::cell::Cell;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
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
use super::index::Index;
use super::key;
use super::miss::DiskMiss;
use super::object_file::{self, ObjectMeta};
use super::purging::PurgesUnderWay;
use super::reads::Reads;
use super::tier::{FastEntry, MemEntry, MemoryTier, SerializedMeta, UFO_BYTES_PER_OBJECT};

/// The answer header of an object served by [`DiskCache::fast_hit`], built by the proxy once, when
/// the object is read from disk, and kept with its body in memory so that a hit does not build it
/// again. `None`: the object is not one the fast path serves.
pub trait PrepareHit: Send + Sync + std::fmt::Debug {
    fn prepare(&self, stored: &ResponseHeader, body_len: u64) -> Option<ResponseHeader>;
}

/// The block the file system of `dir` allocates files in (`st_blksize`: 4 KiB on ext4 and XFS),
/// within 512 B and 64 KiB.
fn fs_block(dir: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(fs::metadata(dir)?.blksize().clamp(512, 64 << 10))
}

/// Settings of a [`DiskCache`].
#[derive(Debug, Clone)]
pub struct DiskCacheOptions {
    pub dir: PathBuf,
    pub max_size: u64,
    pub memory_size: u64,
    pub memory_object_size: u64,
    /// Open and read the files of an object not in memory on the blocking pool (see
    /// [`DiskCache::lookup`]).
    pub aio_threads: bool,
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
    /// Lookups whose files the page cache could not answer, read on the blocking pool.
    pub lookups_on_pool: AtomicU64,
}

/// The header as a clone, which allocates exactly what it holds: a header built by adding
/// headers keeps the spare room its maps grew (3.8 KiB against 2.0 for a 10-header answer,
/// measured with `memory::thread_net`), for as long as the object stays in memory.
fn compact(header: ResponseHeader) -> ResponseHeader {
    header.clone()
}

/// What a prefix purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixPurge {
    /// Objects removed.
    pub removed: usize,
    /// The index was still being loaded: objects it finds later under the prefix are removed too.
    pub pending: bool,
}

/// The heap bytes of the cache, by part.
#[derive(Debug, Clone, Copy)]
pub struct HeapParts {
    /// Bodies of the memory tier.
    pub memory_bodies: u64,
    /// Serialized meta and ready hit headers of the memory tier.
    pub memory_meta_and_headers: u64,
    /// The index of every cached object (an estimate, see `Index::heap_bytes`).
    pub index: u64,
}

/// A fresh object for the fast path (from memory, or read from disk into it): its prepared answer
/// header, body, and when it was stored.
pub struct FastHit {
    pub header: Arc<ResponseHeader>,
    pub body: Bytes,
    pub created: SystemTime,
}

thread_local! {
    /// The object the fast path last found not all in the page cache on this thread: the lookup
    /// through the state machine that follows (on the same worker) goes to the blocking pool at
    /// once instead of trying the page cache again. A hint only: a missed or stale one costs a
    /// try, never an answer.
    static NEEDS_THE_DISK: Cell<Option<HashBinary>> = const { Cell::new(None) };
}

/// Records that the disk is needed for `h` when `r` says so, and turns `r` into an option.
fn noting_the_disk<T>(h: &HashBinary, r: std::result::Result<T, NotNow>) -> Option<T> {
    if matches!(r, Err(NotNow::WouldWait)) {
        NEEDS_THE_DISK.with(|c| c.set(Some(*h)));
    }
    r.ok()
}

/// The disk cache. Create one with [`DiskCache::open_unloaded`] and leak it (`&'static`) for Pingora.
pub struct DiskCache {
    pub(super) opts: DiskCacheOptions,
    pub(super) tmp: PathBuf,
    pub(super) index: RwLock<Index>,
    /// Read without the index lock; changed under it (see [`super::tier`]).
    pub(super) tier: Arc<MemoryTier>,
    pub(super) tmp_counter: AtomicU64,
    pub(super) fills: Fills,
    /// The index is being loaded from the files on disk ([`DiskCache::load_index`]).
    pub(super) loading: AtomicBool,
    loader_started: AtomicBool,
    /// Prefix purges whose walk over the files runs: lookups miss what they will remove.
    purging: PurgesUnderWay,
    /// Counts the purges begun: a body read before one is not put into memory after it.
    purge_epoch: AtomicU64,
    /// Held while the files of an object in the layout before are made one (`files`).
    pub(super) converting: Mutex<()>,
    pub stats: CacheStats,
}

/// A Pingora error of the disk cache.
pub(super) fn internal(context: &'static str, e: impl std::fmt::Display) -> Box<Error> {
    Error::explain(
        ErrorType::InternalError,
        format!("disk cache: {context}: {e}"),
    )
}

/// What a lookup needs of an index entry: its serialized meta, and its body.
struct Found {
    meta: SerializedMeta,
    body_len: u64,
    body: Body,
}

/// Where a found object's body is.
enum Body {
    /// In the memory tier.
    InMemory(Bytes),
    /// Read from its file with the meta, for the memory tier (a small object).
    Read(Bytes),
    /// In its file, open (a larger object, read by its hit handler).
    InFile(File),
}

/// Why [`DiskCache::lookup_sync`] gave no answer.
enum NotNow {
    /// Reading from the page cache only ([`Reads::Cached`]), the disk was needed.
    WouldWait,
    /// Not indexed, and reading from the page cache only: whether its files exist (written by
    /// another process) is for a read that may wait to find.
    Unindexed,
    Failed(Box<Error>),
}

impl From<Box<Error>> for NotNow {
    fn from(e: Box<Error>) -> Self {
        NotNow::Failed(e)
    }
}

impl NotNow {
    /// A file's error in `context`: the disk needed ([`io::ErrorKind::WouldBlock`]), or a failure.
    fn io(context: &'static str, e: io::Error) -> NotNow {
        if e.kind() == io::ErrorKind::WouldBlock {
            NotNow::WouldWait
        } else {
            NotNow::Failed(internal(context, e))
        }
    }
}

/// The answer of a lookup with `reads`, for one that could not be [`NotNow::WouldWait`].
fn answered<T>(r: std::result::Result<T, NotNow>) -> Result<T> {
    match r {
        Ok(t) => Ok(t),
        Err(NotNow::Failed(e)) => Err(e),
        Err(NotNow::WouldWait | NotNow::Unindexed) => {
            Err(internal("cache lookup", "a read that waits would not"))
        }
    }
}

/// A hit found by [`DiskCache::lookup_sync`], before the memory tier is offered the body it read
/// ([`DiskCache::offer_to_memory`], on the thread that awaits the lookup).
struct Looked {
    meta: CacheMeta,
    hit: DiskHitHandler,
    /// A small body read whole from its file on this first hit, with its serialized meta.
    read: Option<(SerializedMeta, Bytes)>,
    /// [`DiskCache::purge_epoch`] before the files were read.
    purge_epoch: u64,
}

impl DiskCache {
    /// Opens (creating it if needed) the cache directory, removes stale temp files and rebuilds the
    /// index from the files found before it returns (the storage's tests; the edge loads it in
    /// the background).
    #[cfg(test)]
    pub fn open(opts: DiskCacheOptions) -> io::Result<DiskCache> {
        let cache = DiskCache::open_unloaded(opts)?;
        cache.load_index()?;
        Ok(cache)
    }

    /// Opens the cache directory with an empty index, to be loaded by [`DiskCache::load_index`]
    /// while the cache serves (as nginx's cache loader): until then a lookup of an object not
    /// indexed yet reads its file, so hits are hits from the start.
    pub fn open_unloaded(opts: DiskCacheOptions) -> io::Result<DiskCache> {
        fs::create_dir_all(&opts.dir)?;
        let tmp = opts.dir.join("tmp");
        fs::create_dir_all(&tmp)?;
        let tier = Arc::new(MemoryTier::new(opts.memory_size, opts.memory_object_size));
        let block = fs_block(&opts.dir)?;
        let cache = DiskCache {
            tmp,
            opts,
            index: RwLock::new(Index::new(tier.clone(), block)),
            tier,
            tmp_counter: AtomicU64::new(0),
            fills: Fills::default(),
            loading: AtomicBool::new(true),
            loader_started: AtomicBool::new(false),
            purging: PurgesUnderWay::default(),
            purge_epoch: AtomicU64::new(0),
            converting: Mutex::new(()),
            stats: CacheStats::default(),
        };
        cache.clean_tmp();
        Ok(cache)
    }

    /// Indexes the objects on disk (see [`DiskCache::scan`]), then enforces `max_size`, which
    /// waits for it. Returns the number of objects indexed.
    pub fn load_index(&self) -> io::Result<usize> {
        let res = self.scan();
        {
            // Under the index lock: a prefix purge either sees the flag and is recorded for the
            // scan, or comes after it and finds every entry indexed.
            let mut idx = self.index.write();
            self.loading.store(false, Ordering::SeqCst);
            idx.purged_while_loading = Vec::new();
        }
        self.evict_if_needed();
        res
    }

    /// Loads the index, then hands what the load used back to the system.
    fn load_and_release(&self) -> io::Result<usize> {
        let res = self.load_index();
        crate::memory::release_free_memory();
        res
    }

    /// Loads the index on a thread of its own (see [`DiskCache::open_unloaded`]), logging when it
    /// is done; a second call does nothing.
    pub fn spawn_loader(&'static self) {
        if self.loader_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let started = std::time::Instant::now();
        let spawned = std::thread::Builder::new()
            .name("cache-loader".into())
            .spawn(move || match self.load_and_release() {
                Ok(n) => tracing::info!(
                    "cache {}: index loaded in {:.1}s: {n} object(s), {} object(s) and {} bytes in all",
                    self.opts.dir.display(),
                    started.elapsed().as_secs_f64(),
                    self.total_items(),
                    self.total_size()
                ),
                Err(e) => tracing::error!(
                    "cache {}: loading the index failed, objects not indexed are found when asked for: {e}",
                    self.opts.dir.display()
                ),
            });
        if let Err(e) = spawned {
            tracing::error!("cache: cannot start the index loader: {e}; loading it now");
            let _ = self.load_index();
        }
    }

    /// Whether the index is still being loaded from disk.
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::SeqCst)
    }

    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    /// Bytes on disk accounted by the index.
    pub fn total_size(&self) -> u64 {
        self.index.read().total
    }

    pub fn total_items(&self) -> usize {
        self.index.read().len()
    }

    /// Fills in progress (for /metrics).
    pub fn fills_in_progress(&self) -> usize {
        self.fills.in_progress()
    }

    /// What the memory tier holds, bounded by `memory_size`: bodies, their meta and hit headers.
    pub fn memory_bytes(&self) -> u64 {
        self.tier.charged()
    }

    /// Objects the memory tier holds.
    pub fn memory_objects(&self) -> u64 {
        self.tier.objects()
    }

    /// The heap bytes the cache holds, by part (for `/metrics`).
    pub fn heap_parts(&self) -> HeapParts {
        let bodies = self.tier.bodies();
        HeapParts {
            memory_bodies: bodies,
            memory_meta_and_headers: self.tier.charged().saturating_sub(bodies),
            index: self.index.read().heap_bytes() + self.tier.objects() * UFO_BYTES_PER_OBJECT,
        }
    }

    /// Puts a body read from disk into the memory tier, unless a purge began since
    /// `purge_epoch` was read (before the read): the object may have been purged and stored again
    /// since, and this body is the old one.
    fn remember_in_memory(
        &self,
        h: &HashBinary,
        serialized: SerializedMeta,
        meta: &CacheMeta,
        body: Bytes,
        purge_epoch: u64,
    ) {
        let (fast, header_bytes) = self.prepare_fast(meta, body.len() as u64);
        let mem = MemEntry::new(body, serialized, fast, header_bytes);
        self.put_in_memory(h, mem, purge_epoch);
    }

    /// [`Self::remember_in_memory`] of an entry built.
    fn put_in_memory(&self, h: &HashBinary, mem: MemEntry, purge_epoch: u64) {
        // Under the index lock: not after a purge or an eviction of the object (module doc of
        // tier); a purge that begins after this check removes the entry put here.
        let idx = self.index.read();
        if idx.contains(h) && self.purge_epoch.load(Ordering::SeqCst) == purge_epoch {
            self.tier.put(*h, mem);
        }
    }

    /// What [`DiskCache::fast_hit`] answers an object of the memory tier with: the proxy's
    /// header, ready to send but for what changes with each hit, and its freshness (`None`: not
    /// an object the fast path serves); and the header's heap bytes, measured as it is built, to
    /// charge them to `memory_size`.
    fn prepare_fast(&self, meta: &CacheMeta, body_len: u64) -> (Option<FastEntry>, u64) {
        let before = crate::memory::thread_net();
        let fast: Option<FastEntry> = self
            .opts
            .hit_headers
            .prepare(meta.response_header(), body_len)
            .map(|header| {
                (
                    Arc::new(compact(header)),
                    meta.fresh_until(),
                    meta.created(),
                )
            });
        let header_bytes = (crate::memory::thread_net() - before).max(0) as u64;
        (fast, header_bytes)
    }

    /// A fresh small object for `key`, answered before the cache state machine: from the memory
    /// tier (counts as an access), or read from disk on this thread when its files are in the page
    /// cache ([`Self::fast_hit_from_disk`]); with the header prepared for it.
    pub fn fast_hit(&self, key: &str) -> Option<FastHit> {
        let h = key::hash(key);
        let now = SystemTime::now();
        match self.tier.get(&h) {
            Some(mem) => self.fast_hit_in_memory(&h, key, &mem, now),
            None => self.fast_hit_from_disk(&h, key, now),
        }
    }

    /// The memory tier's `mem` for `key`, if fresh.
    fn fast_hit_in_memory(
        &self,
        h: &HashBinary,
        key: &str,
        mem: &MemEntry,
        now: SystemTime,
    ) -> Option<FastHit> {
        let (header, fresh_until, created) = mem.fast.as_ref()?;
        if now >= *fresh_until {
            return None;
        }
        if self.removed_by_a_purge(h, key, *created) {
            return None;
        }
        // Recent in the disk index (its LRU and `inactive`) at most once a second per object, so
        // that hot hits take no lock.
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if mem.touched.swap(secs, Ordering::Relaxed) != secs {
            self.index.write().touch(h);
        }
        self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
        Some(FastHit {
            header: header.clone(),
            body: mem.body.clone(),
            created: *created,
        })
    }

    /// [`Self::fast_hit`] from the memory tier only (what the tests ask when they mean "in
    /// memory").
    #[cfg(test)]
    pub(super) fn memory_hit(&self, key: &str) -> Option<FastHit> {
        let h = key::hash(key);
        let mem = self.tier.get(&h)?;
        self.fast_hit_in_memory(&h, key, &mem, SystemTime::now())
    }

    /// A fresh small object not in memory, whose files are in the page cache (or read as they
    /// are with `aio_threads = false`), offered to the memory tier and answered as a memory hit
    /// is, without the cache state machine's lookup, hit filters and hit handler: 2 % (uniform)
    /// to 11 % (Zipf-1) more hits (BENCHMARKS.md, "Hits from disk on the fast path"). Anything else
    /// (not indexed yet, not fresh, a fill in progress, files the disk is needed for, not a 200)
    /// is left to the state machine, which reads the file again (the body is read with the meta,
    /// in one read, before freshness and status are known).
    fn fast_hit_from_disk(&self, h: &HashBinary, key: &str, now: SystemTime) -> Option<FastHit> {
        let small = self.opts.memory_size > 0
            && self
                .index
                .read()
                .body_len(h)
                .is_some_and(|n| n <= self.opts.memory_object_size);
        if !small || self.fills.any(h) {
            return None;
        }
        let reads = if self.opts.aio_threads {
            Reads::Cached
        } else {
            Reads::Wait
        };
        let purge_epoch = self.purge_epoch.load(Ordering::SeqCst);
        let found = noting_the_disk(h, self.find(h, None, reads))??;
        let Body::Read(body) = found.body else {
            return None;
        };
        // an unreadable meta is the state machine's lookup's to drop
        let meta = CacheMeta::deserialize(&found.meta.0, &found.meta.1).ok()?;
        if !meta.is_fresh(now) {
            return None;
        }
        if self.removed_by_a_purge(h, key, meta.created()) {
            return None;
        }
        let (fast, header_bytes) = self.prepare_fast(&meta, found.body_len);
        let (header, _, created) = fast.clone()?;
        let mem = MemEntry::new(body.clone(), found.meta, fast, header_bytes);
        self.put_in_memory(h, mem, purge_epoch);
        self.stats.memory_misses.fetch_add(1, Ordering::Relaxed);
        Some(FastHit {
            header,
            body,
            created,
        })
    }

    /// Whether the object of `h` (key `key`, stored at `created`) is under a prefix purge under
    /// way that began after it was stored ([`PurgesUnderWay`]); if so it is removed now.
    fn removed_by_a_purge(&self, h: &HashBinary, key: &str, created: SystemTime) -> bool {
        let covered = self.purging.covers(key, created);
        if covered {
            self.purge_hash(h);
        }
        covered
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
        self.purge_epoch.fetch_add(1, Ordering::SeqCst);
        // The files may exist without an index entry (written by another process during an upgrade).
        let on_disk = self.try_unlink(h)?;
        let in_index = self.index.write().remove(h);
        let purged = in_index || on_disk;
        if purged {
            self.stats.purges.fetch_add(1, Ordering::Relaxed);
        }
        Ok(purged)
    }

    /// Purges every entry whose key starts with `prefix`. The index keeps no keys, so the keys
    /// are read from the object files, on the blocking pool, as `ngx_cache_purge` reads its files
    /// for a partial key: about as long as the scan after a start takes. Meanwhile lookups miss
    /// the objects under `prefix` stored before now ([`PurgesUnderWay`]). Returns the number
    /// removed, and whether more are removed as the index loader finds them; or the first error
    /// (entries before it are purged).
    pub async fn purge_prefix(&'static self, prefix: &str) -> io::Result<PrefixPurge> {
        let pending = self.record_purge_while_loading(prefix);
        let underway = self.purging.begin(prefix, SystemTime::now());
        let prefix = prefix.to_string();
        let removed = tokio::task::spawn_blocking(move || {
            let _underway = underway;
            self.purge_on_disk(&prefix)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(PrefixPurge { removed, pending })
    }

    /// Starts the purge of every entry under `prefix` on the blocking pool and returns at once:
    /// what a peer edge's prefix purge does, since its sender waits for an answer only `[peers]
    /// timeout` and sends it again when none comes, and reading a large cache's files takes
    /// longer. Lookups miss the objects under `prefix` from now on, as for [`Self::purge_prefix`].
    /// One walk per prefix at a time: `false` when one is running already (the purge then
    /// happens with it).
    pub fn purge_prefix_in_background(&'static self, prefix: &str) -> bool {
        let Some(underway) = self.purging.begin_in_background(prefix, SystemTime::now()) else {
            return false;
        };
        self.record_purge_while_loading(prefix);
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let _underway = underway;
            match self.purge_on_disk(&prefix) {
                Ok(n) => tracing::info!("purged {n} object(s) under {prefix} in the background"),
                Err(e) => tracing::error!("purge under {prefix} in the background: {e}"),
            }
        });
        true
    }

    /// Purges the entry of exactly `key` (the cache key string) and its query variants (the keys
    /// `key?…`, such as the edge's image variants or `?filename=` downloads), found through the
    /// index: what a PURGE or a DELETE of one file does. A key with a query has no variants.
    /// An error when files could not be removed (the entry then stays cached).
    pub fn purge_object(&self, key: &str) -> io::Result<PrefixPurge> {
        let h = key::hash(key);
        let mut removed = usize::from(self.try_purge_hash(&h)?);
        if !key.contains('?') {
            // Variants the loader finds later are removed too; the answer is about the key,
            // whose files were looked for on disk (a purge of one file during the load answers
            // 404 when it was not cached, not "maybe later").
            self.record_purge_while_loading(&format!("{key}?"));
            let variants = self.index.read().variants_of(&h);
            for v in &variants {
                removed += usize::from(self.try_purge_hash(v)?);
            }
        }
        Ok(PrefixPurge {
            removed,
            pending: false,
        })
    }

    /// While the index is being loaded, records `prefix` so that the loader drops what it finds
    /// under it later; whether it is loading.
    fn record_purge_while_loading(&self, prefix: &str) -> bool {
        // Under the index lock: the loader either sees the prefix or was done before it.
        let mut idx = self.index.write();
        let pending = self.is_loading();
        if pending {
            idx.purged_while_loading.push(prefix.to_string());
        }
        pending
    }

    /// Removes the objects on disk whose file's key starts with `prefix`, and their index
    /// entries.
    fn purge_on_disk(&self, prefix: &str) -> io::Result<usize> {
        let mut removed = 0;
        for (h, pair) in self.hashes_on_disk()? {
            if pair {
                // written by an older process since the load: its key is read once converted
                self.convert_pair(&h);
            }
            if self
                .read_meta(&h)
                .is_some_and(|m| m.key().starts_with(prefix))
            {
                removed += usize::from(self.try_purge_hash(&h)?);
            }
        }
        Ok(removed)
    }

    /// The index entry of `h`, made the most recently used, with its meta and body (from `mem`,
    /// the memory tier's entry the caller got, or from its file); or, when not indexed, one
    /// written by another process (graceful upgrade) after our scan, indexed now (by a lookup
    /// that may wait: one from the page cache only leaves it to one).
    fn find(
        &self,
        h: &HashBinary,
        mem: Option<Arc<MemEntry>>,
        reads: Reads,
    ) -> std::result::Result<Option<Found>, NotNow> {
        let indexed = self.index.write().touch(h);
        if indexed {
            if let Some(m) = mem {
                return Ok(Some(Found {
                    meta: m.meta.clone(),
                    body_len: m.body.len() as u64,
                    body: Body::InMemory(m.body.clone()),
                }));
            }
        } else {
            if reads == Reads::Cached {
                return Err(NotNow::Unindexed);
            }
            let Some((e, _)) = self.load_entry(h) else {
                return Ok(None);
            };
            self.index.write().insert(*h, e);
            self.evict_if_needed();
        }
        self.read_object(h, reads)
    }

    /// Reads the file of the indexed object `h`: its meta, and a small body with it in one read
    /// (for the memory tier), or opened for its hit handler. A file gone or damaged is a miss,
    /// and not indexed any more.
    fn read_object(
        &self,
        h: &HashBinary,
        reads: Reads,
    ) -> std::result::Result<Option<Found>, NotNow> {
        self.read_object_with(h, reads, true)
    }

    /// [`Self::read_object`], converting a pair of the layout before found in place of an
    /// object file if `convert`.
    fn read_object_with(
        &self,
        h: &HashBinary,
        reads: Reads,
        convert: bool,
    ) -> std::result::Result<Option<Found>, NotNow> {
        let Some((_, meta_len)) = self.index.read().lens(h) else {
            return Ok(None); // evicted or purged since
        };
        // read whole when small enough for the memory tier, by the file's own length
        let body_up_to = (self.opts.memory_size > 0).then_some(self.opts.memory_object_size);
        let read = match self.read_object_file(h, reads, Some(meta_len), body_up_to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.index.write().remove(h);
                return Ok(None);
            }
            read => read.map_err(|e| NotNow::io("read", e))?,
        };
        let Some((f, _, object)) = read else {
            if reads == Reads::Cached {
                // told apart from a read cut short by a read that may wait, which removes it
                return Err(NotNow::WouldWait);
            }
            // a pair of the layout before, written since the scan by an older process still
            // serving during a graceful upgrade, is converted and read as any object; read once
            // more in any case: another thread may have just converted it
            if convert {
                self.convert_pair(h);
                return self.read_object_with(h, reads, false);
            }
            self.purge_hash(h);
            return Ok(None);
        };
        let m: &ObjectMeta = &object.meta;
        Ok(Some(Found {
            meta: (m.meta0().into(), m.meta1().into()),
            body_len: m.body_len,
            body: match object.body {
                Some(b) => Body::Read(b),
                None => Body::InFile(f),
            },
        }))
    }

    /// Writes into `tmp` the object file of `h` with a new meta, for [`Storage::update_meta`] to
    /// rename into place: a file in place is never changed, so that its readers read it whole. The
    /// body is copied in the kernel (`copy_file_range`). The new meta part's length, or `None` when
    /// there is no such object (gone, damaged, another's).
    fn write_with_meta(
        &self,
        h: &HashBinary,
        (meta0, meta1): (&[u8], &[u8]),
        key: &str,
        tmp: &Path,
    ) -> io::Result<Option<u64>> {
        let read = match self.read_object_file(h, Reads::Wait, None, None) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            read => read?,
        };
        let Some((src, _, old)) = read else {
            return Ok(None);
        };
        let body_len = old.meta.body_len;
        let mut out = File::create(tmp)?;
        if io::copy(&mut io::Read::take(src, body_len), &mut out)? != body_len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "object file shorter than its body",
            ));
        }
        let part = object_file::meta_part(meta0, meta1, key, body_len);
        out.write_all(&part)?;
        Ok(Some(part.len() as u64))
    }

    /// A lookup of `h`, whose memory tier entry (if any) the caller got: one `get` per lookup,
    /// since each counts as a use for the tier's eviction.
    fn lookup_sync(
        &self,
        h: &HashBinary,
        mem: Option<Arc<MemEntry>>,
        reads: Reads,
    ) -> std::result::Result<Option<Looked>, NotNow> {
        let purge_epoch = self.purge_epoch.load(Ordering::SeqCst);
        let Some(found) = self.find(h, mem, reads)? else {
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
        let counter = match found.body {
            Body::InMemory(_) => &self.stats.memory_hits,
            Body::Read(_) | Body::InFile(_) => &self.stats.memory_misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (hit, read) = match found.body {
            Body::InMemory(b) => (DiskHitHandler::mem(b), None),
            Body::Read(b) => (DiskHitHandler::mem(b.clone()), Some((found.meta, b))),
            Body::InFile(f) => (DiskHitHandler::file(f, found.body_len), None),
        };
        Ok(Some(Looked {
            meta,
            hit,
            read,
            purge_epoch,
        }))
    }

    /// Offers the memory tier the body a lookup read, and hands the hit to Pingora. Called on the
    /// thread that awaits the lookup (a worker), not on the blocking pool's thread that read the
    /// body: what the tier evicts is freed only once the thread that evicted it has retired a
    /// batch of such entries (its map's memory reclamation, `seize`), and each of the pool's
    /// threads held a batch of evicted bodies, outside `memory_size`: 9 MiB more RSS after two
    /// passes over 100,000 objects (BENCHMARKS.md, "The memory tier's evictions").
    ///
    /// A stored object under a prefix being purged, stored before the purge began, is a miss
    /// instead, and removed ([`PurgesUnderWay`]): checked here, for stored objects only, not for
    /// the fills in progress a lookup joins (removing the object of `h` for one of those would
    /// remove what a newer fill stored, and each request would start a fill of its own).
    fn offer_to_memory(
        &self,
        h: &HashBinary,
        key: Option<&str>,
        looked: Looked,
    ) -> Option<(CacheMeta, HitHandler)> {
        if key.is_some_and(|k| self.removed_by_a_purge(h, k, looked.meta.created())) {
            return None;
        }
        if let Some((serialized, body)) = looked.read {
            self.remember_in_memory(h, serialized, &looked.meta, body, looked.purge_epoch);
        }
        Some((looked.meta, Box::new(looked.hit)))
    }

    /// [`Self::lookup_sync`] with reads that may wait, on this thread, and the hit offered.
    fn lookup_here(
        &self,
        h: &HashBinary,
        mem: Option<Arc<MemEntry>>,
        key: Option<&str>,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let looked = answered(self.lookup_sync(h, mem, Reads::Wait))?;
        Ok(looked.and_then(|l| self.offer_to_memory(h, key, l)))
    }

    /// A lookup of the object of hash `h` (whose key is `key`, for [`PurgesUnderWay`]): a fill in
    /// progress, the memory tier, or the disk.
    async fn lookup_hash(
        &'static self,
        h: HashBinary,
        key: Option<&str>,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        // A fill in progress first: it is newer than an expired entry being refreshed.
        if let Some(reader) = self.fills.read_any(&h) {
            return reader.map(Some);
        }
        let mem = self.tier.get(&h);
        if !self.opts.aio_threads || mem.is_some() {
            // in memory, or reads on the worker configured
            return self.lookup_here(&h, mem, key);
        }
        // Opening and reading the meta and body files waits for the disk when they are not in
        // the page cache (a cache larger than the RAM). First from the page cache only, on this
        // worker ([`super::reads`]); what the disk is needed for, on a thread of the blocking
        // pool, not on this worker, which goes on serving its other connections meanwhile. The
        // body of an object over memory_object_size is then read in chunks on the worker, as
        // nginx without aio reads it (the kernel's readahead keeps ahead of a sequential read).
        let tried = NEEDS_THE_DISK.with(|c| c.take()) == Some(h);
        let here = if tried {
            Err(NotNow::WouldWait) // by the fast path, just now
        } else {
            self.lookup_sync(&h, None, Reads::Cached)
        };
        match here {
            Ok(looked) => return Ok(looked.and_then(|l| self.offer_to_memory(&h, key, l))),
            Err(NotNow::Failed(e)) => return Err(e),
            Err(NotNow::WouldWait) => {
                self.stats.lookups_on_pool.fetch_add(1, Ordering::Relaxed);
            }
            Err(NotNow::Unindexed) => {}
        }
        let found =
            tokio::task::spawn_blocking(move || answered(self.lookup_sync(&h, None, Reads::Wait)))
                .await
                .map_err(|e| internal("cache lookup", e))??;
        if let Some(looked) = found {
            return Ok(self.offer_to_memory(&h, key, looked));
        }
        // A miss found on the thread can be stale once this worker resumes: another request's
        // fill may have started meanwhile (to be joined, not fetched again) or ended (its object
        // indexed now). Without this, concurrent misses of one object each fetched it (ha.rs:
        // the backup fetches once).
        if let Some(reader) = self.fills.read_any(&h) {
            return reader.map(Some);
        }
        if self.index.read().contains(&h) {
            return self.lookup_here(&h, self.tier.get(&h), key);
        }
        Ok(None)
    }
}

#[async_trait]
impl Storage for DiskCache {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        self.lookup_hash(key.combined_bin(), key.primary_key_str())
            .await
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
        // before anything is read: a purge that begins after this is seen below
        let purge_epoch = self.purge_epoch.load(Ordering::SeqCst);
        let (meta0, meta1) = meta.serialize()?;
        if !self.index.read().contains(&h) {
            return Ok(false);
        }
        let Some(key_str) = key.primary_key_str() else {
            return Ok(false); // not one of ours: every key the edge makes is a string
        };
        let key_str = key_str.to_owned();
        let tmp = self.new_tmp();
        // on the blocking pool: the body is copied, and a 304 may be of a large object
        let (written, meta0, meta1, tmp) = tokio::task::spawn_blocking(move || {
            let written = self.write_with_meta(&h, (&meta0, &meta1), &key_str, &tmp);
            (written, meta0, meta1, tmp)
        })
        .await
        .map_err(|e| internal("update meta", e))?;
        let meta_len = match written {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(false),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(internal("update meta", e));
            }
        };
        // Into place under the index lock, and only if the object was neither purged nor evicted
        // meanwhile: the rename would bring its file back (a purge after this removes it).
        let mut idx = self.index.write();
        let still_there =
            idx.contains(&h) && self.purge_epoch.load(Ordering::SeqCst) == purge_epoch;
        let renamed = still_there.then(|| fs::rename(&tmp, self.object_path(&h)));
        if !matches!(renamed, Some(Ok(()))) {
            drop(idx);
            let _ = fs::remove_file(&tmp);
            return match renamed {
                Some(Err(e)) => Err(internal("update meta", e)),
                _ => Ok(false),
            };
        }
        idx.set_meta_len(&h, meta_len);
        let serialized: SerializedMeta = (meta0.into(), meta1.into());
        if let Some(old) = self.tier.get(&h) {
            let (fast, header_bytes) = self.prepare_fast(meta, old.body.len() as u64);
            let mem = MemEntry::new(old.body.clone(), serialized, fast, header_bytes);
            self.tier.put(h, mem);
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

    use bytes::Bytes;
    use pingora::cache::Storage;

    use super::super::key;
    use super::super::object_file::{self, tests::pair_meta};
    use super::super::reads::Reads;
    use std::time::{Duration, SystemTime};

    use pingora::cache::CacheMeta;

    use super::super::test_util::{
        body, get, header, leak, leak_reading_on_worker, leak_unloaded, leak_with, meta, put,
        put_with, sp,
    };

    #[tokio::test]
    async fn hits_read_on_the_worker_or_in_threads_are_the_same() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let (big, small) = (body(200_000, 4), body(100, 5));
        put(c, "/group1/M00/big", &big).await;
        put(c, "/group1/M00/small", &small).await;
        for c in [
            leak(d.path(), 1 << 30),
            leak_reading_on_worker(d.path(), 1 << 30),
        ] {
            assert!(c.memory_hit("/group1/M00/small").is_none(), "on disk only");
            assert_eq!(get(c, "/group1/M00/big").await.unwrap(), big);
            assert_eq!(get(c, "/group1/M00/small").await.unwrap(), small);
            assert!(c.memory_hit("/group1/M00/small").is_some(), "into memory");
            assert!(get(c, "/group1/M00/none").await.is_none());
        }
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
        assert!(c2.memory_hit("/group1/M00/b").is_none());
        assert_eq!(get(c2, "/group1/M00/b").await.unwrap(), small);
        assert!(
            c2.memory_hit("/group1/M00/b").is_some(),
            "loaded into memory on a hit"
        );
        assert!(c2.memory_hit("/group1/M00/a?x=1").is_none());

        assert_eq!(c2.purge_object("/group1/M00/b").expect("purge").removed, 1);
        assert_eq!(c2.purge_object("/group1/M00/b").expect("purge").removed, 0);
        assert!(get(c2, "/group1/M00/b").await.is_none());
        assert_eq!(c2.total_items(), 1);
    }

    #[tokio::test]
    async fn a_hit_on_disk_reads_its_file_and_a_damaged_one_is_a_miss() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let big = body(200_000, 3);
        for k in [
            "/group1/M00/big",
            "/group1/M00/gone",
            "/group1/M00/cut",
            "/g/small-cut",
        ] {
            put(
                c,
                k,
                &big[..if k.contains("small") { 100 } else { big.len() }],
            )
            .await;
        }
        assert_eq!(get(c, "/group1/M00/big").await.unwrap(), big);
        assert_eq!(c.heap_parts().memory_bodies, 0, "too large for memory");
        // The index keeps no meta for an object on disk only: with its file gone or its meta
        // part cut off, the object is a miss and leaves the index.
        std::fs::remove_file(c.object_path(&key::hash("/group1/M00/gone"))).unwrap();
        for k in ["/group1/M00/cut", "/g/small-cut"] {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(c.object_path(&key::hash(k)))
                .unwrap();
            let len = f.metadata().unwrap().len();
            f.set_len(len - 1).unwrap();
        }
        for k in ["/group1/M00/gone", "/group1/M00/cut", "/g/small-cut"] {
            assert!(get(c, k).await.is_none(), "{k}");
            assert!(!c.object_path(&key::hash(k)).exists(), "{k}: removed");
        }
        assert_eq!(c.total_items(), 1);
        assert_eq!(get(c, "/group1/M00/big").await.unwrap(), big);
    }

    #[tokio::test]
    async fn a_new_meta_rewrites_the_file_and_keeps_the_body() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let b = body(5000, 6);
        put(c, "/g/revalidated", &b).await;
        let k = key::cache_key("/g/revalidated");
        let before = c.total_size();
        let (old, _) = c.lookup(&k, &sp()).await.unwrap().unwrap();
        let mut header = old.response_header().clone();
        // letters that zstd cannot make much shorter
        let mut x = 1u32;
        let long: String = (0..10_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from(b'a' + (x >> 16) as u8 % 26)
            })
            .collect();
        header.insert_header("x-long", &long).unwrap();
        let now = SystemTime::now();
        let newer = CacheMeta::new(now + Duration::from_secs(600), now, 0, 0, header);
        assert!(c.update_meta(&k, &newer, &sp()).await.unwrap());
        assert!(c.total_size() > before, "the longer meta counted");
        let h = key::hash("/g/revalidated");
        let (_, meta_len) = c.index.read().lens(&h).unwrap();
        let file_len = std::fs::metadata(c.object_path(&h)).unwrap().len();
        assert_eq!(file_len, 5000 + meta_len);
        for c in [c, leak(d.path(), 1 << 30)] {
            let (meta, mut hit) = c.lookup(&k, &sp()).await.unwrap().unwrap();
            assert_eq!(meta.headers().get("x-long").unwrap().len(), 10_000);
            assert_eq!(hit.read_body().await.unwrap().unwrap(), b);
        }
        assert!(!c
            .update_meta(&key::cache_key("/g/none"), &newer, &sp())
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn the_index_loads_while_the_cache_serves() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let big = body(5000, 4);
        for k in ["/g/old", "/g/asked", "/g/purged/x"] {
            put(c, k, &big).await;
        }
        let c2 = leak_unloaded(d.path(), 1 << 30);
        assert!(c2.is_loading());
        assert_eq!(c2.total_items(), 0);
        // Served before the index is loaded: found through its file, indexed now.
        assert_eq!(get(c2, "/g/asked").await.unwrap(), big);
        assert_eq!(c2.total_items(), 1);
        // An object the loader read before a prefix purge (its files are still there)...
        let h = key::hash("/g/purged/x");
        let (read_before, _) = c2.load_entry(&h).expect("on disk");
        // ...and the purge while loading: it reads the keys on disk, and says the loader will
        // remove what it finds later.
        let during = c2.purge_prefix("/g/purged/").await.expect("purge");
        assert_eq!((during.removed, during.pending), (1, true));
        assert_eq!(c2.total_items(), 1, "the purged object was not indexed");
        put(c2, "/g/purged/x", &big).await; // stored again meanwhile: its files are back
        c2.index.write().remove(&h); // as if only the loader knew of it
        let (indexed, purged) = c2.index_batch(vec![(h, read_before)]);
        assert_eq!((indexed, purged), (0, vec![h]), "the loader drops it");
        c2.unlink(&h);

        assert_eq!(
            c2.load_index().expect("loads"),
            1,
            "only /g/old was left to index"
        );
        assert!(!c2.is_loading());
        assert_eq!(c2.total_items(), 2);
        assert!(get(c2, "/g/purged/x").await.is_none());
        let path = c2.object_path(&key::hash("/g/purged/x"));
        assert!(!path.exists(), "file removed");
        // The object asked for during the load is newer than the one loaded.
        let order = c2.index.read().hashes_oldest_first();
        assert_eq!(order, [key::hash("/g/old"), key::hash("/g/asked")]);
    }

    #[tokio::test]
    async fn prefix_purge() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        for k in ["/g1/M00/aa", "/g1/M00/ab", "/g1/M00/b", "/g2/M00/aa"] {
            put(c, k, b"xyz").await;
        }
        assert_eq!(c.purge_prefix("/g1/M00/a").await.expect("purge").removed, 2);
        assert!(get(c, "/g1/M00/b").await.is_some());
        assert!(get(c, "/g1/M00/aa").await.is_none());
        let all = c.purge_prefix("/").await.expect("purge");
        assert_eq!((all.removed, all.pending), (2, false));
        assert_eq!(c.total_items(), 0);
    }

    /// Drops the pages of `key`'s files from the page cache (clean first, or they stay).
    fn drop_pages(c: &super::DiskCache, key: &str) {
        let f = std::fs::File::open(c.object_path(&key::hash(key))).unwrap();
        f.sync_all().unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    }

    #[test]
    fn the_files_of_an_object_keep_their_place() {
        // nginx's levels=1:2, as caches written by earlier versions have them
        let d = tempfile::tempdir().unwrap();
        let h = key::hash("/group1/M00/00/00/a.jpg");
        let x = hex::encode(h);
        let dir = d.path().join(&x[31..]).join(&x[29..31]);
        let slash = format!("{}/", d.path().display());
        for c in [leak(d.path(), 1 << 30), leak(slash.as_ref(), 1 << 30)] {
            // compared as strings: paths compare equal whatever slashes repeat
            assert_eq!(c.object_path(&h).as_os_str(), dir.join(&x).as_os_str());
        }
    }

    /// Turns the file of `key` into the pair of files of the layout before: the body, and the
    /// meta in `<hex>.meta`.
    fn as_a_pair(c: &super::DiskCache, key: &str) {
        let h = key::hash(key);
        let path = c.object_path(&h);
        let m = c.read_meta(&h).expect("stored");
        let pair_meta = pair_meta(m.meta0(), m.meta1(), m.key(), m.body_len);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(m.body_len).unwrap();
        std::fs::write(path.with_extension("meta"), pair_meta).unwrap();
    }

    #[tokio::test]
    async fn a_cache_of_the_layout_before_is_kept_in_one_file_per_object() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let (small, big) = (body(100, 1), body(300_000, 2));
        let keys = ["/g/loaded", "/g/asked", "/g/big"];
        for k in keys {
            put(c, k, if k == "/g/big" { &big } else { &small }).await;
            as_a_pair(c, k);
        }
        let size = c.total_size();
        // asked for before the loader reaches it: converted by the lookup
        let c2 = leak_unloaded(d.path(), 1 << 30);
        assert_eq!(get(c2, "/g/asked").await.unwrap(), small);
        c2.load_index().unwrap();
        assert_eq!(c2.total_items(), 3);
        assert_eq!(c2.total_size(), size);
        for k in keys {
            let path = c2.object_path(&key::hash(k));
            assert!(!path.with_extension("meta").exists(), "{k}: .meta removed");
            let want = if k == "/g/big" { &big } else { &small };
            assert_eq!(get(c2, k).await.as_ref(), Some(want), "{k}");
        }
        // a pair written since by an older process (a graceful upgrade) is converted when read
        as_a_pair(c2, "/g/big");
        assert_eq!(get(c2, "/g/big").await.unwrap(), big);
        assert!(!c2
            .object_path(&key::hash("/g/big"))
            .with_extension("meta")
            .exists());
        // a .meta without its body is removed at the next start
        let h = key::hash("/g/loaded");
        std::fs::write(c2.object_path(&h).with_extension("meta"), b"FDEDGE01").unwrap();
        std::fs::remove_file(c2.object_path(&h)).unwrap();
        let c3 = leak(d.path(), 1 << 30);
        assert_eq!(c3.total_items(), 2);
        assert!(!c3.object_path(&h).with_extension("meta").exists());
    }

    #[tokio::test]
    async fn a_stale_meta_beside_another_body_is_not_used() {
        // an older process renames a refilled body into place before its new .meta: the .meta
        // there is for the body before, longer or shorter
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        for (k, newer) in [("/g/longer", body(5010, 9)), ("/g/shorter", body(3000, 8))] {
            put(c, k, &body(5000, 1)).await;
            as_a_pair(c, k);
            std::fs::write(c.object_path(&key::hash(k)), &newer).unwrap();
        }
        let c2 = leak(d.path(), 1 << 30);
        for k in ["/g/longer", "/g/shorter"] {
            assert!(get(c2, k).await.is_none(), "{k}: a miss, not a cut body");
            assert!(!c2.object_path(&key::hash(k)).exists(), "{k}");
        }
    }

    #[tokio::test]
    async fn a_body_of_the_layout_before_is_never_read_as_an_object_file() {
        // a body from the storage that ends like a meta part, with the object's own key
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let now = SystemTime::now();
        let mut forged = header(200);
        forged.insert_header("x-forged", "1").unwrap();
        let (m0, m1) = CacheMeta::new(now + Duration::from_secs(3600), now, 0, 0, forged)
            .serialize()
            .unwrap();
        let mut crafted = b"FORGED".to_vec();
        crafted.extend(object_file::meta_part(&m0, &m1, "/g/crafted", 6));
        put(c, "/g/crafted", &crafted).await;
        as_a_pair(c, "/g/crafted");
        let c2 = leak_unloaded(d.path(), 1 << 30);
        let k = key::cache_key("/g/crafted");
        let (m, mut hit) = c2.lookup(&k, &sp()).await.unwrap().unwrap();
        assert!(m.headers().get("x-forged").is_none());
        let mut got = Vec::new();
        while let Some(b) = hit.read_body().await.unwrap() {
            got.extend_from_slice(&b);
        }
        assert_eq!(got, crafted, "the whole body, as the storage sent it");
    }

    #[tokio::test]
    async fn a_converted_object_keeps_its_last_access() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        put(c, "/g/old", &body(100, 1)).await;
        as_a_pair(c, "/g/old");
        let h = key::hash("/g/old");
        let month_ago = SystemTime::now() - Duration::from_secs(30 * 86_400);
        for p in [c.object_path(&h), c.object_path(&h).with_extension("meta")] {
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(month_ago).unwrap();
        }
        let c2 = leak(d.path(), 1 << 30);
        assert_eq!(c2.sweep_inactive(Duration::from_secs(86_400)), 1);
    }

    #[test]
    fn a_new_meta_does_not_bring_back_an_object_purged_meanwhile() {
        let d = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let c = leak(d.path(), 1 << 32);
        rt.block_on(put(c, "/g/big", &body(64 << 20, 3)));
        let k = key::cache_key("/g/big");
        // the purge during the copy of the body, or before or after it: never served after it
        let update = rt.spawn(async move { c.update_meta(&k, &meta(), &sp()).await });
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(c.purge_object("/g/big").unwrap().removed, 1);
        let _ = rt.block_on(update).unwrap();
        assert!(rt.block_on(get(c, "/g/big")).is_none());
        assert!(!c.object_path(&key::hash("/g/big")).exists());
        assert_eq!(c.total_size(), 0);
    }

    #[tokio::test]
    async fn a_small_fresh_object_on_disk_is_a_fast_hit_and_enters_memory() {
        let d = tempfile::tempdir().unwrap();
        put(leak(d.path(), 1 << 30), "/g/small", &body(100, 1)).await;
        // a start on the same directory: on disk only; files read on the worker either way
        for c in [
            leak(d.path(), 1 << 30),
            leak_reading_on_worker(d.path(), 1 << 30),
        ] {
            assert!(c.memory_hit("/g/small").is_none(), "on disk only");
            let hit = c.fast_hit("/g/small").expect("read from disk");
            assert_eq!(hit.body, body(100, 1));
            assert_eq!(hit.header.status.as_u16(), 200);
            assert_eq!(c.stats.memory_misses.load(Ordering::Relaxed), 1);
            assert!(c.memory_hit("/g/small").is_some(), "and into memory");
        }
    }

    #[tokio::test]
    async fn the_fast_path_leaves_the_rest_to_the_state_machine() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30); // objects up to 1 KiB go into memory
        let now = SystemTime::now();
        let stale = CacheMeta::new(now, now - Duration::from_secs(60), 0, 0, header(200));
        let not_found = CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header(404));
        put(c, "/g/large", &body(5000, 1)).await;
        put_with(c, "/g/stale", b"old", &stale).await;
        put_with(c, "/g/404", b"none", &not_found).await;
        put(c, "/g/filling", b"old").await;
        put(c, "/g/on-disk", b"cold").await;
        let k = key::cache_key("/g/filling");
        let _refresh = c.get_miss_handler(&k, &meta(), &sp()).await.unwrap();
        drop_pages(c, "/g/on-disk");
        for k in ["/g/large", "/g/stale", "/g/404", "/g/filling", "/g/on-disk"] {
            assert!(c.fast_hit(k).is_none(), "{k}");
        }
        assert_eq!(
            c.memory_objects(),
            0,
            "nor read into memory for the state machine"
        );
        assert_eq!(c.stats.lookups_on_pool.load(Ordering::Relaxed), 0);
        assert_eq!(get(c, "/g/on-disk").await.as_deref(), Some(&b"cold"[..]));
        assert_eq!(
            c.stats.lookups_on_pool.load(Ordering::Relaxed),
            1,
            "the disk is waited for on the pool, not on the fast path"
        );
        assert_eq!(get(c, "/g/large").await.unwrap(), body(5000, 1));
        assert_eq!(c.total_items(), 5, "nothing dropped");
        let unloaded = leak_unloaded(d.path(), 1 << 30);
        assert!(unloaded.fast_hit("/g/on-disk").is_none(), "not indexed yet");
    }

    #[tokio::test]
    async fn a_hit_is_read_on_the_worker_from_the_page_cache_and_on_the_pool_from_the_disk() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30); // aio_threads, objects over 1 KiB not kept in memory
        put(c, "/g/a", &body(5000, 1)).await;
        let on_pool = || c.stats.lookups_on_pool.load(Ordering::Relaxed);
        assert_eq!(get(c, "/g/a").await.unwrap(), body(5000, 1));
        assert_eq!(on_pool(), 0, "just written: in the page cache");
        drop_pages(c, "/g/a");
        assert_eq!(get(c, "/g/a").await.unwrap(), body(5000, 1));
        assert_eq!(on_pool(), 1, "read from the disk, on the pool");
        assert_eq!(get(c, "/g/a").await.unwrap(), body(5000, 1));
        assert_eq!(on_pool(), 1, "in the page cache again");
        assert!(get(c, "/g/missing").await.is_none());
        assert_eq!(on_pool(), 1, "a miss is not counted");
    }

    #[tokio::test]
    async fn objects_under_a_prefix_being_purged_are_missed_before_the_walk_reaches_them() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        for k in ["/g/a/1", "/g/a/2", "/g/b/1"] {
            put(c, k, b"xyz").await;
        }
        assert!(get(c, "/g/a/1").await.is_some());
        assert!(c.memory_hit("/g/a/1").is_some(), "in memory");
        let walk = c.purging.begin("/g/a/", std::time::SystemTime::now());
        assert!(c.memory_hit("/g/a/1").is_none(), "from memory");
        assert!(get(c, "/g/a/1").await.is_none(), "from disk");
        assert!(
            c.fast_hit("/g/a/2").is_none(),
            "from disk, on the fast path"
        );
        assert!(get(c, "/g/a/2").await.is_none());
        assert!(get(c, "/g/b/1").await.is_some(), "another prefix");
        assert_eq!(c.total_items(), 1, "removed when missed");
        put(c, "/g/a/2", b"new").await;
        assert_eq!(
            get(c, "/g/a/2").await.as_deref(),
            Some(&b"new"[..]),
            "stored since"
        );
        drop(walk);
        assert_eq!(c.total_items(), 2);
    }

    #[tokio::test]
    async fn a_body_read_before_a_purge_is_not_put_into_memory_after_it() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30); // objects up to 1 KiB go into memory on their first hit
        put(c, "/g/a", b"old").await;
        let h = key::hash("/g/a");
        let read = c
            .lookup_sync(&h, None, Reads::Wait)
            .ok()
            .flatten()
            .expect("hit");
        // purged and stored again while the read was on its way to the worker
        assert_eq!(c.purge_object("/g/a").unwrap().removed, 1);
        put(c, "/g/a", b"new").await;
        assert!(
            c.offer_to_memory(&h, Some("/g/a"), read).is_some(),
            "served"
        );
        assert!(
            c.memory_hit("/g/a").is_none(),
            "the old body kept out of memory"
        );
        assert_eq!(get(c, "/g/a").await.as_deref(), Some(&b"new"[..]));
        assert_eq!(
            c.memory_hit("/g/a").map(|f| f.body),
            Some(Bytes::from_static(b"new"))
        );
    }

    #[tokio::test]
    async fn a_fill_in_progress_when_a_prefix_purge_begins_is_joined_not_purged() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let k = key::cache_key("/g/a/1");
        let mut m = c.get_miss_handler(&k, &meta(), &sp()).await.unwrap();
        m.write_body(Bytes::from_static(b"abc"), false)
            .await
            .unwrap();
        let walk = c.purging.begin("/g/a/", std::time::SystemTime::now());
        let (_, mut joined) = c.lookup(&k, &sp()).await.unwrap().expect("the fill");
        assert_eq!(joined.read_body().await.unwrap().unwrap(), &b"abc"[..]);
        m.write_body(Bytes::from_static(b"def"), true)
            .await
            .unwrap();
        m.finish().await.unwrap();
        assert_eq!(c.fills_in_progress(), 0);
        assert!(
            get(c, "/g/a/1").await.is_none(),
            "stored before the purge: covered"
        );
        drop(walk);
    }

    #[tokio::test]
    async fn an_object_is_purged_with_its_query_variants_only() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let keys = [
            "/g/a.jpg",
            "/g/a.jpg?w=1",
            "/g/a.jpg?filename=x",
            "/g/a.jpg2",
            "/g/b.jpg?w=1",
        ];
        for k in keys {
            put(c, k, b"xyz").await;
        }
        let p = c.purge_object("/g/a.jpg").expect("purge");
        assert_eq!((p.removed, p.pending), (3, false));
        for (k, kept) in keys.iter().zip([false, false, false, true, true]) {
            assert_eq!(get(c, k).await.is_some(), kept, "{k}");
            assert_eq!(c.object_path(&key::hash(k)).exists(), kept, "{k}");
        }
        // a key with a query is purged alone
        put(c, "/g/b.jpg", b"xyz").await;
        assert_eq!(c.purge_object("/g/b.jpg?w=1").expect("purge").removed, 1);
        assert!(get(c, "/g/b.jpg").await.is_some());
        assert_eq!(c.purge_object("/g/none").expect("purge").removed, 0);
    }

    #[tokio::test]
    async fn memory_tier_is_bounded() {
        // What one 900-byte object costs in memory: its body, meta and header.
        let probe_dir = tempfile::tempdir().unwrap();
        let probe = leak_with(probe_dir.path(), 1 << 30, 1 << 20, 1000);
        put(probe, "/m0", &body(900, 0)).await;
        assert!(get(probe, "/m0").await.is_some());
        let one = probe.memory_bytes();
        assert!(one > 900, "the meta and header are charged too: {one}");
        assert_eq!(probe.heap_parts().memory_bodies, 900);

        // Room for two and a half.
        let limit = 2 * one + one / 2;
        let d = tempfile::tempdir().unwrap();
        let c = leak_with(d.path(), 1 << 30, limit, 1000);
        for i in 0..10 {
            put(c, &format!("/m{i}"), &body(900, i as u8)).await;
            assert_eq!(c.memory_bytes(), 0, "a fill does not enter memory");
        }
        for i in 0..10 {
            assert_eq!(get(c, &format!("/m{i}")).await.unwrap(), body(900, i as u8));
            assert!(c.memory_bytes() <= limit);
        }
        let held = (0..10)
            .filter(|i| c.memory_hit(&format!("/m{i}")).is_some())
            .count();
        assert!((1..=2).contains(&held), "{held} objects in memory");
        put(c, "/large", &body(5000, 1)).await;
        assert!(get(c, "/large").await.is_some());
        assert!(c.memory_hit("/large").is_none(), "too large for memory");
        assert!(c.memory_bytes() <= 2 * one);
        assert_eq!(c.memory_bytes() / one * 900, c.heap_parts().memory_bodies);
        for i in 0..10 {
            assert_eq!(get(c, &format!("/m{i}")).await.unwrap(), body(900, i as u8));
        }
    }

    #[tokio::test]
    async fn a_scan_of_cold_objects_leaves_hot_ones_in_memory() {
        let probe_dir = tempfile::tempdir().unwrap();
        let probe = leak_with(probe_dir.path(), 1 << 30, 1 << 20, 1000);
        put(probe, "/x", &body(900, 0)).await;
        assert!(get(probe, "/x").await.is_some());
        // Room for ten objects; an LRU would lose the hot one after ten cold ones.
        let d = tempfile::tempdir().unwrap();
        let c = leak_with(d.path(), 1 << 30, 10 * probe.memory_bytes(), 1000);
        put(c, "/hot", &body(900, 1)).await;
        for _ in 0..20 {
            assert!(get(c, "/hot").await.is_some());
        }
        for i in 0..100 {
            let k = format!("/cold{i}");
            put(c, &k, &body(900, 2)).await;
            assert!(get(c, &k).await.is_some());
        }
        assert!(
            c.memory_hit("/hot").is_some(),
            "the hot object stayed in memory"
        );
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
        assert!(c.memory_hit("/small").is_none());
        assert!(get(c, "/nothing").await.is_none());
        assert_eq!(counts(), (0, 0), "neither a fill nor a cache miss counts");
        assert!(get(c, "/small").await.is_some());
        assert_eq!(counts(), (0, 1), "first hit: read from disk into memory");
        assert!(get(c, "/small").await.is_some());
        assert!(c.memory_hit("/small").is_some());
        assert_eq!(counts(), (2, 1), "then from memory, through Pingora or not");
        assert!(get(c, "/large").await.is_some());
        assert_eq!(counts(), (2, 2), "too large for memory: read from disk");
    }
}
