//! The memory tier: small objects held in memory with their meta and ready hit header, within
//! `memory_size`, admitted and evicted by pingora's TinyUFO: TinyLFU admission (when the tier is
//! full, a new object takes the place of one only if it is asked for more often, so a scan of cold
//! objects does not push the hot ones out) and S3-FIFO eviction. Reads take no lock.
//!
//! Consistency with the index, which decides what is cached: an object is put under the index's
//! read lock after checking that it is indexed, and removed (purge, eviction, replacement) under
//! its write lock ([`super::index::Index`] owns a handle to the tier for that), so the tier never
//! holds an object the index no longer has. Puts are serialized among themselves, so that the
//! charged bytes stay exact when two first hits of one object race.

use std::mem::size_of;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;
use pingora::cache::key::HashBinary;
use pingora::http::ResponseHeader;
use tinyufo::TinyUfo;

/// A ready hit header, the end of its freshness, and when the object was created.
pub(super) type FastEntry = (Arc<ResponseHeader>, SystemTime, SystemTime);

/// An object's `CacheMeta::serialize()`, its two parts shared by the index's readers and the
/// memory tier.
pub(super) type SerializedMeta = (Arc<[u8]>, Arc<[u8]>);

/// An object of the memory tier: its body, `CacheMeta::serialize()`'s two parts (so a hit needs
/// no file), and the ready answer of `DiskCache::fast_hit`.
pub(super) struct MemEntry {
    pub(super) body: Bytes,
    pub(super) meta: SerializedMeta,
    pub(super) fast: Option<FastEntry>,
    /// What this costs in memory: body, meta, header and the entry itself.
    pub(super) charge: u64,
    /// When the fast path last made this object recent in the disk index (Unix seconds).
    pub(super) touched: AtomicU64,
}

/// The two counters in front of the data of an `Arc` allocation.
pub(super) const ARC_HEADER: usize = 2 * size_of::<usize>();

impl MemEntry {
    /// `header_bytes`: the heap bytes of the hit header in `fast`, measured when it was built.
    pub(super) fn new(
        body: Bytes,
        meta: SerializedMeta,
        fast: Option<FastEntry>,
        header_bytes: u64,
    ) -> MemEntry {
        let fixed = size_of::<MemEntry>() + 3 * ARC_HEADER + size_of::<ResponseHeader>();
        let charge = body.len() + meta.0.len() + meta.1.len() + fixed;
        MemEntry {
            body,
            meta,
            fast,
            charge: charge as u64 + header_bytes,
            touched: AtomicU64::new(0),
        }
    }
}

/// TinyUFO weighs an object in a `u16`: weights count units of at least this many bytes.
const MIN_UNIT: u64 = 64;
/// Room for the meta and header of the largest object the tier takes, in its weight.
const MAX_OVERHEAD: u64 = 128 << 10;
/// The object size TinyUFO's sketch and table are sized for (`memory_size` / this).
const TYPICAL_OBJECT: u64 = 8 << 10;
/// TinyUFO's own bytes per object (table node, bucket, queue slot), for the memory accounting.
pub(super) const UFO_BYTES_PER_OBJECT: u64 = 160;

pub(super) struct MemoryTier {
    ufo: TinyUfo<HashBinary, Arc<MemEntry>>,
    /// Bytes per unit of weight.
    unit: u64,
    puts: Mutex<()>,
    /// The sum of the charges of the objects held.
    charged: AtomicU64,
    bodies: AtomicU64,
    objects: AtomicU64,
}

impl MemoryTier {
    pub(super) fn new(memory_size: u64, memory_object_size: u64) -> MemoryTier {
        let largest = memory_object_size.saturating_add(MAX_OVERHEAD);
        let unit = largest.div_ceil(u64::from(u16::MAX)).max(MIN_UNIT);
        let estimated = (memory_size / TYPICAL_OBJECT).clamp(16, 1 << 20) as usize;
        MemoryTier {
            ufo: TinyUfo::new((memory_size / unit) as usize, estimated),
            unit,
            puts: Mutex::new(()),
            charged: AtomicU64::new(0),
            bodies: AtomicU64::new(0),
            objects: AtomicU64::new(0),
        }
    }

    /// The object of `h`, if the tier holds it (counts as a use for eviction).
    pub(super) fn get(&self, h: &HashBinary) -> Option<Arc<MemEntry>> {
        self.ufo.get(h)
    }

    /// Offers `m` to the tier, replacing what it holds for `h`: TinyUFO may refuse it, or evict
    /// others for it. Callers hold the index lock (see the module doc).
    pub(super) fn put(&self, h: HashBinary, m: MemEntry) {
        let Ok(weight) = u16::try_from(m.charge.div_ceil(self.unit).max(1)) else {
            return; // larger than any object the tier was sized for
        };
        let _serial = self.puts.lock();
        self.remove(&h);
        self.count(&m, true);
        for evicted in self.ufo.put(h, Arc::new(m), weight) {
            self.count(&evicted.data, false);
        }
    }

    /// Drops the object of `h`, if held. Callers hold the index's write lock.
    pub(super) fn remove(&self, h: &HashBinary) {
        if let Some(m) = self.ufo.remove(h) {
            self.count(&m, false);
        }
    }

    fn count(&self, m: &MemEntry, add: bool) {
        let apply = |counter: &AtomicU64, v: u64| {
            if add {
                counter.fetch_add(v, Ordering::Relaxed);
            } else {
                // saturating: a racing put may have counted it out already
                let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    Some(c.saturating_sub(v))
                });
            }
        };
        apply(&self.charged, m.charge);
        apply(&self.bodies, m.body.len() as u64);
        apply(&self.objects, 1);
    }

    /// Bytes charged for what the tier holds (bounded by `memory_size`).
    pub(super) fn charged(&self) -> u64 {
        self.charged.load(Ordering::Relaxed)
    }

    /// Bytes of the bodies among them.
    pub(super) fn bodies(&self) -> u64 {
        self.bodies.load(Ordering::Relaxed)
    }

    pub(super) fn objects(&self) -> u64 {
        self.objects.load(Ordering::Relaxed)
    }
}
