//! `fdfs info FILE_ID`: what `fdfs_file_info` prints, or the same facts as JSON.

use clap::Args;
use fdfs_client::client::{Client, FileDetails};
use serde_json::json;

use crate::failure::Failure;
use crate::report;
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The file id.
    file_id: String,
}

pub async fn run(client: &Client, ui: &Ui, args: &InfoArgs) -> Result<(), Failure> {
    let info = client.file_info(&args.file_id).await?;
    if ui.json {
        print_json(&info_json(&args.file_id, &info));
    } else {
        print_stdout(&info_text(&info));
    }
    Ok(())
}

fn info_json(file_id: &str, info: &FileDetails) -> serde_json::Value {
    json!({
        "file_id": file_id,
        "type": info.kind_name(),
        "from_server": info.from_server,
        "source_storage_id": info.source_storage_id,
        "source_ip": info.source_ip,
        "create_timestamp": info.create_timestamp,
        "create_time": report::fmt_time(info.create_timestamp),
        "file_size": info.file_size,
        "crc32": info.crc32,
    })
}

/// `fdfs_file_info`'s text.
fn info_text(info: &FileDetails) -> String {
    format!(
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
    )
}
