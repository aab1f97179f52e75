//! The high-availability pair of the deployment: two `fdfs-edge` behind Debian's keepalived sharing a
//! virtual IP, with the shipped `edge-proxy/deploy/keepalived.conf` and `check_fdfs_edge.sh`.
//!
//! Everything runs in Linux network namespaces this suite creates (`fdfs_integration::netns`): a
//! bridge in a namespace of its own, nodes `a` and `b` (edge + keepalived), `o` (the origin: Debian's
//! nginx serving static files under /group1/M00/...) and `c` (a client sending 50 requests/s to the
//! VIP, a fresh connection each). The subnet 10.231.7.0/24 exists only there. Needs root; fails
//! without it, like the other suites.
//!
//! The keepalived configuration is the shipped file with only the interface (already `eth0` here),
//! the addresses and the check script's path changed; keepalived gets `FDFS_EDGE_BIN` and
//! `FDFS_EDGE_CONF` in its environment, which the check script honours. As the keepalived.conf
//! header requires, `arp_ignore`/`arp_announce` are set in the nodes' namespaces.
//!
//! There is no systemd here: each edge runs under [`Supervised`], which does what the package's unit
//! says (`Restart=on-failure`, `RestartSec=1s`): restart 1 s after an exit that is neither 0 nor
//! SIGHUP/SIGINT/SIGTERM/SIGPIPE.
//!
//! The takeover bounds (2 s for a killed edge, 4 s for a hung one) are functional requirements of
//! the HA pair (issue 11), hence asserted, measured from the fault to the first request through the
//! VIP that succeeds after the last failed one; the measured values are printed.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fdfs_integration::edge::edge_bin;
use fdfs_integration::netns::{self, Lab, SIGCONT, SIGKILL, SIGSTOP, SIGTERM, SIGUSR2};
use fdfs_integration::wait::eventually;

const VIP: &str = "10.231.7.100";
/// The addresses of the shipped keepalived.conf that the test replaces.
const SHIPPED_VIP: &str = "192.168.1.100";
const ORIGIN: &str = "10.231.7.3:8888";
/// The object the steady stream asks for, and its body.
const STEADY: &str = "/group1/M00/00/00/steady.txt";
const STEADY_BODY: &[u8] = b"steady object through the VIP\n";
/// A client request gives up after this long (connect, then the whole answer). A request that
/// needed a retransmission (a SYN that reached a node without the VIP is sent again after 1 s)
/// counts as failed whatever its duration: on this bridge no packet is lost otherwise.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
/// One lab at a time: timings measured on two shared cores must not compete with another lab.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wait_for(what: &str, limit: Duration, f: impl FnMut() -> bool) {
    eventually(limit, format!("timed out waiting for {what}"), f);
}

/// An edge run the way the package's systemd unit runs it (see the module docs).
struct Supervised {
    name: String,
    pid: Arc<Mutex<Option<u32>>>,
    stop: Arc<AtomicBool>,
    restarts: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

/// systemd's Restart=on-failure: a clean exit is 0 or one of these signals.
fn clean_exit(st: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    st.success() || matches!(st.signal(), Some(1 | 2 | 13 | 15))
}

impl Supervised {
    fn start(lab: &Lab, node: &str, conf: &Path, log: &Path) -> Supervised {
        let pid = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let restarts = Arc::new(AtomicU32::new(0));
        let mut cmd = lab.cmd(node, &edge_bin().display().to_string());
        cmd.arg("-c").arg(conf).stdin(Stdio::null());
        let log = log.to_path_buf();
        let (p, s, r) = (pid.clone(), stop.clone(), restarts.clone());
        let thread = std::thread::spawn(move || loop {
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("edge log");
            let err = out.try_clone().expect("edge log");
            let mut child: Child = cmd
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("start fdfs-edge");
            *p.lock().unwrap_or_else(|e| e.into_inner()) = Some(child.id());
            let st = child.wait().expect("wait fdfs-edge");
            *p.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if s.load(Ordering::SeqCst) || clean_exit(st) {
                return;
            }
            std::thread::sleep(Duration::from_secs(1)); // RestartSec=1s
            if s.load(Ordering::SeqCst) {
                return;
            }
            r.fetch_add(1, Ordering::SeqCst);
        });
        Supervised {
            name: node.to_string(),
            pid,
            stop,
            restarts,
            thread: Some(thread),
        }
    }

