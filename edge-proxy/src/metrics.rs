//! Prometheus text exposition (format 0.0.4), without a metrics crate: a few counters and gauges
//! read from the topology and the disk cache.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::cache::disk::DiskCache;
use crate::graceful::InFlight;
use crate::topology::Topology;

const STATUSES: [u16; 16] = [
    200, 204, 206, 301, 302, 304, 400, 403, 404, 405, 413, 416, 431, 500, 502, 504,
];
const CACHE_STATUSES: [&str; 8] = [
    "HIT",
    "MISS",
    "EXPIRED",
    "STALE",
    "UPDATING",
    "REVALIDATED",
    "BYPASS",
    "-",
];

/// Requests by status and cache status: lock-free counters for the usual pairs, a map for the rest.
pub struct Metrics {
    common: Vec<AtomicU64>,
    other: Mutex<BTreeMap<(u16, &'static str), u64>>,
    purge_requests: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests being served (also what a graceful shutdown waits for).
    pub in_flight: InFlight,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            common: (0..STATUSES.len() * CACHE_STATUSES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            other: Mutex::default(),
            purge_requests: Mutex::default(),
            in_flight: InFlight::default(),
        }
    }
}

impl Metrics {
    pub fn request(&self, status: u16, cache: &'static str) {
        let si = STATUSES.iter().position(|&s| s == status);
        let ci = CACHE_STATUSES.iter().position(|&c| c == cache);
        match (si, ci) {
            (Some(si), Some(ci)) => {
                self.common[si * CACHE_STATUSES.len() + ci].fetch_add(1, Ordering::Relaxed);
            }
            _ => *self.other.lock().entry((status, cache)).or_insert(0) += 1,
        }
    }

    fn requests(&self) -> BTreeMap<(u16, &'static str), u64> {
        let mut all = self.other.lock().clone();
        for (si, s) in STATUSES.iter().enumerate() {
            for (ci, c) in CACHE_STATUSES.iter().enumerate() {
                let n = self.common[si * CACHE_STATUSES.len() + ci].load(Ordering::Relaxed);
                if n > 0 {
                    *all.entry((*s, *c)).or_insert(0) += n;
                }
            }
        }
        all
    }

    pub fn purge(&self, outcome: &'static str) {
        *self.purge_requests.lock().entry(outcome).or_insert(0) += 1;
    }

    pub fn render(&self, topo: &Topology, cache: &DiskCache) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP fdfs_edge_requests_total Requests served, by status and cache status."
        );
        let _ = writeln!(o, "# TYPE fdfs_edge_requests_total counter");
        for ((status, cs), n) in self.requests().iter() {
            let _ = writeln!(
                o,
                "fdfs_edge_requests_total{{status=\"{status}\",cache=\"{cs}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP fdfs_edge_purge_requests_total Purge requests, by outcome."
        );
        let _ = writeln!(o, "# TYPE fdfs_edge_purge_requests_total counter");
        for (outcome, n) in self.purge_requests.lock().iter() {
            let _ = writeln!(
                o,
                "fdfs_edge_purge_requests_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let groups = topo.snapshot();
        let mut names: Vec<&String> = groups.keys().collect();
        names.sort();
        let _ = writeln!(o, "# HELP fdfs_edge_upstream_attempts_total Requests sent to a storage (each try counts).");
        let _ = writeln!(o, "# TYPE fdfs_edge_upstream_attempts_total counter");
        for name in &names {
            for p in &groups[*name].peers {
                let _ = writeln!(
                    o,
                    "fdfs_edge_upstream_attempts_total{{group=\"{name}\",storage=\"{}\"}} {}",
                    p.addr,
                    p.attempts.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(o, "# HELP fdfs_edge_upstream_failures_total Failed tries (connect error, timeout, invalid header, 502, 504).");
        let _ = writeln!(o, "# TYPE fdfs_edge_upstream_failures_total counter");
        for name in &names {
            for p in &groups[*name].peers {
                let _ = writeln!(
                    o,
                    "fdfs_edge_upstream_failures_total{{group=\"{name}\",storage=\"{}\"}} {}",
                    p.addr,
                    p.failures.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(o, "# HELP fdfs_edge_upstream_healthy 1 when the storage passes active checks and is not passively marked down.");
        let _ = writeln!(o, "# TYPE fdfs_edge_upstream_healthy gauge");
        for name in &names {
            for p in &groups[*name].peers {
                let _ = writeln!(
                    o,
                    "fdfs_edge_upstream_healthy{{group=\"{name}\",storage=\"{}\"}} {}",
                    p.addr,
                    u8::from(p.healthy())
                );
            }
        }
        let s = &cache.stats;
        let gauges = [
            (
                "fdfs_edge_cache_size_bytes",
                "gauge",
                "Bytes of cached objects on disk.",
                cache.total_size(),
            ),
            (
                "fdfs_edge_requests_in_flight",
                "gauge",
                "Requests being served.",
                self.in_flight.get() as u64,
            ),
            (
                "fdfs_edge_cache_objects",
                "gauge",
                "Objects in the cache.",
                cache.total_items() as u64,
            ),
            (
                "fdfs_edge_cache_memory_bytes",
                "gauge",
                "Bytes of small objects also held in memory.",
                cache.memory_bytes(),
            ),
            (
                "fdfs_edge_cache_fills_in_progress",
                "gauge",
                "Objects being fetched into the cache (readable while they are written).",
                cache.fills_in_progress() as u64,
            ),
            (
                "fdfs_edge_cache_evictions_total",
                "counter",
                "Objects evicted to stay under max_size.",
                s.evictions.load(Ordering::Relaxed),
            ),
            (
                "fdfs_edge_cache_inactive_removed_total",
                "counter",
                "Objects removed after `inactive` without access.",
                s.inactive_removed.load(Ordering::Relaxed),
            ),
            (
                "fdfs_edge_cache_purged_total",
                "counter",
                "Objects removed by purge requests.",
                s.purges.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} {kind}");
            let _ = writeln!(o, "{name} {v}");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_common_and_rare_pairs() {
        let m = Metrics::default();
        m.request(200, "HIT");
        m.request(200, "HIT");
        m.request(418, "MISS");
        let r = m.requests();
        assert_eq!(r[&(200, "HIT")], 2);
        assert_eq!(r[&(418, "MISS")], 1);
        assert_eq!(r.len(), 2);
    }
}
