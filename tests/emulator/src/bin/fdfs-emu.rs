//! `fdfs-emu`: runs an emulated FastDFS cluster until SIGINT/SIGTERM.
//!
//! ```text
//! fdfs-emu --config cluster.toml
//! fdfs-emu --groups 2 --storages-per-group 2 --base-dir /tmp/fdfs --tracker 127.0.0.10:22122 --http-port 8888
//! ```
//! Prints the topology on stdout once every listener is bound, then `ready`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fdfs_emu::{Cluster, ClusterConfig};

#[derive(Debug, Parser)]
#[command(name = "fdfs-emu", about = "FastDFS 6.x tracker + storage emulator")]
struct Args {
    /// Cluster description (TOML, see tests/README.md); the other flags then only override.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Number of groups (group1, group2, ...).
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Storages per group (on 127.0.0.11, .12, ...).
    #[arg(long, default_value_t = 1)]
    storages_per_group: usize,
    /// Store paths per storage.
    #[arg(long, default_value_t = 1)]
    store_paths: u8,
    /// Where store paths live (kept); default: a temp dir removed on exit.
    #[arg(long)]
    base_dir: Option<PathBuf>,
    /// Tracker address (repeatable); default 127.0.0.10 on a free port.
    #[arg(long = "tracker")]
    trackers: Vec<SocketAddrV4>,
    /// First storage address.
    #[arg(long, default_value = "127.0.0.11")]
    first_storage_ip: Ipv4Addr,
    /// Storage port (all storages; each has its own address). 0 = free port.
    #[arg(long, default_value_t = 0)]
    storage_port: u16,
    /// HTTP port reported for every storage. 0 = a free port.
    #[arg(long, default_value_t = 0)]
    http_port: u16,
    /// Replication delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    sync_delay_ms: u64,
    /// Trunk mode (small files packed into trunk containers).
    #[arg(long)]
    trunk: bool,
    /// Storage-id mode (ids 100001, 100002, ... in file ids).
    #[arg(long)]
    use_storage_id: bool,
    /// Also write storage_ids.conf here.
    #[arg(long)]
    storage_ids_conf: Option<PathBuf>,
}

fn build_config(a: &Args) -> Result<ClusterConfig, String> {
    let mut cfg = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            ClusterConfig::from_toml(&text).map_err(|e| e.to_string())?
        }
        None => {
            let mut b = ClusterConfig::builder()
                .groups(a.groups)
                .storages_per_group(a.storages_per_group)
                .store_path_count(a.store_paths)
                .first_storage_ip(a.first_storage_ip)
                .http_port(a.http_port);
            if !a.trackers.is_empty() {
                b = b.tracker_addrs(a.trackers.clone());
            }
            let mut c = b.build();
            for s in c.groups.iter_mut().flat_map(|g| g.storages.iter_mut()) {
                s.port = a.storage_port;
            }
            c
        }
    };
    if a.base_dir.is_some() {
        cfg.base_dir = a.base_dir.clone();
    }
    if a.sync_delay_ms > 0 {
        cfg.sync_delay = Duration::from_millis(a.sync_delay_ms);
    }
    cfg.trunk |= a.trunk;
    cfg.use_storage_id |= a.use_storage_id;
    Ok(cfg)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FDFS_EMU_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fdfs-emu: {e}");
            return ExitCode::from(2);
        }
    };
    let cluster = match Cluster::start(cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fdfs-emu: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(p) = &args.storage_ids_conf {
        if let Err(e) = cluster.write_storage_ids_conf(p) {
            eprintln!("fdfs-emu: {e}");
            return ExitCode::FAILURE;
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fdfs-emu: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stopped = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        // Handlers first, then "ready": a signal sent as soon as "ready" is read is caught.
        let (mut int, mut term) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("fdfs-emu: cannot watch signals: {e}");
                return false;
            }
        };
        print!("{}", cluster.topology());
        println!("ready");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        true
    });
    if !stopped {
        return ExitCode::FAILURE;
    }
    eprintln!("fdfs-emu: stopping");
    drop(cluster);
    ExitCode::SUCCESS
}
