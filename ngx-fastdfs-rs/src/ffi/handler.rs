//! The content handler: reads the request, asks [`logic`] for the [`Action`] and carries it out.

use std::ffi::CStr;

use nginx_sys::{
    add_to_ngx_table, ngx_connection_local_sockaddr, ngx_http_request_t, ngx_int_t, ngx_list_push,
    ngx_table_elt_t, ngx_uint_t, NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_MOVED_TEMPORARILY,
    NGX_HTTP_NOT_ALLOWED,
};
use ngx::http::Request;

use super::serve::{self, Served};
use super::{guard, log, main_conf, refuse, request_str, set_status, set_var, Lossy, HTTP_500, OK};
use crate::instance::Instance;
use crate::logic::{self, Action, Origin, Refuse, Status};
use crate::Level;

pub(super) extern "C" fn content_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(HTTP_500, || {
        // SAFETY: nginx calls a content handler with a valid request, alive until finalized, and
        // ngx's Request is a transparent wrapper of ngx_http_request_t.
        let req = unsafe { Request::from_ngx_http_request(r) };
        handle(req)
    })
}

fn handle(req: &mut Request) -> ngx_int_t {
    if req.as_ref().method & ((NGX_HTTP_GET | NGX_HTTP_HEAD) as ngx_uint_t) == 0 {
        let code = NGX_HTTP_NOT_ALLOWED as u16;
        return refuse(req, &Refuse::silent(code, Status::MethodNotAllowed));
    }
    let Some(inst) = super::loc_conf(req).and_then(|l| l.instance.clone()) else {
        return refuse(req, &Refuse::silent(500, Status::Error));
    };
    let rc = req.discard_request_body();
    if !rc.is_ok() {
        return rc.0;
    }
    // SAFETY: the URI and the query live in the request's pool or its header buffer until the
    // request is finalized, after this handler; nothing the handler calls changes them.
    let (uri, args) = unsafe {
        (
            request_str(&req.as_ref().uri),
            request_str(&req.as_ref().args),
        )
    };
    #[cfg(feature = "panic-probe")]
    if uri.ends_with(b"/__fastdfs_panic__") {
        panic!("panic probe");
    }
    let bypass = bypass_token(req, &inst);
    let now = now();
    let target = match logic::analyze(&inst, uri, args, bypass, now) {
        Ok(t) => t,
        Err(refusal) => return carry_out(req, &inst, logic::refusal_action(&inst, refusal)),
    };
    if let Some(action) = logic::local_action(&inst, &target) {
        if let Served::Done(rc) = serve::serve(req, &inst, &target, action) {
            return rc;
        }
    }
    let unparsed = (req.as_ref().valid_unparsed_uri() != 0)
        // SAFETY: as the URI above.
        .then(|| unsafe { request_str(&req.as_ref().unparsed_uri) });
    let https = {
        // SAFETY: a request's connection is valid for the request's life.
        let c = unsafe { &*req.connection() };
        !c.ssl.is_null()
    };
    let origin = Origin {
        unparsed_uri: unparsed,
        uri,
        args,
        local_port: local_port(req),
        https,
    };
    carry_out(
        req,
        &inst,
        logic::not_local_action(&inst, &target, now, &origin),
    )
}

/// Carry out an action that ends the request (the serving ones go through [`serve::serve`]).
fn carry_out(req: &mut Request, inst: &Instance, action: Action) -> ngx_int_t {
    match action {
        Action::Refuse(r) => refuse(req, &r),
        Action::TokenFailFile { log: line } => {
            log(req, Level::Info, &line);
            set_status(req, Status::TokenDenied);
            match &inst.fail_file {
                Some(f) => serve::send_memory(req, &f.body, &f.content_type),
                None => HTTP_500,
            }
        }
        Action::Redirect { location } => redirect(req, &location),
        Action::Proxy { host, uri } => proxy(req, &host, &uri),
        Action::ServeFile { .. } | Action::ServeTrunk { .. } => {
            // Only local_action returns these, and a missing file there falls back to
            // not_local_action: here it can only be a slip, answered like nginx would.
            refuse(req, &Refuse::silent(404, Status::NotFound))
        }
    }
}

