//! What the storage's tests share: a leaked cache on a temporary directory, and putting and
//! getting whole objects through Pingora's `Storage` seam.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheMeta, Storage};
use pingora::http::ResponseHeader;

use super::disk::{DiskCache, DiskCacheOptions, PrepareHit};

/// The stored header of a 200 as it is, so that the tests see every such object in memory as a
/// fast hit; other statuses, as the proxy's, are not.
#[derive(Debug)]
pub struct AsStored;

impl PrepareHit for AsStored {
    fn prepare(&self, stored: &ResponseHeader, _body_len: u64) -> Option<ResponseHeader> {
        (stored.status.as_u16() == 200).then(|| stored.clone())
    }
}

fn options(dir: &Path, max: u64, memory_size: u64, memory_object_size: u64) -> DiskCacheOptions {
    DiskCacheOptions {
        dir: dir.to_path_buf(),
        max_size: max,
        memory_size,
        memory_object_size,
        aio_threads: true,
        hit_headers: Arc::new(AsStored),
    }
}

pub fn leak_with(
    dir: &Path,
    max: u64,
    memory_size: u64,
    memory_object_size: u64,
) -> &'static DiskCache {
    let opts = options(dir, max, memory_size, memory_object_size);
    Box::leak(Box::new(DiskCache::open(opts).unwrap()))
}

/// A cache on `dir` whose index is not loaded yet ([`DiskCache::open_unloaded`]).
pub fn leak_unloaded(dir: &Path, max: u64) -> &'static DiskCache {
    let opts = options(dir, max, 1 << 20, 1024);
    Box::leak(Box::new(DiskCache::open_unloaded(opts).unwrap()))
}

pub fn leak(dir: &Path, max: u64) -> &'static DiskCache {
    leak_with(dir, max, 1 << 20, 1024)
}

/// As [`leak`], with files read on the worker (`aio_threads = false`).
pub fn leak_reading_on_worker(dir: &Path, max: u64) -> &'static DiskCache {
    let opts = DiskCacheOptions {
        aio_threads: false,
        ..options(dir, max, 1 << 20, 1024)
    };
    Box::leak(Box::new(DiskCache::open(opts).unwrap()))
}

pub fn sp() -> SpanHandle {
    pingora::cache::trace::Span::inactive().handle()
}

/// A stored answer header of `status`.
pub fn header(status: u16) -> ResponseHeader {
    let mut h = ResponseHeader::build(status, None).unwrap();
    h.insert_header("content-type", "text/plain").unwrap();
    h
}

/// A 200 fresh for an hour.
pub fn meta() -> CacheMeta {
    let now = SystemTime::now();
    CacheMeta::new(now + Duration::from_secs(3600), now, 0, 0, header(200))
}

pub async fn put(c: &'static DiskCache, key: &str, body: &[u8]) {
    put_with(c, key, body, &meta()).await
}

pub async fn put_with(c: &'static DiskCache, key: &str, body: &[u8], meta: &CacheMeta) {
    let k = super::key::cache_key(key);
    let span = sp();
    let mut m = c.get_miss_handler(&k, meta, &span).await.unwrap();
    for part in body.chunks(7000) {
        m.write_body(Bytes::copy_from_slice(part), false)
            .await
            .unwrap();
    }
    m.finish().await.unwrap();
}

pub async fn get(c: &'static DiskCache, key: &str) -> Option<Vec<u8>> {
    let k = super::key::cache_key(key);
    let (m, mut hit) = c.lookup(&k, &sp()).await.unwrap()?;
    assert_eq!(m.response_header().status.as_u16(), 200);
    let mut out = Vec::new();
    while let Some(b) = hit.read_body().await.unwrap() {
        out.extend_from_slice(&b);
    }
    Some(out)
}

pub fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
