//! `fdfs meta get FILE_ID` and `fdfs meta set FILE_ID NAME=VALUE... [--merge]`.

use clap::Subcommand;
use fdfs_client::client::{Client, MetaOp};
use serde_json::{json, Value};

use crate::failure::Failure;
use crate::input::parse_pairs;
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Subcommand, Debug)]
pub enum MetaCmd {
    /// Print a file's metadata (NAME=VALUE lines).
    Get {
        /// The file id.
        file_id: String,
    },
    /// Set metadata: replace all (default) or merge (--merge).
    Set {
        /// The file id.
        file_id: String,
        /// NAME=VALUE pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
        /// Add and update instead of replacing everything.
        #[arg(long)]
        merge: bool,
    },
}

pub async fn run(client: &Client, ui: &Ui, cmd: &MetaCmd) -> Result<(), Failure> {
    match cmd {
        MetaCmd::Get { file_id } => get(client, ui, file_id).await,
        MetaCmd::Set {
            file_id,
            pairs,
            merge,
        } => {
            let pairs = parse_pairs(pairs)?;
            let mode = if *merge {
                MetaOp::Merge
            } else {
                MetaOp::Overwrite
            };
            client.set_metadata(file_id, pairs, mode).await?;
            ui.print_json(json!({ "file_id": file_id, "merged": merge }));
            Ok(())
        }
    }
}

async fn get(client: &Client, ui: &Ui, file_id: &str) -> Result<(), Failure> {
    let pairs = client.get_metadata(file_id).await?;
    if ui.json {
        let map: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        print_json(&Value::Object(map));
    } else {
        let mut out = String::new();
        for (k, v) in &pairs {
            out.push_str(&format!("{k}={v}\n"));
        }
        print_stdout(&out);
    }
    Ok(())
}
