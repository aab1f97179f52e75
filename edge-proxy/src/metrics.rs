//! Prometheus text exposition (format 0.0.4), without a metrics crate: counters, gauges and
//! latency histograms, some read from the topology, the disk cache and the listeners.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::cache::disk::DiskCache;
use crate::graceful::InFlight;
use crate::limits::ConnStats;
use crate::memory::{self, ProcessStats};
use crate::topology::{Group, Peer, Topology};

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

/// The outcomes of `fdfs_edge_image_variants_total`.
const IMAGE_OUTCOMES: [&str; 7] = [
    "made",
    "bad_request",
    "queue_full",
    "original_missing",
    "original_refused",
    "refused_source",
    "failed",
];

/// Requests by status and cache status: lock-free counters for the usual pairs, a map for the rest.
pub struct Metrics {
    common: Vec<AtomicU64>,
    other: Mutex<BTreeMap<(u16, &'static str), u64>>,
    purge_requests: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests `[access]` refused, by reason (every reason listed from the start).
    access_denied: Mutex<BTreeMap<&'static str, u64>>,
    /// `[images]`: variant requests by outcome (every outcome listed from the start).
    image_variants: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests being served (also what a graceful shutdown waits for).
    pub in_flight: InFlight,
    /// Connections of the proxy listeners.
    pub connections: Arc<ConnStats>,
    /// Response body bytes sent to clients, by cache status (the byte hit ratio's inputs).
    sent_bytes: Vec<AtomicU64>,
    /// Request body bytes received from clients.
    received_bytes: AtomicU64,
    /// From the request header to the end of the response.
    pub request_duration: Histogram,
    /// Connecting to a storage (new connections only; a reused one takes no time).
    pub upstream_connect: Histogram,
    /// From choosing a storage to its response header (nginx `$upstream_header_time`).
    pub upstream_response: Histogram,
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A Prometheus histogram of durations: one counter per bucket (not cumulative; summed when
/// rendered), one for +Inf, and the sum in microseconds.
#[derive(Debug)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, o: &mut String, name: &str, help: &str) {
        let _ = writeln!(o, "# HELP {name} {help}");
        let _ = writeln!(o, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.counts[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(o, "{name}_sum {sum}");
        let _ = writeln!(o, "{name}_count {cumulative}");
    }
}

/// A counter family with one label: `(name, help)`, the label's name, the counts by value.
fn render_counters(
    o: &mut String,
    (name, help): (&str, &str),
    label: &str,
    counts: &BTreeMap<&'static str, u64>,
) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} counter");
    for (value, n) in counts {
        let _ = writeln!(o, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            common: (0..STATUSES.len() * CACHE_STATUSES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            other: Mutex::default(),
            purge_requests: Mutex::default(),
            access_denied: Mutex::new(
                crate::access::Denied::REASONS
                    .iter()
                    .chain(&["upload_refused", "unsigned_variant"])
                    .map(|r| (*r, 0))
                    .collect(),
            ),
            image_variants: Mutex::new(IMAGE_OUTCOMES.iter().map(|o| (*o, 0)).collect()),
            in_flight: InFlight::default(),
            connections: Arc::default(),
            sent_bytes: (0..CACHE_STATUSES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            received_bytes: AtomicU64::new(0),
            request_duration: Histogram::default(),
            upstream_connect: Histogram::default(),
            upstream_response: Histogram::default(),
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

    /// Body bytes of a finished request: `sent` to the client with cache status `cache`,
    /// `received` from it.
    pub fn bytes(&self, cache: &'static str, sent: usize, received: usize) {
        let i = CACHE_STATUSES
            .iter()
            .position(|&c| c == cache)
            .unwrap_or(CACHE_STATUSES.len() - 1);
        self.sent_bytes[i].fetch_add(sent as u64, Ordering::Relaxed);
        self.received_bytes
            .fetch_add(received as u64, Ordering::Relaxed);
    }

    fn render_bytes(&self, o: &mut String) {
        let _ = writeln!(o, "# HELP fdfs_edge_sent_bytes_total Response body bytes sent to clients, by cache status.");
        let _ = writeln!(o, "# TYPE fdfs_edge_sent_bytes_total counter");
        for (i, cs) in CACHE_STATUSES.iter().enumerate() {
            let n = self.sent_bytes[i].load(Ordering::Relaxed);
            let _ = writeln!(o, "fdfs_edge_sent_bytes_total{{cache=\"{cs}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP fdfs_edge_received_bytes_total Request body bytes received from clients."
        );
        let _ = writeln!(o, "# TYPE fdfs_edge_received_bytes_total counter");
        let n = self.received_bytes.load(Ordering::Relaxed);
        let _ = writeln!(o, "fdfs_edge_received_bytes_total {n}");
    }

    fn render_connections(&self, o: &mut String) {
        let c = &self.connections;
        let _ = writeln!(
            o,
            "# HELP fdfs_edge_build_info Version of fdfs-edge and of the Pingora it is built on."
        );
        let _ = writeln!(o, "# TYPE fdfs_edge_build_info gauge");
        let _ = writeln!(
            o,
            "fdfs_edge_build_info{{version=\"{}\",pingora=\"0.9\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            o,
            "# HELP fdfs_edge_connections_open Client connections open on the proxy listeners."
        );
        let _ = writeln!(o, "# TYPE fdfs_edge_connections_open gauge");
        let _ = writeln!(
            o,
            "fdfs_edge_connections_open {}",
            c.open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP fdfs_edge_connections_accepted_total Client connections accepted."
        );
        let _ = writeln!(o, "# TYPE fdfs_edge_connections_accepted_total counter");
        let _ = writeln!(
            o,
            "fdfs_edge_connections_accepted_total {}",
            c.accepted.load(Ordering::Relaxed)
        );
        let _ = writeln!(o, "# HELP fdfs_edge_connections_closed_total Client connections closed by a limit: max_connections (refused), client_header_timeout, max_header_size.");
        let _ = writeln!(o, "# TYPE fdfs_edge_connections_closed_total counter");
        for (reason, n) in [
            ("max_connections", &c.refused),
            ("header_timeout", &c.header_timeouts),
            ("header_too_large", &c.header_too_large),
        ] {
            let _ = writeln!(
                o,
                "fdfs_edge_connections_closed_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }

    pub fn purge(&self, outcome: &'static str) {
        *self.purge_requests.lock().entry(outcome).or_insert(0) += 1;
    }

    pub fn image_variant(&self, outcome: &'static str) {
        *self.image_variants.lock().entry(outcome).or_insert(0) += 1;
    }

    pub fn access_denied(&self, reason: &'static str) {
        *self.access_denied.lock().entry(reason).or_insert(0) += 1;
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
        render_counters(
            &mut o,
            (
                "fdfs_edge_purge_requests_total",
                "Purge requests, by outcome.",
            ),
            "outcome",
            &self.purge_requests.lock(),
        );
        render_counters(
            &mut o,
            (
                "fdfs_edge_access_denied_total",
                "Requests refused by [access] or [upload] (403), by reason.",
            ),
            "reason",
            &self.access_denied.lock(),
        );
        render_counters(
            &mut o,
            (
                "fdfs_edge_image_variants_total",
                "[images]: variants made, and variant requests refused, by outcome.",
            ),
            "outcome",
            &self.image_variants.lock(),
        );
        self.render_connections(&mut o);
        self.render_bytes(&mut o);
        self.request_duration.render(
            &mut o,
            "fdfs_edge_request_duration_seconds",
            "Requests (purges excepted), from the request header to the end of the response.",
        );
        self.upstream_connect.render(
            &mut o,
            "fdfs_edge_upstream_connect_seconds",
            "New connections to storages, time to connect.",
        );
        self.upstream_response.render(
            &mut o,
            "fdfs_edge_upstream_response_seconds",
            "Requests sent to a storage, time until its response header (each try counts).",
        );
        render_storages(&mut o, topo);
        self.render_cache(&mut o, cache);
        render_memory(&mut o, cache);
        o
    }

    /// The cache's gauges and counters (and the requests in flight), one series each.
    fn render_cache(&self, o: &mut String, cache: &DiskCache) {
        let s = &cache.stats;
        let gauges = [
            (
                "fdfs_edge_cache_size_bytes",
                "gauge",
                "Disk space of the cached objects (whole blocks), what max_size bounds.",
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
                "Bytes the memory tier holds (bounded by memory_size): small objects' bodies, their meta and hit headers.",
                cache.memory_bytes(),
            ),
            (
                "fdfs_edge_cache_memory_objects",
                "gauge",
                "Objects the memory tier holds.",
                cache.memory_objects(),
            ),
            (
                "fdfs_edge_cache_index_loading",
                "gauge",
                "1 while the index is loaded from the files on disk after a start (objects and bytes are partial until then).",
                u64::from(cache.is_loading()),
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
                "fdfs_edge_cache_memory_hits_total",
                "counter",
                "Cache hits whose body was in memory.",
                s.memory_hits.load(Ordering::Relaxed),
            ),
            (
                "fdfs_edge_cache_memory_misses_total",
                "counter",
                "Cache hits whose body was read from disk (not in memory yet, not admitted to it, or larger than memory_object_size).",
                s.memory_misses.load(Ordering::Relaxed),
            ),
            (
                "fdfs_edge_cache_lookups_on_pool_total",
                "counter",
                "Cache lookups whose files were not all in the page cache, read on the blocking pool (aio_threads).",
                s.lookups_on_pool.load(Ordering::Relaxed),
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
    }
}

/// One series per storage: a counter or gauge named `name`, labelled with its group and address.
fn render_per_storage(
    o: &mut String,
    groups: &[(&String, &Arc<Group>)],
    (name, kind, help): (&str, &str, &str),
    value: impl Fn(&Peer) -> u64,
) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
    for (group, g) in groups {
        for p in &g.peers {
            let _ = writeln!(
                o,
                "{name}{{group=\"{group}\",storage=\"{}\"}} {}",
                p.addr,
                value(p)
            );
        }
    }
}

/// Tries, failures and health of every storage, groups in name order.
fn render_storages(o: &mut String, topo: &Topology) {
    let snapshot = topo.snapshot();
    let now = std::time::Instant::now();
    let mut groups: Vec<(&String, &Arc<Group>)> = snapshot.iter().collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    render_per_storage(
        o,
        &groups,
        (
            "fdfs_edge_upstream_attempts_total",
            "counter",
            "Requests sent to a storage (each try counts).",
        ),
        |p| p.attempts.load(Ordering::Relaxed),
    );
    render_per_storage(
        o,
        &groups,
        (
            "fdfs_edge_upstream_failures_total",
            "counter",
            "Failed tries (connect error, timeout, invalid header, 502, 504).",
        ),
        |p| p.failures.load(Ordering::Relaxed),
    );
    render_per_storage(
        o,
        &groups,
        (
            "fdfs_edge_upstream_healthy",
            "gauge",
            "1 when the storage passes active checks and is not passively marked down.",
        ),
        |p| u64::from(p.healthy(now)),
    );
}

/// The process collector's standard series, and where the resident memory goes: the parts of the
/// heap the cache accounts for, the rest of the heap, and what is resident outside the heap
/// (code, stacks, and memory the allocator keeps for reuse). The parts add up to the RSS.
fn render_memory(o: &mut String, cache: &DiskCache) {
    let Some(p) = ProcessStats::read() else {
        return;
    };
    let process = [
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes as f64,
        ),
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            p.open_fds as f64,
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            p.max_fds as f64,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        ),
    ];
    for (name, kind, help, v) in process {
        let _ = writeln!(o, "# HELP {name} {help}");
        let _ = writeln!(o, "# TYPE {name} {kind}");
        let _ = writeln!(o, "{name} {v}");
    }
    let Some(heap) = memory::heap_bytes() else {
        return;
    };
    let c = cache.heap_parts();
    let cached = c.memory_bodies + c.memory_meta_and_headers + c.index;
    let parts = [
        ("cache_memory_bodies", c.memory_bodies),
        ("cache_memory_meta_and_headers", c.memory_meta_and_headers),
        ("cache_index", c.index),
        ("heap_other", heap.saturating_sub(cached)),
        ("outside_heap", p.resident_bytes.saturating_sub(heap)),
    ];
    let name = "fdfs_edge_memory_bytes";
    let _ = writeln!(o, "# HELP {name} Resident memory by part: the memory tier's bodies, their meta and hit headers, the cache index (an estimate), the rest of the heap (connections, buffers, fills), and what is resident outside the heap (code, stacks, memory the allocator keeps for reuse). The parts add up to process_resident_memory_bytes.");
    let _ = writeln!(o, "# TYPE {name} gauge");
    for (part, v) in parts {
        let _ = writeln!(o, "{name}{{part=\"{part}\"}} {v}");
    }
    let name = "fdfs_edge_heap_bytes";
    let _ = writeln!(
        o,
        "# HELP {name} Heap bytes in use (allocated and not freed)."
    );
    let _ = writeln!(o, "# TYPE {name} gauge");
    let _ = writeln!(o, "{name} {heap}");
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
