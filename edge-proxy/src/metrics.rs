//! Prometheus text exposition (format 0.0.4), without a metrics crate: a few counters and gauges
//! read from the topology and the disk cache.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use crate::cache::disk::DiskCache;
use crate::topology::Topology;

/// Requests by status code and cache status.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(u16, &'static str), u64>>,
    purge_requests: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn request(&self, status: u16, cache: &'static str) {
        *self.requests.lock().entry((status, cache)).or_insert(0) += 1;
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
        for ((status, cs), n) in self.requests.lock().iter() {
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
