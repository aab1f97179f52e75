//! The nginx glue: module definition, directives, configuration structs, variables and the content
//! handler. Every `extern "C"` entry point goes through [`guard`], so a panic becomes a 500 (or a
//! configuration error) and never unwinds into nginx.

use std::ffi::{c_char, c_void, CStr};
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr::{addr_of, addr_of_mut, null, null_mut};
use std::rc::Rc;

use nginx_sys::*;
use ngx::core::Pool;

use fdfs_client::conf::ResponseMode;
use fdfs_client::file_id::{FileKind, SlotType, TrunkSlotHeader, TRUNK_HEADER_SIZE};

use crate::instance::Instance;
use crate::logic::{self, NotLocal, Refusal, Status};

extern "C" {
    static mut ngx_http_proxy_module: ngx_module_t;
}

const CONF_OK: *mut c_char = null_mut();
const CONF_ERROR: *mut c_char = usize::MAX as *mut c_char;
const UNSET_MSEC: ngx_msec_t = ngx_msec_t::MAX;
const DEFAULT_CONF: &str = "/etc/fdfs/mod_fastdfs.conf";

const OK: ngx_int_t = NGX_OK as ngx_int_t;
const ERROR: ngx_int_t = NGX_ERROR as ngx_int_t;
const HTTP_500: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// Runs `f`; a panic is caught and `default` returned.
fn guard<R>(default: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Module definition

static mut COMMANDS: [ngx_command_t; 3] = [
    ngx_command_t {
        name: ngx::ngx_string!("ngx_fastdfs_module"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(cmd_module),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: null_mut(),
    },
    ngx_command_t {
        name: ngx::ngx_string!("fastdfs_config"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1)
            as ngx_uint_t,
        set: Some(cmd_config),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: null_mut(),
    },
    ngx_command_t::empty(),
];

static CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(preconfiguration),
    postconfiguration: None,
    create_main_conf: Some(create_main_conf),
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

/// The module object nginx loads.
#[no_mangle]
#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_fastdfs_module: ngx_module_t = ngx_module_t {
    ctx: addr_of!(CTX) as *mut c_void,
    commands: unsafe { addr_of_mut!(COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as ngx_uint_t,
    ..ngx_module_t::default()
};

/// The modules of this shared object (read by `load_module`).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_modules: [*const ngx_module_t; 2] = [addr_of!(ngx_http_fastdfs_module), null()];

/// Their names.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_module_names: [*const c_char; 2] = [c"ngx_http_fastdfs_module".as_ptr(), null()];

/// Place this module before ngx_http_proxy_module, so our `merge_loc_conf` runs before the proxy
/// module's and can give the proxy timeouts their mod_fastdfs.conf defaults.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_module_order: [*const c_char; 3] = [
    c"ngx_http_fastdfs_module".as_ptr(),
    c"ngx_http_proxy_module".as_ptr(),
    null(),
];

// ---------------------------------------------------------------------------------------------
// Configuration structs (allocated in the cycle pool, dropped with it)

struct MainConf {
    instances: Vec<(PathBuf, Rc<Instance>)>,
    ifaddrs: Option<Vec<(String, IpAddr)>>,
    var_status: ngx_int_t,
    var_host: ngx_int_t,
    var_uri: ngx_int_t,
}

struct LocConf {
    enabled: bool,
    directive_at: String,
    config_path: Option<PathBuf>,
    instance: Option<Rc<Instance>>,
    proxy_handler: ngx_http_handler_pt,
    proxy_conf: *mut c_void,
    /// This level's `loc_conf` array (set at merge time; to find every level's proxy conf).
    loc_confs: *mut *mut c_void,
    /// The enclosing level (set at merge time; merges run outside-in).
    parent: *const LocConf,
}

unsafe fn alloc<T>(pool: *mut ngx_pool_t, v: T) -> *mut c_void {
    Pool::from_ngx_pool(pool).allocate(v) as *mut c_void
}

extern "C" fn create_main_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    guard(null_mut(), || unsafe {
        alloc(
            (*cf).pool,
            MainConf {
                instances: Vec::new(),
                ifaddrs: None,
                var_status: -1,
                var_host: -1,
                var_uri: -1,
            },
        )
    })
}

extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    guard(null_mut(), || unsafe {
        alloc(
            (*cf).pool,
            LocConf {
                enabled: false,
                directive_at: String::new(),
                config_path: None,
                instance: None,
                proxy_handler: None,
                proxy_conf: null_mut(),
                loc_confs: null_mut(),
                parent: null(),
            },
        )
    })
}

