//! Harness for `fdfs-edge`: write an `edge.toml` with free ports and a private cache directory,
//! start the real binary, wait until it listens, and tear it down on drop (printing its logs when
//! the test failed).
//!
//! The binary is located like this: `FDFS_EDGE_BIN` if set; otherwise the harness runs
//! `cargo build -p edge-proxy --bin fdfs-edge` once per test process (with `--release` when the
//! tests themselves are built without debug assertions) and uses
//! `$CARGO_TARGET_DIR/<profile>/fdfs-edge` (default target dir: `<workspace>/target`).
//!
//! Also here: [`Origin`], a tiny HTTP/1.1 server standing in for a storage (counts requests,
//! can answer 502, delay, or be killed). The client the suites send requests with is
//! [`crate::http`].

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::http::{find, fnv};
use crate::net::free_port;
use crate::wait::poll;

/// Path of the fdfs-edge binary (see the module docs).
pub fn edge_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FDFS_EDGE_BIN") {
            return PathBuf::from(p);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let release = !cfg!(debug_assertions);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&workspace)
            .args(["build", "-p", "edge-proxy", "--bin", "fdfs-edge"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for fdfs-edge");
        assert!(status.success(), "cargo build -p edge-proxy failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        target
            .join(if release { "release" } else { "debug" })
            .join("fdfs-edge")
    })
    .clone()
}

/// A group of the generated configuration.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub name: String,
    pub storages: Vec<SocketAddr>,
}

/// What goes into the generated `edge.toml`.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub groups: Vec<GroupSpec>,
    pub purge_allow: Vec<String>,
    pub threads: usize,
    pub max_size: String,
    pub valid: String,
    /// Extra TOML appended to `[cache]`.
    pub cache_extra: String,
    /// Extra TOML appended to `[upstream]`.
    pub upstream_extra: String,
    /// The `[health]` table body.
    pub health: String,
    /// Extra tables appended at the end (e.g. `[trackers]`).
    pub extra: String,
    /// `[server] grace_period`.
    pub grace_period: String,
    /// Extra lines of the `[response]` table.
    pub response_extra: String,
    /// Extra lines of the `[server]` table.
    pub server_extra: String,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            groups: Vec::new(),
            purge_allow: vec!["127.0.0.1/32".into()],
            threads: 2,
            max_size: "1GiB".into(),
            valid: "12h".into(),
            cache_extra: String::new(),
            upstream_extra: String::new(),
            health: "interval = \"1s\"\ntimeout = \"1s\"\nfails = 1\npasses = 1\n".into(),
            extra: String::new(),
            grace_period: "30s".into(),
            response_extra: String::new(),
            server_extra: String::new(),
        }
    }
}

impl EdgeConfig {
    pub fn group(mut self, name: &str, storages: &[SocketAddr]) -> Self {
        self.groups.push(GroupSpec {
            name: name.into(),
            storages: storages.to_vec(),
        });
        self
    }
}

