//! `fdfs-edge -c edge.toml` runs the edge; `-t` checks the file; `check` asks /readyz.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use edge_proxy::config::{Config, Dur};
use edge_proxy::memory::CountingAlloc;
use edge_proxy::server::{run, RunFlags};

const DEFAULT_CONF: &str = "/etc/fdfs-edge/edge.toml";

/// mimalloc rather than glibc malloc: requests allocate on one worker thread and free on another,
/// and glibc's arena locks showed up as futex waits in profiles of cache hits. Counted, so that
/// `/metrics` can say where the process's memory goes (`edge_proxy::memory`).
#[global_allocator]
static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc(mimalloc::MiMalloc);

#[derive(Parser, Debug)]
#[command(
    name = "fdfs-edge",
    version,
    about = "Caching HTTP edge for FastDFS storages (Pingora)"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(short = 'c', long = "conf", global = true, default_value = DEFAULT_CONF)]
    conf: PathBuf,
    /// Check the configuration file and exit (like nginx -t).
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Graceful upgrade: take over the listening sockets of the running instance
    /// (send it SIGQUIT right after starting this one).
    #[arg(short = 'u', long = "upgrade")]
    upgrade: bool,
    /// Run in the background.
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print PATH with the signature [access] checks: `?exp=…&sig=…&kid=…`, made with a key of
    /// the configuration (the first unless --kid), or with --token FastDFS's `?token=…&ts=…`.
    Sign(SignOpts),
    /// Exit 0 when /readyz on the admin listener says ready, 1 otherwise (for keepalived).
    Check {
        /// Ask /healthz instead: exit 0 while the process answers at all, draining or without a
        /// healthy storage (keepalived's FAULT check: a crashed or hung edge, not a drained one).
        #[arg(long)]
        alive: bool,
        /// Give up after this long (connect, send, answer): a hung edge must fail the check well
        /// within keepalived's script timeout.
        #[arg(long, default_value = "3s", value_name = "DURATION")]
        timeout: Dur,
    },
    /// Write an edge.toml from a tracker node's nginx configuration (nginx + proxy_cache +
    /// ngx_cache_purge); every directive that could not be mapped is named with a reason.
    Migrate {
        /// The nginx.conf to read (its includes are followed).
        #[arg(long, value_name = "FILE")]
        nginx_conf: PathBuf,
        /// A tracker ip:port (repeatable): its groups split the upstream's storages by group.
        /// Without it, the file uses [trackers] discovery.
        #[arg(long = "tracker", value_name = "IP:PORT")]
        trackers: Vec<SocketAddr>,
        /// FastDFS client.conf whose tracker_server lines name the trackers for discovery (when no
        /// --tracker is given; /etc/fdfs/client.conf is read when it exists).
        #[arg(long, value_name = "FILE")]
        client_conf: Option<PathBuf>,
        /// Write the file here instead of standard output.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `fdfs-edge sign`.
#[derive(clap::Args, Debug)]
struct SignOpts {
    /// The path to sign, e.g. /group1/M00/00/00/wKgAAWb.jpg (a query of its own is kept).
    path: String,
    /// How long the URL stays valid.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    expires: Dur,
    /// Valid until this unix time instead (overrides --expires).
    #[arg(long, value_name = "UNIX_TIME")]
    until: Option<i64>,
    /// The key to sign with ([[access.key]] id).
    #[arg(long, value_name = "ID")]
    kid: Option<String>,
    /// Sign a path prefix instead: the URL is valid for every path under it.
    #[arg(long, value_name = "PREFIX")]
    scope: Option<String>,
    /// Valid only from this client address or prefix (e.g. 203.0.113.0/24).
    #[arg(long, value_name = "CIDR")]
    ip: Option<String>,
    /// The method the URL is for (GET also allows HEAD).
    #[arg(long, default_value = "GET")]
    method: String,
    /// FastDFS's anti-steal token ([access.token]) instead of a signature.
    #[arg(long)]
    token: bool,
}

/// `fdfs-edge sign`: the signed path on stdout.
fn sign(cfg: &Config, o: &SignOpts) -> ExitCode {
    let now = edge_proxy::clock::unix_now();
    let lifetime = i64::try_from(o.expires.0.as_secs()).unwrap_or(i64::MAX);
    let args = edge_proxy::sign::SignArgs {
        path: o.path.clone(),
        method: o.method.to_ascii_uppercase(),
        exp: o.until.unwrap_or_else(|| now.saturating_add(lifetime)),
        kid: o.kid.clone(),
        scope: o.scope.clone(),
        ip: o.ip.clone(),
        token: o.token,
    };
    match edge_proxy::sign::signed_path(cfg, &args, now) {
        Ok(url) => {
            println!("{url}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fdfs-edge: sign: {e}");
            ExitCode::from(1)
        }
    }
}

/// `fdfs-edge migrate`: the file on stdout (or `-o`), what was not mapped on stderr.
fn migrate(
    nginx_conf: &std::path::Path,
    trackers: &[SocketAddr],
    client_conf: Option<&std::path::Path>,
    output: Option<&std::path::Path>,
) -> ExitCode {
    let default_client_conf = std::path::Path::new("/etc/fdfs/client.conf");
    let client_conf =
        client_conf.or_else(|| default_client_conf.is_file().then_some(default_client_conf));
    let m = match edge_proxy::migrate::run(nginx_conf, trackers, client_conf) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("fdfs-edge: migrate: {e}");
            return ExitCode::from(1);
        }
    };
    let written = match output {
        Some(path) => std::fs::write(path, &m.toml).map_err(|e| format!("{}: {e}", path.display())),
        None => std::io::stdout()
            .write_all(m.toml.as_bytes())
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written {
        eprintln!("fdfs-edge: migrate: {e}");
        return ExitCode::from(1);
    }
    for n in &m.notes {
        eprintln!("fdfs-edge: migrate: note: {n}");
    }
    eprintln!(
        "fdfs-edge: migrate: {} directive(s) not mapped (listed at the end of the file)",
        m.not_mapped.len()
    );
    for n in &m.not_mapped {
        eprintln!("fdfs-edge: migrate: not mapped: {n}");
    }
    ExitCode::SUCCESS
}

