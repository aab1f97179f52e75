//! `fdfs upload INPUT`: a normal, appender or slave file, with metadata; prints the file id.

use clap::Args;
use fdfs_client::client::{Client, ServerAddr, UploadOptions};
use serde_json::json;

use crate::failure::Failure;
use crate::input::{parse_pairs, Input};
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Args, Debug)]
pub struct UploadArgs {
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

pub async fn run(client: &Client, ui: &Ui, args: &UploadArgs) -> Result<(), Failure> {
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