    fn pid(&self) -> Option<u32> {
        *self.pid.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn signal(&self, sig: i32) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("edge {} not running", self.name));
        assert!(
            netns::signal(pid, sig),
            "signal {sig} to edge {}",
            self.name
        );
    }

    /// Waits for the supervisor to end (a clean exit) without stopping it.
    fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            wait_for(
                &format!("edge {} to exit cleanly", self.name),
                Duration::from_secs(20),
                || t.is_finished(),
            );
            let _ = t.join();
        }
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(pid) = self.pid() {
            netns::signal(pid, SIGCONT);
            netns::signal(pid, SIGKILL);
        }
        self.join();
    }
}

/// One finished request of the client stream.
#[derive(Clone, Debug)]
struct Rec {
    start: Instant,
    end: Instant,
    ok: bool,
    err: String,
}

/// GET `path` from `addr` on a fresh connection: Ok when the answer is 200 with exactly `body`.
/// Done once the Content-Length body is in, as an HTTP client is: what the socket does after that
/// (a FIN, or a reset from the other node once the VIP has moved) does not change the answer.
fn get(addr: SocketAddr, path: &str, body: &[u8]) -> Result<(), String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut s = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT).map_err(|e| e.to_string())?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {VIP}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    while !complete(&raw) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout".into());
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    let retrans = total_retrans(&s);
    if retrans > 0 {
        Err(format!("{retrans} retransmission(s): a packet was lost"))
    } else if raw.starts_with(b"HTTP/1.1 200") && raw.ends_with(body) {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&raw[..raw.len().min(60)]).to_string())
    }
}

extern "C" {
    fn getsockopt(fd: i32, level: i32, name: i32, val: *mut u8, len: *mut u32) -> i32;
}

/// `tcpi_total_retrans` of the socket's `struct tcp_info` (offset 100 since Linux 2.6), 0 if unknown.
fn total_retrans(s: &TcpStream) -> u32 {
    use std::os::fd::AsRawFd;
    const IPPROTO_TCP: i32 = 6;
    const TCP_INFO: i32 = 11;
    let mut info = [0u8; 256];
    let mut len = info.len() as u32;
    // SAFETY: the kernel writes at most `len` bytes into `info` and updates `len`.
    let rc = unsafe {
        getsockopt(
            s.as_raw_fd(),
            IPPROTO_TCP,
            TCP_INFO,
            info.as_mut_ptr(),
            &mut len,
        )
    };
    if rc != 0 || len < 104 {
        return 0;
    }
    u32::from_ne_bytes([info[100], info[101], info[102], info[103]])
}

/// Whether `raw` holds a whole response with a Content-Length body.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|len| raw.len() >= end + 4 + len)
}

