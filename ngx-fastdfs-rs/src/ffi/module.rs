//! The module object nginx loads, its directives (`ngx_fastdfs_module`, `fastdfs_config`), the
//! configuration structs, their merge (which loads `mod_fastdfs.conf`) and the variables.

use std::ffi::{c_char, c_void};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::ptr::{addr_of, addr_of_mut, null, null_mut};
use std::rc::Rc;

use nginx_sys::*;
use ngx::core::Pool;

use super::{guard, static_str, ERROR, OK};
use crate::instance::Instance;
use crate::{Level, LoadMode};

extern "C" {
    static mut ngx_http_proxy_module: ngx_module_t;
}

const CONF_OK: *mut c_char = null_mut();
const CONF_ERROR: *mut c_char = usize::MAX as *mut c_char;
const UNSET_MSEC: ngx_msec_t = ngx_msec_t::MAX;
const UNSET_SIZE: usize = usize::MAX;
const DEFAULT_CONF: &str = "/etc/fdfs/mod_fastdfs.conf";

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
    // SAFETY: only the address of the static is taken; nginx reads the array through it.
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

/// This module, to read the indexes nginx gave it.
pub(super) fn module() -> &'static ngx_module_t {
    // SAFETY: nginx writes `index`/`ctx_index` only while it loads modules, before any reader
    // runs, and in the same (single) thread; everything else only reads.
    unsafe { &*addr_of!(ngx_http_fastdfs_module) }
}

/// nginx's proxy module (its location conf and `proxy_pass` are borrowed).
fn proxy_module() -> *mut ngx_module_t {
    addr_of_mut!(ngx_http_proxy_module)
}

// ---------------------------------------------------------------------------------------------
// Configuration structs (allocated in the cycle pool, dropped with it)

pub(super) struct MainConf {
    instances: Vec<(PathBuf, Rc<Instance>)>,
    ifaddrs: Option<Vec<(String, IpAddr)>>,
    pub(super) var_status: ngx_int_t,
    pub(super) var_host: ngx_int_t,
    pub(super) var_uri: ngx_int_t,
}

pub(super) struct LocConf {
    enabled: bool,
    directive_at: String,
    config_path: Option<PathBuf>,
    pub(super) instance: Option<Rc<Instance>>,
    pub(super) proxy_handler: ngx_http_handler_pt,
    proxy_conf: *mut c_void,
    /// This level's `loc_conf` array (set at merge time; to find every level's proxy conf).
    loc_confs: *mut *mut c_void,
    /// The enclosing level (set at merge time; merges run outside-in).
    parent: *const LocConf,
}

/// `v` moved into the configuration pool of `cf` (dropped with the cycle); null when exhausted.
fn alloc<T>(cf: *mut ngx_conf_t, v: T) -> *mut c_void {
    // SAFETY: nginx passes create_*_conf a valid ngx_conf_t whose pool lives as long as the cycle.
    let pool = unsafe { Pool::from_ngx_pool((*cf).pool) };
    pool.allocate(v) as *mut c_void
}

extern "C" fn create_main_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    guard(null_mut(), || {
        let main = MainConf {
            instances: Vec::new(),
            ifaddrs: None,
            var_status: -1,
            var_host: -1,
            var_uri: -1,
        };
        alloc(cf, main)
    })
}

extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    guard(null_mut(), || {
        let loc = LocConf {
            enabled: false,
            directive_at: String::new(),
            config_path: None,
            instance: None,
            proxy_handler: None,
            proxy_conf: null_mut(),
            loc_confs: null_mut(),
            parent: null(),
        };
        alloc(cf, loc)
    })
}

/// The http block's context at configuration time.
fn http_ctx(cf: &ngx_conf_t) -> &ngx_http_conf_ctx_t {
    // SAFETY: inside the http block (where all our hooks and directives run) cf->ctx is the
    // ngx_http_conf_ctx_t of the current level.
    unsafe { &*(cf.ctx as *const ngx_http_conf_ctx_t) }
}

