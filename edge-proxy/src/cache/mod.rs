//! The edge's cache storage, behind Pingora's `Storage` seam: bytes and meta on disk and in
//! memory. Which headers an answer carries and how long an object is fresh are the proxy's
//! (`crate::proxy`); the storage keeps what the proxy prepared (see [`disk::PrepareHit`]).
//!
//! One file per job: [`disk`] the storage (open, lookups, memory tier, purges), `files` the
//! directory layout and the scan at start, `index` the in-memory index and LRU order, `tier` the
//! memory tier (pingora's TinyUFO), `object_file` the format of an object's file, `hit` the hit handler,
//! `miss` the miss handler, `purging` the prefix purges under way, `reads` how a lookup reads its
//! files (from the page cache on the worker, else on the blocking pool), `evict` eviction by size
//! and inactivity, `fill` the fills readable while written, [`key`] the cache key.

pub mod disk;
mod evict;
mod files;
mod fill;
mod hit;
mod index;
pub mod key;
mod miss;
mod object_file;
mod purging;
mod reads;
#[cfg(test)]
mod test_util;
mod tier;
