//! The in-memory index of the disk cache: hash → entry (key, sizes, LRU tick), key → hash for
//! prefix purges, and the LRU order. Rebuilt from the meta files at start; nothing here touches
//! the disk. It decides what is cached: an entry removed here is removed from the memory tier too
//! ([`super::tier`]), under the same lock.
//!
//! An entry is kept small (about 150 bytes with its key, see [`Index::heap_bytes`]): the meta of an
//! object on disk only is read from its meta file on a hit, as its body is read from its file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::mem::size_of;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pingora::cache::key::HashBinary;

use super::tier::{MemoryTier, ARC_HEADER};

/// One cached object, kept small (40 bytes and its key): there is one per object on disk.
pub(super) struct Entry {
    /// The cache key string (see [`super::key`]), shared with [`Index::keys`].
    pub(super) key: Arc<str>,
    pub(super) body_len: u64,
    pub(super) tick: u64,
    /// The meta file's size: with the body's, the object's share of `max_size`
    /// ([`Entry::disk_size`]).
    meta_len: u32,
    /// Seconds since the Unix epoch (until 2106).
    last_access: u32,
}

impl Entry {
    /// An entry not yet placed in the LRU (its tick is set by [`Index::insert`]).
    pub(super) fn new(key: &str, body_len: u64, meta_len: u64, last_access: SystemTime) -> Entry {
        Entry {
            key: Arc::from(key),
            body_len,
            tick: 0,
            meta_len: u32::try_from(meta_len).unwrap_or(u32::MAX),
            last_access: unix_secs(last_access),
        }
    }

    /// The space body and meta file take on disk, the unit of `max_size`: each file rounded up
    /// to whole blocks of `block` bytes, as nginx counts its cache (a 10 KiB object in 4 KiB
    /// blocks takes 12 KiB for its body and 4 KiB for its meta: counted as 10.3 KiB, a cache
    /// of small objects took half as much disk again as its `max_size`).
    pub(super) fn disk_size(&self, block: u64) -> u64 {
        let whole = |n: u64| n.div_ceil(block.max(1)) * block.max(1);
        whole(self.body_len) + whole(u64::from(self.meta_len))
    }

    pub(super) fn last_access(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(self.last_access))
    }
}

fn unix_secs(t: SystemTime) -> u32 {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Ticks of entries touched since the start begin here; entries loaded from disk at start take the
/// ticks below, in the order of their meta files' mtimes, so they are older than any of those.
const LIVE_TICKS: u64 = 1 << 40;

pub(super) struct Index {
    pub(super) entries: HashMap<HashBinary, Entry>,
    /// Every key, for prefix purges (a key's hash is computed again, [`super::key::hash`]).
    pub(super) keys: BTreeSet<Arc<str>>,
    pub(super) lru: BTreeMap<u64, HashBinary>,
    /// The memory tier, to drop an object from it whenever its entry goes.
    tier: Arc<MemoryTier>,
    tick: u64,
    /// Bytes on disk of all entries.
    pub(super) total: u64,
    /// The file system's block: every file takes whole blocks.
    block: u64,
    /// Bytes of the key strings.
    key_bytes: u64,
    /// The last tick given to an entry loaded from disk.
    loaded_tick: u64,
    /// Prefixes purged while the index was being loaded: entries loaded later that match one
    /// are not indexed but removed, as if they had been there at the purge.
    pub(super) purged_while_loading: Vec<String>,
}

impl Index {
    pub(super) fn new(tier: Arc<MemoryTier>, block: u64) -> Index {
        Index {
            block,
            entries: HashMap::new(),
            keys: BTreeSet::new(),
            lru: BTreeMap::new(),
            tier,
            tick: LIVE_TICKS,
            total: 0,
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
            .take_while(|k| k.starts_with(prefix))
            .map(|k| super::key::hash(k))
            .collect()
    }

    /// An estimate of the heap bytes of the index itself (the memory tier apart): the hash
    /// table at its capacity, each key once, and the B-tree maps, whose nodes are two-thirds full
    /// on average.
    pub(super) fn heap_bytes(&self) -> u64 {
        let btree = |n: usize, kv: usize| n * kv * 3 / 2;
        let table = self.entries.capacity() * (size_of::<(HashBinary, Entry)>() + 1);
        let keys = self.key_bytes as usize + self.entries.len() * ARC_HEADER;
        let maps = btree(self.keys.len(), size_of::<Arc<str>>())
            + btree(self.lru.len(), size_of::<(u64, HashBinary)>());
        (table + keys + maps) as u64
    }

    pub(super) fn remove(&mut self, h: &HashBinary) -> Option<Entry> {
        let e = self.entries.remove(h)?;
        self.tier.remove(h);
        self.lru.remove(&e.tick);
        self.keys.remove(&e.key);
        self.key_bytes = self.key_bytes.saturating_sub(e.key.len() as u64);
        self.total = self.total.saturating_sub(e.disk_size(self.block));
        Some(e)
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
        self.keys.insert(e.key.clone());
        self.key_bytes += e.key.len() as u64;
        self.total += e.disk_size(self.block);
        self.entries.insert(h, e);
    }

    /// Makes `h` the most recently used entry.
    pub(super) fn touch(&mut self, h: &HashBinary) {
        let t = self.next_tick();
        if let Some(e) = self.entries.get_mut(h) {
            self.lru.remove(&e.tick);
            e.tick = t;
            e.last_access = unix_secs(SystemTime::now());
            self.lru.insert(t, *h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_takes_whole_blocks_for_its_body_and_its_meta() {
        let e = Entry::new("/k", 10_240, 300, SystemTime::UNIX_EPOCH);
        assert_eq!(e.disk_size(4096), 12_288 + 4_096);
        assert_eq!(e.disk_size(1), 10_540);
        let empty = Entry::new("/k", 0, 300, SystemTime::UNIX_EPOCH);
        assert_eq!(empty.disk_size(4096), 4_096);
    }

    #[test]
    fn the_total_counts_blocks() {
        let tier = Arc::new(MemoryTier::new(0, 0));
        let mut idx = Index::new(tier, 4096);
        idx.insert(
            super::super::key::hash("/a"),
            Entry::new("/a", 5_000, 200, SystemTime::now()),
        );
        idx.insert(
            super::super::key::hash("/b"),
            Entry::new("/b", 4_096, 200, SystemTime::now()),
        );
        assert_eq!(idx.total, (8_192 + 4_096) + (4_096 + 4_096));
        idx.remove(&super::super::key::hash("/a"));
        assert_eq!(idx.total, 8_192);
    }
}