unsafe fn main_conf_cf(cf: *mut ngx_conf_t) -> *mut MainConf {
    let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
    *(*ctx)
        .main_conf
        .add((*addr_of!(ngx_http_fastdfs_module)).ctx_index) as *mut MainConf
}

unsafe fn conf_log(cf: *mut ngx_conf_t, level: u32, msg: &str) {
    ngx_log_error_core(
        level as ngx_uint_t,
        (*cf).log,
        0,
        c"%*s".as_ptr(),
        msg.len(),
        msg.as_ptr(),
    );
}

unsafe fn str_of(s: &ngx_str_t) -> &[u8] {
    if s.data.is_null() || s.len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(s.data, s.len)
    }
}

unsafe fn conf_position(cf: *mut ngx_conf_t) -> String {
    let file = (*cf).conf_file;
    if file.is_null() {
        return String::from("?");
    }
    format!(
        "{}:{}",
        String::from_utf8_lossy(str_of(&(*file).file.name)),
        (*file).line
    )
}

extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    guard(CONF_ERROR, || unsafe {
        let prev = &mut *(prev as *mut LocConf);
        let conf = &mut *(conf as *mut LocConf);
        if conf.config_path.is_none() {
            conf.config_path = prev.config_path.clone();
        }
        // At merge time cf->ctx holds this level's loc_conf array; the http level (never merged
        // as `conf`) gets the http block's own array.
        conf.loc_confs = (*((*cf).ctx as *mut ngx_http_conf_ctx_t)).loc_conf;
        if prev.parent.is_null() && prev.loc_confs.is_null() {
            let cycle = (*cf).cycle;
            let http = *(*cycle).conf_ctx.add((*addr_of!(ngx_http_module)).index);
            if !http.is_null() {
                prev.loc_confs = (*(http as *mut ngx_http_conf_ctx_t)).loc_conf;
            }
        }
        conf.parent = prev as *const LocConf;
        if !conf.enabled {
            return CONF_OK;
        }
        let path = conf
            .config_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF));
        let main = &mut *main_conf_cf(cf);
        let inst = match main.instances.iter().find(|(p, _)| *p == path) {
            Some((_, i)) => i.clone(),
            None => {
                let ifaddrs = main
                    .ifaddrs
                    .get_or_insert_with(crate::instance::interface_addrs)
                    .clone();
                let mode = load_mode();
                match crate::load_instance(&path, &ifaddrs, mode, &mut |lvl, m| {
                    conf_log(cf, lvl.nginx_level(), &format!("fastdfs: {m}"))
                }) {
                    Ok(i) => {
                        // `nginx -s` only signals the master, which logs them when it loads.
                        if mode != crate::LoadMode::Signal {
                            for w in &i.warnings {
                                conf_log(cf, NGX_LOG_WARN, &format!("fastdfs: {w}"));
                            }
                        }
                        let i = Rc::new(i);
                        main.instances.push((path.clone(), i.clone()));
                        i
                    }
                    Err(e) => {
                        conf_log(
                            cf,
                            NGX_LOG_EMERG,
                            &format!(
                                "fastdfs: {e} (config of \"ngx_fastdfs_module\" in {})",
                                conf.directive_at
                            ),
                        );
                        return CONF_ERROR;
                    }
                }
            }
        };
        // Proxy timeouts: mod_fastdfs.conf's connect/network timeouts unless proxy_*_timeout is
        // written in this location or an enclosing level. ngx_http_upstream_conf_t is the first
        // field of the proxy module's location conf (nginx 1.22). This merge runs before the proxy
        // module's (ngx_module_order), so "unset" still means "not written here".
        if !conf.proxy_conf.is_null() {
            let ct = (inst.conf.connect_timeout.max(1) as ngx_msec_t) * 1000;
            let nt = (inst.conf.network_timeout.max(1) as ngx_msec_t) * 1000;
            let inherited = |pick: fn(&ngx_http_upstream_conf_t) -> ngx_msec_t| -> bool {
                let pidx = (*addr_of!(ngx_http_proxy_module)).ctx_index;
                let mut level: *const LocConf = conf.parent;
                while !level.is_null() {
                    let arr = (*level).loc_confs;
                    if !arr.is_null() {
                        let pc = *arr.add(pidx) as *const ngx_http_upstream_conf_t;
                        if !pc.is_null() && pick(&*pc) != UNSET_MSEC {
                            return true;
                        }
                    }
                    level = (*level).parent;
                }
                false
            };
            let u = &mut *(conf.proxy_conf as *mut ngx_http_upstream_conf_t);
            if u.connect_timeout == UNSET_MSEC && !inherited(|u| u.connect_timeout) {
                u.connect_timeout = ct;
            }
            if u.send_timeout == UNSET_MSEC && !inherited(|u| u.send_timeout) {
                u.send_timeout = nt;
            }
            if u.read_timeout == UNSET_MSEC && !inherited(|u| u.read_timeout) {
                u.read_timeout = nt;
            }
        }
        conf.instance = Some(inst);
        CONF_OK
    })
}

