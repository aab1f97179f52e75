//! Stock Debian nginx (`/usr/sbin/nginx`) with our module loaded (`load_module <so>`), in a temporary
//! prefix: its own pid file, error log and temp paths, loopback ports from [`crate::net::free_port`].
//! Stopped on drop; if the test is panicking, the error log is printed first.
//!
//! The module is found through `NGX_FASTDFS_MODULE`, else `<repo>/build/modules/ngx_http_fastdfs_module.so`
//! (`make module`).

use std::fs;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::wait::poll;

/// Debian's nginx binary, which the suites run.
pub const NGINX_BIN: &str = "/usr/sbin/nginx";

/// The nginx the suites start: `FDFS_NGINX_BIN` (another nginx, with a module built for it by
/// `make module NGINX_SOURCE_DIR=…` and named by `NGX_FASTDFS_MODULE`), else Debian's.
pub fn nginx_bin() -> PathBuf {
    std::env::var_os("FDFS_NGINX_BIN").map_or_else(|| PathBuf::from(NGINX_BIN), PathBuf::from)
}

/// Where the module `.so` is, if it exists.
pub fn module_path() -> Option<PathBuf> {
    let p = match std::env::var_os("NGX_FASTDFS_MODULE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../build/modules/ngx_http_fastdfs_module.so"),
    };
    p.exists().then_some(p)
}

/// The `nginx.conf` around an `http { … }` body: module, pid, logs, temp paths, one worker.
pub fn main_conf(prefix: &Path, module: &Path, http_body: &str) -> String {
    let p = prefix.display();
    format!(
        "load_module {module};\n\
         daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         user root;\n\
         pid {p}/logs/nginx.pid;\n\
         error_log {p}/logs/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
           include /etc/nginx/mime.types;\n\
           default_type application/octet-stream;\n\
           log_format fdfs '$request $status $fastdfs_status';\n\
           access_log {p}/logs/access.log fdfs;\n\
           client_body_temp_path {p}/tmp/body;\n\
           proxy_temp_path {p}/tmp/proxy;\n\
           fastcgi_temp_path {p}/tmp/fastcgi;\n\
           uwsgi_temp_path {p}/tmp/uwsgi;\n\
           scgi_temp_path {p}/tmp/scgi;\n\
           sendfile on;\n\
         {http_body}\n\
         }}\n",
        module = module.display(),
    )
}

/// A running nginx.
pub struct Nginx {
    dir: tempfile::TempDir,
    child: Option<Child>,
    listen: Vec<SocketAddr>,
}

/// A prepared prefix directory (conf/, logs/, tmp/).
pub fn make_prefix() -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("fdfs-nginx-").tempdir()?;
    for d in ["conf", "logs", "tmp"] {
        fs::create_dir_all(dir.path().join(d))?;
    }
    Ok(dir)
}

