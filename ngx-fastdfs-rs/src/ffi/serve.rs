//! The serving paths: a local file or a trunk slot, opened through nginx's open file cache and sent
//! as an in-file buffer (sendfile, range, not_modified and ETag filters), like the static module.

use std::ffi::c_void;
use std::path::Path;
use std::ptr::null_mut;

use nginx_sys::{
    ngx_buf_t, ngx_chain_t, ngx_file_t, ngx_http_set_content_type, ngx_http_set_disable_symlinks,
    ngx_http_set_etag, ngx_int_t, ngx_open_cached_file, ngx_open_file_info_t, ngx_pcalloc,
    ngx_str_t, ngx_uint_t, off_t, time_t, NGX_HTTP_OK,
};
use ngx::http::Request;

use super::handler::add_header;
use super::{core_loc_conf, log, pool_c_str, pool_str, refuse, set_status, ERROR, HTTP_500, OK};
use crate::instance::Instance;
use crate::logic::{self, Action, Refuse, Slot, SlotOwner, Status, Target};
use crate::Level;

/// How a serving action ended.
pub(super) enum Served {
    /// The request is answered (or failed) with this code.
    Done(ngx_int_t),
    /// Not on this disk: the caller goes on with the not-local rules.
    Missing,
}

/// A file opened through the open file cache.
struct Opened {
    of: ngx_open_file_info_t,
    path: ngx_str_t,
}

/// Carry out [`Action::ServeFile`] or [`Action::ServeTrunk`] for `t`.
pub(super) fn serve(req: &mut Request, inst: &Instance, t: &Target<'_>, action: Action) -> Served {
    match action {
        Action::ServeFile { path, mtime } => {
            let opened = match open_cached(req, &path) {
                Ok(o) => o,
                Err(served) => return served,
            };
            let size = opened.of.size;
            let mtime = mtime.unwrap_or(opened.of.mtime);
            Served::Done(send_file(req, &opened, 0, size, mtime, t, inst))
        }
        Action::ServeTrunk {
            container,
            slot_offset,
            owner,
        } => {
            let opened = match open_cached(req, &container) {
                Ok(o) => o,
                Err(served) => return served,
            };
            serve_slot(req, inst, t, &opened, slot_offset, &owner)
        }
        _ => Served::Missing,
    }
}

/// Serve the trunk slot at `slot_offset` of the opened container, following a link once.
fn serve_slot(
    req: &mut Request,
    inst: &Instance,
    t: &Target<'_>,
    opened: &Opened,
    slot_offset: u64,
    owner: &SlotOwner,
) -> Served {
    let (info, follow_link) = match owner {
        SlotOwner::Requested => (&t.info, true),
        SlotOwner::LinkTarget(info) => (&**info, false),
    };
    let mut hdr = [0u8; fdfs_client::file_id::TRUNK_HEADER_SIZE];
    // A 24-byte pread: small and bounded, like the static module's own stat calls.
    let n = pread(opened, &mut hdr, slot_offset);
    let size = opened.of.size.max(0) as u64;
    let slot = logic::trunk_slot(&hdr[..n], slot_offset, size, info, follow_link);
    match slot {
        Slot::Data { start, len, mtime } => {
            let rc = send_file(req, opened, start as i64, len as i64, mtime, t, inst);
            Served::Done(rc)
        }
        Slot::Link { start, len } => {
            // The slot holds the name of the file it links to: at most 256 bytes, read at once.
            let mut buf = vec![0u8; len as usize];
            if pread(opened, &mut buf, start) != buf.len() {
                return Served::Missing;
            }
            let Some(group) = t.group.and_then(|gi| inst.conf.groups.get(gi)) else {
                return Served::Missing;
            };
            match logic::link_action(group, &buf) {
                Ok(Some(action)) => serve(req, inst, t, action),
                Ok(None) => Served::Missing,
                Err(reason) => {
                    log(req, Level::Info, &reason);
                    Served::Missing
                }
            }
        }
        Slot::Missing(reason) => {
            if let Some(reason) = reason {
                log(req, Level::Info, &reason);
            }
            Served::Missing
        }
    }
}