/// Which nginx run this configuration load is for: `nginx -s` sets `ngx_process` to the
/// signaller before parsing the configuration, `nginx -t`/`-T` sets `ngx_test_config`.
fn load_mode() -> crate::LoadMode {
    // SAFETY: plain reads of nginx globals, written only while nginx parses its command line.
    let (process, test) = unsafe { (ngx_process, ngx_test_config) };
    if process == NGX_PROCESS_SIGNALLER as ngx_uint_t {
        crate::LoadMode::Signal
    } else if test != 0 {
        crate::LoadMode::Test
    } else {
        crate::LoadMode::Start
    }
}

const VARS: [&str; 3] = ["fastdfs_status", "fastdfs_proxy_host", "fastdfs_proxy_uri"];

extern "C" fn var_get_unset(
    _r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    guard(ERROR, || unsafe {
        (*v).set_not_found(1);
        OK
    })
}

extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    guard(ERROR, || unsafe {
        let main = &mut *main_conf_cf(cf);
        for (i, name) in VARS.iter().enumerate() {
            let mut s = ngx_str_t {
                len: name.len(),
                data: name.as_ptr() as *mut u8,
            };
            let v = ngx_http_add_variable(cf, &mut s, 0);
            if v.is_null() {
                return ERROR;
            }
            (*v).get_handler = Some(var_get_unset);
            let idx = ngx_http_get_variable_index(cf, &mut s);
            if idx == ERROR {
                return ERROR;
            }
            match i {
                0 => main.var_status = idx,
                1 => main.var_host = idx,
                _ => main.var_uri = idx,
            }
        }
        OK
    })
}

extern "C" fn cmd_config(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(CONF_ERROR, || unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        if lcf.config_path.is_some() {
            return c"is duplicate".as_ptr() as *mut c_char;
        }
        let args = (*(*cf).args).elts as *const ngx_str_t;
        let value = String::from_utf8_lossy(str_of(&*args.add(1))).into_owned();
        let mut p = PathBuf::from(&value);
        if p.is_relative() {
            let prefix = String::from_utf8_lossy(str_of(&(*(*cf).cycle).conf_prefix)).into_owned();
            p = Path::new(&prefix).join(p);
        }
        lcf.config_path = Some(p);
        CONF_OK
    })
}

