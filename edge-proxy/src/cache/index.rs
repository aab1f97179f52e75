//! The in-memory index of the disk cache: hash → entry (key, sizes, LRU tick, and for the memory
//! tier its body, serialized meta and ready hit header), key → hash for prefix purges, and the
//! two LRU orders (all entries; entries in memory). Rebuilt from the meta files at start; nothing
//! here touches the disk.
//!
//! An entry on disk only is kept small (about 200 bytes with its key, see [`Index::heap_bytes`]):
//! its meta is read from its meta file on a hit, as the body is read from its file. What the
//! memory tier holds per object (body, meta, hit header) is charged to `memory_size`.

use std::collections::{BTreeMap, HashMap};
use std::mem::size_of;
use std::ops::Bound;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use pingora::cache::key::HashBinary;
use pingora::http::ResponseHeader;

/// One cached object.
pub(super) struct Entry {
    /// The cache key string (see [`super::key`]), shared with [`Index::keys`].
    pub(super) key: Arc<str>,
    pub(super) body_len: u64,
    /// Body and meta file together, the unit of `max_size`.
    pub(super) disk_size: u64,
    pub(super) tick: u64,
    pub(super) last_access: SystemTime,
    /// What the memory tier holds of this object, if it is there.
    pub(super) mem: Option<Box<MemEntry>>,
}

impl Entry {
    /// An entry not yet placed in the LRU (its tick is set by [`Index::insert`]) nor in memory.
    pub(super) fn new(key: &str, body_len: u64, disk_size: u64, last_access: SystemTime) -> Entry {
        Entry {
            key: Arc::from(key),
            body_len,
            disk_size,
            tick: 0,
            last_access,
            mem: None,
        }
    }
}

/// An object of the memory tier: its body, `CacheMeta::serialize()`'s two parts (so a hit
/// needs no file), and the ready answer of `DiskCache::fast_hit`.
pub(super) struct MemEntry {
    pub(super) body: Bytes,
    pub(super) meta: (Arc<[u8]>, Arc<[u8]>),
    pub(super) fast: Option<FastEntry>,
    /// What this costs in memory: the body, the meta, the header, the box (see [`MemEntry::new`]).
    pub(super) charge: u64,
}

impl MemEntry {
    /// `header_bytes`: the heap bytes of the hit header in `fast`, measured when it was built.
    pub(super) fn new(
        body: Bytes,
        meta: (Arc<[u8]>, Arc<[u8]>),
        fast: Option<FastEntry>,
        header_bytes: u64,
    ) -> MemEntry {
        let fixed = size_of::<MemEntry>() + 2 * ARC_HEADER + size_of::<ResponseHeader>();
        let charge = body.len() + meta.0.len() + meta.1.len() + fixed;
        MemEntry {
            body,
            meta,
            fast,
            charge: charge as u64 + header_bytes,
        }
    }
}

/// A ready hit header, the end of its freshness, and when the object was created.
pub(super) type FastEntry = (Arc<ResponseHeader>, SystemTime, SystemTime);

/// The two counters in front of the data of an `Arc` allocation.
const ARC_HEADER: usize = 2 * size_of::<usize>();

/// Ticks of entries touched since the start begin here; entries loaded from disk at start take the
/// ticks below, in the order of their meta files' mtimes, so they are older than any of those.
const LIVE_TICKS: u64 = 1 << 40;

pub(super) struct Index {
    pub(super) entries: HashMap<HashBinary, Entry>,
    pub(super) keys: BTreeMap<Arc<str>, HashBinary>,
    pub(super) lru: BTreeMap<u64, HashBinary>,
    /// The entries that also hold their body in memory, by the same ticks.
    pub(super) mem_lru: BTreeMap<u64, HashBinary>,
    tick: u64,
    /// Bytes on disk of all entries.
    pub(super) total: u64,
    /// What the memory tier holds: the sum of its entries' [`MemEntry::charge`].
    pub(super) mem_total: u64,
    /// Bytes of the bodies alone among them.
    pub(super) mem_body_total: u64,
    /// Bytes of the key strings.
    key_bytes: u64,
    /// The last tick given to an entry loaded from disk.
    loaded_tick: u64,
    /// Prefixes purged while the index was being loaded: entries loaded later that match one
    /// are not indexed but removed, as if they had been there at the purge.
    pub(super) purged_while_loading: Vec<String>,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            entries: HashMap::new(),
            keys: BTreeMap::new(),
            lru: BTreeMap::new(),
            mem_lru: BTreeMap::new(),
            tick: LIVE_TICKS,
            total: 0,
            mem_total: 0,
            mem_body_total: 0,
            key_bytes: 0,
            loaded_tick: 0,
            purged_while_loading: Vec::new(),
        }
    }
}

/// What [`Index::insert_loaded`] did with an entry found on disk.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Loaded {
    Inserted,
    /// Indexed already, by a lookup or a fill since the start: that one is newer.
    Present,
    /// Its key matches a prefix purged while loading: its files are to be removed.
    Purged,
}

