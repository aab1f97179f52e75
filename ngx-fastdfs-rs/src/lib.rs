//! `ngx_http_fastdfs_module` in Rust: a drop-in replacement for the C fastdfs-nginx-module, loaded
//! into stock nginx with `load_module`.
//!
//! - [`logic`]: URL → file id → one [`logic::Action`] (§1.2, §2, §3.6), no nginx types,
//!   unit-tested.
//! - [`instance`]: one loaded `mod_fastdfs.conf` and what it refers to (per nginx cycle).
//! - [`tracker`]: the startup fetch of `storage_sync_file_max_delay` and storage ids (§4.3).
//! - [`cache`]: the last good tracker answer, on disk under `base_path`.
//! - `ffi` (not in unit-test builds, which cannot link nginx symbols): carries out what `logic`
//!   decides: `ffi::module` (module, directives, configuration, variables), `ffi::handler` (the
//!   content handler) and `ffi::serve` (local files and trunk slots).

// FFI discipline: every unsafe operation sits in its own `unsafe` block with a `// SAFETY:` line,
// also inside `unsafe fn`s, and every public `unsafe fn` says what its caller must ensure.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod cache;
pub mod instance;
pub mod logic;
pub mod tracker;
mod variable;

#[cfg(not(test))]
mod ffi;

use std::net::IpAddr;
use std::path::Path;

use instance::{Instance, InstanceError};

/// Log levels used while loading (mapped to nginx's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `error`.
    Error,
    /// `warn`.
    Warn,
    /// `notice`.
    Notice,
    /// `info`.
    Info,
}

impl Level {
    /// The `NGX_LOG_*` value.
    pub fn nginx_level(self) -> u32 {
        match self {
            Level::Error => nginx_sys::NGX_LOG_ERR,
            Level::Warn => nginx_sys::NGX_LOG_WARN,
            Level::Notice => nginx_sys::NGX_LOG_NOTICE,
            Level::Info => nginx_sys::NGX_LOG_INFO,
        }
    }
}

/// Which nginx run loads the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// A start or reload (the master, or a single process): asks the trackers.
    Start,
    /// `nginx -t`/`-T`: uses the cached tracker answer unless `tracker_at_config_test` is set.
    Test,
    /// `nginx -s …`: only sends a signal, asks no tracker and logs no warning.
    Signal,
}

/// Load one `mod_fastdfs.conf` for a configuration cycle, including the tracker step when
/// `load_fdfs_parameters_from_tracker` is set (failures are logged, never fatal), and the checks
/// whose warnings the caller logs.
pub fn load_instance(
    path: &Path,
    ifaddrs: &[(String, IpAddr)],
    mode: LoadMode,
    log: &mut dyn FnMut(Level, &str),
) -> Result<Instance, InstanceError> {
    let mut inst = Instance::load(path, ifaddrs)?;
    if inst.conf.load_fdfs_parameters_from_tracker {
        tracker::load_from_trackers(&mut inst, mode, log);
    }
    // `nginx -t` without the trackers cannot know the members the start will learn from them.
    let members_unknowable = mode == LoadMode::Test
        && inst.conf.load_fdfs_parameters_from_tracker
        && !inst.conf.tracker_at_config_test;
    if !members_unknowable {
        inst.check_members();
    }
    inst.check_groups();
    Ok(inst)
}
