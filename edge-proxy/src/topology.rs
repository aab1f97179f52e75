//! Groups of storages, peer selection (smooth weighted round robin, like nginx) and health state:
//! passive (`max_fails` within `fail_timeout` marks a storage down for `fail_timeout`) and active
//! (the HTTP probes of the background service, `background.rs`, set `Peer::set_active_ok`).
//!
//! Nothing here reads the clock: the passive rules take `now` from the caller (the proxy, the
//! admin and metrics endpoints), so the tests step time forward instead of sleeping.
//!
//! Why not `pingora-load-balancing` (its `ServiceDiscovery`, `HealthCheck` and `Weighted`
//! selection, read in 0.9.1)? Its `LoadBalancer` balances one flat set of backends, where
//! FastDFS needs one set per group, all replaced at once from a single tracker answer, each
//! storage keeping its state when it stays ([`Topology::set`]); `ServiceDiscovery::discover`
//! returns one flat set, so the tracker answer would be fetched or split once per group. Its
//! `Weighted` selection repeats each backend `weight` times in a list and walks or hashes it
//! (weights 5:1 send five requests in a row to one storage), not nginx's smooth weighted round
//! robin, which the tracker nginx being replaced uses and the edge keeps. It has no passive
//! health: nginx's `max_fails` / `fail_timeout`, counted from real requests
//! ([`Topology::failure`]), is what takes a storage out between two active probes.
//! So the edge keeps this small module and does not enable Pingora's `lb` feature.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

#[derive(Debug, Default)]
struct Passive {
    fails: u32,
    window_start: Option<Instant>,
    down_until: Option<Instant>,
}

/// One storage (an HTTP server of a storage node).
#[derive(Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub weight: u32,
    passive: Mutex<Passive>,
    /// Result of the active health check (storages start healthy).
    active_ok: AtomicBool,
    pub(crate) consecutive_ok: AtomicU32,
    pub(crate) consecutive_fail: AtomicU32,
    pub attempts: AtomicU64,
    pub failures: AtomicU64,
}

impl Peer {
    pub fn new(addr: SocketAddr, weight: u32) -> Peer {
        Peer {
            addr,
            weight: weight.max(1),
            passive: Mutex::new(Passive::default()),
            active_ok: AtomicBool::new(true),
            consecutive_ok: AtomicU32::new(0),
            consecutive_fail: AtomicU32::new(0),
            attempts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    pub fn active_ok(&self) -> bool {
        self.active_ok.load(Ordering::Relaxed)
    }

    pub(crate) fn set_active_ok(&self, ok: bool) {
        let was = self.active_ok.swap(ok, Ordering::Relaxed);
        if was != ok {
            if ok {
                tracing::info!("storage {} is healthy again (active check)", self.addr);
            } else {
                tracing::warn!("storage {} is unhealthy (active check)", self.addr);
            }
        }
    }

    /// Passively marked down at `now` (`max_fails` failures, for `fail_timeout`).
    pub fn passive_down(&self, now: Instant) -> bool {
        let p = self.passive.lock();
        matches!(p.down_until, Some(t) if now < t)
    }

    /// Usable for a first choice at `now`: active check OK and not passively marked down.
    pub fn healthy(&self, now: Instant) -> bool {
        self.active_ok() && !self.passive_down(now)
    }
}

/// A FastDFS group and its storages.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub peers: Vec<Arc<Peer>>,
    current: Mutex<Vec<i64>>,
}

impl Group {
    pub fn new(name: String, peers: Vec<Arc<Peer>>) -> Group {
        let n = peers.len();
        Group {
            name,
            peers,
            current: Mutex::new(vec![0; n]),
        }
    }

    /// Picks the next storage not in `tried`: healthy ones at `now` first (smooth weighted round
    /// robin); when none is healthy, any untried one (nginx also tries a peer when all are
    /// marked failed).
    pub fn select(&self, tried: &[SocketAddr], now: Instant) -> Option<Arc<Peer>> {
        let untried = |p: &Arc<Peer>| !tried.contains(&p.addr);
        self.swrr(|p| untried(p) && p.healthy(now))
            .or_else(|| self.swrr(|p| untried(p)))
    }

