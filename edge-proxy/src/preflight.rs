//! What a start needs beyond a valid file, checked by `-t` and again (creating what is missing)
//! before a start, so that a start fails at once with a clear message instead of a daemon child
//! dying after its parent said "started":
//!
//! * the cache, log, pid file and upgrade socket directories exist or can be created, and are
//!   writable by the user the edge runs as (`[server] user` if set, else the current one);
//! * the upgrade socket is in a directory no other user can write: whoever binds that path first
//!   receives the listening sockets on `SIGQUIT`;
//! * every listen address can be bound ([`bind_all`]).
//!
//! [`listening_here`] tells whether this process holds a listening socket on an address: a
//! connect succeeds when *another* process holds the port, so it cannot tell readiness.

use std::collections::HashSet;
use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Config;

/// How long a start retries binding a listen address held by another process (nginx: 5 × 0.5 s).
pub const BIND_RETRY: Duration = Duration::from_secs(5);

/// The user the edge runs as, after any privilege drop.
#[derive(Debug, Clone)]
struct RunUser {
    uid: u32,
    gid: u32,
    /// Named in messages.
    name: String,
    /// `[server] user` is set and we are root: Pingora switches to it in daemon mode.
    switches: bool,
}

fn run_user(cfg: &Config) -> Result<RunUser, String> {
    // SAFETY: geteuid/getegid cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let Some(user) = cfg.server.user.as_deref() else {
        return Ok(RunUser {
            uid: euid,
            gid: egid,
            name: format!("uid {euid}"),
            switches: false,
        });
    };
    let c = CString::new(user).map_err(|_| format!("[server] user `{user}`: invalid name"))?;
    // SAFETY: `c` is a valid C string; the result points to static storage, read at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(format!("[server] user `{user}` does not exist"));
    }
    // SAFETY: checked non-null above.
    let (uid, mut gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    if let Some(group) = cfg.server.group.as_deref() {
        let c =
            CString::new(group).map_err(|_| format!("[server] group `{group}`: invalid name"))?;
        // SAFETY: as for getpwnam.
        let gr = unsafe { libc::getgrnam(c.as_ptr()) };
        if gr.is_null() {
            return Err(format!("[server] group `{group}` does not exist"));
        }
        // SAFETY: checked non-null above.
        gid = unsafe { (*gr).gr_gid };
    }
    Ok(RunUser {
        uid,
        gid,
        name: format!("user `{user}`"),
        switches: euid == 0 && uid != 0,
    })
}

/// One directory a start writes into.
struct Need {
    what: &'static str,
    dir: PathBuf,
    /// A start without it fails; else it is created if possible, with a warning if not.
    required: bool,
}

/// How the edge is started: what it needs depends on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// `-d` or `daemon = true`: the pid file is written.
    pub daemon: bool,
    /// `-u`: the upgrade socket is bound.
    pub upgrade: bool,
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn needs(cfg: &Config, mode: Mode) -> Vec<Need> {
    let s = &cfg.server;
    let daemon = mode.daemon || s.daemon;
    let mut v = vec![Need {
        what: "cache directory",
        dir: cfg.cache.dir.clone(),
        required: true,
    }];
    if daemon {
        // Pingora writes the pid file only in daemon mode.
        v.push(Need {
            what: "pid file directory",
            dir: parent_of(&s.pid_file()),
            required: true,
        });
    }
    // Bound by a `-u` start; a running edge connects to it on SIGQUIT.
    v.push(Need {
        what: "upgrade socket directory",
        dir: parent_of(&s.upgrade_sock()),
        required: mode.upgrade,
    });
    if let Some(p) = s.access_log.as_deref().filter(|p| *p != "-" && *p != "off") {
        v.push(Need {
            what: "access log directory",
            dir: parent_of(Path::new(p)),
            required: true,
        });
    }
    if let Some(p) = &cfg.peers {
        v.push(Need {
            what: "peer purge queue directory",
            dir: p.queue_dir.clone(),
            required: true,
        });
    }
    if let Some(p) = s.error_log.as_ref().filter(|_| daemon) {
        v.push(Need {
            what: "error log directory",
            dir: parent_of(p),
            required: true,
        });
    }
    v
}

/// `access(2)` for the current process.
fn accessible(p: &Path, mode: libc::c_int) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid C string.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

/// Whether `user` may create files in the existing directory `dir` (mode bits; the current
/// process's own rights through `access(2)`, which also sees read-only mounts).
fn writable_by(dir: &Path, user: &RunUser) -> bool {
    if !user.switches {
        return accessible(dir, libc::W_OK | libc::X_OK);
    }
    let Ok(m) = std::fs::metadata(dir) else {
        return false;
    };
    let mode = m.mode();
    let bits = if m.uid() == user.uid {
        mode >> 6
    } else if m.gid() == user.gid {
        mode >> 3
    } else {
        mode
    };
    bits & 0o3 == 0o3 && accessible(dir, libc::W_OK)
}

