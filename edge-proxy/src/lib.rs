//! fdfs-edge: a Pingora caching reverse proxy for the tracker nodes of a FastDFS cluster
//! (replaces nginx `proxy_cache` + `ngx_cache_purge`). See `README.md` for the configuration.
//!
//! The library exists for the `fdfs-edge` binary (`main.rs`): the modules it uses are public,
//! the rest is private to the crate (nothing outside the crate, tests and benches included,
//! links against it; the end-to-end suites run the binary).

// What `main.rs` uses.
pub mod access;
pub mod clock;
pub mod config;
pub mod images;
pub mod logging;
pub mod memory;
pub mod migrate;
pub mod preflight;
pub mod server;
pub mod sign;
pub mod tls;

mod access_log;
mod admin;
mod background;
mod cache;
mod discovery;
mod gateway;
mod graceful;
mod limits;
mod metrics;
mod peers;
mod proxy;
mod settings;
mod topology;
