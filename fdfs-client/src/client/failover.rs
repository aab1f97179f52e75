//! [`TrackerSet`]: the configured trackers, round robin, and a cool-down for the ones that failed.
//!
//! A call starts at the next tracker in turn and moves on when a tracker cannot be reached, hangs up, times
//! out or answers garbage. A tracker that failed is skipped for the cool-down, then probed again by the
//! next call. When every tracker is cooling down they are all tried anyway (cooling ones last), so a
//! cluster whose trackers come back is usable at once.
//!
//! The set never reads the clock: every call that depends on time takes `now`, so the caller
//! decides what time it is (the client passes `Instant::now()`, the tests advance a base instant).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::addr::ServerAddr;

#[derive(Debug)]
struct Slot {
    addr: ServerAddr,
    down_until: Mutex<Option<Instant>>,
}

/// The trackers of a cluster with their health.
#[derive(Debug)]
pub(crate) struct TrackerSet {
    slots: Vec<Slot>,
    next: AtomicUsize,
    cool_down: Duration,
}

impl TrackerSet {
    pub fn new(addrs: Vec<ServerAddr>, cool_down: Duration) -> Self {
        let slots = addrs
            .into_iter()
            .map(|addr| Slot {
                addr,
                down_until: Mutex::new(None),
            })
            .collect();
        TrackerSet {
            slots,
            next: AtomicUsize::new(0),
            cool_down,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn addrs(&self) -> impl Iterator<Item = &ServerAddr> {
        self.slots.iter().map(|s| &s.addr)
    }

    fn cooling(&self, slot: &Slot, now: Instant) -> bool {
        let mut guard = slot.down_until.lock().unwrap_or_else(|p| p.into_inner());
        match *guard {
            Some(t) if t > now => true,
            Some(_) => {
                // Cool-down over: probe it again.
                *guard = None;
                false
            }
            None => false,
        }
    }

    /// The trackers to try for one call, in order: healthy ones round robin, then cooling-down ones.
    pub fn order(&self, now: Instant) -> Vec<&ServerAddr> {
        let n = self.slots.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut healthy = Vec::with_capacity(n);
        let mut cooling = Vec::new();
        for i in 0..n {
            if let Some(slot) = self.slots.get((start + i) % n) {
                if self.cooling(slot, now) {
                    cooling.push(&slot.addr);
                } else {
                    healthy.push(&slot.addr);
                }
            }
        }
        healthy.extend(cooling);
        healthy
    }

    fn slot(&self, addr: &ServerAddr) -> Option<&Slot> {
        self.slots.iter().find(|s| &s.addr == addr)
    }

    /// `addr` failed at `now`: skip it for the cool-down.
    pub fn mark_down(&self, addr: &ServerAddr, now: Instant) {
        if let Some(slot) = self.slot(addr) {
            let mut guard = slot.down_until.lock().unwrap_or_else(|p| p.into_inner());
            *guard = Some(now + self.cool_down);
            tracing::warn!(tracker = %addr, cool_down = ?self.cool_down, "tracker failed, skipping it for the cool-down");
        }
    }

    /// `addr` answered.
    pub fn mark_up(&self, addr: &ServerAddr) {
        if let Some(slot) = self.slot(addr) {
            let mut guard = slot.down_until.lock().unwrap_or_else(|p| p.into_inner());
            if guard.take().is_some() {
                tracing::info!(tracker = %addr, "tracker is back");
            }
        }
    }

    /// Whether `addr` is cooling down at `now`.
    pub fn is_down(&self, addr: &ServerAddr, now: Instant) -> bool {
        self.slot(addr).is_some_and(|s| {
            let guard = s.down_until.lock().unwrap_or_else(|p| p.into_inner());
            guard.is_some_and(|t| t > now)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> ServerAddr {
        s.parse().unwrap()
    }

    #[test]
    fn round_robin_and_cool_down() {
        let now = Instant::now();
        let set = TrackerSet::new(
            vec![a("10.0.0.1:1"), a("10.0.0.2:1"), a("10.0.0.3:1")],
            Duration::from_secs(3600),
        );
        let firsts: Vec<String> = (0..3).map(|_| set.order(now)[0].to_string()).collect();
        assert_eq!(firsts, ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]);
        set.mark_down(&a("10.0.0.2:1"), now);
        assert!(set.is_down(&a("10.0.0.2:1"), now));
        for _ in 0..6 {
            let order = set.order(now);
            assert_eq!(order.len(), 3);
            assert_eq!(
                order[2].to_string(),
                "10.0.0.2:1",
                "cooling tracker goes last"
            );
        }
        set.mark_up(&a("10.0.0.2:1"));
        assert!(!set.is_down(&a("10.0.0.2:1"), now));
    }

    #[test]
    fn cool_down_expires() {
        let now = Instant::now();
        let set = TrackerSet::new(vec![a("10.0.0.1:1"), a("10.0.0.2:1")], Duration::ZERO);
        set.mark_down(&a("10.0.0.1:1"), now);
        // A zero cool-down is over at once: the tracker is probed again in its turn.
        let order = set.order(now);
        assert_eq!(order[0].to_string(), "10.0.0.1:1");
        assert!(TrackerSet::new(vec![], Duration::ZERO)
            .order(now)
            .is_empty());
    }

    #[test]
    fn cool_down_ends_when_time_advances() {
        let t0 = Instant::now();
        let cool = Duration::from_secs(30);
        let set = TrackerSet::new(vec![a("10.0.0.1:1"), a("10.0.0.2:1")], cool);
        set.mark_down(&a("10.0.0.1:1"), t0);
        let almost = t0 + cool - Duration::from_millis(1);
        assert!(set.is_down(&a("10.0.0.1:1"), almost));
        for _ in 0..4 {
            assert_eq!(set.order(almost)[1].to_string(), "10.0.0.1:1");
        }
        // At the end of the cool-down it is probed again in its turn, without any sleep.
        let later = t0 + cool;
        assert!(!set.is_down(&a("10.0.0.1:1"), later));
        let firsts: Vec<String> = (0..2).map(|_| set.order(later)[0].to_string()).collect();
        assert!(firsts.contains(&"10.0.0.1:1".to_owned()), "{firsts:?}");
    }
}
