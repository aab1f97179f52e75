//! `fdfs download FILE_ID [OUT]`: to a file (written aside, then renamed), a device, or stdout.

use std::path::PathBuf;

use clap::Args;
use fdfs_client::client::Client;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::failure::{fail, Failure};
use crate::ui::{print_json, Ui};

#[derive(Args, Debug)]
pub struct DownloadArgs {
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

pub async fn run(client: &Client, ui: &Ui, args: &DownloadArgs) -> Result<(), Failure> {
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