/// The nearest existing ancestor of `dir` (itself included).
fn existing_ancestor(dir: &Path) -> Option<&Path> {
    dir.ancestors().find(|a| a.exists())
}

fn check_need(n: &Need, user: &RunUser) -> Result<(), String> {
    let dir = &n.dir;
    if dir.exists() {
        if !dir.is_dir() {
            return Err(format!("{} {}: not a directory", n.what, dir.display()));
        }
        if !writable_by(dir, user) {
            return Err(format!(
                "{} {}: not writable by {}",
                n.what,
                dir.display(),
                user.name
            ));
        }
        return Ok(());
    }
    // Created at start by this process (before any privilege drop).
    match existing_ancestor(dir) {
        Some(a) if a.is_dir() && accessible(a, libc::W_OK | libc::X_OK) => Ok(()),
        Some(a) => Err(format!(
            "{} {} does not exist and cannot be created ({} is not a writable directory)",
            n.what,
            dir.display(),
            a.display()
        )),
        None => Err(format!(
            "{} {} does not exist and cannot be created",
            n.what,
            dir.display()
        )),
    }
}

/// Creates a missing directory (and its parents), owned by the run user; the upgrade socket's
/// directory is private to that user.
fn create(n: &Need, user: &RunUser) -> Result<(), String> {
    if n.dir.exists() {
        return Ok(());
    }
    let private = n.what == "upgrade socket directory";
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true).mode(if private { 0o700 } else { 0o755 });
    b.create(&n.dir)
        .map_err(|e| format!("{} {}: cannot create: {e}", n.what, n.dir.display()))?;
    if user.switches {
        std::os::unix::fs::chown(&n.dir, Some(user.uid), Some(user.gid))
            .map_err(|e| format!("{} {}: chown: {e}", n.what, n.dir.display()))?;
    }
    tracing::info!("created {} {}", n.what, n.dir.display());
    Ok(())
}

/// Refuses an upgrade socket another user could bind first: its directory must be owned by root
/// or the run user and writable by nobody else, and every directory above it that others can
/// write must be sticky (`/tmp`) with the entry below it owned by root or the run user.
///
/// Checking the peer's credentials on the socket itself would need code inside Pingora (it
/// connects and sends the descriptors in `transfer_fd::send_fds_to`); a directory only the edge's
/// user can enter gives the same guarantee: no other user can bind or connect to the socket.
fn check_upgrade_sock(sock: &Path, user: &RunUser) -> Result<(), String> {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let trusted = |uid: u32| uid == 0 || uid == user.uid || uid == euid;
    let dir = parent_of(sock);
    let unsafe_dir = |d: &Path, why: String| {
        Err(format!(
            "upgrade_sock {}: {} {why}: another user could bind the socket and receive the \
             listening sockets on SIGQUIT; use a directory only the edge's user can write \
             (default {})",
            sock.display(),
            d.display(),
            crate::config::RUN_DIR
        ))
    };
    if let Ok(m) = std::fs::metadata(&dir) {
        if m.mode() & 0o022 != 0 {
            return unsafe_dir(
                &dir,
                format!("is writable by other users (mode {:o})", m.mode() & 0o7777),
            );
        }
        if !trusted(m.uid()) {
            return unsafe_dir(&dir, format!("belongs to uid {}", m.uid()));
        }
    }
    let mut child: &Path = &dir;
    while let Some(parent) = child.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let (Ok(pm), Ok(cm)) = (std::fs::metadata(parent), std::fs::symlink_metadata(child)) {
            let open = pm.mode() & 0o022 != 0;
            let sticky = pm.permissions().mode() & 0o1000 != 0;
            if open && !(sticky && trusted(cm.uid())) {
                return unsafe_dir(
                    child,
                    format!(
                        "can be replaced by other users ({} has mode {:o})",
                        parent.display(),
                        pm.mode() & 0o7777
                    ),
                );
            }
        }
        child = parent;
    }
    Ok(())
}

/// The checks of `-t` (for a start in `mode`): nothing is created.
pub fn check(cfg: &Config, mode: Mode) -> Result<(), String> {
    let user = run_user(cfg)?;
    for n in needs(cfg, mode) {
        match check_need(&n, &user) {
            Err(e) if !n.required => eprintln!("fdfs-edge: [warn] {e}: `-u` will not work"),
            r => r?,
        }
    }
    if let Some(t) = &cfg.tls {
        crate::tls::check(&t.cert, &t.key)?;
    }
    check_upgrade_sock(&cfg.server.upgrade_sock(), &user)
}

