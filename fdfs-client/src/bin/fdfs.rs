//! `fdfs`: the FastDFS command line tool (upload, download, delete, info, metadata, append, monitor,
//! token), built on [`fdfs_client::client`].
//!
//! Reads `/etc/fdfs/client.conf` unless `-c FILE` or `--tracker HOST:PORT` (repeatable) is given.
//! Prints results on stdout (`--json` for machine-readable output, errors included), one-line errors
//! on stderr, and exits with a status that says what kind of failure it was ([`EXIT_CODES`]).

// The report code lives next to this file (fdfs/), away from the auto-discovered bin targets.
#[path = "fdfs/report.rs"]
mod report;

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fdfs_client::client::{
    Client, Error, ErrorKind, FileDetails, MetaOp, ServerAddr, UploadOptions, STORAGE_STATUS_ACTIVE,
};
use fdfs_client::conf::client::{ClientConf, DEFAULT_PATH};
use fdfs_client::proto::{StorageClusterStatRequest, VolumeStatRequest};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Transfers at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN: u64 = 4 * 1024 * 1024;
/// Stdin up to this size is buffered in memory before an upload; beyond, it is spooled to a temp file.
const STDIN_MEM_MAX: usize = 8 * 1024 * 1024;

/// The exit statuses, as `--help` lists them. A usage error is clap's 2; server answers and network
/// failures get their own codes so a script can tell "not there" from "could not ask".
const EXIT_CODES: &str = "Exit status:
  0  success
  1  local failure: bad argument or config, local file error
  2  usage error (bad command line)
  3  not found: the server answered ENOENT
  4  refused: the server answered another error status (named in the message)
  5  unreachable: no tracker or storage could be connected to
  6  network: a server timed out or dropped the connection
  7  protocol: a server's reply was malformed