    fn swrr(&self, ok: impl Fn(&Arc<Peer>) -> bool) -> Option<Arc<Peer>> {
        let mut cur = self.current.lock();
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for (i, p) in self.peers.iter().enumerate() {
            if !ok(p) {
                continue;
            }
            let w = i64::from(p.weight);
            cur[i] += w;
            total += w;
            if best.is_none_or(|b| cur[i] > cur[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        cur[b] -= total;
        Some(self.peers[b].clone())
    }

    pub fn any_healthy(&self, now: Instant) -> bool {
        self.peers.iter().any(|p| p.healthy(now))
    }
}

/// All groups; replaced as a whole when the trackers report a new topology.
pub struct Topology {
    groups: RwLock<Arc<HashMap<String, Arc<Group>>>>,
    max_fails: u32,
    fail_timeout: Duration,
}

impl Topology {
    pub fn new(max_fails: u32, fail_timeout: Duration) -> Topology {
        Topology {
            groups: RwLock::new(Arc::new(HashMap::new())),
            max_fails,
            fail_timeout,
        }
    }

    pub fn group(&self, name: &str) -> Option<Arc<Group>> {
        self.groups.read().get(name).cloned()
    }

    pub fn snapshot(&self) -> Arc<HashMap<String, Arc<Group>>> {
        self.groups.read().clone()
    }

    /// Replaces the topology; storages already known keep their health state and counters.
    pub fn set(&self, groups: Vec<(String, Vec<(SocketAddr, u32)>)>) {
        let old = self.snapshot();
        let mut known: HashMap<SocketAddr, Arc<Peer>> = HashMap::new();
        for g in old.values() {
            for p in &g.peers {
                known.insert(p.addr, p.clone());
            }
        }
        let mut map = HashMap::new();
        for (name, storages) in groups {
            let peers = storages
                .into_iter()
                .map(|(addr, w)| match known.get(&addr) {
                    Some(p) if p.weight == w.max(1) => p.clone(),
                    _ => Arc::new(Peer::new(addr, w)),
                })
                .collect();
            map.insert(name.clone(), Arc::new(Group::new(name, peers)));
        }
        *self.groups.write() = Arc::new(map);
    }

    /// An error talking to `peer` at `now` (connect error, timeout, invalid header, 502/504).
    pub fn failure(&self, peer: &Peer, now: Instant) {
        peer.failures.fetch_add(1, Ordering::Relaxed);
        if self.max_fails == 0 {
            return;
        }
        let mut p = peer.passive.lock();
        let fresh_window = p
            .window_start
            .is_none_or(|s| now.duration_since(s) > self.fail_timeout);
        if fresh_window {
            p.fails = 0;
            p.window_start = Some(now);
        }
        p.fails += 1;
        if p.fails >= self.max_fails {
            p.down_until = Some(now + self.fail_timeout);
            p.fails = 0;
            p.window_start = None;
            tracing::warn!(
                "storage {} marked down for {:?} after {} failures",
                peer.addr,
                self.fail_timeout,
                self.max_fails
            );
        }
    }

    /// A good response from `peer`.
    pub fn success(&self, peer: &Peer) {
        let mut p = peer.passive.lock();
        if p.fails != 0 {
            p.fails = 0;
            p.window_start = None;
        }
    }

    pub fn any_healthy(&self, now: Instant) -> bool {
        self.snapshot().values().any(|g| g.any_healthy(now))
    }

    /// The configured or discovered group names, sorted (for messages).
    pub fn group_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.snapshot().keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn weighted_round_robin() {
        let t = Topology::new(3, Duration::from_secs(30));
        t.set(vec![("g".into(), vec![(a(1), 1), (a(2), 2)])]);
        let g = t.group("g").unwrap();
        let now = Instant::now();
        let picks: Vec<u16> = (0..6)
            .map(|_| g.select(&[], now).unwrap().addr.port())
            .collect();
        assert_eq!(picks.iter().filter(|&&p| p == 2).count(), 4);
        assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 2);
    }

    #[test]
    fn passive_marks_down_and_tried_excluded() {
        let t = Topology::new(2, Duration::from_secs(30));
        t.set(vec![("g".into(), vec![(a(1), 1), (a(2), 1)])]);
        let g = t.group("g").unwrap();
        let p1 = g.peers[0].clone();
        let now = Instant::now();
        t.failure(&p1, now);
        assert!(p1.healthy(now));
        t.failure(&p1, now);
        assert!(!p1.healthy(now));
        for _ in 0..4 {
            assert_eq!(g.select(&[], now).unwrap().addr, a(2));
        }
        // all others tried: the down one is still offered
        assert_eq!(g.select(&[a(2)], now).unwrap().addr, a(1));
        assert!(g.select(&[a(1), a(2)], now).is_none());
    }

    #[test]
    fn set_keeps_state() {
        let t = Topology::new(1, Duration::from_secs(30));
        t.set(vec![("g".into(), vec![(a(1), 1)])]);
        let p = t.group("g").unwrap().peers[0].clone();
        let now = Instant::now();
        t.failure(&p, now);
        t.set(vec![("g".into(), vec![(a(1), 1), (a(3), 1)])]);
        assert!(!t.group("g").unwrap().peers[0].healthy(now));
        assert!(t.group("h").is_none());
    }

    #[test]
    fn marked_down_for_fail_timeout_then_offered_again() {
        let fail_timeout = Duration::from_secs(30);
        let t = Topology::new(2, fail_timeout);
        t.set(vec![("g".into(), vec![(a(1), 1), (a(2), 1)])]);
        let g = t.group("g").unwrap();
        let p1 = g.peers[0].clone();
        let t0 = Instant::now();
        t.failure(&p1, t0);
        t.failure(&p1, t0 + Duration::from_secs(1));
        let down_at = t0 + Duration::from_secs(1);
        assert!(p1.passive_down(down_at));
        assert!(p1.passive_down(down_at + fail_timeout - Duration::from_millis(1)));
        assert!(!t.group("g").unwrap().peers[1].passive_down(down_at));
        // back once fail_timeout has passed, and chosen again
        let later = down_at + fail_timeout;
        assert!(p1.healthy(later));
        let picks: Vec<SocketAddr> = (0..2).map(|_| g.select(&[], later).unwrap().addr).collect();
        assert!(picks.contains(&a(1)), "{picks:?}");
        assert!(t.any_healthy(later));
    }

    #[test]
    fn failures_further_apart_than_fail_timeout_do_not_add_up() {
        let fail_timeout = Duration::from_secs(10);
        let t = Topology::new(2, fail_timeout);
        t.set(vec![("g".into(), vec![(a(1), 1)])]);
        let p = t.group("g").unwrap().peers[0].clone();
        let t0 = Instant::now();
        t.failure(&p, t0);
        // the second failure opens a new window: one failure in it, not two
        let t1 = t0 + fail_timeout + Duration::from_secs(1);
        t.failure(&p, t1);
        assert!(p.healthy(t1));
        assert!(t.any_healthy(t1));
        // a success clears the count: the next failure is the first again
        t.success(&p);
        t.failure(&p, t1);
        assert!(p.healthy(t1));
        t.failure(&p, t1);
        assert!(!p.healthy(t1));
        assert!(!t.any_healthy(t1));
        // max_fails = 0: failures are counted, never acted on
        let off = Topology::new(0, fail_timeout);
        off.set(vec![("g".into(), vec![(a(1), 1)])]);
        let q = off.group("g").unwrap().peers[0].clone();
        for _ in 0..5 {
            off.failure(&q, t0);
        }
        assert!(q.healthy(t0));
        assert_eq!(q.failures.load(Ordering::Relaxed), 5);
    }
}