/// A running fdfs-edge process.
pub struct Edge {
    pub dir: tempfile::TempDir,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub conf_path: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Edge {
    /// Writes the configuration and starts the edge; panics (with logs) if it does not come up.
    pub fn start(cfg: &EdgeConfig) -> Edge {
        let mut e = Edge::with_toml(|d, listen, admin| Edge::render(cfg, d, listen, admin));
        e.spawn(&[]);
        e
    }

    /// The `edge.toml` text for `cfg`, with its files under `d`.
    pub fn render(cfg: &EdgeConfig, d: &Path, listen: SocketAddr, admin: SocketAddr) -> String {
        let mut toml = format!(
            "[server]\nlisten = [\"{listen}\"]\nthreads = {}\npid_file = \"{}\"\nupgrade_sock = \"{}\"\naccess_log = \"{}\"\ngrace_period = \"{}\"\ngraceful_shutdown_timeout = \"2s\"\n{}\n[admin]\nlisten = \"{admin}\"\n\n[upstream]\nconnect_timeout = \"2s\"\nread_timeout = \"30s\"\n{}\n[health]\n{}\n",
            cfg.threads,
            d.join("edge.pid").display(),
            d.join("upgrade.sock").display(),
            d.join("access.log").display(),
            cfg.grace_period,
            cfg.server_extra,
            cfg.upstream_extra,
            cfg.health,
        );
        for g in &cfg.groups {
            let list: Vec<String> = g.storages.iter().map(|a| format!("\"{a}\"")).collect();
            toml.push_str(&format!(
                "[[group]]\nname = \"{}\"\nstorages = [{}]\n\n",
                g.name,
                list.join(", ")
            ));
        }
        let allow: Vec<String> = cfg.purge_allow.iter().map(|a| format!("\"{a}\"")).collect();
        toml.push_str(&format!(
            "[cache]\ndir = \"{}\"\nmax_size = \"{}\"\nvalid = \"{}\"\n{}\n\n[response]\nexpires = \"30d\"\n{}\n\n[purge]\nallow = [{}]\n",
            d.join("cache").display(),
            cfg.max_size,
            cfg.valid,
            cfg.cache_extra,
            cfg.response_extra,
            allow.join(", ")
        ));
        toml.push('\n');
        toml.push_str(&cfg.extra);
        toml
    }

    /// An edge whose `edge.toml` is `toml(dir, listen, admin)` (a private temporary directory and
    /// two free loopback addresses), not started: see [`Edge::launch`] and [`Edge::run_to_exit`].
    pub fn with_toml(toml: impl FnOnce(&Path, SocketAddr, SocketAddr) -> String) -> Edge {
        let dir = tempfile::Builder::new()
            .prefix("fdfs-edge-test")
            .tempdir()
            .expect("tempdir");
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let admin = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let conf_path = dir.path().join("edge.toml");
        std::fs::write(&conf_path, toml(dir.path(), listen, admin)).expect("write edge.toml");
        Edge {
            dir,
            listen,
            admin,
            conf_path,
            child: None,
            starts: 0,
        }
    }

    /// Starts the process with `args` and waits until it listens (panics with its logs if not).
    pub fn launch(&mut self, args: &[&str]) {
        self.spawn(args);
    }

    /// Runs the binary with `args` against this configuration until it exits by itself (within
    /// 120 s, else it is killed and the test fails); returns its exit code and its stderr.
    pub fn run_to_exit(&mut self, args: &[&str]) -> (Option<i32>, String) {
        let mut c = self.start_child(args);
        let Ok(status) = poll(Duration::from_secs(120), || c.try_wait().ok().flatten()) else {
            let _ = c.kill();
            let _ = c.wait();
            self.dump_logs();
            panic!("fdfs-edge {args:?} did not exit within 120 s");
        };
        let err = self.dir.path().join(format!("stderr.{}.log", self.starts));
        (
            status.code(),
            std::fs::read_to_string(err).unwrap_or_default(),
        )
    }

    /// The stderr of the last process started (an upgraded one after [`Edge::upgrade`]).
    pub fn last_stderr(&self) -> String {
        let err = self.dir.path().join(format!("stderr.{}.log", self.starts));
        std::fs::read_to_string(err).unwrap_or_default()
    }

    /// Like [`Edge::upgrade`], but the new process waits `wait` for the old one's sockets first,
    /// as after the `sleep 1` of the documented reload.
    pub fn upgrade_after(&mut self, wait: Duration) {
        let sock = self.dir.path().join("upgrade.sock");
        let _ = std::fs::remove_file(&sock);
        let Some(old) = self.child.take() else {
            panic!("edge not running");
        };
        let new = self.start_child(&["-u"]);
        std::thread::sleep(wait);
        self.hand_over(old, new);
    }

    /// The end of an upgrade: SIGQUIT to `old`, which hands its sockets to `new` and exits after its
    /// requests; then `new` is the edge, and it must be up.
    fn hand_over(&mut self, mut old: Child, new: Child) {
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(old.id().to_string())
            .status();
        let exited = poll(Duration::from_secs(60), || {
            matches!(old.try_wait(), Ok(Some(_)))
        });
        self.child = Some(new);
        if exited.is_err() {
            let _ = old.kill();
            let _ = old.wait();
            self.dump_logs();
            panic!("old fdfs-edge did not exit after SIGQUIT");
        }
        self.wait_up();
    }

    fn start_child(&mut self, extra_args: &[&str]) -> Child {
        self.starts += 1;
        let d = self.dir.path();
        let out =
            std::fs::File::create(d.join(format!("stdout.{}.log", self.starts))).expect("log");
        let err =
            std::fs::File::create(d.join(format!("stderr.{}.log", self.starts))).expect("log");
        Command::new(edge_bin())
            .arg("-c")
            .arg(&self.conf_path)
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn fdfs-edge")
    }

    fn spawn(&mut self, extra_args: &[&str]) {
        let child = self.start_child(extra_args);
        self.child = Some(child);
        self.wait_up();
    }

    /// Graceful binary upgrade: start a second process with `-u`, wait until it listens on the
    /// upgrade socket, send SIGQUIT to the running one (which hands over its listening sockets and
    /// exits after finishing its requests), then wait for the old one to exit.
    pub fn upgrade(&mut self) {
        let sock = self.dir.path().join("upgrade.sock");
        let _ = std::fs::remove_file(&sock);
        let Some(old) = self.child.take() else {
            panic!("edge not running");
        };
        let mut new = self.start_child(&["-u"]);
        // Done when the socket is there, or when the new process exited (`Some(status)`).
        let waited = poll(Duration::from_secs(60), || match new.try_wait() {
            Ok(Some(st)) => Some(Some(st)),
            _ => sock.exists().then_some(None),
        });
        match waited {
            Ok(None) => self.hand_over(old, new),
            Ok(Some(st)) => {
                self.child = Some(old);
                self.dump_logs();
                panic!("upgrading fdfs-edge exited: {st}");
            }
            Err(_) => panic!("no upgrade socket"),
        }
    }

    fn wait_up(&mut self) {
        let (listen, admin) = (self.listen, self.admin);
        let child = &mut self.child;
        // Done when both ports accept, or when the process exited (`Some(status)`).
        let waited = poll(Duration::from_secs(60), || {
            if let Some(st) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Some(Some(st));
            }
            let up = std::net::TcpStream::connect(listen).is_ok()
                && std::net::TcpStream::connect(admin).is_ok();
            up.then_some(None)
        });
        match waited {
            Ok(None) => {}
            Ok(Some(st)) => {
                self.dump_logs();
                panic!("fdfs-edge exited during start: {st}");
            }
            Err(_) => {
                self.dump_logs();
                panic!("fdfs-edge did not start listening on {}", self.listen);
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Peak resident memory (VmHWM) of the edge process in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Sends a signal (`TERM`, `QUIT`, ...) to the running process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Stops the process (SIGTERM, then SIGKILL after 20 s) and waits for it; `true` when it
    /// exited by itself.
    pub fn stop(&mut self) -> bool {
        let mut exited = true;
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            if poll(Duration::from_secs(20), || c.try_wait().ok().flatten()).is_err() {
                let _ = c.kill();
                let _ = c.wait();
                exited = false;
            }
        }
        exited
    }

    /// Stops and starts again with the same configuration and cache directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn(&[]);
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        for i in 1..=self.starts {
            for kind in ["stdout", "stderr"] {
                let p = self.dir.path().join(format!("{kind}.{i}.log"));
                let mut t = String::new();
                if let Ok(mut f) = std::fs::File::open(&p) {
                    let _ = f.read_to_string(&mut t);
                }
                s.push_str(&format!("----- {} -----\n{t}\n", p.display()));
            }
        }
        s
    }

    pub fn dump_logs(&self) {
        eprintln!(
            "===== fdfs-edge logs ({}) =====\n{}",
            self.dir.path().display(),
            self.logs()
        );
        eprintln!("----- access.log -----\n{}", self.access_log());
    }

    /// Runs the binary with extra arguments against this configuration (`-t`, `check`).
    pub fn run_cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(edge_bin())
            .args(args)
            .arg("-c")
            .arg(&self.conf_path)
            .output()
            .expect("run fdfs-edge")
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The deterministic body [`Origin`] serves for a generated object of `len` bytes.
pub fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(2654435761) >> 7) as u8
}

