//! The command line: global flags and the list of commands. Each command's own arguments live with its
//! code in `cmd/`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use fdfs_client::client::ServerAddr;

use crate::cmd::{
    append::AppendArgs, delete::DeleteArgs, download::DownloadArgs,
    generate_docs::GenerateDocsArgs, info::InfoArgs, meta::MetaCmd, modify::ModifyArgs,
    monitor::MonitorArgs, query::QueryArgs, regenerate::RegenerateArgs,
    storage_stat::StorageStatArgs, token::TokenArgs, truncate::TruncateArgs, upload::UploadArgs,
    volume_stat::VolumeStatArgs,
};
use crate::failure::EXIT_CODES;

#[derive(Parser, Debug)]
#[command(
    name = "fdfs",
    version,
    about = "FastDFS client: upload, download, delete, inspect files and the cluster",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// client.conf to read (default /etc/fdfs/client.conf, unless --tracker is given).
    #[arg(short = 'c', long = "conf", global = true, value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// A tracker HOST:PORT instead of a config file (repeat for several trackers).
    #[arg(long = "tracker", global = true, value_name = "HOST:PORT")]
    pub trackers: Vec<ServerAddr>,
    /// Machine-readable output (JSON on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    /// Connect timeout in seconds (overrides the config).
    #[arg(long, global = true, value_name = "SECS")]
    pub connect_timeout: Option<f64>,
    /// Network timeout in seconds (overrides the config).
    #[arg(long, global = true, value_name = "SECS")]
    pub network_timeout: Option<f64>,
    /// Never show a progress bar.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Log to stderr: -v connections, requests and replies, -vv more, -vvv everything (RUST_LOG
    /// also works). Quiet by default.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Upload a file (or `-` for stdin); prints the file id.
    Upload(UploadArgs),
    /// Download a file to OUT (default: the file name in the current directory; `-` for stdout).
    Download(DownloadArgs),
    /// Delete a file.
    Delete(DeleteArgs),
    /// Show what FastDFS knows of a file (size, creation time, crc32, source), like fdfs_file_info.
    Info(InfoArgs),
    /// Get or set metadata.
    #[command(subcommand)]
    Meta(MetaCmd),
    /// Append a file (or `-` for stdin) to an appender file.
    Append(AppendArgs),
    /// Overwrite part of an appender file from OFFSET with a file (or `-` for stdin).
    Modify(ModifyArgs),
    /// Truncate an appender file.
    Truncate(TruncateArgs),
    /// Turn an appender file into a normal file with a new name; prints the new file id.
    Regenerate(RegenerateArgs),
    /// Which storages hold a file (QUERY_FETCH_ALL) and which one updates it.
    Query(QueryArgs),
    /// Show the cluster as `fdfs_monitor` does: every line, in its order (all counters included).
    Monitor(MonitorArgs),
    /// List the storages of the cluster as `fdfs_storage_stat` does (SERVER_STORAGE_CLUSTER_STAT).
    StorageStat(StorageStatArgs),
    /// Disk space per group as `fdfs_volumn_stat` does (SERVER_STORAGE_VOLUMN_STAT).
    VolumeStat(VolumeStatArgs),
    /// Print the anti-steal token URL parameters (`token=...&ts=...`) for a file id.
    Token(TokenArgs),
    /// Write the man pages (DIR/man/fdfs.1, fdfs-<command>.1) and shell completions
    /// (DIR/completions/) made from these definitions; used by `make deb`.
    #[command(hide = true)]
    GenerateDocs(GenerateDocsArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

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
