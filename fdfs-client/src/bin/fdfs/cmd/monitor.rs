//! `fdfs monitor [GROUP]`: `fdfs_monitor`'s output (see `report`).

use clap::Args;
use fdfs_client::client::Client;

use crate::failure::Failure;
use crate::report;
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// Only this group.
    group: Option<String>,
}

pub async fn run(client: &Client, ui: &Ui, args: &MonitorArgs) -> Result<(), Failure> {
    let group = args.group.as_deref();
    let view = client.cluster_view(group).await?;
    let trackers = client.trackers();
    tracing::debug!(tracker = %view.tracker, groups = view.groups.len(), "monitor");
    if ui.json {
        print_json(&report::monitor_json(&view, &trackers));
    } else {
        print_stdout(&report::monitor_text(
            &view,
            trackers.len(),
            group.is_some(),
        ));
    }
    Ok(())
}