/// Mode of an [`Origin`].
pub const MODE_OK: u8 = 0;
/// Answer every request (except `/`) with 502.
pub const MODE_502: u8 = 1;

/// A stand-in storage: serves `/<anything>` with a body derived from the path, or a generated
/// object of N bytes for paths containing `size=N` in the query. Counts requests per path and keeps
/// the headers of the last request.
pub struct Origin {
    pub addr: SocketAddr,
    pub total: Arc<AtomicU64>,
    pub per_path: Arc<Mutex<HashMap<String, u64>>>,
    pub last_headers: Arc<Mutex<Vec<(String, String)>>>,
    pub mode: Arc<AtomicU8>,
    /// Delay before answering, in milliseconds (to make concurrent cold requests overlap).
    pub delay_ms: Arc<AtomicU64>,
    /// While true, `size=` bodies requested with `hold=1` stop halfway (a stalled storage).
    pub hold: Arc<AtomicBool>,
    /// Extra header lines added to every response.
    pub extra_headers: Arc<Mutex<Vec<String>>>,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// The body the origin serves for `path` when no `size=` is given.
pub fn small_body(addr: SocketAddr, path: &str) -> Vec<u8> {
    let _ = addr;
    format!("body of {path}\n").repeat(50).into_bytes()
}

impl Origin {
    /// Starts on `ip` (a free port) in the current tokio runtime.
    pub async fn start(ip: Ipv4Addr) -> Origin {
        let port = free_port(ip);
        Origin::start_on(SocketAddr::from((ip, port)))
            .await
            .expect("bind origin")
    }

