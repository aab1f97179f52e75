//! `fdfs storage-stat`: `fdfs_storage_stat` with its filters as flags.

use clap::Args;
use fdfs_client::client::{Client, STORAGE_STATUS_ACTIVE};
use fdfs_client::proto::StorageClusterStatRequest;

use crate::failure::Failure;
use crate::report;
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Args, Debug)]
pub struct StorageStatArgs {
    /// Only ACTIVE storages (fdfs_storage_stat -A).
    #[arg(long, conflicts_with = "inactive")]
    active: bool,
    /// Only storages that are not ACTIVE (-N).
    #[arg(long)]
    inactive: bool,
    /// Only trunk servers, when the cluster uses trunk files (-T).
    #[arg(long, conflicts_with = "not_trunk")]
    trunk: bool,
    /// Only storages that are not trunk servers (-t).
    #[arg(long)]
    not_trunk: bool,
    /// Also print version, up time and last heart beat (-d).
    #[arg(long)]
    detail: bool,
}

pub async fn run(client: &Client, ui: &Ui, args: &StorageStatArgs) -> Result<(), Failure> {
    let mut filter = StorageClusterStatRequest::default();
    if args.active || args.inactive {
        filter.filter_by |= StorageClusterStatRequest::BY_STATUS;
        filter.status = STORAGE_STATUS_ACTIVE;
        filter.op_type = if args.active { b'=' } else { b'!' };
    }
    if args.trunk || args.not_trunk {
        filter.filter_by |= StorageClusterStatRequest::BY_IS_TRUNK_SERVER;
        filter.is_trunk_server = u8::from(args.trunk);
    }
    let r = client.storage_cluster_stat(filter).await?;
    if ui.json {
        print_json(&report::storage_stat_json(&r));
    } else {
        print_stdout(&report::storage_stat_text(&r, args.detail));
    }
    Ok(())
}
