//! Where the conformance vectors are: the bytes captured from a real FastDFS 6.16.1 cluster and the C
//! module (`shared/vectors`, kept beside this repository, not in it; see its README).
//!
//! One rule for every crate's tests (this file is also included by `fdfs-client`'s and `fdfs-emu`'s
//! test helpers, with `#[path]`, since those crates cannot depend on this one): `FDFS_VECTORS_DIR`,
//! else the first `<ancestor>/shared/vectors` above the crate. A missing directory or file fails the
//! test with a message saying what to do; it never skips, and nothing stands in for the real bytes,
//! since they are what the test checks against. Only `std` here.

use std::path::{Path, PathBuf};

/// The vectors directory (panics with what to do when it is not there).
pub fn vectors_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FDFS_VECTORS_DIR") {
        let d = PathBuf::from(d);
        assert!(
            d.is_dir(),
            "FDFS_VECTORS_DIR={} is not a directory",
            d.display()
        );
        return d;
    }
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared").join("vectors"))
        .find(|c| c.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "FastDFS conformance vectors not found: no ancestor of {} has shared/vectors \
                 (put the steering repo's shared/ next to this repo, or set FDFS_VECTORS_DIR)",
                start.display()
            )
        })
}

/// `rel` (e.g. `files/small_10k.jpg`) under [`vectors_dir`]; panics when it is missing.
pub fn vector_path(rel: &str) -> PathBuf {
    let p = vectors_dir().join(rel);
    assert!(
        p.exists(),
        "conformance vector {} is missing (an incomplete shared/vectors?)",
        p.display()
    );
    p
}

/// The bytes of vector `rel`.
pub fn read_vector(rel: &str) -> Vec<u8> {
    let p = vector_path(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The text of vector `rel`.
pub fn read_vector_text(rel: &str) -> String {
    let p = vector_path(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}