    /// Starts on exactly `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Origin> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut o = Origin {
            addr,
            total: Arc::default(),
            per_path: Arc::default(),
            last_headers: Arc::default(),
            mode: Arc::default(),
            delay_ms: Arc::default(),
            hold: Arc::default(),
            extra_headers: Arc::default(),
            accept: None,
            conns: Arc::default(),
        };
        let hold = o.hold.clone();
        let (total, per_path, last, mode, delay, extra, conns) = (
            o.total.clone(),
            o.per_path.clone(),
            o.last_headers.clone(),
            o.mode.clone(),
            o.delay_ms.clone(),
            o.extra_headers.clone(),
            o.conns.clone(),
        );
        let accept = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    break;
                };
                let st = ConnState {
                    total: total.clone(),
                    per_path: per_path.clone(),
                    last: last.clone(),
                    mode: mode.clone(),
                    delay: delay.clone(),
                    extra: extra.clone(),
                    hold: hold.clone(),
                };
                let h = tokio::spawn(serve_conn(s, st));
                conns.lock().expect("conns").push(h);
            }
        });
        o.accept = Some(accept);
        Ok(o)
    }

    pub fn count(&self, path: &str) -> u64 {
        self.per_path
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    pub fn last_header(&self, name: &str) -> Option<String> {
        self.last_headers
            .lock()
            .expect("lock")
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Stops listening and drops every open connection (like a killed storage).
    pub fn kill(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for c in self.conns.lock().expect("lock").drain(..) {
            c.abort();
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.kill();
    }
}

struct ConnState {
    total: Arc<AtomicU64>,
    per_path: Arc<Mutex<HashMap<String, u64>>>,
    last: Arc<Mutex<Vec<(String, String)>>>,
    mode: Arc<AtomicU8>,
    delay: Arc<AtomicU64>,
    hold: Arc<AtomicBool>,
    extra: Arc<Mutex<Vec<String>>>,
}

async fn serve_conn(mut s: TcpStream, st: ConnState) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("");
        let mut parts = first.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let close = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.clone(), String::new()),
        };
        let is_probe = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("user-agent") && v.contains("fdfs-edge-health"));
        if !is_probe {
            st.total.fetch_add(1, Ordering::SeqCst);
            *st.per_path
                .lock()
                .expect("lock")
                .entry(target.clone())
                .or_insert(0) += 1;
            *st.last.lock().expect("lock") = headers.clone();
        }
        let d = st.delay.load(Ordering::SeqCst);
        if d > 0 && !is_probe {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
        let extra: String = st
            .extra
            .lock()
            .expect("lock")
            .iter()
            .map(|h| format!("{h}\r\n"))
            .collect();
        if st.mode.load(Ordering::SeqCst) == MODE_502 && path != "/" {
            let msg = b"bad gateway";
            let h = format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\n\r\n",
                msg.len()
            );
            if s.write_all(h.as_bytes()).await.is_err() || s.write_all(msg).await.is_err() {
                return;
            }
            continue;
        }
        let size: Option<u64> = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("size="))
            .and_then(|v| v.parse().ok());
        let held = query.split('&').any(|kv| kv == "hold=1");
        let head_only = method == "HEAD";
        match size {
            None => {
                let body = small_body(SocketAddr::from(([0, 0, 0, 0], 0)), &path);
                let etag = format!("\"e-{}\"", fnv(&body));
                let inm = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("if-none-match"))
                    .map(|(_, v)| v.as_str());
                if inm == Some(etag.as_str()) {
                    let h = format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n{extra}\r\n");
                    if s.write_all(h.as_bytes()).await.is_err() {
                        return;
                    }
                    if close {
                        return;
                    }
                    continue;
                }
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nETag: \"e-{}\"\r\n{extra}\r\n",
                    body.len(),
                    fnv(&body)
                );
                if s.write_all(h.as_bytes()).await.is_err() {
                    return;
                }
                if !head_only && s.write_all(&body).await.is_err() {
                    return;
                }
            }
            Some(n) => {
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\n{extra}\r\n"
                );
                if s.write_all(h.as_bytes()).await.is_err() {
                    return;
                }
                if !head_only {
                    let mut off = 0u64;
                    let mut block = vec![0u8; 256 * 1024];
                    while off < n {
                        let k = (n - off).min(block.len() as u64) as usize;
                        for (i, b) in block[..k].iter_mut().enumerate() {
                            *b = pattern_byte(off + i as u64);
                        }
                        if s.write_all(&block[..k]).await.is_err() {
                            return;
                        }
                        off += k as u64;
                        while held && off >= n / 2 && st.hold.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
        }
        if close {
            return;
        }
    }
}

