//! `fdfs`: the FastDFS command line tool (upload, download, delete, info, metadata, append, monitor,
//! token), built on [`fdfs_client::client`].
//!
//! Reads `/etc/fdfs/client.conf` unless `-c FILE` or `--tracker HOST:PORT` (repeatable) is given.
//! Prints results on stdout (`--json` for machine-readable output), one-line errors on stderr, and exits
//! non-zero on every failure (with the server's errno when the server refused).

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fdfs_client::client::{
    storage_status_name, Client, Error, FileInfo, GroupInfo, MetaOp, ServerAddr, UploadOptions,
};
use fdfs_client::conf::client::{ClientConf, DEFAULT_PATH};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Transfers at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN: u64 = 4 * 1024 * 1024;
/// Stdin up to this size is buffered in memory before an upload; beyond, it is spooled to a temp file.
const STDIN_MEM_MAX: usize = 8 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(
    name = "fdfs",
    version,
    about = "FastDFS client: upload, download, delete, inspect files and the cluster"
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
    /// Log to stderr (-v info, -vv debug, -vvv trace; RUST_LOG also works). Quiet by default.
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
    /// Show the cluster: groups and storages with status, addresses, space and sync state.
    Monitor {
        /// Only this group.
        group: Option<String>,
    },
    /// Print the anti-steal token URL parameters (`token=...&ts=...`) for a file id.
    Token(TokenArgs),
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

/// A failure of the tool: the message and the exit status.
struct Failure {
    msg: String,
    code: u8,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // Like the C tools, a refused request exits with the server's errno.
        let code = e.status().filter(|s| *s != 0).unwrap_or(1);
        Failure {
            msg: e.to_string(),
            code,
        }
    }
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure {
        msg: msg.into(),
        code: 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fdfs: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("fdfs: {}", f.msg);
            ExitCode::from(f.code.max(1))
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
        Cmd::Token(_) => Ok(()),
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

    fn print_info(&self, file_id: &str, info: &FileInfo) {
        if self.json {
            print_json(&json!({
                "file_id": file_id,
                "type": info.kind_name(),
                "from_server": info.from_server,
                "source_storage_id": info.source_storage_id,
                "source_ip": info.source_ip,
                "create_timestamp": info.create_timestamp,
                "create_time": fmt_time(info.create_timestamp),
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
            fmt_time(info.create_timestamp),
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
    let groups: Vec<GroupInfo> = match group {
        Some(g) => {
            let stat = client.list_group(g).await?;
            let storages = client.list_storages(g, None).await?;
            vec![GroupInfo { stat, storages }]
        }
        None => client.cluster().await?,
    };
    if ui.json {
        let v: Vec<Value> = groups.iter().map(group_json).collect();
        let trackers: Vec<String> = client.trackers().iter().map(ToString::to_string).collect();
        print_json(&json!({ "trackers": trackers, "groups": v }));
        return Ok(());
    }
    let mut out = String::new();
    let trackers = client.trackers();
    out.push_str(&format!("tracker server count={}\n", trackers.len()));
    for t in &trackers {
        let state = if client.tracker_is_down(t) {
            "  (down)"
        } else {
            ""
        };
        out.push_str(&format!("tracker server is {t}{state}\n"));
    }
    out.push_str(&format!("\ngroup count: {}\n", groups.len()));
    for (gi, g) in groups.iter().enumerate() {
        let s = &g.stat;
        out.push_str(&format!(
            "\nGroup {}:\ngroup name = {}\n",
            gi + 1,
            s.group_name
        ));
        out.push_str(&space_lines("", s.total_mb, s.free_mb, s.reserved_mb));
        out.push_str(&format!(
            "storage server count = {}\nreadable server count = {}\nwritable server count = {}\n\
             storage server port = {}\nstore path count = {}\nsubdir count per path = {}\n\
             current write server index = {}\n",
            s.storage_count,
            s.readable_server_count,
            s.writable_server_count,
            s.storage_port,
            s.store_path_count,
            s.subdir_count_per_path,
            s.current_write_server
        ));
        for (si, st) in g.storages.iter().enumerate() {
            let delay = sync_delay(g, si);
            out.push_str(&format!(
                "\n\tStorage {}:\n\t\tid = {}\n\t\thost = {}  {}\n\t\tversion = {}\n\t\tjoin time = {}\n\t\tup time = {}\n",
                si + 1,
                st.id,
                ServerAddr::new(st.ip_addr.clone(), u16::try_from(st.storage_port).unwrap_or(0)),
                storage_status_name(st.status),
                st.version,
                fmt_time_u(st.join_time),
                fmt_time_u(st.up_time)
            ));
            out.push_str(&space_lines(
                "\t\t",
                st.total_mb,
                st.free_mb,
                st.reserved_mb,
            ));
            out.push_str(&format!(
                "\t\tupload priority = {}\n\t\tstore_path_count = {}\n\t\tsubdir_count_per_path = {}\n\
                 \t\tcurrent_write_path = {}\n\t\tsource storage id = {}\n\t\tif_trunk_server = {}\n\
                 \t\ttotal_upload_count = {}\n\t\tsuccess_upload_count = {}\n\
                 \t\ttotal_download_count = {}\n\t\tsuccess_download_count = {}\n\
                 \t\ttotal_delete_count = {}\n\t\tsuccess_delete_count = {}\n\
                 \t\tlast_heart_beat_time = {}\n\t\tlast_source_update = {}\n\t\tlast_sync_update = {}\n\
                 \t\tlast_synced_timestamp = {}{}\n",
                st.upload_priority,
                st.store_path_count,
                st.subdir_count_per_path,
                st.current_write_path,
                st.src_id,
                st.if_trunk_server,
                st.stat.total_upload_count,
                st.stat.success_upload_count,
                st.stat.total_download_count,
                st.stat.success_download_count,
                st.stat.total_delete_count,
                st.stat.success_delete_count,
                fmt_time_u(st.stat.last_heart_beat_time),
                fmt_time_u(st.stat.last_source_update),
                fmt_time_u(st.stat.last_sync_update),
                fmt_time_u(st.stat.last_synced_timestamp),
                delay.map(|d| format!(" ({d} second delay)")).unwrap_or_else(|| " ".to_owned()),
            ));
        }
    }
    print_stdout(&out);
    Ok(())
}

/// How far storage `si` lags in sync: the newest source update of the other storages of its group minus
/// what it has synced, like fdfs_monitor; `None` when it never synced.
fn sync_delay(g: &GroupInfo, si: usize) -> Option<u64> {
    let me = g.storages.get(si)?;
    if me.stat.last_synced_timestamp == 0 {
        return None;
    }
    let newest = g
        .storages
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != si)
        .map(|(_, s)| s.stat.last_source_update)
        .max()
        .unwrap_or(0);
    Some(newest.saturating_sub(me.stat.last_synced_timestamp))
}

fn space_lines(indent: &str, total_mb: u64, free_mb: u64, reserved_mb: u64) -> String {
    let avail = free_mb.saturating_sub(reserved_mb);
    format!(
        "{indent}disk total space     = {}\n{indent}disk free space      = {}\n\
         {indent}disk reserved space  = {}\n{indent}disk available space = {}\n",
        fmt_mb(total_mb),
        fmt_mb(free_mb),
        fmt_mb(reserved_mb),
        fmt_mb(avail)
    )
}

/// A size in MB the way `fdfs_monitor` prints it (libfastcommon's `bytes_to_human_str`, right-aligned
/// in 7 columns): rounded to the nearest unit, one decimal below 10 (`252 GB`, `2.5 GB`, `512 MB`).
fn fmt_mb(mb: u64) -> String {
    let bytes = u128::from(mb) << 20;
    let units: [(u32, char); 6] = [
        (60, 'E'),
        (50, 'P'),
        (40, 'T'),
        (30, 'G'),
        (20, 'M'),
        (10, 'K'),
    ];
    let text = match units.iter().find(|(shift, _)| bytes >> shift > 0) {
        Some(&(shift, unit)) => {
            let one = 1u128 << shift;
            let mut n = bytes / one;
            let rem = bytes % one;
            let number = if n < 10 {
                let mut tenth = (rem * 10 + one / 2) / one;
                if tenth == 10 {
                    n += 1;
                    tenth = 0;
                }
                if n < 10 {
                    format!("{n}.{tenth}")
                } else {
                    n.to_string()
                }
            } else {
                if rem >= one / 2 {
                    n += 1;
                }
                n.to_string()
            };
            format!("{number} {unit}B")
        }
        None => format!("{bytes}  B"),
    };
    format!("{text:>7}")
}

fn group_json(g: &GroupInfo) -> Value {
    let s = &g.stat;
    let storages: Vec<Value> = g
        .storages
        .iter()
        .enumerate()
        .map(|(si, st)| {
            json!({
                "id": st.id,
                "ip": st.ip_addr,
                "port": st.storage_port,
                "addr": ServerAddr::new(st.ip_addr.clone(), u16::try_from(st.storage_port).unwrap_or(0)).to_string(),
                "status": storage_status_name(st.status),
                "status_code": st.status,
                "rw_mode": st.rw_mode,
                "version": st.version,
                "join_time": st.join_time,
                "up_time": st.up_time,
                "total_mb": st.total_mb,
                "free_mb": st.free_mb,
                "reserved_mb": st.reserved_mb,
                "upload_priority": st.upload_priority,
                "store_path_count": st.store_path_count,
                "src_id": st.src_id,
                "if_trunk_server": st.if_trunk_server != 0,
                "last_heart_beat_time": st.stat.last_heart_beat_time,
                "last_source_update": st.stat.last_source_update,
                "last_sync_update": st.stat.last_sync_update,
                "last_synced_timestamp": st.stat.last_synced_timestamp,
                "sync_delay": sync_delay(g, si),
                "total_upload_count": st.stat.total_upload_count,
                "success_upload_count": st.stat.success_upload_count,
                "total_download_count": st.stat.total_download_count,
                "success_download_count": st.stat.success_download_count,
            })
        })
        .collect();
    json!({
        "group": s.group_name,
        "total_mb": s.total_mb,
        "free_mb": s.free_mb,
        "reserved_mb": s.reserved_mb,
        "trunk_free_mb": s.trunk_free_mb,
        "storage_count": s.storage_count,
        "storage_port": s.storage_port,
        "readable_server_count": s.readable_server_count,
        "writable_server_count": s.writable_server_count,
        "current_write_server": s.current_write_server,
        "store_path_count": s.store_path_count,
        "subdir_count_per_path": s.subdir_count_per_path,
        "storages": storages,
    })
}

fn fmt_time_u(ts: u64) -> String {
    fmt_time(i64::try_from(ts).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
fn fmt_time(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00");
        // The capture's `file create timestamp: 2026-11-25 03:15:48` (the cluster ran in UTC).
        assert_eq!(fmt_time(1_795_576_548), "2026-11-25 03:15:48");
        assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn sizes_as_fdfs_monitor() {
        // fdfs_monitor 6.16.1 on a real cluster: total 258019 MB, free 55330, reserved 2580,
        // available 52750 printed as "252 GB", "54 GB", "2.5 GB", "52 GB".
        assert_eq!(fmt_mb(258_019), " 252 GB");
        assert_eq!(fmt_mb(55_330), "  54 GB");
        assert_eq!(fmt_mb(2_580), " 2.5 GB");
        assert_eq!(fmt_mb(52_750), "  52 GB");
        assert_eq!(fmt_mb(512), " 512 MB");
        assert_eq!(fmt_mb(10_200), "  10 GB");
        assert_eq!(fmt_mb(0), "   0  B");
    }

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
