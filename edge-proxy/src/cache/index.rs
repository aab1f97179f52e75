//! The in-memory index of the disk cache: for every object on disk, its hash, sizes, last access
//! and place in the LRU order. Rebuilt from the object files at start; nothing here touches the
//! disk. It decides what is cached: an entry removed here is removed from the memory tier too
//! ([`super::tier`]), under the same lock.
//!
//! An object takes a 40-byte slot and a 5-byte place in a hash table (about 50 bytes; nginx's
//! `keys_zone` node is 128). Keys are not kept, as nginx keeps none: each object's file holds
//! its key, read on a hit with the meta, and a prefix purge (`PURGE /dir/*`) reads the keys from
//! the files (`DiskCache::purge_prefix`), as `ngx_cache_purge` does. What every PURGE and
//! DELETE of a file does, purging its query variants (`path?…`), needs no keys: the variants of a
//! path are found by the path's hash ([`Index::variants_of`]).

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;
use std::time::SystemTime;

use hashbrown::HashTable;
use pingora::cache::key::HashBinary;

use super::key;
use super::tier::MemoryTier;

/// No slot: the end of the LRU list or of the free list.
const NONE: u32 = u32::MAX;
/// Slots are allocated in chunks of this many, so that growing the index never copies it (a
/// `Vec` of a million slots would move 40 MB under the lock when it doubles).
const CHUNK: usize = 4096;

/// A cached object as it is handed to the index.
pub(super) struct Entry {
    body_len: u64,
    /// The size of the object file's meta part (after the body): with the body's, the object's
    /// share of `max_size` ([`Entry::disk_size`]).
    meta_len: u32,
    /// Seconds since the Unix epoch (until 2106).
    pub(super) last_access: u32,
    /// For a key with a query (`path?…`), the hash of its path: a variant of that object.
    variant_of: Option<HashBinary>,
}

impl Entry {
    pub(super) fn new(key: &str, body_len: u64, meta_len: u64, last_access: SystemTime) -> Entry {
        Entry {
            body_len,
            meta_len: u32::try_from(meta_len).unwrap_or(u32::MAX),
            last_access: unix_secs(last_access),
            variant_of: key.split_once('?').map(|(path, _)| key::hash(path)),
        }
    }

    /// The space the object's file takes on disk, the unit of `max_size`: rounded up to whole
    /// blocks of `block` bytes, as nginx counts its cache (a 10 KiB object with its meta in 4 KiB
    /// blocks takes 12 KiB: counted as 10.3 KiB, a cache of small objects took more disk than its
    /// `max_size`).
    pub(super) fn disk_size(&self, block: u64) -> u64 {
        disk_size(self.body_len, self.meta_len, block)
    }
}

fn disk_size(body_len: u64, meta_len: u32, block: u64) -> u64 {
    let block = block.max(1);
    (body_len + u64::from(meta_len)).div_ceil(block) * block
}

