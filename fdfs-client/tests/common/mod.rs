//! What the test files of this crate share.

use std::path::{Path, PathBuf};

/// The conformance vectors captured from a real cluster: `FDFS_VECTORS_DIR`, else the first
/// `<ancestor>/shared/vectors` above this crate (CI clones the repository with `shared/` beside it).
/// Missing vectors fail the test: they are what the test checks against.
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