extern "C" fn cmd_module(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(CONF_ERROR, || unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        if lcf.enabled {
            return c"is duplicate".as_ptr() as *mut c_char;
        }
        lcf.enabled = true;
        lcf.directive_at = conf_position(cf);
        let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
        let clcf = *(*ctx)
            .loc_conf
            .add((*addr_of!(ngx_http_core_module)).ctx_index)
            as *mut ngx_http_core_loc_conf_t;
        let proxy = addr_of_mut!(ngx_http_proxy_module);
        let pconf = *(*ctx).loc_conf.add((*proxy).ctx_index);

        // Find proxy_pass among the proxy module's directives.
        let mut cmd = (*proxy).commands;
        while !cmd.is_null() && !(*cmd).name.data.is_null() {
            if str_of(&(*cmd).name) == b"proxy_pass" {
                break;
            }
            cmd = cmd.add(1);
        }
        if cmd.is_null() || (*cmd).name.data.is_null() {
            return c"cannot find proxy_pass in ngx_http_proxy_module".as_ptr() as *mut c_char;
        }
        let Some(set) = (*cmd).set else {
            return CONF_ERROR;
        };
        let args = ngx_array_create((*cf).pool, 2, std::mem::size_of::<ngx_str_t>());
        if args.is_null() {
            return CONF_ERROR;
        }
        for s in [
            &b"proxy_pass"[..],
            &b"http://$fastdfs_proxy_host$fastdfs_proxy_uri"[..],
        ] {
            let e = ngx_array_push(args) as *mut ngx_str_t;
            if e.is_null() {
                return CONF_ERROR;
            }
            let d = ngx_pnalloc((*cf).pool, s.len()) as *mut u8;
            if d.is_null() {
                return CONF_ERROR;
            }
            std::ptr::copy_nonoverlapping(s.as_ptr(), d, s.len());
            *e = ngx_str_t {
                len: s.len(),
                data: d,
            };
        }
        let saved_args = (*cf).args;
        let saved_redirect = (*clcf).auto_redirect();
        (*cf).args = args;
        let rv = set(cf, cmd, pconf);
        (*cf).args = saved_args;
        if rv != CONF_OK {
            return rv;
        }
        (*clcf).set_auto_redirect(saved_redirect);
        lcf.proxy_handler = (*clcf).handler;
        lcf.proxy_conf = pconf;
        (*clcf).handler = Some(content_handler);
        CONF_OK
    })
}

// ---------------------------------------------------------------------------------------------
// Request handling

unsafe fn log_r(r: *mut ngx_http_request_t, level: u32, msg: &str) {
    let log = (*(*r).connection).log;
    if log.is_null() || (*log).log_level < level as ngx_uint_t {
        return;
    }
    ngx_log_error_core(
        level as ngx_uint_t,
        log,
        0,
        c"fastdfs: %*s".as_ptr(),
        msg.len(),
        msg.as_ptr(),
    );
}

unsafe fn pool_bytes(r: *mut ngx_http_request_t, b: &[u8]) -> Option<ngx_str_t> {
    let d = ngx_pnalloc((*r).pool, b.len().max(1)) as *mut u8;
    if d.is_null() {
        return None;
    }
    std::ptr::copy_nonoverlapping(b.as_ptr(), d, b.len());
    Some(ngx_str_t {
        len: b.len(),
        data: d,
    })
}

unsafe fn set_var(r: *mut ngx_http_request_t, idx: ngx_int_t, val: &[u8]) -> bool {
    if idx < 0 || (*r).variables.is_null() {
        return false;
    }
    let Some(s) = pool_bytes(r, val) else {
        return false;
    };
    let v = &mut *(*r).variables.add(idx as usize);
    v.data = s.data;
    v.set_len(s.len as u32);
    v.set_valid(1);
    v.set_no_cacheable(0);
    v.set_not_found(0);
    v.set_escape(0);
    true
}

unsafe fn main_conf_r(r: *mut ngx_http_request_t) -> *mut MainConf {
    *(*r)
        .main_conf
        .add((*addr_of!(ngx_http_fastdfs_module)).ctx_index) as *mut MainConf
}

unsafe fn loc_conf_r(r: *mut ngx_http_request_t) -> *mut LocConf {
    *(*r)
        .loc_conf
        .add((*addr_of!(ngx_http_fastdfs_module)).ctx_index) as *mut LocConf
}

unsafe fn core_loc_conf_r(r: *mut ngx_http_request_t) -> *mut ngx_http_core_loc_conf_t {
    *(*r)
        .loc_conf
        .add((*addr_of!(ngx_http_core_module)).ctx_index) as *mut ngx_http_core_loc_conf_t
}

unsafe fn set_status(r: *mut ngx_http_request_t, st: Status) {
    let main = main_conf_r(r);
    if !main.is_null() {
        set_var(r, (*main).var_status, st.as_str().as_bytes());
    }
}