impl Index {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The hashes of the entries whose key starts with `prefix`.
    pub(super) fn with_prefix(&self, prefix: &str) -> Vec<HashBinary> {
        self.keys
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, h)| *h)
            .collect()
    }

    /// An estimate of the heap bytes of the index itself (the memory tier apart): the hash
    /// table at its capacity, each key once, and the B-tree maps, whose nodes are two-thirds full
    /// on average.
    pub(super) fn heap_bytes(&self) -> u64 {
        let btree = |n: usize, kv: usize| n * kv * 3 / 2;
        let table = self.entries.capacity() * (size_of::<(HashBinary, Entry)>() + 1);
        let keys = self.key_bytes as usize + self.entries.len() * ARC_HEADER;
        let maps = btree(self.keys.len(), size_of::<(Arc<str>, HashBinary)>())
            + btree(self.lru.len(), size_of::<(u64, HashBinary)>())
            + btree(self.mem_lru.len(), size_of::<(u64, HashBinary)>());
        (table + keys + maps) as u64
    }

    pub(super) fn remove(&mut self, h: &HashBinary) -> Option<Entry> {
        let e = self.entries.remove(h)?;
        self.lru.remove(&e.tick);
        self.mem_lru.remove(&e.tick);
        if self.keys.get(&e.key) == Some(h) {
            self.keys.remove(&e.key);
        }
        self.key_bytes = self.key_bytes.saturating_sub(e.key.len() as u64);
        self.total = self.total.saturating_sub(e.disk_size);
        if let Some(m) = &e.mem {
            self.forget_charge(m);
        }
        Some(e)
    }

    fn forget_charge(&mut self, m: &MemEntry) {
        self.mem_total = self.mem_total.saturating_sub(m.charge);
        self.mem_body_total = self.mem_body_total.saturating_sub(m.body.len() as u64);
    }

    /// Inserts `e` as the most recently used entry; returns the entry it replaces.
    pub(super) fn insert(&mut self, h: HashBinary, e: Entry) -> Option<Entry> {
        let old = self.remove(&h);
        let t = self.next_tick();
        self.place(h, e, t);
        old
    }

    /// Indexes an entry found on disk at start, older than every entry touched since (entries
    /// come oldest first), unless it is indexed already or purged while loading.
    pub(super) fn insert_loaded(&mut self, h: HashBinary, e: Entry) -> Loaded {
        if self.entries.contains_key(&h) {
            return Loaded::Present;
        }
        if self
            .purged_while_loading
            .iter()
            .any(|p| e.key.starts_with(p.as_str()))
        {
            return Loaded::Purged;
        }
        self.loaded_tick = (self.loaded_tick + 1).min(LIVE_TICKS - 1);
        self.place(h, e, self.loaded_tick);
        Loaded::Inserted
    }

    fn place(&mut self, h: HashBinary, mut e: Entry, t: u64) {
        e.tick = t;
        self.lru.insert(t, h);
        self.keys.insert(e.key.clone(), h);
        self.key_bytes += e.key.len() as u64;
        self.total += e.disk_size;
        if let Some(m) = &e.mem {
            self.mem_total += m.charge;
            self.mem_body_total += m.body.len() as u64;
            self.mem_lru.insert(t, h);
        }
        self.entries.insert(h, e);
    }

    /// Makes `h` the most recently used entry.
    pub(super) fn touch(&mut self, h: &HashBinary) {
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

    /// Puts `h` in the memory tier (nothing if it is there already).
    pub(super) fn remember(&mut self, h: &HashBinary, mem: MemEntry) {
        let Some(e) = self.entries.get_mut(h) else {
            return;
        };
        if e.mem.is_some() {
            return;
        }
        let tick = e.tick;
        self.mem_total += mem.charge;
        self.mem_body_total += mem.body.len() as u64;
        e.mem = Some(Box::new(mem));
        self.mem_lru.insert(tick, *h);
    }

    /// Replaces the meta and hit answer of `h` in memory (after a revalidation).
    pub(super) fn replace_in_memory(
        &mut self,
        h: &HashBinary,
        update: impl FnOnce(&MemEntry) -> MemEntry,
    ) {
        let Some(old) = self.entries.get(h).and_then(|e| e.mem.as_deref()) else {
            return;
        };
        let new = update(old);
        let (old_charge, old_body) = (old.charge, old.body.len() as u64);
        self.mem_total = self.mem_total.saturating_sub(old_charge) + new.charge;
        self.mem_body_total = self.mem_body_total.saturating_sub(old_body) + new.body.len() as u64;
        if let Some(e) = self.entries.get_mut(h) {
            e.mem = Some(Box::new(new));
        }
    }

    /// Drops the memory-tier parts of the least recently used entries until under `limit`.
    pub(super) fn trim_memory(&mut self, limit: u64) {
        while self.mem_total > limit {
            let Some((_, h)) = self.mem_lru.pop_first() else {
                break;
            };
            if let Some(m) = self.entries.get_mut(&h).and_then(|e| e.mem.take()) {
                self.forget_charge(&m);
            }
        }
    }
}