/// Our main conf, from the configuration context: the MainConf create_main_conf made, in the
/// cycle pool. Configuration runs in one thread, so a hook may hold the only reference to it.
fn main_conf_cf(cf: &ngx_conf_t) -> *mut MainConf {
    let ctx = http_ctx(cf);
    // SAFETY: main_conf has one slot per HTTP module, ours included.
    unsafe { *ctx.main_conf.add(module().ctx_index) as *mut MainConf }
}

/// Log `fastdfs: <msg>` while loading the configuration (on the terminal at `nginx -t`).
fn conf_log(cf: &ngx_conf_t, level: u32, msg: &str) {
    ngx::ngx_log_error!(level, cf.log, "fastdfs: {msg}");
}

/// `file:line` of the directive being parsed.
fn conf_position(cf: &ngx_conf_t) -> String {
    // SAFETY: conf_file is null or the file nginx is parsing, valid while the directive runs.
    let Some(file) = (unsafe { cf.conf_file.as_ref() }) else {
        return String::from("?");
    };
    format!(
        "{}:{}",
        String::from_utf8_lossy(file.file.name.as_bytes()),
        file.line
    )
}

extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    guard(CONF_ERROR, || {
        // SAFETY: nginx passes a valid cf and this module's parent and child LocConf, two
        // distinct objects of the cycle pool.
        let (cf, prev, conf) = unsafe {
            (
                &*cf,
                &mut *(prev as *mut LocConf),
                &mut *(conf as *mut LocConf),
            )
        };
        link_levels(cf, prev, conf);
        if !conf.enabled {
            return CONF_OK;
        }
        let Some(inst) = instance_for(cf, conf) else {
            return CONF_ERROR;
        };
        if !conf.proxy_conf.is_null() {
            proxy_timeouts(conf, &inst);
        }
        conf.instance = Some(inst);
        CONF_OK
    })
}

/// Inherit `fastdfs_config` and remember the level structure (for [`proxy_timeouts`]).
fn link_levels(cf: &ngx_conf_t, prev: &mut LocConf, conf: &mut LocConf) {
    if conf.config_path.is_none() {
        conf.config_path = prev.config_path.clone();
    }
    // At merge time cf->ctx holds this level's loc_conf array; the http level (never merged as
    // `conf`) gets the http block's own array.
    conf.loc_confs = http_ctx(cf).loc_conf;
    if prev.parent.is_null() && prev.loc_confs.is_null() {
        // SAFETY: cf->cycle is the cycle being configured, its conf_ctx has one slot per core
        // module, and the http module's slot is the http block's ngx_http_conf_ctx_t (or null).
        let http = unsafe {
            let cycle = &*cf.cycle;
            let slot = *cycle.conf_ctx.add((*addr_of!(ngx_http_module)).index);
            (slot as *const ngx_http_conf_ctx_t).as_ref()
        };
        if let Some(http) = http {
            prev.loc_confs = http.loc_conf;
        }
    }
    conf.parent = prev as *const LocConf;
}

/// The loaded `mod_fastdfs.conf` of this location (loaded once per file and cycle). `None` after
/// logging why it cannot be loaded.
fn instance_for(cf: &ngx_conf_t, conf: &LocConf) -> Option<Rc<Instance>> {
    let path = conf
        .config_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF));
    // SAFETY: see `main_conf_cf`; no other reference to it is alive during this merge.
    let main = unsafe { &mut *main_conf_cf(cf) };
    if let Some((_, i)) = main.instances.iter().find(|(p, _)| *p == path) {
        return Some(i.clone());
    }
    let ifaddrs = main
        .ifaddrs
        .get_or_insert_with(crate::instance::interface_addrs)
        .clone();
    let mode = load_mode();
    let mut log = |lvl: Level, m: &str| conf_log(cf, lvl.nginx_level(), m);
    match crate::load_instance(&path, &ifaddrs, mode, &mut log) {
        Ok(i) => {
            // `nginx -s` only signals the master, which logs them when it loads.
            if mode != LoadMode::Signal {
                for w in &i.warnings {
                    conf_log(cf, NGX_LOG_WARN, w);
                }
            }
            let i = Rc::new(i);
            main.instances.push((path, i.clone()));
            Some(i)
        }
        Err(e) => {
            let at = &conf.directive_at;
            let msg = format!("{e} (config of \"ngx_fastdfs_module\" in {at})");
            conf_log(cf, NGX_LOG_EMERG, &msg);
            None
        }
    }
}