unsafe fn add_header(
    r: *mut ngx_http_request_t,
    key: &'static CStr,
    value: &[u8],
) -> *mut ngx_table_elt_t {
    let Some(v) = pool_bytes(r, value) else {
        return null_mut();
    };
    let h = ngx_list_push(&mut (*r).headers_out.headers) as *mut ngx_table_elt_t;
    if h.is_null() {
        return null_mut();
    }
    let k = key.to_bytes();
    (*h).hash = 1;
    (*h).key = ngx_str_t {
        len: k.len(),
        data: k.as_ptr() as *mut u8,
    };
    (*h).value = v;
    (*h).lowcase_key = null_mut();
    h
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

unsafe fn header_in(r: *mut ngx_http_request_t, name: &str) -> Option<Vec<u8>> {
    let mut part: *mut ngx_list_part_t = &mut (*r).headers_in.headers.part;
    while !part.is_null() {
        let elts = (*part).elts as *const ngx_table_elt_t;
        for i in 0..(*part).nelts {
            let h = &*elts.add(i);
            if h.hash != 0 && str_of(&h.key).eq_ignore_ascii_case(name.as_bytes()) {
                return Some(str_of(&h.value).to_vec());
            }
        }
        part = (*part).next;
    }
    None
}

unsafe fn local_port(r: *mut ngx_http_request_t) -> u16 {
    let c = (*r).connection;
    if ngx_connection_local_sockaddr(c, null_mut(), 0) != OK {
        return 80;
    }
    let sa = (*c).local_sockaddr;
    if sa.is_null() {
        return 80;
    }
    match i32::from((*sa).sa_family) {
        libc::AF_INET => u16::from_be((*(sa as *const libc::sockaddr_in)).sin_port),
        libc::AF_INET6 => u16::from_be((*(sa as *const libc::sockaddr_in6)).sin6_port),
        _ => 80,
    }
}

extern "C" fn content_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(HTTP_500, || unsafe { handle(r) })
}

