//! `fdfs query FILE_ID`: the storage that updates a file and those that serve it.

use clap::Args;
use fdfs_client::client::Client;
use serde_json::json;

use crate::failure::Failure;
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The file id.
    file_id: String,
}

pub async fn run(client: &Client, ui: &Ui, args: &QueryArgs) -> Result<(), Failure> {
    let file_id = &args.file_id;
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