With --json, stdout holds one JSON object either way: the result, or
{\"error\": {\"message\", \"kind\", \"exit_code\", \"status\", \"errno\", \"server\"}}.";

/// Exit status: local failure.
const EXIT_FAILURE: u8 = 1;
/// Exit status: usage error (clap's).
const EXIT_USAGE: u8 = 2;
/// Exit status: the server answered ENOENT.
const EXIT_NOT_FOUND: u8 = 3;
/// Exit status: the server answered another error status.
const EXIT_REFUSED: u8 = 4;
/// Exit status: nothing could be connected to.
const EXIT_UNREACHABLE: u8 = 5;
/// Exit status: timed out or connection lost.
const EXIT_NETWORK: u8 = 6;
/// Exit status: malformed reply.
const EXIT_PROTOCOL: u8 = 7;

#[derive(Parser, Debug)]
#[command(
    name = "fdfs",
    version,
    about = "FastDFS client: upload, download, delete, inspect files and the cluster",
    after_help = EXIT_CODES
)]
struct Cli {
    /// client.conf to read (default /etc/fdfs/client.conf, unless --tracker is given).
    #[arg(short = 'c', long = "conf", global = true, value_name = "FILE")]
    conf: Option<PathBuf>,
    /// A tracker HOST:PORT instead of a config file (repeat for several trackers).
    #[arg(long = "tracker", global = true, value_name = "HOST:PORT")]
    trackers: Vec<ServerAddr>,
    /// Machine-readable output (JSON on stdout).
    #[arg(long, global = true)]
    json: bool,
    /// Connect timeout in seconds (overrides the config).
    #[arg(long, global = true, value_name = "SECS")]
    connect_timeout: Option<f64>,
    /// Network timeout in seconds (overrides the config).
    #[arg(long, global = true, value_name = "SECS")]
    network_timeout: Option<f64>,
    /// Never show a progress bar.
    #[arg(long, global = true)]
    no_progress: bool,
    /// Log to stderr: -v connections, requests and replies, -vv more, -vvv everything (RUST_LOG
    /// also works). Quiet by default.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Upload a file (or `-` for stdin); prints the file id.
    Upload(UploadArgs),
    /// Download a file to OUT (default: the file name in the current directory; `-` for stdout).
    Download(DownloadArgs),
    /// Delete a file.
    Delete {
        /// The file id (group/M00/...).
        file_id: String,
    },
    /// Show what FastDFS knows of a file (size, creation time, crc32, source), like fdfs_file_info.
    Info {
        /// The file id.
        file_id: String,
    },
    /// Get or set metadata.
    #[command(subcommand)]
    Meta(MetaCmd),
    /// Append a file (or `-` for stdin) to an appender file.
    Append {
        /// The appender file id.
        file_id: String,
        /// What to append (`-` for stdin).
        input: String,
    },
    /// Overwrite part of an appender file from OFFSET with a file (or `-` for stdin).
    Modify {
        /// The appender file id.
        file_id: String,
        /// Where to write.
        offset: u64,
        /// The data (`-` for stdin).
        input: String,
    },
    /// Truncate an appender file.
    Truncate {
        /// The appender file id.
        file_id: String,
        /// The new size (default 0).
        #[arg(default_value_t = 0)]
        size: u64,
    },
    /// Turn an appender file into a normal file with a new name; prints the new file id.
    Regenerate {
        /// The appender file id.
        file_id: String,
    },
    /// Which storages hold a file (QUERY_FETCH_ALL) and which one updates it.
    Query {
        /// The file id.
        file_id: String,
    },
    /// Show the cluster as `fdfs_monitor` does: every line, in its order (all counters included).
    Monitor {
        /// Only this group.
        group: Option<String>,
    },
    /// List the storages of the cluster as `fdfs_storage_stat` does (SERVER_STORAGE_CLUSTER_STAT).
    StorageStat(StorageStatArgs),
    /// Disk space per group as `fdfs_volumn_stat` does (SERVER_STORAGE_VOLUMN_STAT).
    VolumeStat(VolumeStatArgs),
    /// Print the anti-steal token URL parameters (`token=...&ts=...`) for a file id.
    Token(TokenArgs),
    /// Write the man pages (DIR/man/fdfs.1, fdfs-<command>.1) and shell completions
    /// (DIR/completions/) made from these definitions; used by `make deb`.
    #[command(hide = true)]
    GenerateDocs {
        /// Output directory.
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
struct UploadArgs {
    /// The file to upload, `-` for stdin.
    input: String,
    /// Extension (default: the input file's).
    #[arg(long)]
    ext: Option<String>,
    /// Upload into this group.
    #[arg(long)]
    group: Option<String>,
    /// Upload to this storage HOST:PORT directly.
    #[arg(long, value_name = "HOST:PORT")]
    storage: Option<ServerAddr>,
    /// Upload an appender file.
    #[arg(long, conflicts_with = "master")]
    appender: bool,
    /// Upload a slave file of this master file id (needs --prefix).
    #[arg(long, requires = "prefix", value_name = "FILE_ID")]
    master: Option<String>,
    /// The slave prefix (e.g. _big).
    #[arg(long, requires = "master")]
    prefix: Option<String>,
    /// Metadata NAME=VALUE (repeatable).
    #[arg(long = "meta", value_name = "NAME=VALUE")]
    meta: Vec<String>,
}

#[derive(Args, Debug)]
struct StorageStatArgs {
    /// Only ACTIVE storages (fdfs_storage_stat -A).
    #[arg(long, conflicts_with = "inactive")]
    active: bool,
    /// Only storages that are not ACTIVE (-N).
    #[arg(long)]
    inactive: bool,
    /// Only trunk servers, when the cluster uses trunk files (-T).
    #[arg(long, conflicts_with = "not_trunk")]
    trunk: bool,
    /// Only storages that are not trunk servers (-t).
    #[arg(long)]
    not_trunk: bool,
    /// Also print version, up time and last heart beat (-d).
    #[arg(long)]
    detail: bool,
}

#[derive(Args, Debug)]
struct VolumeStatArgs {
    /// Only groups with space, on disk or in trunk files (fdfs_volumn_stat -A).
    #[arg(long, conflicts_with = "unavailable")]
    available: bool,
    /// Only groups without space (-N).
    #[arg(long)]
    unavailable: bool,
    /// Only groups with disk space (-D).
    #[arg(long, conflicts_with = "no_disk")]
    disk: bool,
    /// Only groups without disk space (-d).
    #[arg(long)]
    no_disk: bool,
    /// Only groups with trunk space, when the cluster uses trunk files (-T).
    #[arg(long, conflicts_with = "no_trunk")]
    trunk: bool,
    /// Only groups without trunk space (-t).
    #[arg(long)]
    no_trunk: bool,
}

#[derive(Args, Debug)]
struct DownloadArgs {
    /// The file id.
    file_id: String,
    /// Where to write (`-` for stdout; default: the file's name).
    output: Option<String>,
    /// Start at this byte.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Download this many bytes (default: to the end).
    #[arg(long)]
    length: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum MetaCmd {
    /// Print a file's metadata (NAME=VALUE lines).
    Get {
        /// The file id.
        file_id: String,
    },
    /// Set metadata: replace all (default) or merge (--merge).
    Set {
        /// The file id.
        file_id: String,
        /// NAME=VALUE pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
        /// Add and update instead of replacing everything.
        #[arg(long)]
        merge: bool,
    },
}

#[derive(Args, Debug)]
struct TokenArgs {
    /// The file id (group/M00/...).
    file_id: String,
    /// The secret key (default: http.anti_steal.secret_key of the config).
    #[arg(long)]
    secret: Option<String>,
    /// The timestamp (default: now).
    #[arg(long)]
    ts: Option<i64>,
}

/// A failure of the tool: the message, the exit status and what JSON callers get to branch on.
struct Failure {
    msg: String,
    code: u8,
    /// `local`, `usage`, `not_found`, `refused`, `unreachable`, `network`, `protocol`.
    kind: &'static str,
    /// The FastDFS status (errno) the server answered, if any.
    status: Option<u8>,
    /// The server the failure is about, if any.
    server: Option<String>,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let (code, kind) = match (e.kind(), e.status()) {
            (_, Some(s)) if s == fdfs_client::client::ENOENT => (EXIT_NOT_FOUND, "not_found"),
            (_, Some(_)) => (EXIT_REFUSED, "refused"),
            (ErrorKind::Connect | ErrorKind::NoTracker, _) => (EXIT_UNREACHABLE, "unreachable"),
            (ErrorKind::Timeout | ErrorKind::Io, _) => (EXIT_NETWORK, "network"),
            (ErrorKind::Protocol, _) => (EXIT_PROTOCOL, "protocol"),
            _ => (EXIT_FAILURE, "local"),
        };
        Failure {
            msg: e.to_string(),
            code,
            kind,
            status: e.status(),
            server: e.addr().map(str::to_owned),
        }
    }
}

impl Failure {
    /// The `--json` error object.
    fn json(&self) -> Value {
        json!({ "error": {
            "message": self.msg,
            "kind": self.kind,
            "exit_code": self.code,
            "status": self.status,
            "errno": self.status.map(fdfs_client::proto::status::errno_name),
            "server": self.server,
        }})
    }
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure {
        msg: msg.into(),
        code: EXIT_FAILURE,
        kind: "local",
        status: None,
        server: None,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(cli.verbose);
    let json = cli.json;
    if let Cmd::GenerateDocs { dir } = &cli.cmd {
        return match generate_docs(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => report_failure(&fail(format!("{}: {e}", dir.display())), json),
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

/// Man pages (one for `fdfs`, one per visible command as `fdfs-<command>`) and bash, zsh and fish
/// completions, from the clap definitions.
fn generate_docs(dir: &Path) -> std::io::Result<()> {
    use clap::CommandFactory;
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(man.join("fdfs.1"), page)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("fdfs-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(
            sub.clone()
                .name(name.clone())
                .bin_name(name.replacen('-', " ", 1)),
        )
        .render(&mut page)?;
        std::fs::write(man.join(format!("{name}.1")), page)?;
    }
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd, "fdfs", &completions)?;
    }
    Ok(())
}

/// One line on stderr; under `--json` also the error object on stdout.
fn report_failure(f: &Failure, json: bool) -> ExitCode {
    tracing::debug!(kind = f.kind, code = f.code, "failed");
    eprintln!("fdfs: {}", f.msg);
    if json {
        print_json(&f.json());
    }
    ExitCode::from(f.code.max(1))
}

/// clap's own handling (help, version, usage message and status 2), plus the JSON error object when
/// `--json` was on the command line.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as K;
    let json = std::env::args().skip(1).any(|a| a == "--json");
    if !json || matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
        e.exit();
    }
    // clap's message without the usage and hint lines, on one line.
    let text = e.render().to_string();
    let msg = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_owned();
    let _ = e.print();
    let f = Failure {
        msg,
        code: EXIT_USAGE,
        kind: "usage",
        status: None,
        server: None,
    };
    print_json(&f.json());
    ExitCode::from(EXIT_USAGE)
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
    if let Cmd::Token(args) = &cli.cmd {
        let conf = if args.secret.is_some() {
            None
        } else {
            load_conf(&cli)?
        };
        return token(&cli, args, conf.as_ref());
    }
    let conf = load_conf(&cli)?;
    let client = build_client(&cli, conf.as_ref())?;
    let trackers: Vec<String> = client.trackers().iter().map(ToString::to_string).collect();
    tracing::debug!(trackers = %trackers.join(","), command = ?cli.cmd, "starting");
    let ui = Ui {
        json: cli.json,
        progress: !cli.no_progress && std::io::stderr().is_terminal(),
    };
    match &cli.cmd {
        Cmd::Upload(args) => upload(&client, &ui, args).await,
        Cmd::Download(args) => download(&client, &ui, args).await,
        Cmd::Delete { file_id } => {
            client.delete(file_id).await?;
            ui.print_json(json!({ "file_id": file_id, "deleted": true }));
            Ok(())
        }
        Cmd::Info { file_id } => {
            let info = client.file_info(file_id).await?;
            ui.print_info(file_id, &info);
            Ok(())
        }
        Cmd::Meta(MetaCmd::Get { file_id }) => {
            let pairs = client.get_metadata(file_id).await?;
            if ui.json {
                let map: serde_json::Map<String, Value> = pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                print_json(&Value::Object(map));
            } else {
                let mut out = String::new();
                for (k, v) in &pairs {
                    out.push_str(&format!("{k}={v}\n"));
                }
                print_stdout(&out);
            }
            Ok(())
        }
        Cmd::Meta(MetaCmd::Set {
            file_id,
            pairs,
            merge,
        }) => {
            let pairs = parse_pairs(pairs)?;
            let mode = if *merge {
                MetaOp::Merge
            } else {
                MetaOp::Overwrite
            };
            client.set_metadata(file_id, pairs, mode).await?;
            ui.print_json(json!({ "file_id": file_id, "merged": merge }));
            Ok(())
        }
        Cmd::Append { file_id, input } => {
            let mut src = Input::open(input).await?;
            let len = src.len;
            let pb = ui.bar(len);
            let mut tick = |n: u64| pb.inc(n);
            client
                .append_reader_with_progress(file_id, &mut src.reader, len, &mut tick)
                .await?;
            pb.finish_and_clear();
            ui.print_json(json!({ "file_id": file_id, "appended": len }));
            Ok(())
        }
        Cmd::Modify {
            file_id,
            offset,
            input,
        } => {
            let mut src = Input::open(input).await?;
            let len = src.len;
            client
                .modify_reader(file_id, *offset, &mut src.reader, len)
                .await?;
            ui.print_json(json!({ "file_id": file_id, "offset": offset, "written": len }));
            Ok(())
        }
        Cmd::Truncate { file_id, size } => {
            client.truncate(file_id, *size).await?;
            ui.print_json(json!({ "file_id": file_id, "size": size }));
            Ok(())
        }
        Cmd::Regenerate { file_id } => {
            let new_id = client.regenerate_appender_filename(file_id).await?;
            ui.print_id(&new_id);
            Ok(())
        }
        Cmd::Query { file_id } => {
            let update = client.query_update(file_id).await?;
            let all = client.query_fetch_all(file_id).await?;
            if ui.json {
                let fetch: Vec<String> = all.iter().map(|s| s.addr.to_string()).collect();
                print_json(
                    &json!({ "file_id": file_id, "group": update.group, "update": update.addr.to_string(), "fetch": fetch }),
                );
            } else {
                let mut out = format!("update: {}\n", update.addr);
                for s in &all {
                    out.push_str(&format!("fetch: {}\n", s.addr));
                }
                print_stdout(&out);
            }
            Ok(())
        }
        Cmd::Monitor { group } => monitor(&client, &ui, group.as_deref()).await,
        Cmd::StorageStat(args) => storage_stat(&client, &ui, args).await,
        Cmd::VolumeStat(args) => volume_stat(&client, &ui, args).await,
        Cmd::Token(_) | Cmd::GenerateDocs { .. } => Ok(()),
    }
}

struct Ui {
    json: bool,
    progress: bool,
}

impl Ui {
    fn bar(&self, len: u64) -> indicatif::ProgressBar {
        if !self.progress || len < PROGRESS_MIN {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(len),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            pb.set_style(style);
        }
        pb
    }

