//! What the test files of this crate share (each uses part of it).
#![allow(dead_code)]

// The vectors' location rule is the integration harness's, shared by every crate's tests (this crate
// cannot depend on the harness, which depends on it).
#[path = "../../../tests/integration/src/vectors.rs"]
mod vectors;

#[allow(unused_imports)]
pub use vectors::{read_vector, read_vector_text, vector_path, vectors_dir};
