//! `fdfs modify FILE_ID OFFSET INPUT`.

use clap::Args;
use fdfs_client::client::Client;
use serde_json::json;

use crate::failure::Failure;
use crate::input::Input;
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct ModifyArgs {
    /// The appender file id.
    file_id: String,
    /// Where to write.
    offset: u64,
    /// The data (`-` for stdin).
    input: String,
}

pub async fn run(client: &Client, ui: &Ui, args: &ModifyArgs) -> Result<(), Failure> {
    let mut src = Input::open(&args.input).await?;
    let len = src.len;
    client
        .modify_reader(&args.file_id, args.offset, &mut src.reader, len)
        .await?;
    ui.print_json(json!({ "file_id": args.file_id, "offset": args.offset, "written": len }));
    Ok(())
}