    /// Prints `v` in JSON mode; nothing otherwise (commands that succeed silently, like the C tools).
    fn print_json(&self, v: Value) {
        if self.json {
            print_json(&v);
        }
    }

    fn print_id(&self, id: &str) {
        if self.json {
            print_json(&json!({ "file_id": id }));
        } else {
            print_stdout(&format!("{id}\n"));
        }
    }

    fn print_info(&self, file_id: &str, info: &FileDetails) {
        if self.json {
            print_json(&json!({
                "file_id": file_id,
                "type": info.kind_name(),
                "from_server": info.from_server,
                "source_storage_id": info.source_storage_id,
                "source_ip": info.source_ip,
                "create_timestamp": info.create_timestamp,
                "create_time": report::fmt_time(info.create_timestamp),
                "file_size": info.file_size,
                "crc32": info.crc32,
            }));
            return;
        }
        let out = format!(
            "GET FROM SERVER: {}\n\nfile type: {}\nsource storage id: {}\nsource ip address: {}\n\
             file create timestamp: {}\nfile size: {}\nfile crc32: {} (0x{:08x})\n",
            info.from_server,
            info.kind_name(),
            info.source_storage_id.as_deref().unwrap_or("0"),
            info.source_ip,
            report::fmt_time(info.create_timestamp),
            info.file_size,
            // fdfs_file_info prints the crc32 as a signed int.
            info.crc32 as i32,
            info.crc32
        );
        print_stdout(&out);
    }
}

fn print_json(v: &Value) {
    print_stdout(&format!("{v}\n"));
}

fn print_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not worth a panic.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, String)>, Failure> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(fail(format!("invalid metadata {p:?}: want NAME=VALUE"))),
        })
        .collect()
}

