//! fdfs-edge: a Pingora caching reverse proxy for the tracker nodes of a FastDFS cluster
//! (replaces nginx `proxy_cache` + `ngx_cache_purge`). See `README.md` for the configuration.

pub mod access_log;
pub mod admin;
pub mod background;
pub mod cache;
pub mod config;
pub mod discovery;
pub mod graceful;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod migrate;
pub mod preflight;
pub mod proxy;
pub mod server;
mod settings;
pub mod topology;