/// Not a timed assertion: the generous bound after which a `nginx -t`/`-s` run counts as hung.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// Run `cmd` to completion, or kill it after `deadline` and return an error saying so.
pub fn output_within(cmd: &mut Command, deadline: Duration) -> io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // `Some` once it exited or `try_wait` failed.
    match poll(deadline, || child.try_wait().transpose()) {
        Ok(exited) => {
            exited?;
            child.wait_with_output()
        }
        Err(_) => {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            Err(io::Error::other(format!(
                "{cmd:?} did not finish within {deadline:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }
}

/// Run `nginx -t` on `http_body` (with the module loaded), within [`COMMAND_DEADLINE`].
pub fn test_config(module: &Path, http_body: &str) -> io::Result<Output> {
    let dir = make_prefix()?;
    let conf = dir.path().join("conf/nginx.conf");
    fs::write(&conf, main_conf(dir.path(), module, http_body))?;
    output_within(
        Command::new(nginx_bin())
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("logs/error.log")),
        COMMAND_DEADLINE,
    )
}

impl Nginx {
    /// Start nginx with `http_body` inside `http {}` and wait until every address in `listen`
    /// accepts connections. `{prefix}` in `http_body` is replaced by the prefix directory.
    pub fn start(module: &Path, http_body: &str, listen: &[SocketAddr]) -> io::Result<Nginx> {
        let dir = make_prefix()?;
        let body = http_body.replace("{prefix}", &dir.path().display().to_string());
        let conf = dir.path().join("conf/nginx.conf");
        fs::write(&conf, main_conf(dir.path(), module, &body))?;
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut n = Nginx {
            dir,
            child: Some(child),
            listen: listen.to_vec(),
        };
        n.wait_listening()?;
        Ok(n)
    }

    fn wait_listening(&mut self) -> io::Result<()> {
        // Not a timed assertion: a generous bound on how long we wait for nginx to come up.
        let deadline = Instant::now() + Duration::from_secs(30);
        for addr in self.listen.clone() {
            let child = &mut self.child;
            // Done when `addr` accepts (`Ok(None)`), nginx exited (`Ok(Some)`) or try_wait failed.
            let waited = poll(
                deadline.saturating_duration_since(Instant::now()),
                || match child.as_mut().map(|c| c.try_wait()).transpose() {
                    Ok(Some(Some(st))) => Some(Ok(Some(st))),
                    Err(e) => Some(Err(e)),
                    Ok(_) => TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                        .is_ok()
                        .then_some(Ok(None)),
                },
            );
            match waited {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(st))) => {
                    let mut err = String::new();
                    if let Some(mut e) = self.child.as_mut().and_then(|c| c.stderr.take()) {
                        let _ = e.read_to_string(&mut err);
                    }
                    self.child = None;
                    return Err(io::Error::other(format!(
                        "nginx exited ({st}) at start: {err}\n{}",
                        self.error_log()
                    )));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::other(format!(
                        "nginx does not listen on {addr}\n{}",
                        self.error_log()
                    )))
                }
            }
        }
        Ok(())
    }

    /// The prefix directory.
    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }

    /// The access log so far (`$request $status $fastdfs_status` per line).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("logs/access.log")).unwrap_or_default()
    }

    /// True if a worker died on a signal (a crash or an abort).
    pub fn worker_crashed(&self) -> bool {
        self.error_log().contains("exited on signal")
    }

    /// `nginx -s reload` (SIGHUP to the master we started): re-reads nginx.conf and every
    /// `mod_fastdfs.conf`.
    pub fn reload(&self) -> io::Result<()> {
        let pid = self
            .child
            .as_ref()
            .map(|c| c.id() as i32)
            .ok_or_else(|| io::Error::other("nginx is not running"))?;
        // SAFETY: plain kill(2) on our own child's pid.
        if unsafe { libc_kill(pid, 1) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Run this nginx binary on this instance's prefix and config with extra arguments (`-t`,
    /// `-s reopen`…), within [`COMMAND_DEADLINE`].
    pub fn command(&self, args: &[&str]) -> io::Result<Output> {
        let p = self.dir.path();
        output_within(
            Command::new(nginx_bin())
                .args(args)
                .arg("-p")
                .arg(p)
                .arg("-c")
                .arg(p.join("conf/nginx.conf"))
                .arg("-e")
                .arg(p.join("logs/error.log")),
            COMMAND_DEADLINE,
        )
    }

    /// The listen addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.listen
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to the master we started (by its pid), then reap it.
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc_kill(child.id() as i32, 15);
            }
            // `Some(true)` once it exited, `Some(false)` when try_wait failed: kill it then.
            let exited = poll(Duration::from_secs(10), || match child.try_wait() {
                Ok(Some(_)) => Some(true),
                Ok(None) => None,
                Err(_) => Some(false),
            });
            if exited != Ok(true) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- nginx error log ({}) ----\n{}\n---- access log ----\n{}",
                self.dir.path().display(),
                self.error_log(),
                self.access_log()
            );
        }
        self.stop();
    }
}