/// An upload source of known length: a file, or stdin (buffered or spooled to an unlinked temp file).
struct Input {
    reader: Box<dyn AsyncRead + Unpin + Send>,
    len: u64,
    ext: Option<String>,
}

impl Input {
    async fn open(input: &str) -> Result<Input, Failure> {
        if input == "-" {
            return Self::stdin().await;
        }
        let path = Path::new(input);
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| fail(format!("cannot open {input}: {e}")))?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| fail(format!("cannot stat {input}: {e}")))?;
        if !meta.is_file() {
            return Err(fail(format!("{input} is not a regular file")));
        }
        // As fdfs_upload_file: `x.tar.gz` is uploaded as `tar.gz`, not `gz`.
        let ext = fdfs_client::file_id::file_ext_name(input)
            .filter(|e| !e.is_empty())
            .map(str::to_owned);
        Ok(Input {
            reader: Box::new(file),
            len: meta.len(),
            ext,
        })
    }

    async fn stdin() -> Result<Input, Failure> {
        let err = |e: std::io::Error| fail(format!("cannot read stdin: {e}"));
        // A regular file redirected to stdin has a length: stream it as it is.
        if let Ok(meta) = std::fs::metadata("/dev/stdin") {
            if meta.is_file() {
                if let Ok(file) = tokio::fs::File::open("/dev/stdin").await {
                    return Ok(Input {
                        reader: Box::new(file),
                        len: meta.len(),
                        ext: None,
                    });
                }
            }
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = stdin.read(&mut chunk).await.map_err(err)?;
            if n == 0 {
                let len = buf.len() as u64;
                return Ok(Input {
                    reader: Box::new(std::io::Cursor::new(buf)),
                    len,
                    ext: None,
                });
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            if buf.len() > STDIN_MEM_MAX {
                break;
            }
        }
        // Too big for memory: spool to a temp file, unlinked at once (it lives while it is open).
        let path = std::env::temp_dir().join(format!(
            "fdfs-stdin-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| fail(format!("cannot create a temp file {}: {e}", path.display())))?;
        let _ = std::fs::remove_file(&path);
        let spool_err =
            |e: std::io::Error| fail(format!("cannot spool stdin to {}: {e}", path.display()));
        file.write_all(&buf).await.map_err(spool_err)?;
        drop(buf);
        tokio::io::copy(&mut stdin, &mut file)
            .await
            .map_err(spool_err)?;
        file.flush().await.map_err(spool_err)?;
        let len = file
            .seek(std::io::SeekFrom::End(0))
            .await
            .map_err(spool_err)?;
        file.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(spool_err)?;
        Ok(Input {
            reader: Box::new(file),
            len,
            ext: None,
        })
    }
}

async fn upload(client: &Client, ui: &Ui, args: &UploadArgs) -> Result<(), Failure> {
    let mut src = Input::open(&args.input).await?;
    let mut opts = UploadOptions::new();
    if let Some(ext) = args.ext.clone().or(src.ext.take()) {
        opts = opts.ext(ext);
    }
    if let Some(g) = &args.group {
        opts = opts.group(g.clone());
    }
    if let Some(s) = &args.storage {
        opts = opts.storage(s.clone());
    }
    if args.appender {
        opts = opts.appender();
    }
    if let (Some(master), Some(prefix)) = (&args.master, &args.prefix) {
        opts = opts.slave(master.clone(), prefix.clone());
    }
    for (k, v) in parse_pairs(&args.meta)? {
        opts = opts.meta(k, v);
    }
    let len = src.len;
    let pb = ui.bar(len);
    let mut tick = |n: u64| pb.inc(n);
    let id = client
        .upload_reader_with_progress(&mut src.reader, len, &opts, &mut tick)
        .await?;
    pb.finish_and_clear();
    if ui.json {
        print_json(&json!({ "file_id": id, "size": len }));
    } else {
        print_stdout(&format!("{id}\n"));
    }
    Ok(())
}

async fn download(client: &Client, ui: &Ui, args: &DownloadArgs) -> Result<(), Failure> {
    let output = match &args.output {
        Some(o) => o.clone(),
        None => args
            .file_id
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| fail(format!("invalid file id {:?}", args.file_id)))?,
    };
    let stream = client
        .download_stream(&args.file_id, args.offset, args.length)
        .await?;
    let len = stream.len();
    let pb = ui.bar(len);
    let mut tick = |n: u64| pb.inc(n);
    let written = if output == "-" {
        let mut out = tokio::io::stdout();
        stream.copy_to(&mut out, &mut tick).await?
    } else if std::fs::metadata(&output).is_ok_and(|m| !m.is_file()) {
        // A device or a pipe (/dev/null, a fifo): write into it as it is, never replace it.
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&output)
            .await
            .map_err(|e| fail(format!("cannot open {output}: {e}")))?;
        let n = stream.copy_to(&mut out, &mut tick).await?;
        out.flush()
            .await
            .map_err(|e| fail(format!("cannot write {output}: {e}")))?;
        n
    } else {
        // Write next to the target, then rename: a failed download leaves no partial file behind.
        let tmp = PathBuf::from(format!("{output}.fdfs-part-{}", std::process::id()));
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| fail(format!("cannot create {}: {e}", tmp.display())))?;
        let res = stream.copy_to(&mut file, &mut tick).await;
        let res = match res {
            Ok(n) => file
                .sync_all()
                .await
                .map(|()| n)
                .map_err(|e| fail(format!("cannot write {output}: {e}"))),
            Err(e) => Err(e.into()),
        };
        drop(file);
        match res {
            Ok(n) => {
                tokio::fs::rename(&tmp, &output).await.map_err(|e| {
                    fail(format!("cannot rename {} to {output}: {e}", tmp.display()))
                })?;
                n
            }
            Err(f) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(f);
            }
        }
    };
    pb.finish_and_clear();
    if ui.json {
        print_json(&json!({ "file_id": args.file_id, "output": output, "bytes": written }));
    }
    Ok(())
}

