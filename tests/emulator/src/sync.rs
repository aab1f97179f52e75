//! Replication: each storage drains its incoming queue once an item is due, its source is alive,
//! and it is itself alive and not paused.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::state::{bump, Shared, SyncItem, SyncOp};
use crate::store;

const POLL: Duration = Duration::from_millis(20);

/// Runs for the life of the cluster.
pub(crate) async fn worker(sh: Arc<Shared>, dst: usize) {
    loop {
        tokio::time::sleep(POLL).await;
        while let Some(item) = next_due(&sh, dst) {
            let sh2 = sh.clone();
            let it = item.clone();
            let res = tokio::task::spawn_blocking(move || apply(&sh2, dst, &it)).await;
            match res {
                Ok(Ok(n)) => {
                    if let Some(d) = sh.nodes.get(dst) {
                        bump(&d.counters.sync_in_bytes, n);
                    }
                    if let Some(s) = sh.nodes.get(item.src) {
                        bump(&s.counters.sync_out_bytes, n);
                    }
                    debug!(src = item.src, dst, op = ?item.op, "replicated");
                }
                Ok(Err(e)) => {
                    warn!(src = item.src, dst, op = ?item.op, error = %e, "replication failed")
                }
                Err(e) => warn!(error = %e, "replication task failed"),
            }
            if let Some(d) = sh.nodes.get(dst) {
                if let Ok(mut q) = d.queue.lock() {
                    q.pop_front();
                }
            }
        }
    }
}

/// The head of `dst`'s queue if it may be applied now.
fn next_due(sh: &Shared, dst: usize) -> Option<SyncItem> {
    let d = sh.nodes.get(dst)?;
    if !d.is_alive() || d.sync_paused.load(Ordering::SeqCst) {
        return None;
    }
    let q = d.queue.lock().ok()?;
    let head = q.front()?;
    if head.due > Instant::now() || !sh.nodes.get(head.src)?.is_alive() {
        return None;
    }
    Some(head.clone())
}

fn apply(sh: &Shared, dst: usize, item: &SyncItem) -> std::io::Result<u64> {
    let (Some(s), Some(d)) = (sh.nodes.get(item.src), sh.nodes.get(dst)) else {
        return Ok(0);
    };
    match &item.op {
        SyncOp::Mirror { store_idx, rel } => {
            let (Some(sp), Some(dp)) = (s.store_path(*store_idx), d.store_path(*store_idx)) else {
                return Ok(0);
            };
            store::mirror(&store::data_dir(sp), &store::data_dir(dp), rel)
        }
        SyncOp::TrunkRange {
            store_idx,
            rel,
            offset,
            len,
        } => {
            let (Some(sp), Some(dp)) = (s.store_path(*store_idx), d.store_path(*store_idx)) else {
                return Ok(0);
            };
            store::copy_range(
                &store::data_dir(sp).join(rel),
                &store::data_dir(dp).join(rel),
                *offset,
                *len,
                u64::from(sh.cfg.trunk_file_size),
            )
        }
    }
}
