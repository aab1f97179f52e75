//! FastDFS for Rust.
//!
//! The lower half has no tokio and, but for [`blocking`], no I/O, so the nginx module can use it
//! inside a worker:
//! - [`proto`]: the wire protocol, bytes to frames and back;
//! - [`file_id`]: parsing, decoding and encoding file ids (with [`base64`], FastDFS's variant);
//! - [`conf`]: the libfastcommon ini dialect and the typed configs built on it;
//! - [`addr`]: [`addr::ServerAddr`], the one server address type;
//! - [`token`]: the anti-steal token;
//! - [`decimal`]: numbers written without run-time format interpretation (per-request text);
//! - [`disposition`]: `Content-Disposition` for a download name;
//! - [`utc`]: Unix seconds to a UTC date and time (the tool's reports, the edge's access log);
//! - [`blocking`]: a small blocking `std::net` transport over [`proto`], for the nginx master
//!   process (never a worker) and the emulator's tests.
//!
//! The upper half (feature `client`, on by default) is an async tokio client.

#![forbid(unsafe_code)]

pub mod addr;
pub mod base64;
pub mod blocking;
pub mod conf;
pub mod decimal;
pub mod disposition;
pub mod file_id;
pub mod proto;
pub mod token;
pub mod utc;

#[cfg(feature = "client")]
pub mod client;
