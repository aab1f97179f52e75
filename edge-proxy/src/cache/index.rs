//! The in-memory index of the disk cache: hash → entry (key, sizes, serialized meta, LRU tick,
//! memory-tier body), key → hash for prefix purges, and the two LRU orders (all entries; entries
//! with a body in memory). Rebuilt from the meta files at start; nothing here touches the disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use pingora::cache::key::HashBinary;
use pingora::http::ResponseHeader;

/// One cached object.
pub(super) struct Entry {
    /// The cache key string (see [`super::key`]), kept for prefix purges and the meta file.
    pub(super) key: String,
    pub(super) body_len: u64,
    /// Body and meta file together, the unit of `max_size`.
    pub(super) disk_size: u64,
    /// `CacheMeta::serialize()`, kept so a lookup needs no meta file read.
    pub(super) meta0: Arc<[u8]>,
    pub(super) meta1: Arc<[u8]>,
    pub(super) tick: u64,
    pub(super) last_access: SystemTime,
    /// The body, for an object in the memory tier.
    pub(super) mem: Option<Bytes>,
    /// For entries with `mem`: the ready answer header and freshness, for `DiskCache::fast_hit`.
    pub(super) fast: Option<FastEntry>,
}

impl Entry {
    /// An entry not yet placed in the LRU (its tick is set by [`Index::insert`]) nor in memory.
    pub(super) fn new(
        key: String,
        body_len: u64,
        disk_size: u64,
        meta: (Arc<[u8]>, Arc<[u8]>),
        last_access: SystemTime,
    ) -> Entry {
        Entry {
            key,
            body_len,
            disk_size,
            meta0: meta.0,
            meta1: meta.1,
            tick: 0,
            last_access,
            mem: None,
            fast: None,
        }
    }
}

/// A ready hit header, the end of its freshness, and when the object was created.
pub(super) type FastEntry = (Arc<ResponseHeader>, SystemTime, SystemTime);

#[derive(Default)]
pub(super) struct Index {
    pub(super) entries: HashMap<HashBinary, Entry>,
    pub(super) keys: BTreeMap<String, HashBinary>,
    pub(super) lru: BTreeMap<u64, HashBinary>,
    /// The entries that also hold their body in memory, by the same ticks.
    pub(super) mem_lru: BTreeMap<u64, HashBinary>,
    tick: u64,
    /// Bytes on disk of all entries.
    pub(super) total: u64,
    /// Bytes of the bodies held in memory.
    pub(super) mem_total: u64,
}

impl Index {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    pub(super) fn remove(&mut self, h: &HashBinary) -> Option<Entry> {
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

    /// Inserts `e` as the most recently used entry; returns the entry it replaces.
    pub(super) fn insert(&mut self, h: HashBinary, mut e: Entry) -> Option<Entry> {
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

    /// Puts the body of `h` in memory with its fast-path answer (none if already there).
    pub(super) fn remember(&mut self, h: &HashBinary, body: Bytes, fast: Option<FastEntry>) {
        let Some(e) = self.entries.get_mut(h) else {
            return;
        };
        if e.mem.is_some() {
            return;
        }
        let len = body.len() as u64;
        e.mem = Some(body);
        e.fast = fast;
        let tick = e.tick;
        self.mem_total += len;
        self.mem_lru.insert(tick, *h);
    }

    /// Drops in-memory bodies of the least recently used entries until under `limit`.
    pub(super) fn trim_memory(&mut self, limit: u64) {
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