fn check(cfg: &Config, path: &str, t: Duration) -> Result<(), String> {
    let Some(admin) = &cfg.admin else {
        return Err("no [admin] listen in the configuration".into());
    };
    let mut addr: SocketAddr = admin.listen.0;
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    // A deadline for the whole exchange, not per read: a hung edge that trickles bytes still fails.
    let deadline = std::time::Instant::now() + t;
    let mut s = TcpStream::connect_timeout(&addr, t).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(t)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(t)).map_err(|e| e.to_string())?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    // Read the header and the Content-Length body; do not depend on the server closing.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let clen = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + clen {
                break;
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!("{addr}: no answer within {}", Dur(t)));
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{addr}: {e}")),
        }
    }
    let resp = String::from_utf8_lossy(&raw).to_string();
    let status = resp.split_whitespace().nth(1).unwrap_or("");
    let body = resp
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string();
    if status == "200" {
        Ok(())
    } else {
        Err(format!("{status} {body}"))
    }
}

fn main() -> ExitCode {
    edge_proxy::tls::skip_client_ca_bundle();
    edge_proxy::memory::disable_huge_pages();
    let cli = Cli::parse();
    // Reads an nginx configuration, not an edge.toml.
    if let Some(Cmd::Migrate {
        nginx_conf,
        trackers,
        client_conf,
        output,
    }) = &cli.cmd
    {
        return migrate(
            nginx_conf,
            trackers,
            client_conf.as_deref(),
            output.as_deref(),
        );
    }
    let conf = cli.conf.display().to_string();
    let cfg = match Config::load(&cli.conf) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fdfs-edge: [emerg] {e}");
            if cli.test {
                eprintln!("fdfs-edge: configuration file {conf} test failed");
            }
            return ExitCode::from(1);
        }
    };
    if cli.test {
        eprintln!("fdfs-edge: the configuration file {conf} syntax is ok");
        // What a start needs: directories, a safe upgrade socket path.
        let mode = edge_proxy::preflight::Mode {
            daemon: cli.daemon,
            upgrade: cli.upgrade,
        };
        if let Err(e) = edge_proxy::preflight::check(&cfg, mode) {
            eprintln!("fdfs-edge: [emerg] {e}");
            eprintln!("fdfs-edge: configuration file {conf} test failed");
            return ExitCode::from(1);
        }
        eprintln!("fdfs-edge: configuration file {conf} test is successful");
        return ExitCode::SUCCESS;
    }
    if let Some(Cmd::Sign(o)) = &cli.cmd {
        return sign(&cfg, o);
    }
    if let Some(Cmd::Check { alive, timeout }) = &cli.cmd {
        let (alive, timeout) = (*alive, *timeout);
        let path = if alive { "/healthz" } else { "/readyz" };
        return match check(&cfg, path, timeout.0) {
            Ok(()) => {
                println!("{}", if alive { "alive" } else { "ready" });
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("{}: {e}", if alive { "not alive" } else { "not ready" });
                ExitCode::from(1)
            }
        };
    }
    edge_proxy::logging::init();
    let flags = RunFlags {
        upgrade: cli.upgrade,
        daemon: cli.daemon,
    };
    match run(cfg, flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fdfs-edge: [emerg] {e}");
            ExitCode::from(1)
        }
    }
}
