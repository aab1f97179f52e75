//! `fdfs volume-stat`: `fdfs_volumn_stat` with its filters as flags.

use clap::Args;
use fdfs_client::client::Client;
use fdfs_client::proto::VolumeStatRequest;

use crate::failure::Failure;
use crate::report;
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Args, Debug)]
pub struct VolumeStatArgs {
    /// Only groups with space, on disk or in trunk files (fdfs_volumn_stat -A).
    #[arg(long, conflicts_with = "unavailable")]
    available: bool,
    /// Only groups without space (-N).
    #[arg(long)]
    unavailable: bool,
    /// Only groups with disk space (-D).
    #[arg(long, conflicts_with = "no_disk")]
    disk: bool,
    /// Only groups without disk space (-d).
    #[arg(long)]
    no_disk: bool,
    /// Only groups with trunk space, when the cluster uses trunk files (-T).
    #[arg(long, conflicts_with = "no_trunk")]
    trunk: bool,
    /// Only groups without trunk space (-t).
    #[arg(long)]
    no_trunk: bool,
}

pub async fn run(client: &Client, ui: &Ui, args: &VolumeStatArgs) -> Result<(), Failure> {
    let mut filter = VolumeStatRequest::default();
    if args.available || args.unavailable {
        filter.filter_by |= VolumeStatRequest::BY_IS_SPACE_AVAILABLE;
        filter.is_space_available = u8::from(args.available);
    }
    if args.disk || args.no_disk {
        filter.filter_by |= VolumeStatRequest::BY_IS_DISK_AVAILABLE;
        filter.is_disk_available = u8::from(args.disk);
    }
    if args.trunk || args.no_trunk {
        filter.filter_by |= VolumeStatRequest::BY_IS_TRUNK_AVAILABLE;
        filter.is_trunk_available = u8::from(args.trunk);
    }
    let r = client.volume_stat(filter).await?;
    if ui.json {
        print_json(&report::volume_stat_json(&r));
    } else {
        print_stdout(&report::volume_stat_text(&r));
    }
    Ok(())
}