fn unix_secs(t: SystemTime) -> u32 {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// One indexed object (or a free slot, linked through `newer`).
struct Slot {
    hash: HashBinary,
    body_len: u64,
    /// Neighbours in the LRU list: the next older and the next newer entry (`NONE` at the ends).
    older: u32,
    newer: u32,
    meta_len: u32,
    last_access: u32,
}

/// The table's hash of an object: the first 8 bytes of its key's hash, which is uniform already.
fn table_hash(h: &HashBinary) -> u64 {
    let [a, b, c, d, e, f, g, i, ..] = *h;
    u64::from_le_bytes([a, b, c, d, e, f, g, i])
}

fn slot_at(chunks: &[Vec<Slot>], i: u32) -> &Slot {
    &chunks[i as usize / CHUNK][i as usize % CHUNK]
}

pub(super) struct Index {
    /// Slot numbers, found by their slot's hash.
    table: HashTable<u32>,
    chunks: Vec<Vec<Slot>>,
    /// The first free slot.
    free: u32,
    oldest: u32,
    newest: u32,
    /// The newest of the entries loaded from disk and not touched since: the entries from
    /// `oldest` to it were all loaded at start, in the order of their files' mtimes, so an
    /// entry loaded later goes right after it, older than every entry touched since the start.
    loaded_until: u32,
    /// The hashes of the objects with a query, by the hash of their path.
    variants: HashMap<HashBinary, Vec<HashBinary>>,
    /// The path hash of each of those objects, to find its place in `variants` when it goes.
    variant_paths: HashMap<HashBinary, HashBinary>,
    /// The memory tier, to drop an object from it whenever its entry goes.
    tier: Arc<MemoryTier>,
    /// Bytes on disk of all entries.
    pub(super) total: u64,
    /// The file system's block: every file takes whole blocks.
    block: u64,
    /// Prefixes purged while the index was being loaded: entries loaded later that match one
    /// are not indexed but removed, as if they had been there at the purge.
    pub(super) purged_while_loading: Vec<String>,
}

impl Index {
    pub(super) fn new(tier: Arc<MemoryTier>, block: u64) -> Index {
        Index {
            table: HashTable::new(),
            chunks: Vec::new(),
            free: NONE,
            oldest: NONE,
            newest: NONE,
            loaded_until: NONE,
            variants: HashMap::new(),
            variant_paths: HashMap::new(),
            tier,
            total: 0,
            block,
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
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn contains(&self, h: &HashBinary) -> bool {
        self.find(h).is_some()
    }

    /// The body's length of an indexed object.
    pub(super) fn body_len(&self, h: &HashBinary) -> Option<u64> {
        self.find(h).map(|i| self.slot(i).body_len)
    }

    /// The body's and the meta part's lengths of an indexed object: where its parts are in its
    /// file.
    pub(super) fn lens(&self, h: &HashBinary) -> Option<(u64, u64)> {
        self.find(h).map(|i| {
            let s = self.slot(i);
            (s.body_len, u64::from(s.meta_len))
        })
    }

    /// Records the new length of the meta part of `h`, whose file was written again with a new
    /// meta (a revalidation); whether it is indexed.
    pub(super) fn set_meta_len(&mut self, h: &HashBinary, meta_len: u64) -> bool {
        let Some(i) = self.find(h) else {
            return false;
        };
        let block = self.block;
        let s = self.slot_mut(i);
        let before = disk_size(s.body_len, s.meta_len, block);
        s.meta_len = u32::try_from(meta_len).unwrap_or(u32::MAX);
        let after = disk_size(s.body_len, s.meta_len, block);
        self.total = self.total.saturating_sub(before) + after;
        true
    }

    /// The least recently used entry.
    pub(super) fn oldest(&self) -> Option<HashBinary> {
        (self.oldest != NONE).then(|| self.slot(self.oldest).hash)
    }

    /// The objects whose key is `path?…`, by the hash of `path`.
    pub(super) fn variants_of(&self, path: &HashBinary) -> Vec<HashBinary> {
        self.variants.get(path).cloned().unwrap_or_default()
    }

    /// The entries not accessed since `before`.
    pub(super) fn accessed_before(&self, before: SystemTime) -> Vec<HashBinary> {
        let before = unix_secs(before);
        self.lru_order()
            .filter(|&i| self.slot(i).last_access <= before)
            .map(|i| self.slot(i).hash)
            .collect()
    }

    /// An estimate of the heap bytes of the index itself (the memory tier apart): the hash
    /// table's buckets (a slot number and a control byte each, at 8/7 of its capacity), the
    /// chunks of slots, and the maps of variants.
    pub(super) fn heap_bytes(&self) -> u64 {
        let table = self.table.capacity() * 8 / 7 * (size_of::<u32>() + 1);
        let slots = self.chunks.len() * CHUNK * size_of::<Slot>();
        let map = |cap: usize, kv: usize| cap * 8 / 7 * (kv + 1);
        let variants = map(
            self.variants.capacity(),
            size_of::<(HashBinary, Vec<HashBinary>)>(),
        ) + self
            .variants
            .values()
            .map(|v| v.capacity() * size_of::<HashBinary>())
            .sum::<usize>()
            + map(
                self.variant_paths.capacity(),
                size_of::<(HashBinary, HashBinary)>(),
            );
        (table + slots + variants) as u64
    }

    /// Removes `h`; whether it was indexed.
    pub(super) fn remove(&mut self, h: &HashBinary) -> bool {
        let chunks = &self.chunks;
        let Ok(found) = self
            .table
            .find_entry(table_hash(h), |&i| slot_at(chunks, i).hash == *h)
        else {
            return false;
        };
        let (i, _) = found.remove();
        self.unlink(i);
        let (free, block) = (self.free, self.block);
        let s = self.slot_mut(i);
        let size = disk_size(s.body_len, s.meta_len, block);
        s.newer = free;
        self.free = i;
        self.total = self.total.saturating_sub(size);
        self.tier.remove(h);
        if let Some(path) = self.variant_paths.remove(h) {
            if let Some(v) = self.variants.get_mut(&path) {
                v.retain(|x| x != h);
                if v.is_empty() {
                    self.variants.remove(&path);
                }
            }
        }
        true
    }

    /// Inserts `e` as the most recently used entry; whether it replaced one.
    pub(super) fn insert(&mut self, h: HashBinary, e: Entry) -> bool {
        let replaced = self.remove(&h);
        let i = self.place(h, e);
        self.link_after(i, self.newest);
        replaced
    }

    /// Indexes an entry found on disk at start, older than every entry touched since (entries
    /// come oldest first), unless it is indexed already or purged while loading. `key` is the
    /// entry's key, needed only when a prefix was purged while loading (`None`: none was).
    pub(super) fn insert_loaded(&mut self, h: HashBinary, e: Entry, key: Option<&str>) -> Loaded {
        if self.contains(&h) {
            return Loaded::Present;
        }
        if let Some(k) = key {
            if self
                .purged_while_loading
                .iter()
                .any(|p| k.starts_with(p.as_str()))
            {
                return Loaded::Purged;
            }
        }
        let i = self.place(h, e);
        self.link_after(i, self.loaded_until);
        self.loaded_until = i;
        Loaded::Inserted
    }

    /// Makes `h` the most recently used entry; whether it is indexed.
    pub(super) fn touch(&mut self, h: &HashBinary) -> bool {
        let Some(i) = self.find(h) else {
            return false;
        };
        self.slot_mut(i).last_access = unix_secs(SystemTime::now());
        if self.newest != i {
            self.unlink(i);
            self.link_after(i, self.newest);
        }
        true
    }

    /// Stores `e` in a slot and the table, counting its size; the caller links it.
    fn place(&mut self, h: HashBinary, e: Entry) -> u32 {
        self.total += e.disk_size(self.block);
        if let Some(path) = e.variant_of {
            self.variants.entry(path).or_default().push(h);
            self.variant_paths.insert(h, path);
        }
        let i = self.alloc(Slot {
            hash: h,
            body_len: e.body_len,
            older: NONE,
            newer: NONE,
            meta_len: e.meta_len,
            last_access: e.last_access,
        });
        let chunks = &self.chunks;
        self.table
            .insert_unique(table_hash(&h), i, |&j| table_hash(&slot_at(chunks, j).hash));
        i
    }

    fn find(&self, h: &HashBinary) -> Option<u32> {
        let chunks = &self.chunks;
        self.table
            .find(table_hash(h), |&i| slot_at(chunks, i).hash == *h)
            .copied()
    }

    fn slot(&self, i: u32) -> &Slot {
        slot_at(&self.chunks, i)
    }

    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    /// A slot for `s`: a free one, or a new one at the end of the last chunk.
    fn alloc(&mut self, s: Slot) -> u32 {
        if self.free != NONE {
            let i = self.free;
            self.free = self.slot(i).newer;
            *self.slot_mut(i) = s;
            return i;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let last = self.chunks.len() - 1;
        self.chunks[last].push(s);
        let i = last * CHUNK + self.chunks[last].len() - 1;
        u32::try_from(i).unwrap_or(NONE)
    }

    /// Takes slot `i` out of the LRU list.
    fn unlink(&mut self, i: u32) {
        let (older, newer) = {
            let s = self.slot(i);
            (s.older, s.newer)
        };
        if self.loaded_until == i {
            self.loaded_until = older;
        }
        match older {
            NONE => self.oldest = newer,
            o => self.slot_mut(o).newer = newer,
        }
        match newer {
            NONE => self.newest = older,
            n => self.slot_mut(n).older = older,
        }
    }

    /// Puts slot `i` into the LRU list right after (newer than) `after`, or as the oldest entry
    /// when `after` is `NONE`.
    fn link_after(&mut self, i: u32, after: u32) {
        let newer = match after {
            NONE => self.oldest,
            a => self.slot(a).newer,
        };
        let s = self.slot_mut(i);
        s.older = after;
        s.newer = newer;
        match after {
            NONE => self.oldest = i,
            a => self.slot_mut(a).newer = i,
        }
        match newer {
            NONE => self.newest = i,
            n => self.slot_mut(n).older = i,
        }
    }

    /// Slot numbers from the least to the most recently used.
    fn lru_order(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors((self.oldest != NONE).then_some(self.oldest), |&i| {
            let n = self.slot(i).newer;
            (n != NONE).then_some(n)
        })
    }

    /// The hashes from the least to the most recently used (tests).
    #[cfg(test)]
    pub(super) fn hashes_oldest_first(&self) -> Vec<HashBinary> {
        self.lru_order().map(|i| self.slot(i).hash).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn index() -> Index {
        Index::new(Arc::new(MemoryTier::new(0, 0)), 4096)
    }

    fn put(idx: &mut Index, key: &str) {
        idx.insert(key::hash(key), Entry::new(key, 1, 1, SystemTime::now()));
    }

    fn order(idx: &Index) -> Vec<HashBinary> {
        idx.hashes_oldest_first()
    }

    fn hashes(keys: &[&str]) -> Vec<HashBinary> {
        keys.iter().map(|k| key::hash(k)).collect()
    }

    #[test]
    fn an_object_takes_whole_blocks_for_its_file() {
        let e = Entry::new("/k", 10_240, 300, SystemTime::UNIX_EPOCH);
        assert_eq!(e.disk_size(4096), 12_288);
        assert_eq!(e.disk_size(1), 10_540);
        let spills = Entry::new("/k", 12_000, 300, SystemTime::UNIX_EPOCH);
        assert_eq!(
            spills.disk_size(4096),
            16_384,
            "the meta into a fourth block"
        );
        let empty = Entry::new("/k", 0, 300, SystemTime::UNIX_EPOCH);
        assert_eq!(empty.disk_size(4096), 4_096);
    }

    #[test]
    fn the_total_counts_blocks() {
        let mut idx = index();
        idx.insert(
            key::hash("/a"),
            Entry::new("/a", 5_000, 200, SystemTime::now()),
        );
        idx.insert(
            key::hash("/b"),
            Entry::new("/b", 4_096, 200, SystemTime::now()),
        );
        assert_eq!(idx.total, 8_192 + 8_192);
        assert!(idx.set_meta_len(&key::hash("/b"), 100));
        assert_eq!(idx.lens(&key::hash("/b")), Some((4_096, 100)));
        assert_eq!(idx.total, 8_192 + 8_192);
        assert!(idx.set_meta_len(&key::hash("/a"), 4_000));
        assert_eq!(
            idx.total,
            12_288 + 8_192,
            "a larger meta takes one more block"
        );
        assert!(idx.remove(&key::hash("/a")));
        assert_eq!(idx.total, 8_192);
        assert!(!idx.remove(&key::hash("/a")));
        assert!(!idx.set_meta_len(&key::hash("/a"), 1));
        assert_eq!(idx.total, 8_192);
    }

    #[test]
    fn an_object_takes_a_slot_of_40_bytes() {
        // the figure the module doc and the README give
        assert_eq!(size_of::<Slot>(), 40);
    }

    #[test]
    fn least_recently_used_first_and_loaded_entries_older_than_live_ones() {
        let mut idx = index();
        put(&mut idx, "/live1");
        for k in ["/old1", "/old2"] {
            let e = Entry::new(k, 1, 1, SystemTime::UNIX_EPOCH);
            assert_eq!(idx.insert_loaded(key::hash(k), e, None), Loaded::Inserted);
        }
        put(&mut idx, "/live2");
        assert_eq!(order(&idx), hashes(&["/old1", "/old2", "/live1", "/live2"]));
        // a touched loaded entry becomes the newest; those loaded later still go before the live
        idx.touch(&key::hash("/old2"));
        let e = Entry::new("/old3", 1, 1, SystemTime::UNIX_EPOCH);
        idx.insert_loaded(key::hash("/old3"), e, None);
        assert_eq!(
            order(&idx),
            hashes(&["/old1", "/old3", "/live1", "/live2", "/old2"])
        );
        assert_eq!(idx.oldest(), Some(key::hash("/old1")));
        // a live entry indexed already stays as it is
        let again = Entry::new("/live1", 1, 1, SystemTime::UNIX_EPOCH);
        let present = idx.insert_loaded(key::hash("/live1"), again, None);
        assert_eq!(present, Loaded::Present);
        assert_eq!(idx.len(), 5);
    }

    #[test]
    fn removed_slots_are_used_again_and_the_list_stays_whole() {
        let mut idx = index();
        let keys: Vec<String> = (0..3 * CHUNK).map(|n| format!("/k{n}")).collect();
        for k in &keys {
            put(&mut idx, k);
        }
        for k in keys.iter().step_by(2) {
            assert!(idx.remove(&key::hash(k)));
        }
        for k in keys.iter().step_by(2) {
            put(&mut idx, k);
        }
        assert_eq!(
            idx.chunks.len(),
            3,
            "no slot was allocated beyond the first 3 chunks"
        );
        assert_eq!(idx.len(), keys.len());
        let odd = keys.iter().skip(1).step_by(2);
        let even = keys.iter().step_by(2);
        let expected: Vec<HashBinary> = odd.chain(even).map(|k| key::hash(k)).collect();
        assert_eq!(order(&idx), expected);
        for k in &keys {
            assert_eq!(idx.body_len(&key::hash(k)), Some(1), "{k}");
        }
    }

    #[test]
    fn variants_are_found_by_their_path_until_they_go() {
        let mut idx = index();
        for k in [
            "/g/a.jpg",
            "/g/a.jpg?w=100",
            "/g/a.jpg?w=200",
            "/g/ab.jpg?w=1",
        ] {
            put(&mut idx, k);
        }
        let mut of_a = idx.variants_of(&key::hash("/g/a.jpg"));
        of_a.sort();
        let mut expected = hashes(&["/g/a.jpg?w=100", "/g/a.jpg?w=200"]);
        expected.sort();
        assert_eq!(of_a, expected);
        idx.remove(&key::hash("/g/a.jpg?w=100"));
        assert_eq!(
            idx.variants_of(&key::hash("/g/a.jpg")),
            hashes(&["/g/a.jpg?w=200"])
        );
        idx.remove(&key::hash("/g/a.jpg?w=200"));
        assert!(idx.variants_of(&key::hash("/g/a.jpg")).is_empty());
        assert_eq!(idx.variants.len(), 1, "only /g/ab.jpg's");
    }

    #[test]
    fn loaded_entries_under_a_prefix_purged_while_loading_are_not_indexed() {
        let mut idx = index();
        idx.purged_while_loading.push("/g/gone/".into());
        let e = |k| Entry::new(k, 1, 1, SystemTime::UNIX_EPOCH);
        let gone = idx.insert_loaded(key::hash("/g/gone/x"), e("/g/gone/x"), Some("/g/gone/x"));
        assert_eq!(gone, Loaded::Purged);
        let kept = idx.insert_loaded(key::hash("/g/kept"), e("/g/kept"), Some("/g/kept"));
        assert_eq!(kept, Loaded::Inserted);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn entries_not_accessed_since() {
        let mut idx = index();
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        idx.insert(key::hash("/old"), Entry::new("/old", 1, 1, at(100)));
        idx.insert(key::hash("/new"), Entry::new("/new", 1, 1, at(200)));
        assert_eq!(idx.accessed_before(at(150)), hashes(&["/old"]));
        assert!(idx.accessed_before(at(50)).is_empty());
    }
}