fn token(cli: &Cli, args: &TokenArgs, conf: Option<&ClientConf>) -> Result<(), Failure> {
    let secret = match (&args.secret, conf) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) if !c.http.anti_steal.secret_key.is_empty() => {
            c.http.anti_steal.secret_key.clone()
        }
        _ => {
            return Err(fail(
                "no secret key: pass --secret or set http.anti_steal.secret_key in the config",
            ))
        }
    };
    let rest = match args.file_id.split_once('/') {
        Some((g, rest)) if !g.is_empty() && !rest.is_empty() => rest,
        _ => {
            return Err(fail(format!(
                "invalid file id {:?}: want group/M00/...",
                args.file_id
            )))
        }
    };
    let ts = match args.ts {
        Some(ts) => ts,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    };
    let tok = fdfs_client::token::generate(rest, &secret, ts);
    if cli.json {
        print_json(
            &json!({ "file_id": args.file_id, "token": tok, "ts": ts, "param": format!("token={tok}&ts={ts}") }),
        );
    } else {
        print_stdout(&format!("token={tok}&ts={ts}\n"));
    }
    Ok(())
}

async fn monitor(client: &Client, ui: &Ui, group: Option<&str>) -> Result<(), Failure> {
    let view = client.cluster_view(group).await?;
    let trackers = client.trackers();
    tracing::debug!(tracker = %view.tracker, groups = view.groups.len(), "monitor");
    if ui.json {
        print_json(&report::monitor_json(&view, &trackers));
    } else {
        print_stdout(&report::monitor_text(
            &view,
            trackers.len(),
            group.is_some(),
        ));
    }
    Ok(())
}