/// The proxy module's upstream settings in a proxy location conf.
fn upstream_conf(proxy_conf: *const c_void) -> *mut ngx_http_upstream_conf_t {
    // ngx_http_upstream_conf_t is the first field of ngx_http_proxy_loc_conf_t: checked for this
    // nginx by `check_proxy_layout` when the directive is read.
    proxy_conf as *mut ngx_http_upstream_conf_t
}

/// Proxy timeouts: mod_fastdfs.conf's connect/network timeouts unless proxy_*_timeout is written
/// in this location or an enclosing level. This merge runs before the proxy module's
/// (ngx_module_order), so "unset" still means "not written here".
fn proxy_timeouts(conf: &LocConf, inst: &Instance) {
    let ct = (inst.conf.connect_timeout.max(1) as ngx_msec_t) * 1000;
    let nt = (inst.conf.network_timeout.max(1) as ngx_msec_t) * 1000;
    // SAFETY: proxy_conf is this location's proxy loc conf (set by cmd_module), in the cycle pool;
    // nothing else holds a reference to it during the merge.
    let u = unsafe { &mut *upstream_conf(conf.proxy_conf) };
    if u.connect_timeout == UNSET_MSEC && !inherited(conf, |u| u.connect_timeout) {
        u.connect_timeout = ct;
    }
    if u.send_timeout == UNSET_MSEC && !inherited(conf, |u| u.send_timeout) {
        u.send_timeout = nt;
    }
    if u.read_timeout == UNSET_MSEC && !inherited(conf, |u| u.read_timeout) {
        u.read_timeout = nt;
    }
}

/// True if an enclosing level of `conf` sets the timeout `pick` reads.
fn inherited(conf: &LocConf, pick: fn(&ngx_http_upstream_conf_t) -> ngx_msec_t) -> bool {
    // SAFETY: plain read of the proxy module's index, fixed before configuration.
    let pidx = unsafe { (*proxy_module()).ctx_index };
    let mut level = conf.parent;
    // SAFETY: `parent` is null or an enclosing level's LocConf (merges run outside-in, all in the
    // cycle pool); `loc_confs` is null or that level's loc_conf array, whose proxy slot is the
    // proxy module's loc conf of that level.
    while let Some(l) = unsafe { level.as_ref() } {
        if !l.loc_confs.is_null() {
            // SAFETY: see above.
            let pc = unsafe { *l.loc_confs.add(pidx) };
            // SAFETY: see above and `upstream_conf`.
            if let Some(u) = unsafe { upstream_conf(pc).as_ref() } {
                if pick(u) != UNSET_MSEC {
                    return true;
                }
            }
        }
        level = l.parent;
    }
    false
}

/// Which nginx run this configuration load is for: `nginx -s` sets `ngx_process` to the
/// signaller before parsing the configuration, `nginx -t`/`-T` sets `ngx_test_config`.
fn load_mode() -> LoadMode {
    // SAFETY: plain reads of nginx globals, written only while nginx parses its command line.
    let (process, test) = unsafe { (ngx_process, ngx_test_config) };
    if process == NGX_PROCESS_SIGNALLER as ngx_uint_t {
        LoadMode::Signal
    } else if test != 0 {
        LoadMode::Test
    } else {
        LoadMode::Start
    }
}

// ---------------------------------------------------------------------------------------------
// Variables

const VARS: [&str; 3] = ["fastdfs_status", "fastdfs_proxy_host", "fastdfs_proxy_uri"];

extern "C" fn var_get_unset(
    _r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    guard(ERROR, || {
        // SAFETY: nginx passes the variable value to fill.
        if let Some(v) = unsafe { v.as_mut() } {
            v.set_not_found(1);
        }
        OK
    })
}

extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    guard(ERROR, || {
        let mut indexes = [-1; 3];
        for (name, index) in VARS.iter().zip(indexes.iter_mut()) {
            let mut s = static_str(name);
            // SAFETY: cf is the configuration being parsed; nginx copies the name it keeps.
            let v = unsafe { ngx_http_add_variable(cf, &mut s, 0) };
            // SAFETY: a non-null result is the new variable, ours to fill.
            let Some(v) = (unsafe { v.as_mut() }) else {
                return ERROR;
            };
            v.get_handler = Some(var_get_unset);
            // SAFETY: as for ngx_http_add_variable.
            *index = unsafe { ngx_http_get_variable_index(cf, &mut s) };
            if *index == ERROR {
                return ERROR;
            }
        }
        // SAFETY: nginx passes a valid cf inside the http block; see `main_conf_cf`.
        let main = unsafe { &mut *main_conf_cf(&*cf) };
        [main.var_status, main.var_host, main.var_uri] = indexes;
        OK
    })
}

// ---------------------------------------------------------------------------------------------
// Directives

/// The `n`th argument of the directive being parsed.
fn arg(cf: &ngx_conf_t, n: usize) -> &[u8] {
    // SAFETY: cf->args is the directive's ngx_array_t of ngx_str_t, checked by nginx against the
    // directive's argument count.
    let args = unsafe { (*cf.args).as_slice::<ngx_str_t>() };
    args.get(n).map_or(&[], |s| s.as_bytes())
}

