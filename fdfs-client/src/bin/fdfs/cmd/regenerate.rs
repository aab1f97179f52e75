//! `fdfs regenerate FILE_ID`: an appender file becomes a normal file with a new name.

use clap::Args;
use fdfs_client::client::Client;

use crate::failure::Failure;
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct RegenerateArgs {
    /// The appender file id.
    file_id: String,
}

pub async fn run(client: &Client, ui: &Ui, args: &RegenerateArgs) -> Result<(), Failure> {
    let new_id = client.regenerate_appender_filename(&args.file_id).await?;
    ui.print_id(&new_id);
    Ok(())
}
