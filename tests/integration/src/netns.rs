//! Linux network namespaces for the HA suite: nodes on a private bridge that exist only inside
//! namespaces this process creates. The bridge lives in a namespace of its own and every veth pair
//! is created there with its other end moved straight into a node's namespace, so nothing is added
//! to the root namespace and no packet can leave the machine. [`Lab`]'s `Drop` kills whatever still
//! runs inside its namespaces (only processes this test started there) and deletes them, also when
//! a test panics. Needs root.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::wait::poll;

extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn geteuid() -> u32;
}

const CLONE_NEWNET: i32 = 0x4000_0000;
pub const SIGKILL: i32 = 9;
pub const SIGUSR2: i32 = 12;
pub const SIGTERM: i32 = 15;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no failure mode and touches no memory.
    unsafe { geteuid() == 0 }
}

/// Sends `sig` to `pid`; false if there is no such process.
pub fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill only reads its two integer arguments.
    unsafe { kill(pid as i32, sig) == 0 }
}

/// A set of namespaces `<prefix>-<node>` and the bridge namespace `<prefix>-br`.
pub struct Lab {
    pub prefix: String,
    nodes: Vec<String>,
}

impl Lab {
    /// Creates the bridge namespace and one namespace per `(node, address/prefix)`, each with `lo`
    /// up and `eth0` on the bridge carrying that address.
    pub fn new(nodes: &[(&str, &str)]) -> Lab {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "fdfsha{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let mut lab = Lab {
            prefix,
            nodes: Vec::new(),
        };
        let br = lab.ns("br");
        lab.add_ns(&br);
        run("ip", &["-n", &br, "link", "add", "br0", "type", "bridge"]);
        run("ip", &["-n", &br, "link", "set", "br0", "up"]);
        for (node, addr) in nodes {
            let ns = lab.ns(node);
            lab.add_ns(&ns);
            let port = format!("v{node}");
            run(
                "ip",
                &[
                    "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            );
            run(
                "ip",
                &["-n", &br, "link", "set", &port, "master", "br0", "up"],
            );
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            run("ip", &["-n", &ns, "addr", "add", addr, "dev", "eth0"]);
        }
        lab
    }

    fn add_ns(&mut self, ns: &str) {
        run("ip", &["netns", "add", ns]);
        self.nodes.push(ns.to_string());
        run("ip", &["-n", ns, "link", "set", "lo", "up"]);
    }

    /// The namespace name of `node`.
    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// `program args…` run inside `node`'s namespace (`ip netns exec` execs it: same pid).
    pub fn cmd(&self, node: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(node), program]);
        c
    }

    /// Runs `program args…` inside `node` and returns its output.
    pub fn output(&self, node: &str, program: &str, args: &[&str]) -> Output {
        self.cmd(node, program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {node} {program}: {e}"))
    }

    /// Whether `node`'s `dev` carries the IPv4 address `ip`.
    pub fn has_addr(&self, node: &str, dev: &str, ip: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.ns(node), "-4", "-o", "addr", "show", "dev", dev])
            .output()
            .expect("ip addr show");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(ip))
    }

    /// Runs `f` on a new thread that has entered `node`'s network namespace (threads it spawns
    /// inherit it); sockets it opens live there.
    pub fn in_ns<T: Send + 'static>(
        &self,
        node: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = Path::new("/run/netns").join(self.ns(node));
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            // SAFETY: a valid namespace fd; setns changes only this thread's network namespace.
            let rc = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "setns {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
            f()
        })
    }

    /// The processes still running in `ns` (`ip netns pids`).
    fn pids(ns: &str) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.nodes {
            // Best effort: what is still there after the deadline goes with the namespace.
            let _ = poll(Duration::from_secs(5), || {
                let pids = Lab::pids(ns);
                for &p in &pids {
                    signal(p, SIGCONT);
                    signal(p, SIGKILL);
                }
                pids.is_empty()
            });
        }
        for ns in self.nodes.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs a command that must succeed (lab plumbing).
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