extern "C" fn cmd_config(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    guard(CONF_ERROR, || {
        // SAFETY: nginx passes a valid cf and this module's LocConf of the current level.
        let (cf, lcf) = unsafe { (&*cf, &mut *(conf as *mut LocConf)) };
        if lcf.config_path.is_some() {
            return c"is duplicate".as_ptr() as *mut c_char;
        }
        let value = String::from_utf8_lossy(arg(cf, 1)).into_owned();
        let mut p = PathBuf::from(&value);
        if p.is_relative() {
            // SAFETY: cf->cycle is the cycle being configured.
            let prefix = unsafe { (*cf.cycle).conf_prefix.as_bytes() };
            p = Path::new(&*String::from_utf8_lossy(prefix)).join(p);
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
    guard(CONF_ERROR, || {
        // SAFETY: nginx passes this module's LocConf of the current level.
        let lcf = unsafe { &mut *(conf as *mut LocConf) };
        if lcf.enabled {
            return c"is duplicate".as_ptr() as *mut c_char;
        }
        lcf.enabled = true;
        // SAFETY: nginx passes a valid cf.
        lcf.directive_at = conf_position(unsafe { &*cf });
        if let Err(msg) = check_proxy_layout(cf) {
            return msg;
        }
        inject_proxy_pass(cf, lcf)
    })
}

/// The one layout assumption: `ngx_http_upstream_conf_t` is the first field of the proxy module's
/// location conf (true of every nginx since 1.x; checked so that an nginx where it is not fails
/// `nginx -t` instead of corrupting memory). A fresh proxy location conf must show, at the
/// assumed place, the values the proxy module's `create_loc_conf` writes there.
fn check_proxy_layout(cf: *mut ngx_conf_t) -> Result<(), *mut c_char> {
    let wrong = c"cannot use this nginx: the proxy module's location conf does not start with \
                  ngx_http_upstream_conf_t (the module was built for another nginx layout)";
    // SAFETY: the proxy module's ctx is its ngx_http_module_t, static in nginx.
    let create = unsafe { (*((*proxy_module()).ctx as *const ngx_http_module_t)).create_loc_conf };
    let Some(create) = create else {
        return Err(wrong.as_ptr() as *mut c_char);
    };
    // SAFETY: calling the proxy module's own constructor on the configuration being parsed; the
    // result (in the cycle pool) is only read below and then left to the pool.
    let fresh = unsafe { create(cf) };
    if fresh.is_null() {
        return Err(CONF_ERROR);
    }
    // SAFETY: `fresh` is a proxy location conf, at least as large as its first field.
    let u = unsafe { &*upstream_conf(fresh) };
    let holds = u.upstream.is_null()
        && [
            u.connect_timeout,
            u.send_timeout,
            u.read_timeout,
            u.next_upstream_timeout,
        ]
        .iter()
        .all(|&t| t == UNSET_MSEC)
        && u.buffer_size == UNSET_SIZE;
    if holds {
        Ok(())
    } else {
        Err(wrong.as_ptr() as *mut c_char)
    }
}

/// Runs the proxy module's own `proxy_pass http://$fastdfs_proxy_host$fastdfs_proxy_uri` in this
/// location, keeps its handler for the proxy path and installs ours as the content handler.
fn inject_proxy_pass(cf: *mut ngx_conf_t, lcf: &mut LocConf) -> *mut c_char {
    // SAFETY: nginx passes a valid cf inside a location.
    let cfr = unsafe { &*cf };
    let ctx = http_ctx(cfr);
    // SAFETY: loc_conf has one slot per HTTP module; the core module's is its location conf, the
    // proxy module's its location conf (both created for this location already).
    let (clcf, pconf) = unsafe {
        let core = (*addr_of!(ngx_http_core_module)).ctx_index;
        let clcf = &mut *(*ctx.loc_conf.add(core) as *mut ngx_http_core_loc_conf_t);
        (clcf, *ctx.loc_conf.add((*proxy_module()).ctx_index))
    };
    let Some(cmd) = find_proxy_pass() else {
        return c"cannot find proxy_pass in ngx_http_proxy_module".as_ptr() as *mut c_char;
    };
    // SAFETY: cmd points into the proxy module's static command array.
    let Some(set) = (unsafe { (*cmd).set }) else {
        return CONF_ERROR;
    };
    let Some(args) = proxy_pass_args(cfr) else {
        return CONF_ERROR;
    };
    // proxy_pass turns auto_redirect on for its location, which this module does not want.
    let saved_redirect = clcf.auto_redirect();
    // SAFETY: the directive handler is called as nginx would for `proxy_pass ...` in this
    // location: with cf->args holding the directive's words, restored right after.
    let rv = unsafe {
        let saved_args = (*cf).args;
        (*cf).args = args;
        let rv = set(cf, cmd, pconf);
        (*cf).args = saved_args;
        rv
    };
    if rv != CONF_OK {
        return rv;
    }
    clcf.set_auto_redirect(saved_redirect);
    lcf.proxy_handler = clcf.handler;
    lcf.proxy_conf = pconf;
    clcf.handler = Some(super::handler::content_handler);
    CONF_OK
}

/// `proxy_pass` among the proxy module's directives.
fn find_proxy_pass() -> Option<*mut ngx_command_t> {
    // SAFETY: the proxy module's commands are a static array ended by an entry with a null name.
    unsafe {
        let mut cmd = (*proxy_module()).commands;
        while !cmd.is_null() && !(*cmd).name.data.is_null() {
            if (*cmd).name.as_bytes() == b"proxy_pass" {
                return Some(cmd);
            }
            cmd = cmd.add(1);
        }
    }
    None
}

/// The words of `proxy_pass http://$fastdfs_proxy_host$fastdfs_proxy_uri`, in the conf pool.
fn proxy_pass_args(cf: &ngx_conf_t) -> Option<*mut ngx_array_t> {
    // SAFETY: the configuration pool is valid while configuring.
    let args = unsafe { ngx_array_create(cf.pool, 2, std::mem::size_of::<ngx_str_t>()) };
    if args.is_null() {
        return None;
    }
    for s in [
        &b"proxy_pass"[..],
        &b"http://$fastdfs_proxy_host$fastdfs_proxy_uri"[..],
    ] {
        // SAFETY: as above; the pushed element is an uninitialised ngx_str_t slot, written at once.
        unsafe {
            let e = ngx_array_push(args) as *mut ngx_str_t;
            if e.is_null() {
                return None;
            }
            *e = ngx_str_t::from_bytes(cf.pool, s)?;
        }
    }
    Some(args)
}
