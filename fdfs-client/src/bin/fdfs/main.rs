//! `fdfs`: the FastDFS command line tool (upload, download, delete, info, metadata, append, monitor,
//! token), built on [`fdfs_client::client`].
//!
//! Reads `/etc/fdfs/client.conf` unless `-c FILE` or `--tracker HOST:PORT` (repeatable) is given.
//! Prints results on stdout (`--json` for machine-readable output, errors included), one-line errors
//! on stderr, and exits with a status that says what kind of failure it was ([`failure::EXIT_CODES`]).
//!
//! Layout (as mini-redis's): `cli` the global flags and the command list, `cmd/` one file per command
//! (its arguments and its code), `report` the text of the C monitoring tools, `ui` progress and
//! output, `input` upload sources and metadata pairs, `failure` exit statuses and error output.

#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod failure;
mod input;
mod report;
mod ui;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fdfs_client::client::Client;
use fdfs_client::conf::client::{ClientConf, DEFAULT_PATH};

use cli::{Cli, Cmd};
use failure::{fail, report_failure, usage_error, Failure};
use ui::Ui;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(cli.verbose);
    let json = cli.json;
    if let Cmd::GenerateDocs(args) = &cli.cmd {
        return match cmd::generate_docs::run(&args.dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => report_failure(&fail(format!("{}: {e}", args.dir.display())), json),
        };
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report_failure(&fail(format!("cannot start the runtime: {e}")), json),
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report_failure(&f, json),
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    // -v shows what the client does (connections, requests, replies: debug events of this tool and
    // of fdfs_client); dependencies stay at warn until -vvv.
    let default = match verbose {
        0 => "error",
        1 => "warn,fdfs=debug,fdfs_client=debug",
        2 => "warn,fdfs=trace,fdfs_client=trace",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The config file, if one is to be read: `-c FILE`, else the default unless `--tracker` was given.
fn load_conf(cli: &Cli) -> Result<Option<ClientConf>, Failure> {
    let path = match (&cli.conf, cli.trackers.is_empty()) {
        (Some(p), _) => p.clone(),
        (None, true) => PathBuf::from(DEFAULT_PATH),
        (None, false) => return Ok(None),
    };
    ClientConf::load(&path)
        .map(Some)
        .map_err(|e| fail(format!("cannot load the config {}: {e}", path.display())))
}

/// A `--*-timeout` value: a positive number of seconds.
fn duration(secs: f64, what: &str) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            fail(format!(
                "invalid {what} {secs}: want a positive number of seconds"
            ))
        })
}

/// The client the commands share: the config's settings, then the command line's trackers and timeouts.
fn build_client(cli: &Cli, conf: Option<&ClientConf>) -> Result<Client, Failure> {
    let mut b = Client::builder();
    if let Some(conf) = conf {
        b = b.conf(conf);
    }
    b = b.trackers(cli.trackers.iter().cloned());
    if let Some(s) = cli.connect_timeout {
        b = b.connect_timeout(duration(s, "connect timeout")?);
    }
    if let Some(s) = cli.network_timeout {
        b = b.network_timeout(duration(s, "network timeout")?);
    }
    Ok(b.use_connection_pool(true).build()?)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ui = Ui {
        json: cli.json,
        progress: !cli.no_progress && std::io::stderr().is_terminal(),
    };
    if let Cmd::Token(args) = &cli.cmd {
        let conf = if args.needs_conf() {
            load_conf(&cli)?
        } else {
            None
        };
        return cmd::token::run(&ui, args, conf.as_ref());
    }
    let conf = load_conf(&cli)?;
    let client = build_client(&cli, conf.as_ref())?;
    let trackers: Vec<String> = client.trackers().iter().map(ToString::to_string).collect();
    tracing::debug!(trackers = %trackers.join(","), command = ?cli.cmd, "starting");
    cmd::run(&cli.cmd, &client, &ui).await
}