/// The client: 50 requests/s for [`STEADY`] through the VIP, each on a fresh connection and on its
/// own thread (a slow answer does not delay the next request).
struct Stream {
    recs: Arc<Mutex<Vec<Rec>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stream {
    fn start(lab: &Lab) -> Stream {
        let recs = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (recs.clone(), stop.clone());
        let addr: SocketAddr = format!("{VIP}:80").parse().expect("vip");
        let thread = lab.in_ns("c", move || {
            let mut next = Instant::now();
            while !s.load(Ordering::SeqCst) {
                let r = r.clone();
                std::thread::spawn(move || {
                    let start = Instant::now();
                    let res = get(addr, STEADY, STEADY_BODY);
                    let rec = Rec {
                        start,
                        end: Instant::now(),
                        ok: res.is_ok(),
                        err: res.err().unwrap_or_default(),
                    };
                    r.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
                });
                next += Duration::from_millis(20);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        Stream {
            recs,
            stop,
            thread: Some(thread),
        }
    }

    /// The requests started in `[from, to)`, once all of them have finished.
    fn window(&self, from: Instant, to: Instant) -> Vec<Rec> {
        let settled = to + CLIENT_TIMEOUT + Duration::from_millis(300);
        std::thread::sleep(settled.saturating_duration_since(Instant::now()));
        let mut v: Vec<Rec> = self
            .recs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.start >= from && r.start < to)
            .cloned()
            .collect();
        v.sort_by_key(|r| r.start);
        v
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// From `fault` to the end of the first successful request started after the last failed one.
fn takeover(recs: &[Rec], fault: Instant) -> Duration {
    let after: Vec<&Rec> = recs.iter().filter(|r| r.start >= fault).collect();
    let last_fail = after.iter().filter(|r| !r.ok).map(|r| r.start).max();
    let first_ok = after
        .iter()
        .filter(|r| r.ok && last_fail.is_none_or(|t| r.start > t))
        .map(|r| r.end)
        .min()
        .expect("a request succeeded after the fault");
    first_ok.saturating_duration_since(fault)
}

fn failed(recs: &[Rec]) -> Vec<&Rec> {
    recs.iter().filter(|r| !r.ok).collect()
}

/// The failed requests by error, for assertion messages.
fn errors(recs: &[Rec]) -> String {
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in failed(recs) {
        *by.entry(r.err.as_str()).or_default() += 1;
    }
    format!("{by:?}")
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// keepalived's view of one node, from its log (-l -D): the last state it entered and its
/// effective priority.
fn ka_status(log: &Path) -> (String, u32) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut state = String::from("INIT");
    let mut prio = 100;
    for line in text.lines() {
        // "(VI_FDFS_EDGE) Entering BACKUP STATE", possibly followed by "(init)"
        if let Some(word) = line
            .split("Entering ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            state = word.to_string();
        }
        if let Some(rest) = line.split("Changing effective priority from ").nth(1) {
            if let Some(p) = rest
                .split(" to ")
                .nth(1)
                .and_then(|p| p.trim().parse().ok())
            {
                prio = p;
            }
        }
    }
    (state, prio)
}

/// How many lines of keepalived's log contain `what`.
fn ka_count(log: &Path, what: &str) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| l.contains(what)).count()
}

/// The two nodes, their edges and keepalived, the origin and the client stream.
struct Pair {
    stream: Option<Stream>,
    edges: Vec<Supervised>,
    others: Vec<Child>,
    dir: tempfile::TempDir,
    lab: Lab,
    /// Held for the whole lab, released last (after the lab is gone): see [`SERIAL`].
    _serial: MutexGuard<'static, ()>,
}

const NODES: [&str; 2] = ["a", "b"];
const COLD_OBJECTS: usize = 4;
const COLD_SIZE: usize = 256 * 1024;

/// The requests around an old MASTER's return: see [`Pair::rejoin_as_backup`].
struct Rejoined {
    /// From the fault to the return.
    outage: Vec<Rec>,
    /// The 3 s after the return.
    after: Vec<Rec>,
    /// See [`takeover`].
    took: Duration,
}

fn cold_path(i: usize) -> String {
    format!("/group1/M00/01/00/cold-{i}.bin")
}

fn cold_body(i: usize) -> Vec<u8> {
    (0..COLD_SIZE).map(|n| (n * 7 + i * 13) as u8).collect()
}

impl Pair {
    fn start() -> Pair {
        let serial = serial();
        assert!(
            netns::is_root(),
            "the HA suite needs root (it creates network namespaces)"
        );
        assert!(
            Path::new("/usr/sbin/keepalived").exists(),
            "keepalived is not installed (apt-get install keepalived; make deps does it)"
        );
        // Not under /tmp: keepalived's enable_script_security refuses scripts in a world-writable
        // directory tree.
        let dir = tempfile::Builder::new()
            .prefix("ha-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir");
        let lab = Lab::new(&[
            ("a", "10.231.7.1/24"),
            ("b", "10.231.7.2/24"),
            ("o", "10.231.7.3/24"),
            ("c", "10.231.7.10/24"),
        ]);
        let mut pair = Pair {
            stream: None,
            edges: Vec::new(),
            others: Vec::new(),
            dir,
            lab,
            _serial: serial,
        };
        pair.start_origin();
        for node in NODES {
            pair.start_edge(node);
        }
        for node in NODES {
            wait_for(
                &format!("edge {node} ready"),
                Duration::from_secs(30),
                || pair.check(node, false),
            );
        }
        for node in NODES {
            pair.start_keepalived(node);
        }
        wait_for("a MASTER with the VIP", Duration::from_secs(15), || {
            pair.master().is_some()
        });
        pair.settle();
        pair.stream = Some(Stream::start(&pair.lab));
        // The stream reaches the MASTER before any fault.
        std::thread::sleep(Duration::from_millis(500));
        pair
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_origin(&mut self) {
        let www = self.path("www");
        std::fs::create_dir_all(www.join("group1/M00/00/00")).expect("mkdir");
        std::fs::create_dir_all(www.join("group1/M00/01/00")).expect("mkdir");
        std::fs::write(www.join(&STEADY[1..]), STEADY_BODY).expect("write");
        for i in 0..COLD_OBJECTS {
            std::fs::write(www.join(&cold_path(i)[1..]), cold_body(i)).expect("write");
        }
        let p = self.dir.path().display().to_string();
        // The cold objects trickle out (0.5 s each), so concurrent misses overlap with the fill.
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nuser root;\npid {p}/nginx.pid;\n\
             error_log {p}/nginx-error.log;\nevents {{ worker_connections 512; }}\nhttp {{\n\
             access_log {p}/origin-access.log;\n server {{\n  listen {ORIGIN};\n  root {p}/www;\n\
             location = /healthz {{ return 200 \"ok\\n\"; }}\n\
             location /group1/M00/01/ {{ limit_rate 512k; }}\n }}\n}}\n"
        );
        let path = self.path("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = self
            .lab
            .cmd("o", "/usr/sbin/nginx")
            .args(["-p", &p, "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        self.others.push(child);
        let lab = &self.lab;
        wait_for("the origin", Duration::from_secs(10), || {
            lab.output("o", "/usr/bin/test", &["-s", &format!("{p}/nginx.pid")])
                .status
                .success()
        });
    }

    fn edge_conf(&self, node: &str) -> PathBuf {
        self.path(&format!("edge-{node}.toml"))
    }

    fn start_edge(&mut self, node: &str) {
        let d = self.path(node);
        std::fs::create_dir_all(&d).expect("mkdir");
        let d = d.display();
        let toml = format!(
            "[server]\nlisten = [\"0.0.0.0:80\"]\nthreads = 2\npid_file = \"{d}/edge.pid\"\n\
             upgrade_sock = \"{d}/upgrade.sock\"\naccess_log = \"{d}/access.log\"\n\
             grace_period = \"10s\"\ngraceful_shutdown_timeout = \"2s\"\n\n\
             [admin]\nlisten = \"127.0.0.1:9180\"\n\n\
             [upstream]\nconnect_timeout = \"2s\"\nread_timeout = \"30s\"\n\n\
             [health]\nenabled = true\ninterval = \"1s\"\ntimeout = \"1s\"\npath = \"/healthz\"\n\n\
             [[group]]\nname = \"group1\"\nstorages = [\"{ORIGIN}\"]\n\n\
             [cache]\ndir = \"{d}/cache\"\nmax_size = \"64MiB\"\nvalid = \"12h\"\n"
        );
        std::fs::write(self.edge_conf(node), toml).expect("write edge.toml");
        let log = self.path(&format!("edge-{node}.log"));
        let sup = Supervised::start(&self.lab, node, &self.edge_conf(node), &log);
        let i = NODES.iter().position(|n| *n == node).expect("node");
        if i < self.edges.len() {
            self.edges[i].join();
            self.edges[i] = sup;
        } else {
            self.edges.push(sup);
        }
    }

    fn edge(&self, node: &str) -> &Supervised {
        &self.edges[NODES.iter().position(|n| *n == node).expect("node")]
    }

    /// `fdfs-edge check [--alive]` inside `node`, as keepalived's script runs it.
    fn check(&self, node: &str, alive: bool) -> bool {
        let conf = self.edge_conf(node).display().to_string();
        let mut args = vec!["check", "--timeout", "1s", "-c", &conf];
        if alive {
            args.push("--alive");
        }
        self.lab
            .output(node, &edge_bin().display().to_string(), &args)
            .status
            .success()
    }

    fn ka_log(&self, node: &str) -> PathBuf {
        self.path(&format!("keepalived-{node}.log"))
    }

    /// The shipped keepalived.conf and check script, adapted only in addresses and paths.
    fn start_keepalived(&mut self, node: &str) {
        // FDFS_HA_DEPLOY: run the suite against another keepalived.conf + check script.
        let deploy = std::env::var_os("FDFS_HA_DEPLOY")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("edge-proxy/deploy"));
        let script = self.path("check_fdfs_edge.sh");
        std::fs::copy(deploy.join("check_fdfs_edge.sh"), &script).expect("copy check script");
        let shipped =
            std::fs::read_to_string(deploy.join("keepalived.conf")).expect("keepalived.conf");
        assert!(shipped.contains(SHIPPED_VIP) && shipped.contains("/etc/keepalived/"));
        let conf = shipped
            .replace(SHIPPED_VIP, VIP)
            .replace(
                "/etc/keepalived/check_fdfs_edge.sh",
                &script.display().to_string(),
            )
            .replace(
                "router_id fdfs_edge_1",
                &format!("router_id fdfs_edge_{node}"),
            );
        let path = self.path(&format!("keepalived-{node}.conf"));
        std::fs::write(&path, conf).expect("write keepalived.conf");
        // What the keepalived.conf header asks of the host.
        let out = self.lab.output(
            node,
            "/usr/sbin/sysctl",
            &[
                "-q",
                "-w",
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
            ],
        );
        assert!(out.status.success(), "sysctl: {out:?}");
        let log = std::fs::File::create(self.ka_log(node)).expect("keepalived log");
        let child = self
            .lab
            .cmd(node, "/usr/sbin/keepalived")
            .args(["-n", "-l", "-D", "-P", "-f"])
            .arg(&path)
            .arg("-p")
            .arg(self.path(&format!("keepalived-{node}.pid")))
            .arg("-r")
            .arg(self.path(&format!("keepalived-{node}-vrrp.pid")))
            .env("FDFS_EDGE_BIN", edge_bin())
            .env("FDFS_EDGE_CONF", self.edge_conf(node))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start keepalived");
        self.others.push(child);
    }

    /// The node whose eth0 has the VIP, if exactly one has it.
    fn master(&self) -> Option<&'static str> {
        let with: Vec<&str> = NODES
            .into_iter()
            .filter(|n| self.lab.has_addr(n, "eth0", VIP))
            .collect();
        (with.len() == 1).then(|| with[0])
    }

    fn other(node: &str) -> &'static str {
        if node == "a" {
            "b"
        } else {
            "a"
        }
    }

    /// Both keepalived healthy: the MASTER and a BACKUP at full priority (ready to preempt).
    fn settle(&self) {
        wait_for(
            "MASTER + BACKUP, both at priority 100",
            Duration::from_secs(20),
            || {
                let s: Vec<(String, u32)> =
                    NODES.iter().map(|n| ka_status(&self.ka_log(n))).collect();
                let mut states: Vec<&str> = s.iter().map(|(st, _)| st.as_str()).collect();
                states.sort();
                states == ["BACKUP", "MASTER"]
                    && s.iter().all(|(_, p)| *p == 100)
                    && self.master().is_some()
            },
        );
    }

    /// Sends `sig` to the MASTER's edge: returns that node, the BACKUP, and when the fault began.
    fn fault_master(&self, sig: i32) -> (&'static str, &'static str, Instant) {
        let master = self.master().expect("master");
        let backup = Pair::other(master);
        let fault = Instant::now();
        self.edge(master).signal(sig);
        (master, backup, fault)
    }

    /// After a fault on `master` at `fault`, once its edge answers again: waits until its
    /// keepalived is BACKUP, lets the client stream run 3 s more, and splits the requests at that
    /// return (the outage, and what came after).
    fn rejoin_as_backup(&self, master: &str, fault: Instant) -> Rejoined {
        wait_for("keepalived back in BACKUP", Duration::from_secs(10), || {
            ka_status(&self.ka_log(master)).0 == "BACKUP"
        });
        let returned = Instant::now();
        std::thread::sleep(Duration::from_secs(3));
        let end = Instant::now();
        let outage = self.stream().window(fault, returned);
        let after = self.stream().window(returned, end);
        let took = takeover(&outage, fault);
        Rejoined {
            outage,
            after,
            took,
        }
    }

    /// The failover held: serving again within `limit`, nothing failed after the old MASTER came
    /// back, and the VIP stayed on `backup` (equal priority does not preempt).
    fn assert_taken_over(&self, backup: &str, took: Duration, limit: Duration, after: &[Rec]) {
        assert!(took <= limit, "takeover took {took:?}");
        assert!(
            failed(after).is_empty(),
            "requests failed after the edge returned: {}",
            errors(after)
        );
        assert_eq!(
            self.master(),
            Some(backup),
            "the VIP stays on the new MASTER"
        );
    }

    fn stream(&self) -> &Stream {
        self.stream.as_ref().expect("stream")
    }

    /// Origin fetches of `path` (the origin's access log).
    fn origin_fetches(&self, path: &str) -> Vec<String> {
        let log = std::fs::read_to_string(self.path("origin-access.log")).unwrap_or_default();
        let needle = format!("\"GET {path} ");
        log.lines()
            .filter(|l| l.contains(&needle))
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    }

    fn dump_logs(&self) {
        for name in [
            "keepalived-a.log",
            "keepalived-b.log",
            "edge-a.log",
            "edge-b.log",
        ] {
            let text = std::fs::read_to_string(self.path(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("---- {name} (last 40 lines)");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        self.stream.take();
        for e in &mut self.edges {
            e.shutdown();
        }
        for c in &mut self.others {
            let _ = c.kill();
            let _ = c.wait();
        }
        // then `lab` deletes the namespaces (and kills anything left in them)
    }
}

#[test]
fn killed_master_edge_fails_over_within_2s_is_restarted_and_the_backup_fetches_once() {
    let pair = Pair::start();
    let (master, backup, fault) = pair.fault_master(SIGKILL);
    // Restart=on-failure, RestartSec=1s: the edge comes back and passes keepalived's alive check.
    wait_for("the killed edge restarted", Duration::from_secs(15), || {
        pair.edge(master).restarts.load(Ordering::SeqCst) == 1 && pair.check(master, true)
    });
    let back = Instant::now();
    // keepalived saw the dead edge (FAULT; its alive check runs every second and the restart comes
    // 1 s after the death at the earliest) and rejoins as BACKUP: equal priority does not preempt,
    // the VIP stays.
    assert!(
        ka_count(&pair.ka_log(master), "Entering FAULT STATE") > 0,
        "keepalived never noticed the dead edge: the VIP stayed on a node without an edge"
    );
    let r = pair.rejoin_as_backup(master, fault);
    println!(
        "HA killed MASTER edge: VIP serving again after {} ms, {} of {} requests failed; edge restarted after {} ms; {} requests after its return, {} failed; VIP on {:?}",
        ms(r.took),
        failed(&r.outage).len(),
        r.outage.len(),
        ms(back - fault),
        r.after.len(),
        failed(&r.after).len(),
        pair.master()
    );
    pair.assert_taken_over(backup, r.took, Duration::from_secs(2), &r.after);

    // The new MASTER's cache was cold: one origin fetch per object, however many ask at once.
    let steady = pair.origin_fetches(STEADY);
    let backup_ip = if backup == "a" {
        "10.231.7.1"
    } else {
        "10.231.7.2"
    };
    assert_eq!(
        steady.iter().filter(|ip| *ip == backup_ip).count(),
        1,
        "fetches of the steady object by the new MASTER: {steady:?}"
    );
    let burst = pair.lab.in_ns("c", || {
        let addr: SocketAddr = format!("{VIP}:80").parse().expect("vip");
        let handles: Vec<_> = (0..COLD_OBJECTS * 8)
            .map(|n| {
                let i = n % COLD_OBJECTS;
                std::thread::spawn(move || get(addr, &cold_path(i), &cold_body(i)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect::<Vec<_>>()
    });
    let results = burst.join().expect("burst");
    assert!(
        results.iter().all(|r| r.is_ok()),
        "burst through the VIP: {results:?}"
    );
    for i in 0..COLD_OBJECTS {
        let f = pair.origin_fetches(&cold_path(i));
        assert_eq!(f.len(), 1, "origin fetches of {}: {f:?}", cold_path(i));
    }
    println!(
        "HA cold cache after takeover: {} concurrent requests for {COLD_OBJECTS} objects, one origin fetch each",
        COLD_OBJECTS * 8
    );
}

#[test]
fn hung_master_edge_fails_over_within_4s() {
    let pair = Pair::start();
    let (master, backup, fault) = pair.fault_master(SIGSTOP);
    wait_for("the VIP on the BACKUP", Duration::from_secs(10), || {
        pair.master() == Some(backup)
    });
    let moved = Instant::now();
    // Hung for longer than a client waits: the requests it had taken fail (they are the outage),
    // rather than being answered late when it resumes.
    std::thread::sleep(CLIENT_TIMEOUT + Duration::from_millis(500));
    // The hang ends: the edge answers again and rejoins as BACKUP; the VIP stays.
    pair.edge(master).signal(SIGCONT);
    let r = pair.rejoin_as_backup(master, fault);
    println!(
        "HA hung MASTER edge (SIGSTOP): VIP moved after {} ms, serving again after {} ms, {} of {} requests failed; {} requests after its return, {} failed",
        ms(moved - fault),
        ms(r.took),
        failed(&r.outage).len(),
        r.outage.len(),
        r.after.len(),
        failed(&r.after).len()
    );
    pair.assert_taken_over(backup, r.took, Duration::from_secs(4), &r.after);
}

/// The README's procedure on `node` (the MASTER): drain (SIGUSR2), wait until the VIP has left,
/// stop (SIGTERM, graceful), start it again (an upgrade), wait until it is a full-priority BACKUP.
/// Returns when the VIP moved after the SIGUSR2; logs each step in `steps`.
fn switch_over(
    pair: &mut Pair,
    node: &'static str,
    steps: &mut Vec<(String, Instant)>,
) -> Duration {
    let peer = Pair::other(node);
    let t = Instant::now();
    steps.push((format!("SIGUSR2 {node}"), t));
    pair.edge(node).signal(SIGUSR2);
    wait_for("the VIP on the peer", Duration::from_secs(15), || {
        pair.master() == Some(peer) && !pair.lab.has_addr(node, "eth0", VIP)
    });
    let moved = t.elapsed();
    steps.push((format!("VIP on {peer}"), Instant::now()));
    std::thread::sleep(Duration::from_secs(2));
    steps.push((format!("SIGTERM {node}"), Instant::now()));
    pair.edge(node).signal(SIGTERM);
    pair.edges[NODES.iter().position(|n| *n == node).expect("node")].join();
    steps.push((format!("{node} exited, started again"), Instant::now()));
    pair.start_edge(node);
    pair.settle();
    steps.push((format!("{node} BACKUP at 100"), Instant::now()));
    moved
}

#[test]
fn planned_switchover_and_return_fail_no_request() {
    let mut pair = Pair::start();
    let first = pair.master().expect("master");
    let second = Pair::other(first);
    let t0 = Instant::now();
    let mut steps = Vec::new();
    let moved1 = switch_over(&mut pair, first, &mut steps);
    assert_eq!(
        pair.master(),
        Some(second),
        "the VIP stays after the return"
    );
    // And back, by the same procedure on the other node.
    let moved2 = switch_over(&mut pair, second, &mut steps);
    assert_eq!(pair.master(), Some(first));
    std::thread::sleep(Duration::from_secs(1));
    let end = Instant::now();
    let all = pair.stream().window(t0, end);
    let slowest = all
        .iter()
        .map(|r| r.end - r.start)
        .max()
        .unwrap_or_default();
    println!(
        "HA planned switchover {first}->{second}: VIP moved {} ms after SIGUSR2; back {second}->{first}: {} ms; {} requests, {} failed, slowest {} ms",
        ms(moved1),
        ms(moved2),
        all.len(),
        failed(&all).len(),
        ms(slowest)
    );
    assert!(all.len() > 100, "the stream ran: {} requests", all.len());
    let at = |t: Instant| ms(t.saturating_duration_since(t0));
    let timeline: Vec<String> = steps
        .iter()
        .map(|(what, t)| format!("{} ms {what}", at(*t)))
        .collect();
    // A connection opened on the old MASTER an instant before the clients' ARP entry switches goes
    // on to the new one, which resets it: no VIP switch can avoid that for requests in flight at
    // that instant (about 1 in 15 switchovers here). Counted and printed, not failed; any other
    // failure (refused, a lost packet, a timeout) or a reset away from a switch fails the test.
    let switches: Vec<Instant> = steps
        .iter()
        .filter(|(what, _)| what.starts_with("VIP on"))
        .map(|(_, t)| *t)
        .collect();
    let at_switch = |r: &Rec| {
        r.err.contains("reset by peer")
            && switches
                .iter()
                .any(|s| r.start <= *s && *s - r.start <= Duration::from_millis(500))
    };
    let straddled = failed(&all).into_iter().filter(|r| at_switch(r)).count();
    println!("HA planned switchover: {straddled} request(s) in flight at the ARP switch reset");
    let fails: Vec<String> = failed(&all)
        .into_iter()
        .filter(|r| !at_switch(r))
        .map(|r| format!("started {} ms: {}", at(r.start), r.err))
        .collect();
    assert!(fails.is_empty(), "failed: {fails:?}\nsteps: {timeline:?}");
}
