//! Prefix purges under way. A prefix purge reads every object file to find its keys (the index
//! keeps none), which takes minutes on a large cache; until its walk reaches an object, that
//! object would still be served. Lookups ask [`PurgesUnderWay::covers`] instead: an object under
//! a prefix being purged, stored before the purge began, is a miss (and purged there), so a purge
//! takes effect for clients when it is accepted, not when its walk ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

#[derive(Default)]
pub(super) struct PurgesUnderWay {
    /// `list.len()`, read without the lock: lookups pay one atomic load when no purge runs.
    count: AtomicUsize,
    list: Mutex<Vec<Walk>>,
}

struct Walk {
    id: u64,
    prefix: String,
    began: SystemTime,
    background: bool,
}

/// A purge under way, ended when dropped (also when its walk fails or panics).
pub(super) struct Underway<'a> {
    purges: &'a PurgesUnderWay,
    id: u64,
}

impl PurgesUnderWay {
    /// Records the purge of `prefix` begun at `now`.
    pub(super) fn begin(&self, prefix: &str, now: SystemTime) -> Underway<'_> {
        let mut list = self.list.lock();
        self.push(&mut list, prefix, now, false)
    }

    /// As [`PurgesUnderWay::begin`] for a walk in the background, unless one runs for `prefix`
    /// already (`None`: it covers this purge too, since it began earlier and ends later).
    pub(super) fn begin_in_background(
        &self,
        prefix: &str,
        now: SystemTime,
    ) -> Option<Underway<'_>> {
        let mut list = self.list.lock();
        if list.iter().any(|w| w.background && w.prefix == prefix) {
            return None;
        }
        Some(self.push(&mut list, prefix, now, true))
    }

    fn push(
        &self,
        list: &mut Vec<Walk>,
        prefix: &str,
        now: SystemTime,
        background: bool,
    ) -> Underway<'_> {
        // ids only tell this list's entries apart: the largest one plus one is free
        let id = list.iter().map(|w| w.id + 1).max().unwrap_or(0);
        list.push(Walk {
            id,
            prefix: prefix.to_string(),
            began: now,
            background,
        });
        self.count.store(list.len(), Ordering::Release);
        Underway { purges: self, id }
    }

    /// Whether the object of `key`, stored at `created`, is being purged: its key is under a
    /// prefix being purged and it was stored before that purge began (one stored since was
    /// fetched after the purge, and stays).
    pub(super) fn covers(&self, key: &str, created: SystemTime) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.list
            .lock()
            .iter()
            .any(|w| created <= w.began && key.starts_with(&w.prefix))
    }
}

impl Drop for Underway<'_> {
    fn drop(&mut self) {
        let mut list = self.purges.list.lock();
        list.retain(|w| w.id != self.id);
        self.purges.count.store(list.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn objects_stored_before_a_purge_under_its_prefix_are_covered_until_it_ends() {
        let purges = PurgesUnderWay::default();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let before = t - Duration::from_secs(1);
        let after = t + Duration::from_secs(1);
        assert!(!purges.covers("/g/a/1", before));
        let walk = purges.begin("/g/a/", t);
        assert!(purges.covers("/g/a/1", before));
        assert!(purges.covers("/g/a/1", t));
        assert!(!purges.covers("/g/a/1", after), "fetched after the purge");
        assert!(!purges.covers("/g/b/1", before), "another prefix");
        drop(walk);
        assert!(!purges.covers("/g/a/1", before));
    }

    #[test]
    fn one_background_walk_per_prefix_and_each_ends_its_own() {
        let purges = PurgesUnderWay::default();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let first = purges.begin_in_background("/g/a/", t).expect("first walk");
        assert!(purges.begin_in_background("/g/a/", t).is_none());
        let other = purges
            .begin_in_background("/g/b/", t)
            .expect("another prefix");
        // a purge by hand of the same prefix walks anyway: its answer counts what it removed
        let by_hand = purges.begin("/g/a/", t);
        drop(first);
        assert!(purges.covers("/g/a/x", t), "the purge by hand still runs");
        assert!(purges.begin_in_background("/g/a/", t).is_some());
        drop(by_hand);
        assert!(!purges.covers("/g/a/x", t));
        assert!(purges.covers("/g/b/x", t));
        drop(other);
        assert!(!purges.covers("/g/b/x", t));
    }
}