fn redirect(req: &mut Request, location: &[u8]) -> ngx_int_t {
    let h = add_header(req, c"Location", location);
    if h.is_null() {
        return HTTP_500;
    }
    req.as_mut().headers_out.location = h;
    set_status(req, Status::Redirect);
    log(req, Level::Info, format_args!("302 to {}", Lossy(location)));
    NGX_HTTP_MOVED_TEMPORARILY as ngx_int_t
}

fn proxy(req: &mut Request, host: &str, uri: &[u8]) -> ngx_int_t {
    let Some(handler) = super::loc_conf(req).and_then(|l| l.proxy_handler) else {
        set_status(req, Status::Error);
        return HTTP_500;
    };
    let Some((var_host, var_uri)) = main_conf(req).map(|m| (m.var_host, m.var_uri)) else {
        return HTTP_500;
    };
    if !set_var(req, var_host, host.as_bytes()) || !set_var(req, var_uri, uri) {
        return HTTP_500;
    }
    set_status(req, Status::Proxy);
    log(
        req,
        Level::Info,
        format_args!("not local, proxying to http://{host}{}", Lossy(uri)),
    );
    // SAFETY: the proxy module's content handler for this location, called with the request as
    // nginx would call it.
    unsafe { handler(super::raw(req)) }
}

/// Add the response header `key: value` (both copied into the request pool). Null on failure.
pub(super) fn add_header(
    req: &mut Request,
    key: &'static CStr,
    value: &[u8],
) -> *mut ngx_table_elt_t {
    let pool = req.as_ref().pool;
    // SAFETY: headers_out.headers is the request's initialised header list.
    let h = unsafe { ngx_list_push(&mut req.as_mut().headers_out.headers) as *mut ngx_table_elt_t };
    // SAFETY: `h` is null or a fresh list element; the pool is the request's.
    match unsafe { add_to_ngx_table(h, pool, key.to_bytes(), value) } {
        Some(()) => h,
        None => std::ptr::null_mut(),
    }
}

/// True if the anti-steal bypass header of `mod_fastdfs.conf` is present with its value.
fn bypass_token(req: &Request, inst: &Instance) -> bool {
    match &inst.conf.anti_steal_bypass_header {
        Some(b) if !b.name.is_empty() => req
            .headers_in_iterator()
            .find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(b.name.as_bytes()))
            .is_some_and(|(_, v)| v.as_bytes() == b.value.as_bytes()),
        _ => false,
    }
}

/// nginx's cached clock (updated once per event loop iteration, as its own modules read it):
/// seconds are all the token and sync-delay checks need, and it costs no system call.
fn now() -> i64 {
    // SAFETY: nginx sets ngx_cached_time before any request and only swaps the pointer between
    // valid slots (in this, the only thread that runs requests); the slot it points to is read.
    unsafe {
        std::ptr::addr_of!(nginx_sys::ngx_cached_time)
            .read_volatile()
            .as_ref()
    }
    .map_or(0, |t| t.sec)
}

/// The port the request came in on (80 when the socket cannot say).
fn local_port(req: &Request) -> u16 {
    let c = req.connection();
    // SAFETY: the request's connection is valid; with a null buffer nginx only fills
    // c->local_sockaddr (a getsockname for wildcard listeners).
    if unsafe { ngx_connection_local_sockaddr(c, std::ptr::null_mut(), 0) } != OK {
        return 80;
    }
    // SAFETY: as above; local_sockaddr is null or the connection's socket address.
    let Some(sa) = (unsafe { (*c).local_sockaddr.as_ref() }) else {
        return 80;
    };
    let sa: *const libc::sockaddr = (sa as *const nginx_sys::sockaddr).cast();
    // SAFETY: the family field says which sockaddr the address is.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => u16::from_be((*(sa as *const libc::sockaddr_in)).sin_port),
            libc::AF_INET6 => u16::from_be((*(sa as *const libc::sockaddr_in6)).sin6_port),
            _ => 80,
        }
    }
}
