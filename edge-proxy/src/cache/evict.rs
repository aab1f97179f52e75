//! Eviction: least recently used entries go when the cache is over `max_size` (after every
//! insertion), entries not accessed for `inactive` go at each sweep. Pingora's eviction manager
//! is not used: the index already keeps the LRU order, and it must survive restarts with the
//! files.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::disk::DiskCache;

impl DiskCache {
    /// Removes least recently used entries until the cache fits in `max_size`.
    pub(super) fn evict_if_needed(&self) {
        if self.is_loading() {
            // The total is not known yet, and the least recently used entries not indexed yet.
            return;
        }
        let mut victims = Vec::new();
        {
            let mut idx = self.index.write();
            while idx.total > self.opts.max_size {
                let Some(h) = idx.oldest() else {
                    break;
                };
                idx.remove(&h);
                victims.push(h);
            }
        }
        for h in victims {
            self.unlink(&h);
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes entries not accessed for `inactive`. Returns how many were removed.
    pub fn sweep_inactive(&self, inactive: Duration) -> usize {
        // `inactive` is whole seconds or more, and accesses are kept in whole seconds
        let before = SystemTime::now().checked_sub(inactive);
        let mut victims = Vec::new();
        if let Some(before) = before {
            let mut idx = self.index.write();
            for h in idx.accessed_before(before) {
                if idx.remove(&h) {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{body, get, leak, put};

    #[tokio::test]
    async fn lru_eviction_and_inactive() {
        let d = tempfile::tempdir().unwrap();
        // room for three 10 KB objects as the disk holds them (in 4 KiB blocks: 12 KiB each,
        // body and meta), not for four
        let one = tempfile::tempdir().unwrap();
        let measure = leak(one.path(), 1 << 30);
        put(measure, "/k1", &body(10_000, 1)).await;
        let per_object = measure.total_size();
        let room = 3 * per_object + per_object / 2;
        let c = leak(d.path(), room);
        put(c, "/k1", &body(10_000, 1)).await;
        put(c, "/k2", &body(10_000, 2)).await;
        put(c, "/k3", &body(10_000, 3)).await;
        // touch k1 so k2 is the least recently used
        assert!(get(c, "/k1").await.is_some());
        put(c, "/k4", &body(10_000, 4)).await;
        assert!(get(c, "/k2").await.is_none(), "LRU victim must be k2");
        assert!(get(c, "/k1").await.is_some());
        assert!(get(c, "/k4").await.is_some());
        assert!(c.total_size() <= room);
        assert!(c.stats.evictions.load(std::sync::atomic::Ordering::Relaxed) >= 1);
        assert_eq!(c.sweep_inactive(std::time::Duration::from_secs(3600)), 0);
        let n = c.total_items();
        assert_eq!(c.sweep_inactive(std::time::Duration::ZERO), n);
        assert_eq!(c.total_items(), 0);
    }
}
