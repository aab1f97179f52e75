//! `fdfs delete FILE_ID`.

use clap::Args;
use fdfs_client::client::Client;
use serde_json::json;

use crate::failure::Failure;
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The file id (group/M00/...).
    file_id: String,
}

pub async fn run(client: &Client, ui: &Ui, args: &DeleteArgs) -> Result<(), Failure> {
    client.delete(&args.file_id).await?;
    ui.print_json(json!({ "file_id": args.file_id, "deleted": true }));
    Ok(())
}