/// Before a start: creates the missing directories, then checks everything as `-t` does.
pub fn prepare(cfg: &Config, mode: Mode) -> Result<(), String> {
    let user = run_user(cfg)?;
    // Check the socket path first, so an unsafe one is not created.
    check_upgrade_sock(&cfg.server.upgrade_sock(), &user)?;
    for n in needs(cfg, mode) {
        let ready = check_need(&n, &user)
            .and_then(|()| create(&n, &user))
            .and_then(|()| check_need(&n, &user));
        match ready {
            Err(e) if !n.required => {
                tracing::warn!("{e}: a graceful upgrade (-u) will not find this edge's sockets")
            }
            r => r?,
        }
    }
    // Again: a directory created meanwhile by someone else is caught here.
    check_upgrade_sock(&cfg.server.upgrade_sock(), &user)
}

/// Binds (then releases) every address, retrying one held by another process for up to
/// `retry`: a start fails here, with a non-zero exit, instead of serving nothing.
pub fn bind_all(addrs: &[SocketAddr], retry: Duration) -> Result<(), String> {
    let deadline = Instant::now() + retry;
    for a in addrs {
        loop {
            match TcpListener::bind(a) {
                Ok(_) => break,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
                {
                    tracing::warn!("{a} is in use, trying again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(format!(
                        "bind() to {a} failed: {e} (tried for {}s)",
                        retry.as_secs()
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Socket inodes of this process's descriptors.
fn own_socket_inodes() -> HashSet<u64> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return HashSet::new();
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let s = l.to_str()?;
            s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// `0100007F:1F90` (a /proc/net/tcp local address) as a socket address.
fn proc_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |h: &str| u32::from_str_radix(h, 16).ok().map(u32::to_le_bytes);
    match ip.len() {
        8 => Some(SocketAddr::from((Ipv4Addr::from(word(ip)?), port))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            Some(SocketAddr::from((Ipv6Addr::from(b), port)))
        }
        _ => None,
    }
}

/// Addresses this process listens on (TCP, state LISTEN).
pub fn own_listeners() -> HashSet<SocketAddr> {
    let inodes = own_socket_inodes();
    let mut out = HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let listening = *state == "0A";
            let ours = inode.parse().is_ok_and(|i: u64| inodes.contains(&i));
            if let (true, true, Some(a)) = (listening, ours, proc_addr(local)) {
                out.insert(a);
            }
        }
    }
    out
}

/// The addresses of `addrs` this process does not listen on.
pub fn not_listening(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let own = own_listeners();
    addrs.iter().filter(|a| !own.contains(a)).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_addresses() {
        assert_eq!(
            proc_addr("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            proc_addr("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(proc_addr("zz:1"), None);
    }

    #[test]
    fn a_listener_of_this_process_is_seen_and_a_free_port_is_not() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        assert!(not_listening(&[a]).is_empty());
        drop(l);
        assert_eq!(not_listening(&[a]), vec![a]);
    }

    #[test]
    fn a_held_port_fails_the_bind_check() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        let e = bind_all(&[a], Duration::from_millis(600)).unwrap_err();
        assert!(e.contains(&a.to_string()), "{e}");
        drop(l);
        assert!(bind_all(&[a], Duration::ZERO).is_ok());
    }

    fn user() -> RunUser {
        RunUser {
            // SAFETY: cannot fail.
            uid: unsafe { libc::geteuid() },
            gid: unsafe { libc::getegid() },
            name: "me".into(),
            switches: false,
        }
    }

    #[test]
    fn upgrade_socket_directories() {
        let t = tempfile::tempdir().unwrap();
        let private = t.path().join("run");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private)
            .unwrap();
        assert!(check_upgrade_sock(&private.join("u.sock"), &user()).is_ok());
        // not yet created: fine, as long as what is above is safe
        assert!(check_upgrade_sock(&t.path().join("new/u.sock"), &user()).is_ok());
        let open = t.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = check_upgrade_sock(&open.join("u.sock"), &user()).unwrap_err();
        assert!(e.contains("writable by other users"), "{e}");
        let e = check_upgrade_sock(Path::new("/tmp/fdfs-edge-upgrade.sock"), &user()).unwrap_err();
        assert!(e.contains("/tmp"), "{e}");
        // below a non-sticky world-writable directory, even a private one can be replaced
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let inner = open.join("inner");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&inner)
            .unwrap();
        let e = check_upgrade_sock(&inner.join("u.sock"), &user()).unwrap_err();
        assert!(e.contains("replaced"), "{e}");
    }
}