/// A storage's HTTP side for the emulator (which speaks only the storage protocol): serves
/// `GET /<group>/M00/HH/HH/<name>` from `<store path>/data/HH/HH/<name>`, as nginx with the module
/// serves a local file; 404 for anything else. One request per connection.
pub struct StoreOrigin {
    accept: JoinHandle<()>,
}

impl StoreOrigin {
    /// Serves `store` on `addr` (the storage's `http_addr`).
    pub async fn start(addr: SocketAddr, store: PathBuf) -> std::io::Result<StoreOrigin> {
        let listener = TcpListener::bind(addr).await?;
        let store = Arc::new(store);
        let accept = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve_store_file(s, store.clone()));
            }
        });
        Ok(StoreOrigin { accept })
    }
}

impl Drop for StoreOrigin {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The file a storage path names under `store`, if it is one (`/<group>/M00/` then `data/…`).
fn store_file(store: &Path, path: &str) -> Option<PathBuf> {
    let rest = path.splitn(4, '/').nth(3)?;
    let (_, under) = path.split_once("/M00/")?;
    if rest.is_empty() || under.split('/').any(|seg| seg.is_empty() || seg == "..") {
        return None;
    }
    Some(store.join("data").join(under))
}

async fn serve_store_file(mut s: TcpStream, store: Arc<PathBuf>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while find(&buf, b"\r\n\r\n").is_none() {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let line = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let body = store_file(&store, path).and_then(|f| std::fs::read(f).ok());
    let head = match &body {
        Some(b) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            b.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    if let (Some(b), false) = (&body, method == "HEAD") {
        let _ = s.write_all(b).await;
    }
}

/// An edge's `[trackers]` table for a cluster's trackers (storages' HTTP on port 8888).
pub fn trackers_table(trackers: &[SocketAddrV4]) -> String {
    let trackers: Vec<String> = trackers.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[trackers]\nservers = [{}]\nhttp_port = 8888\n",
        trackers.join(", ")
    )
}

/// A client of a cluster's trackers.
pub fn cluster_client(trackers: &[SocketAddrV4]) -> fdfs_client::client::Client {
    fdfs_client::client::Client::builder()
        .trackers(
            trackers
                .iter()
                .map(|a| fdfs_client::client::ServerAddr::new(a.ip().to_string(), a.port())),
        )
        .build()
        .expect("client")
}
