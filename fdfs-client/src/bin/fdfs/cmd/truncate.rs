//! `fdfs truncate FILE_ID [SIZE]`.

use clap::Args;
use fdfs_client::client::Client;
use serde_json::json;

use crate::failure::Failure;
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct TruncateArgs {
    /// The appender file id.
    file_id: String,
    /// The new size (default 0).
    #[arg(default_value_t = 0)]
    size: u64,
}

pub async fn run(client: &Client, ui: &Ui, args: &TruncateArgs) -> Result<(), Failure> {
    client.truncate(&args.file_id, args.size).await?;
    ui.print_json(json!({ "file_id": args.file_id, "size": args.size }));
    Ok(())
}