/// `pread` into all of `buf` at `offset`; the count read (0 on error).
fn pread(opened: &Opened, buf: &mut [u8], offset: u64) -> usize {
    let Ok(offset) = libc::off_t::try_from(offset) else {
        return 0;
    };
    // SAFETY: `fd` is open (the open file cache keeps it for the request) and `buf` is writable
    // for its length.
    let n = unsafe {
        libc::pread(
            opened.of.fd,
            buf.as_mut_ptr() as *mut c_void,
            buf.len(),
            offset,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

/// Open `full` with nginx's open file cache. `Err(Missing)` if absent, `Err(Done)` for an error
/// that ends the request.
fn open_cached(req: &mut Request, full: &Path) -> Result<Opened, Served> {
    use std::os::unix::ffi::OsStrExt;
    let fail = |req: &mut Request, r: Refuse| Err(Served::Done(refuse(req, &r)));
    let internal = Refuse::silent(500, Status::Error);
    let Some(clcf) = core_loc_conf(req).map(|c| c as *const _ as *mut _) else {
        return fail(req, internal);
    };
    let Some(mut path) = pool_c_str(req, full.as_os_str().as_bytes()) else {
        return fail(req, internal);
    };
    // SAFETY: ngx_open_file_info_t is a plain C struct for which all-zero is the initial state
    // (the static module starts from ngx_memzero too).
    let mut of: ngx_open_file_info_t = unsafe { std::mem::zeroed() };
    {
        // SAFETY: `clcf` is the request's core location conf (read only here).
        let c: &nginx_sys::ngx_http_core_loc_conf_t = unsafe { &*clcf };
        of.read_ahead = c.read_ahead;
        of.directio = c.directio;
        of.valid = c.open_file_cache_valid;
        of.min_uses = c.open_file_cache_min_uses;
        of.set_errors(c.open_file_cache_errors as _);
        of.set_events(c.open_file_cache_events as _);
    }
    let r = super::raw(req);
    // SAFETY: the request, its core loc conf, a NUL-terminated pool path and our `of`, as the
    // static module passes them.
    if unsafe { ngx_http_set_disable_symlinks(r, clcf, &mut path, &mut of) } != OK {
        return fail(req, internal);
    }
    // SAFETY: as above; the open file cache of the location and the request pool (the file is
    // closed with the pool, or kept by the cache).
    let rc =
        unsafe { ngx_open_cached_file((*clcf).open_file_cache, &mut path, &mut of, (*r).pool) };
    if rc != OK {
        return match logic::open_failure(full, of.err as i32) {
            None => Err(Served::Missing),
            Some(r) => fail(req, r),
        };
    }
    if of.is_file() == 0 {
        return Err(Served::Missing);
    }
    Ok(Opened { of, path })
}

/// Send `len` bytes at `start` of the opened file (after the FLV header when `start` is
/// shifted by `?start=`), with `Last-Modified` `mtime`.
fn send_file(
    req: &mut Request,
    o: &Opened,
    start: i64,
    len: i64,
    mtime: i64,
    t: &Target<'_>,
    inst: &Instance,
) -> ngx_int_t {
    let has_range = !req.as_ref().headers_in.range.is_null();
    let (mut start, mut len, mut prefix): (i64, i64, &'static [u8]) = (start, len, &[]);
    let flv = logic::flv_range(inst, t, has_range, len.max(0) as u64);
    match &flv {
        None => {}
        Some(Err(reason)) => return refuse(req, &Refuse::bad_request(reason)),
        Some(Ok((s, e))) => {
            start += *s as i64;
            len = (*e - *s) as i64;
            if *s > 0 {
                prefix = &logic::FLV_HEADER;
            }
        }
    }
    set_status(req, Status::Local);
    let rc = send_headers(req, len + prefix.len() as i64, mtime, flv.is_none(), t);
    if rc == ERROR || rc > OK || req.header_only() {
        return rc;
    }
    let Some(file_buf) = file_buf(req, o, start, len) else {
        return ERROR;
    };
    let mut out = ngx_chain_t {
        buf: file_buf,
        next: null_mut(),
    };
    if prefix.is_empty() {
        return req.output_filter(&mut out).0;
    }
    let hb = memory_buf(req, prefix);
    if hb.is_null() {
        return ERROR;
    }
    let mut head = ngx_chain_t {
        buf: hb,
        next: &mut out,
    };
    req.output_filter(&mut head).0
}

/// Status, length, Last-Modified, ETag and ranges (not for FLV), type and disposition; then the
/// header is sent.
fn send_headers(
    req: &mut Request,
    length: i64,
    mtime: i64,
    whole: bool,
    t: &Target<'_>,
) -> ngx_int_t {
    {
        let out = &mut req.as_mut().headers_out;
        out.status = NGX_HTTP_OK as ngx_uint_t;
        out.content_length_n = length as off_t;
        out.last_modified_time = mtime as time_t;
    }
    let r = super::raw(req);
    if whole {
        // SAFETY: the request, with its headers_out being filled.
        if unsafe { ngx_http_set_etag(r) } != OK {
            return HTTP_500;
        }
        req.as_mut().set_allow_ranges(1);
    }
    // SAFETY: as above.
    if unsafe { ngx_http_set_content_type(r) } != OK {
        return HTTP_500;
    }
    if let Some(name) = &t.filename {
        let v = logic::content_disposition(name);
        if add_header(req, c"Content-Disposition", v.as_bytes()).is_null() {
            return HTTP_500;
        }
    }
    req.send_header().0
}

/// A zeroed buffer of the request pool; null when the pool is exhausted.
fn pool_buf(req: &Request) -> *mut ngx_buf_t {
    // SAFETY: the request pool; nginx buffers start zeroed (ngx_calloc_buf).
    unsafe { ngx_pcalloc(req.as_ref().pool, std::mem::size_of::<ngx_buf_t>()) as *mut ngx_buf_t }
}

/// An in-file buffer over `len` bytes at `start` of the opened file, last in the response.
fn file_buf(req: &mut Request, o: &Opened, start: i64, len: i64) -> Option<*mut ngx_buf_t> {
    let is_main = req.is_main();
    let log = req.log();
    let b = pool_buf(req);
    // SAFETY: the request pool, for a zeroed ngx_file_t.
    let f = unsafe { ngx_pcalloc(req.as_ref().pool, std::mem::size_of::<ngx_file_t>()) };
    // SAFETY: both are fresh zeroed pool allocations (or null), ours to fill.
    let (b, f) = unsafe { ((b.as_mut())?, (f as *mut ngx_file_t).as_mut()?) };
    b.file_pos = start as off_t;
    b.file_last = (start + len) as off_t;
    b.set_in_file(u32::from(len > 0));
    b.set_last_buf(u32::from(is_main));
    b.set_last_in_chain(1);
    b.set_sync(u32::from(len == 0));
    f.fd = o.of.fd;
    f.name = o.path;
    f.log = log;
    f.set_directio(o.of.is_directio());
    b.file = f;
    Some(b)
}

/// A pool-allocated buffer over `bytes`, which must outlive the request (static or per-cycle
/// data: nothing is copied). Null when the pool is exhausted.
fn memory_buf(req: &Request, bytes: &[u8]) -> *mut ngx_buf_t {
    let b = pool_buf(req);
    // SAFETY: a fresh zeroed pool allocation (or null), ours to fill.
    let Some(buf) = (unsafe { b.as_mut() }) else {
        return b;
    };
    let range = bytes.as_ptr_range();
    buf.pos = range.start as *mut u8;
    buf.last = range.end as *mut u8;
    buf.start = buf.pos;
    buf.end = buf.last;
    buf.set_memory(u32::from(!bytes.is_empty()));
    b
}

/// Answer 200 with `body` (per-cycle bytes: the token-fail file) and `content_type`.
pub(super) fn send_memory(req: &mut Request, body: &[u8], content_type: &str) -> ngx_int_t {
    let Some(ct) = pool_str(req, content_type.as_bytes()) else {
        return HTTP_500;
    };
    {
        let out = &mut req.as_mut().headers_out;
        out.status = NGX_HTTP_OK as ngx_uint_t;
        out.content_length_n = body.len() as off_t;
        out.content_type_len = ct.len;
        out.content_type = ct;
    }
    let rc = req.send_header().0;
    if rc == ERROR || rc > OK || req.header_only() {
        return rc;
    }
    // The bytes live in the per-cycle instance, which outlives the request: no copy needed.
    let b = memory_buf(req, body);
    // SAFETY: a fresh buffer (or null).
    let Some(buf) = (unsafe { b.as_mut() }) else {
        return ERROR;
    };
    buf.set_last_buf(u32::from(req.is_main()));
    buf.set_last_in_chain(1);
    buf.set_sync(u32::from(body.is_empty()));
    let mut out = ngx_chain_t {
        buf: b,
        next: null_mut(),
    };
    req.output_filter(&mut out).0
}
