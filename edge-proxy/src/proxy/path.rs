//! The one spelling of a request's path (the cache key, the purge key and what the storage is
//! asked for all use it) and the group it routes to.

use std::sync::Arc;

use super::Edge;
use crate::topology::Group;

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Rejects paths that are not absolute, contain NUL, a bad escape, or a `..` segment (also encoded).
fn path_is_safe(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    let Some(dec) = percent_decode(path) else {
        return false;
    };
    if dec.contains(&0) {
        return false;
    }
    !dec.split(|&c| c == b'/' || c == b'\\')
        .any(|seg| seg == b"..")
}

/// Decodes the escapes of unreserved characters (RFC 3986 §2.3) and writes the others in upper
/// case. `None` on a bad escape.
fn decode_unreserved(path: &str) -> Option<Vec<u8>> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let h = b.get(i + 1..i + 3)?;
        let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        if v.is_ascii_alphanumeric() || b"-._~".contains(&v) {
            out.push(v);
        } else {
            out.extend_from_slice(format!("%{v:02X}").as_bytes());
        }
        i += 3;
    }
    Some(out)
}

/// Whether `path` is already its one spelling, as a file id's path always is: no escape, no
/// backslash or NUL, no empty (but the last), `.` or `..` segment. One pass over the bytes, where
/// building the spelling again decodes, splits and joins (a tenth of a cache hit's instructions).
fn already_canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.bytes().any(|c| matches!(c, b'%' | b'\\' | 0)) {
        return false;
    }
    let mut segs = rest.split('/').peekable();
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        if seg == "." || seg == ".." || (seg.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// The one spelling of a path used for the cache key, the purge key and the storage (RFC 3986
/// §6.2.2, and nginx's `merge_slashes`): unreserved characters decoded, `//` merged, `.`
/// segments removed. `None` when the path is not safe (see [`path_is_safe`]).
pub(super) fn canonical_path(path: &str) -> Option<String> {
    if already_canonical(path) {
        return Some(path.to_string());
    }
    spelled(path)
}

/// The spelling built: decoded, split, `.` and empty segments dropped, joined.
fn spelled(path: &str) -> Option<String> {
    if !path_is_safe(path) {
        return None;
    }
    let decoded = String::from_utf8(decode_unreserved(path)?).ok()?;
    let segs: Vec<&str> = decoded[1..].split('/').collect();
    let mut kept = Vec::with_capacity(segs.len());
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "" | "." if !last => {}
            // `/a/.` is `/a/`
            "." => kept.push(""),
            seg => kept.push(seg),
        }
    }
    Some(format!("/{}", kept.join("/")))
}

/// The query as part of a key: an empty one (a bare `?`) is no query.
pub(super) fn canonical_query(query: Option<&str>) -> Option<&str> {
    query.filter(|q| !q.is_empty())
}

impl Edge {
    /// The group a canonical path routes to: its first segment. `None` (answered 404) when no
    /// such group is configured.
    pub(super) fn group_of(&self, path: &str) -> Option<Arc<Group>> {
        let group_name = path[1..].split('/').next().unwrap_or("");
        let group = self.topology.group(group_name);
        if group.is_none() {
            // nginx logs why it answers 404; an unknown group is usually a configuration mistake
            tracing::info!(
                "404 {path}: group `{group_name}` is not configured (groups: {})",
                self.topology.group_names().join(", ")
            );
        }
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_rejected() {
        assert!(path_is_safe("/group1/M00/00/00/a.jpg"));
        assert!(!path_is_safe("/group1/../etc/passwd"));
        assert!(!path_is_safe("/group1/%2e%2e/x"));
        assert!(!path_is_safe("/group1/%2E%2E"));
        assert!(!path_is_safe("/group1/a%00b"));
        assert!(!path_is_safe("/group1/a%zz"));
        assert!(!path_is_safe("relative"));
        assert!(path_is_safe("/group1/a..b"));
    }

    #[test]
    fn one_spelling_per_path() {
        for (spelled_as, canonical) in [
            ("/group1/M00/00/00/a.jpg", "/group1/M00/00/00/a.jpg"),
            ("/group1/M00/./00/00/a.jpg", "/group1/M00/00/00/a.jpg"),
            ("//group1//M00///a.jpg", "/group1/M00/a.jpg"),
            ("/group1/M00/%61%2Ejpg", "/group1/M00/a.jpg"),
            ("/group1/%7e%2dx", "/group1/~-x"),
            ("/group1/a%2fb%3f", "/group1/a%2Fb%3F"),
            ("/group1/dir/", "/group1/dir/"),
            ("/group1/dir/.", "/group1/dir/"),
            ("/", "/"),
        ] {
            assert_eq!(
                canonical_path(spelled_as).as_deref(),
                Some(canonical),
                "{spelled_as}"
            );
            assert_eq!(spelled(spelled_as).as_deref(), Some(canonical));
        }
        assert_eq!(canonical_path("/group1/../x"), None);
        assert_eq!(canonical_path("/group1/a\\..\\b"), None);
        assert_eq!(canonical_path("/group1/%2e%2E/x"), None);
        assert_eq!(canonical_path("/group1/a%2"), None);
        assert_eq!(canonical_query(Some("")), None);
        assert_eq!(canonical_query(Some("w=1")), Some("w=1"));
    }

    /// The shortcut says "already canonical" only of paths the spelling leaves as they are (and
    /// the cases of `one_spelling_per_path` give the same through both).
    #[test]
    fn the_shortcut_agrees_with_the_spelling() {
        let parts = [
            "", "/", ".", "..", "a", "%61", "%2f", "\\", "\0", "M00", "a.jpg", "..b",
        ];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    let path = format!("/{a}/{b}{c}");
                    if already_canonical(&path) {
                        checked += 1;
                        assert_eq!(spelled(&path).as_deref(), Some(path.as_str()));
                        assert!(path_is_safe(&path), "{path}");
                    }
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }
}