unsafe fn handle(r: *mut ngx_http_request_t) -> ngx_int_t {
    if (*r).method & ((NGX_HTTP_GET | NGX_HTTP_HEAD) as ngx_uint_t) == 0 {
        set_status(r, Status::MethodNotAllowed);
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    let lcf = loc_conf_r(r);
    let Some(inst) = (if lcf.is_null() {
        None
    } else {
        (*lcf).instance.clone()
    }) else {
        set_status(r, Status::Error);
        return HTTP_500;
    };
    let rc = ngx_http_discard_request_body(r);
    if rc != OK {
        return rc;
    }
    let uri = str_of(&(*r).uri).to_vec();
    #[cfg(feature = "panic-probe")]
    if uri.ends_with(b"/__fastdfs_panic__") {
        panic!("panic probe");
    }
    let args = str_of(&(*r).args).to_vec();
    let bypass = match &inst.conf.anti_steal_bypass_header {
        Some(b) if !b.name.is_empty() => {
            header_in(r, &b.name).is_some_and(|v| v == b.value.as_bytes())
        }
        _ => false,
    };
    let now = now();
    let target = match logic::analyze(&inst, &uri, &args, bypass, now) {
        Ok(t) => t,
        Err(Refusal::BadRequest(reason)) => {
            log_r(r, NGX_LOG_INFO, &format!("400: {reason}"));
            set_status(r, Status::BadRequest);
            return NGX_HTTP_BAD_REQUEST as ngx_int_t;
        }
        Err(Refusal::Token(e)) => {
            log_r(r, NGX_LOG_INFO, &format!("token refused: {e}"));
            set_status(r, Status::TokenDenied);
            return match &inst.fail_file {
                Some(f) => send_memory(r, &f.body, &f.content_type),
                None => NGX_HTTP_FORBIDDEN as ngx_int_t,
            };
        }
    };

    if let Some(group) = target.group.and_then(|gi| inst.conf.groups.get(gi)) {
        match serve_local(r, &inst, group, &target) {
            Local::Served(rc) => return rc,
            Local::Status(code) => return code,
            Local::Missing => {}
        }
    }

    let port = local_port(r);
    match logic::not_local(&inst, &target, now, port) {
        NotLocal::NotFound(reason) => {
            let looked = logic::local_file(&inst, &target)
                .map(|p| format!(" (looked for {})", p.display()))
                .unwrap_or_default();
            log_r(r, NGX_LOG_INFO, &format!("404: {reason}{looked}"));
            set_status(r, Status::NotFound);
            NGX_HTTP_NOT_FOUND as ngx_int_t
        }
        NotLocal::BadRequest(reason) => {
            log_r(r, NGX_LOG_INFO, &format!("400: {reason}"));
            set_status(r, Status::BadRequest);
            NGX_HTTP_BAD_REQUEST as ngx_int_t
        }
        NotLocal::Error(reason) => {
            log_r(r, NGX_LOG_ERR, &format!("500: {reason}"));
            set_status(r, Status::Error);
            HTTP_500
        }
        NotLocal::Forward(fwd) => {
            let has_args = !args.is_empty();
            let raw_uri = if (*r).valid_unparsed_uri() != 0 {
                str_of(&(*r).unparsed_uri).to_vec()
            } else {
                let mut u = logic::escape_path(&uri);
                if has_args {
                    u.push(b'?');
                    u.extend_from_slice(&args);
                }
                u
            };
            if inst.conf.response_mode == ResponseMode::Redirect {
                let scheme = if (*(*r).connection).ssl.is_null() {
                    "http"
                } else {
                    "https"
                };
                let loc = logic::redirect_location(scheme, &fwd, port, &raw_uri, has_args);
                let h = add_header(r, c"Location", &loc);
                if h.is_null() {
                    return HTTP_500;
                }
                (*r).headers_out.location = h;
                set_status(r, Status::Redirect);
                log_r(
                    r,
                    NGX_LOG_INFO,
                    &format!("302 to {}", String::from_utf8_lossy(&loc)),
                );
                return NGX_HTTP_MOVED_TEMPORARILY as ngx_int_t;
            }
            let Some(proxy) = (*lcf).proxy_handler else {
                set_status(r, Status::Error);
                return HTTP_500;
            };
            let main = main_conf_r(r);
            let host = format!("{}:{}", fwd.host, fwd.port.unwrap_or(port));
            let puri = logic::proxy_uri(&raw_uri, has_args);
            if !set_var(r, (*main).var_host, host.as_bytes()) || !set_var(r, (*main).var_uri, &puri)
            {
                return HTTP_500;
            }
            set_status(r, Status::Proxy);
            log_r(
                r,
                NGX_LOG_INFO,
                &format!(
                    "not local, proxying to http://{host}{}",
                    String::from_utf8_lossy(&puri)
                ),
            );
            proxy(r)
        }
    }
}

enum Local {
    Served(ngx_int_t),
    Status(ngx_int_t),
    Missing,
}

struct Opened {
    of: ngx_open_file_info_t,
    path: ngx_str_t,
}

/// Open `full` with nginx's open file cache. `Err(status)` for a hard error, `Ok(None)` if absent.
unsafe fn open_cached(
    r: *mut ngx_http_request_t,
    full: &Path,
) -> Result<Option<Opened>, ngx_int_t> {
    use std::os::unix::ffi::OsStrExt;
    let clcf = core_loc_conf_r(r);
    let bytes = full.as_os_str().as_bytes();
    let mut z = bytes.to_vec();
    z.push(0);
    let Some(mut path) = pool_bytes(r, &z) else {
        return Err(HTTP_500);
    };
    path.len -= 1;
    let mut of: ngx_open_file_info_t = std::mem::zeroed();
    of.read_ahead = (*clcf).read_ahead;
    of.directio = (*clcf).directio;
    of.valid = (*clcf).open_file_cache_valid;
    of.min_uses = (*clcf).open_file_cache_min_uses;
    of.set_errors((*clcf).open_file_cache_errors as _);
    of.set_events((*clcf).open_file_cache_events as _);
    if ngx_http_set_disable_symlinks(r, clcf, &mut path, &mut of) != OK {
        return Err(HTTP_500);
    }
    if ngx_open_cached_file((*clcf).open_file_cache, &mut path, &mut of, (*r).pool) != OK {
        let err = of.err as u32;
        return match err {
            0 => Err(HTTP_500),
            NGX_ENOENT | NGX_ENOTDIR | NGX_ENAMETOOLONG => Ok(None),
            NGX_EACCES | NGX_ELOOP | NGX_EMLINK => {
                log_r(
                    r,
                    NGX_LOG_INFO,
                    &format!(
                        "403: {} refused (errno {err}, disable_symlinks or permissions)",
                        full.display()
                    ),
                );
                Err(NGX_HTTP_FORBIDDEN as ngx_int_t)
            }
            _ => {
                log_r(
                    r,
                    NGX_LOG_ERR,
                    &format!("open {} failed: errno {err}", full.display()),
                );
                Err(HTTP_500)
            }
        };
    }
    if of.is_file() == 0 {
        return Ok(None);
    }
    Ok(Some(Opened { of, path }))
}

unsafe fn serve_local(
    r: *mut ngx_http_request_t,
    inst: &Instance,
    group: &fdfs_client::conf::GroupConf,
    t: &logic::Target,
) -> Local {
    serve_name(r, inst, group, &t.logic, &t.info, t, true)
}

/// Serve `logic` (the requested name, or the target of a trunk link) from `group`'s store paths.
unsafe fn serve_name(
    r: *mut ngx_http_request_t,
    inst: &Instance,
    group: &fdfs_client::conf::GroupConf,
    logic: &fdfs_client::file_id::LogicName,
    info: &fdfs_client::file_id::FileInfo,
    t: &logic::Target,
    follow_link: bool,
) -> Local {
    let Some(store) = group.store_paths.get(usize::from(logic.store_path_index())) else {
        return Local::Missing;
    };
    let (Some(container), Some(loc)) = (info.trunk_container_path(), info.trunk) else {
        let full = store.join(logic.local_path());
        let opened = match open_cached(r, &full) {
            Ok(Some(o)) => o,
            Ok(None) => return Local::Missing,
            Err(code) => {
                set_status(r, Status::Error);
                return Local::Status(code);
            }
        };
        let mtime = match info.kind {
            FileKind::Normal | FileKind::Trunk => info.timestamp,
            FileKind::Slave | FileKind::Appender => opened.of.mtime,
        };
        let size = opened.of.size;
        return Local::Served(send_file(r, &opened, 0, size, mtime, t, inst));
    };
    let opened = match open_cached(r, &store.join(container)) {
        Ok(Some(o)) => o,
        Ok(None) => return Local::Missing,
        Err(code) => {
            set_status(r, Status::Error);
            return Local::Status(code);
        }
    };
    let mut hdr = [0u8; TRUNK_HEADER_SIZE];
    // A 24-byte pread: small and bounded, like the static module's own stat calls.
    let n = libc::pread(
        opened.of.fd,
        hdr.as_mut_ptr() as *mut c_void,
        TRUNK_HEADER_SIZE,
        libc::off_t::from(loc.offset),
    );
    if n != TRUNK_HEADER_SIZE as isize {
        log_r(r, NGX_LOG_INFO, "trunk slot header unreadable");
        return Local::Missing;
    }
    let Ok(header) = TrunkSlotHeader::parse(&hdr) else {
        return Local::Missing;
    };
    let start = loc.data_offset() as i64;
    let len = i64::from(header.file_size);
    if start + len > opened.of.size {
        log_r(r, NGX_LOG_INFO, "trunk slot beyond the container end");
        return Local::Missing;
    }
    match header.validate(info) {
        Ok(SlotType::Regular) => {
            Local::Served(send_file(r, &opened, start, len, info.timestamp, t, inst))
        }
        Ok(SlotType::Link) if follow_link && (1..=256).contains(&len) => {
            // The slot holds the name of the file it links to (resolved once, like C).
            let mut buf = vec![0u8; len as usize];
            let n = libc::pread(
                opened.of.fd,
                buf.as_mut_ptr() as *mut c_void,
                buf.len(),
                start as libc::off_t,
            );
            if n != len as isize {
                return Local::Missing;
            }
            match logic::parse_link(&buf, &group.group_name) {
                Some((l, i)) => serve_name(r, inst, group, &l, &i, t, false),
                None => {
                    log_r(r, NGX_LOG_INFO, "trunk link slot holds no valid file name");
                    Local::Missing
                }
            }
        }
        Ok(_) => {
            log_r(r, NGX_LOG_INFO, "trunk link to a link: treated as missing");
            Local::Missing
        }
        Err(e) => {
            log_r(
                r,
                NGX_LOG_INFO,
                &format!("trunk slot does not match the id: {e}"),
            );
            Local::Missing
        }
    }
}

unsafe fn send_file(
    r: *mut ngx_http_request_t,
    o: &Opened,
    start: i64,
    len: i64,
    mtime: i64,
    t: &logic::Target,
    inst: &Instance,
) -> ngx_int_t {
    let has_range = !(*r).headers_in.range.is_null();
    let (mut start, mut len, mut prefix): (i64, i64, &'static [u8]) = (start, len, &[]);
    let flv = logic::flv_range(inst, t, has_range, len.max(0) as u64);
    match &flv {
        None => {}
        Some(Err(reason)) => {
            log_r(r, NGX_LOG_INFO, &format!("400: {reason}"));
            set_status(r, Status::BadRequest);
            return NGX_HTTP_BAD_REQUEST as ngx_int_t;
        }
        Some(Ok((s, e))) => {
            start += *s as i64;
            len = (*e - *s) as i64;
            if *s > 0 {
                prefix = &logic::FLV_HEADER;
            }
        }
    }
    set_status(r, Status::Local);
    (*r).headers_out.status = NGX_HTTP_OK as ngx_uint_t;
    (*r).headers_out.content_length_n = (len + prefix.len() as i64) as off_t;
    (*r).headers_out.last_modified_time = mtime as time_t;
    if flv.is_none() {
        if ngx_http_set_etag(r) != OK {
            return HTTP_500;
        }
        (*r).set_allow_ranges(1);
    }
    if ngx_http_set_content_type(r) != OK {
        return HTTP_500;
    }
    if let Some(name) = &t.filename {
        let v = logic::content_disposition(name);
        if add_header(r, c"Content-Disposition", v.as_bytes()).is_null() {
            return HTTP_500;
        }
    }
    let rc = ngx_http_send_header(r);
    if rc == ERROR || rc > OK || (*r).header_only() != 0 {
        return rc;
    }
    let b = ngx_pcalloc((*r).pool, std::mem::size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
    let f = ngx_pcalloc((*r).pool, std::mem::size_of::<ngx_file_t>()) as *mut ngx_file_t;
    if b.is_null() || f.is_null() {
        return ERROR;
    }
    (*b).file_pos = start as off_t;
    (*b).file_last = (start + len) as off_t;
    (*b).set_in_file(u32::from(len > 0));
    (*b).set_last_buf(u32::from(r == (*r).main));
    (*b).set_last_in_chain(1);
    (*b).set_sync(u32::from(len == 0));
    (*f).fd = o.of.fd;
    (*f).name = o.path;
    (*f).log = (*(*r).connection).log;
    (*f).set_directio(o.of.is_directio());
    (*b).file = f;
    let mut out = ngx_chain_t {
        buf: b,
        next: null_mut(),
    };
    if prefix.is_empty() {
        return ngx_http_output_filter(r, &mut out);
    }
    let hb = memory_buf(r, prefix);
    if hb.is_null() {
        return ERROR;
    }
    let mut head = ngx_chain_t {
        buf: hb,
        next: &mut out,
    };
    ngx_http_output_filter(r, &mut head)
}

/// A pool-allocated buffer over `bytes`, which must outlive the request (static or per-cycle
/// data: nothing is copied). Null when the pool is exhausted.
unsafe fn memory_buf(r: *mut ngx_http_request_t, bytes: &[u8]) -> *mut ngx_buf_t {
    let b = ngx_pcalloc((*r).pool, std::mem::size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
    if b.is_null() {
        return b;
    }
    (*b).pos = bytes.as_ptr() as *mut u8;
    (*b).last = bytes.as_ptr().add(bytes.len()) as *mut u8;
    (*b).start = (*b).pos;
    (*b).end = (*b).last;
    (*b).set_memory(u32::from(!bytes.is_empty()));
    b
}

unsafe fn send_memory(r: *mut ngx_http_request_t, body: &[u8], content_type: &str) -> ngx_int_t {
    let Some(ct) = pool_bytes(r, content_type.as_bytes()) else {
        return HTTP_500;
    };
    (*r).headers_out.status = NGX_HTTP_OK as ngx_uint_t;
    (*r).headers_out.content_length_n = body.len() as off_t;
    (*r).headers_out.content_type_len = ct.len;
    (*r).headers_out.content_type = ct;
    let rc = ngx_http_send_header(r);
    if rc == ERROR || rc > OK || (*r).header_only() != 0 {
        return rc;
    }
    // The bytes live in the per-cycle instance, which outlives the request: no copy needed.
    let b = memory_buf(r, body);
    if b.is_null() {
        return ERROR;
    }
    (*b).set_last_buf(u32::from(r == (*r).main));
    (*b).set_last_in_chain(1);
    (*b).set_sync(u32::from(body.is_empty()));
    let mut out = ngx_chain_t {
        buf: b,
        next: null_mut(),
    };
    ngx_http_output_filter(r, &mut out)
}
