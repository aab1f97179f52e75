//! One file per command (as mini-redis's `cmd/`): its arguments and what it does. Commands that talk
//! to the cluster get the client and the [`Ui`]; `token` and `generate-docs` need no client and are
//! run by `main` before one is built.

pub mod append;
pub mod delete;
pub mod download;
pub mod generate_docs;
pub mod info;
pub mod meta;
pub mod modify;
pub mod monitor;
pub mod query;
pub mod regenerate;
pub mod storage_stat;
pub mod token;
pub mod truncate;
pub mod upload;
pub mod volume_stat;

use fdfs_client::client::Client;

use crate::cli::Cmd;
use crate::failure::Failure;
use crate::ui::Ui;

/// Runs a command that talks to the cluster.
pub async fn run(cmd: &Cmd, client: &Client, ui: &Ui) -> Result<(), Failure> {
    match cmd {
        Cmd::Upload(args) => upload::run(client, ui, args).await,
        Cmd::Download(args) => download::run(client, ui, args).await,
        Cmd::Delete(args) => delete::run(client, ui, args).await,
        Cmd::Info(args) => info::run(client, ui, args).await,
        Cmd::Meta(cmd) => meta::run(client, ui, cmd).await,
        Cmd::Append(args) => append::run(client, ui, args).await,
        Cmd::Modify(args) => modify::run(client, ui, args).await,
        Cmd::Truncate(args) => truncate::run(client, ui, args).await,
        Cmd::Regenerate(args) => regenerate::run(client, ui, args).await,
        Cmd::Query(args) => query::run(client, ui, args).await,
        Cmd::Monitor(args) => monitor::run(client, ui, args).await,
        Cmd::StorageStat(args) => storage_stat::run(client, ui, args).await,
        Cmd::VolumeStat(args) => volume_stat::run(client, ui, args).await,
        // Run by `main` without a client.
        Cmd::Token(_) | Cmd::GenerateDocs(_) => Ok(()),
    }
}
