//! The nginx glue, in three rooms: [`module`] (the module object, its directives, configuration
//! structs and variables), [`handler`] (the content handler: asks [`crate::logic`] for one
//! [`Action`](crate::logic::Action) and carries it out) and [`serve`] (local files and trunk slots
//! through nginx's open file cache and output filters). Every `extern "C"` entry point goes through
//! [`guard`], so a panic becomes a 500 (or a configuration error) and never unwinds into nginx.
//!
//! Unsafe code stays in small blocks, each with the reason it holds (`// SAFETY:`); the functions
//! around them are safe and take the request as ngx's [`Request`].

mod handler;
mod module;
mod serve;

use std::panic::{catch_unwind, AssertUnwindSafe};

use nginx_sys::{
    ngx_http_core_loc_conf_t, ngx_http_core_module, ngx_http_request_t, ngx_int_t, ngx_pnalloc,
    ngx_str_t, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_OK,
};
use ngx::http::{HttpModuleConfExt, Request};

use crate::logic::{Refuse, Status};
use crate::variable::variable_value;
use crate::Level;

use module::{LocConf, MainConf};

const OK: ngx_int_t = NGX_OK as ngx_int_t;
const ERROR: ngx_int_t = NGX_ERROR as ngx_int_t;
const HTTP_500: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// Runs `f`; a panic is caught and `default` returned.
fn guard<R>(default: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// The raw pointer nginx's own functions take.
fn raw(req: &mut Request) -> *mut ngx_http_request_t {
    req.into()
}

/// Log `msg` with the `fastdfs: ` prefix in the request's connection log. `msg` is formatted
/// only when the log takes `level` (a proxied request's `info` line cost a `String` each time).
fn log(req: &Request, level: Level, msg: impl std::fmt::Display) {
    let log = req.log();
    if log.is_null() {
        return;
    }
    ngx::ngx_log_error!(level.nginx_level(), log, "fastdfs: {msg}");
}

/// Bytes shown as text in a log line, invalid UTF-8 replaced (as `String::from_utf8_lossy`),
/// converted only if the line is written.
struct Lossy<'a>(&'a [u8]);

impl std::fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// This module's main configuration for the request.
fn main_conf(req: &Request) -> Option<&MainConf> {
    // SAFETY: main_conf[ctx_index] of an HTTP request is the MainConf create_main_conf allocated
    // in the cycle pool, which outlives the request.
    unsafe { req.http_main_conf_unchecked::<MainConf>(module::module()) }
        // SAFETY: see above; only shared references are made from it during requests.
        .map(|p| unsafe { p.as_ref() })
}

/// This module's location configuration for the request.
fn loc_conf(req: &Request) -> Option<&LocConf> {
    // SAFETY: loc_conf[ctx_index] is the LocConf create_loc_conf allocated in the cycle pool.
    unsafe { req.http_location_conf_unchecked::<LocConf>(module::module()) }
        // SAFETY: see above; requests never write it.
        .map(|p| unsafe { p.as_ref() })
}

/// The core module's location configuration for the request.
fn core_loc_conf(req: &Request) -> Option<&ngx_http_core_loc_conf_t> {
    // SAFETY: `ngx_http_core_module` is a static nginx defines; reading its ctx_index is a plain
    // read of a value fixed before any request.
    let core = unsafe { &*std::ptr::addr_of!(ngx_http_core_module) };
    // SAFETY: loc_conf[core ctx_index] is always the core module's ngx_http_core_loc_conf_t.
    unsafe { req.http_location_conf_unchecked::<ngx_http_core_loc_conf_t>(core) }
        // SAFETY: see above; it lives in the cycle pool.
        .map(|p| unsafe { p.as_ref() })
}

/// A copy of `bytes` in the request pool (which lives as long as the request). `None` when the
/// pool is exhausted.
fn pool_str(req: &Request, bytes: &[u8]) -> Option<ngx_str_t> {
    // SAFETY: the request's pool is valid for the request's life.
    unsafe { ngx_str_t::from_bytes(req.as_ref().pool, bytes) }
}

/// `text` as an nginx string, without a copy: for nginx calls that only read it (or copy what
/// they keep), and for values that must outlive a request.
fn static_str(text: &'static str) -> ngx_str_t {
    ngx_str_t {
        len: text.len(),
        data: text.as_ptr() as *mut u8,
    }
}

/// A copy of `bytes` and a NUL in the request pool, as nginx opens a path: the NUL stays out of
/// the length. `None` when the pool is exhausted.
fn pool_c_str(req: &Request, bytes: &[u8]) -> Option<ngx_str_t> {
    // SAFETY: the request's pool is valid for the request's life.
    let data = unsafe { ngx_pnalloc(req.as_ref().pool, bytes.len() + 1) } as *mut u8;
    if data.is_null() {
        return None;
    }
    // SAFETY: `data` is a fresh allocation of `len + 1` bytes, apart from `bytes`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
        *data.add(bytes.len()) = 0;
    }
    Some(ngx_str_t {
        len: bytes.len(),
        data,
    })
}

/// The bytes of one of the request's own strings (`uri`, `args`), without copying them and without
/// borrowing the request, so the handler can go on using it mutably.
///
/// # Safety
/// `s` must be a string of a live request whose bytes stay unchanged for as long as the slice is
/// used (the request's pool and header buffer live until the request is finalized).
unsafe fn request_str<'a>(s: &ngx_str_t) -> &'a [u8] {
    if s.len == 0 || s.data.is_null() {
        return &[];
    }
    // SAFETY: the caller's promise; `data` points to `len` initialised bytes.
    unsafe { std::slice::from_raw_parts(s.data, s.len) }
}

/// Set the indexed variable `idx` of the request to `val` (copied into the request pool).
fn set_var(req: &mut Request, idx: ngx_int_t, val: &[u8]) -> bool {
    match pool_str(req, val) {
        Some(s) => set_var_to(req, idx, s),
        None => false,
    }
}

/// Set the indexed variable `idx` of the request to `s`, which must outlive the request (the
/// request pool, or static text). False if the request has no such variable.
fn set_var_to(req: &mut Request, idx: ngx_int_t, s: ngx_str_t) -> bool {
    let r = req.as_mut();
    if idx < 0 || r.variables.is_null() {
        return false;
    }
    // SAFETY: `variables` has one entry per indexed variable of the configuration and `idx` was
    // returned by ngx_http_get_variable_index for it.
    unsafe { *r.variables.add(idx as usize) = variable_value(s.data, s.len) };
    true
}

/// Set `$fastdfs_status` to its static text (nginx only reads a variable's bytes, as with its
/// own static `ngx_http_variable_true_value`): no copy into the pool on every request.
fn set_status(req: &mut Request, st: Status) {
    if let Some(idx) = main_conf(req).map(|m| m.var_status) {
        set_var_to(req, idx, static_str(st.as_str()));
    }
}

/// End the request as `refuse` says: log its line, set `$fastdfs_status`, return its status.
fn refuse(req: &mut Request, refuse: &Refuse) -> ngx_int_t {
    if let Some((level, line)) = &refuse.log {
        log(req, *level, line);
    }
    set_status(req, refuse.status);
    // An HTTP status (100..=599) always fits.
    refuse.code as ngx_int_t
}
