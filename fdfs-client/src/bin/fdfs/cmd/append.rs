//! `fdfs append FILE_ID INPUT`.

use clap::Args;
use fdfs_client::client::Client;
use serde_json::json;

use crate::failure::Failure;
use crate::input::Input;
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct AppendArgs {
    /// The appender file id.
    file_id: String,
    /// What to append (`-` for stdin).
    input: String,
}

pub async fn run(client: &Client, ui: &Ui, args: &AppendArgs) -> Result<(), Failure> {
    let mut src = Input::open(&args.input).await?;
    let len = src.len;
    let pb = ui.bar(len);
    let mut tick = |n: u64| pb.inc(n);
    client
        .append_reader_with_progress(&args.file_id, &mut src.reader, len, &mut tick)
        .await?;
    pb.finish_and_clear();
    ui.print_json(json!({ "file_id": args.file_id, "appended": len }));
    Ok(())
}
