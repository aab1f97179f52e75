//! The cache key, built in one place: the proxy names a request's object with [`of_request`] and
//! hands Pingora [`cache_key`] of it; the storage finds an object (fast hits, purges, a meta file
//! read at start) by [`hash`] of the same string, which is the hash Pingora computes for that key.

use pingora::cache::key::{hash_key, HashBinary};
use pingora::cache::CacheKey;

/// nginx's `proxy_cache_key $uri$is_args$args`, over the canonical path and query (an empty
/// query is `None`): `path` or `path?query`.
pub fn of_request(path: &str, query: Option<&str>) -> String {
    match query {
        // joined by hand: `format!` costs more than the rest of this for every request
        Some(q) => {
            let mut key = String::with_capacity(path.len() + 1 + q.len());
            key.push_str(path);
            key.push('?');
            key.push_str(q);
            key
        }
        None => path.to_string(),
    }
}

/// Pingora's key for `key`: the primary key alone, no user tag and no variance, since the edge
/// keeps one copy per URL.
pub fn cache_key(key: &str) -> CacheKey {
    CacheKey::new(key, "")
}

/// What `cache_key(key).combined_bin()` is, without building a `CacheKey` (no copy of `key`):
/// with no variance Pingora's combined hash is the hash of the primary key.
pub fn hash(key: &str) -> HashBinary {
    hash_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::cache::key::CacheHashKey;

    #[test]
    fn key_format() {
        assert_eq!(of_request("/g/a", None), "/g/a");
        assert_eq!(of_request("/g/a", Some("x=1")), "/g/a?x=1");
    }

    #[test]
    fn hash_is_pingoras() {
        for k in ["/g/a", "/g/a?x=1", "", "/group1/M00/00/00/%2F"] {
            assert_eq!(hash(k), cache_key(k).combined_bin(), "{k}");
        }
    }
}