async fn storage_stat(client: &Client, ui: &Ui, args: &StorageStatArgs) -> Result<(), Failure> {
    let mut filter = StorageClusterStatRequest::default();
    if args.active || args.inactive {
        filter.filter_by |= StorageClusterStatRequest::BY_STATUS;
        filter.status = STORAGE_STATUS_ACTIVE;
        filter.op_type = if args.active { b'=' } else { b'!' };
    }
    if args.trunk || args.not_trunk {
        filter.filter_by |= StorageClusterStatRequest::BY_IS_TRUNK_SERVER;
        filter.is_trunk_server = u8::from(args.trunk);
    }
    let r = client.storage_cluster_stat(filter).await?;
    if ui.json {
        print_json(&report::storage_stat_json(&r));
    } else {
        print_stdout(&report::storage_stat_text(&r, args.detail));
    }
    Ok(())
}

async fn volume_stat(client: &Client, ui: &Ui, args: &VolumeStatArgs) -> Result<(), Failure> {
    let mut filter = VolumeStatRequest::default();
    if args.available || args.unavailable {
        filter.filter_by |= VolumeStatRequest::BY_IS_SPACE_AVAILABLE;
        filter.is_space_available = u8::from(args.available);
    }
    if args.disk || args.no_disk {
        filter.filter_by |= VolumeStatRequest::BY_IS_DISK_AVAILABLE;
        filter.is_disk_available = u8::from(args.disk);
    }
    if args.trunk || args.no_trunk {
        filter.filter_by |= VolumeStatRequest::BY_IS_TRUNK_AVAILABLE;
        filter.is_trunk_available = u8::from(args.trunk);
    }
    let r = client.volume_stat(filter).await?;
    if ui.json {
        print_json(&report::volume_stat_json(&r));
    } else {
        print_stdout(&report::volume_stat_text(&r));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs() {
        let p = parse_pairs(&["a=1".into(), "b=x=y".into(), "c=".into()])
            .ok()
            .unwrap_or_default();
        assert_eq!(
            p,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x=y".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(parse_pairs(&["=1".into()]).is_err());
        assert!(parse_pairs(&["nothing".into()]).is_err());
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "fdfs",
            "--tracker",
            "127.0.0.1:22122",
            "upload",
            "-",
            "--meta",
            "a=b",
        ]);
        assert!(cli.is_ok());
        let cli = Cli::try_parse_from(["fdfs", "upload", "x", "--master", "group1/M00/00/00/a"]);
        assert!(cli.is_err(), "--master needs --prefix");
    }
}
