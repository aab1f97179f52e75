//! Tracker discovery: groups and their ACTIVE storages from the trackers (fdfs-client), refreshed
//! in the background. While every tracker is down the last known topology stays.
//!
//! FastDFS 6 trackers report a storage's IP and its storage (not HTTP) port, so the HTTP port is
//! taken from a static `[[group]]` entry with the same IP if there is one, else `[trackers] http_port`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use fdfs_client::client::{Client, ServerAddr, STORAGE_STATUS_ACTIVE};

use crate::topology::Topology;

pub type GroupList = Vec<(String, Vec<(SocketAddr, u32)>)>;

pub struct Discovery {
    pub trackers: Vec<SocketAddr>,
    pub refresh: Duration,
    pub timeout: Duration,
    pub http_port: u16,
    /// Groups of the static configuration: their storages are merged with the discovered ones.
    pub static_groups: GroupList,
}

impl Discovery {
    /// One refresh; on any error the current topology is kept.
    pub async fn refresh_once(&self, topology: &Topology) {
        match self.fetch().await {
            Ok(groups) => {
                let merged = merge(&self.static_groups, groups);
                let summary: Vec<String> = merged
                    .iter()
                    .map(|(g, s)| format!("{g}:{}", s.len()))
                    .collect();
                tracing::debug!("tracker discovery: {}", summary.join(" "));
                topology.set(merged);
            }
            Err(e) => tracing::warn!("tracker discovery failed, keeping the last topology: {e}"),
        }
    }

    fn http_port_for(&self, ip: IpAddr) -> u16 {
        self.static_groups
            .iter()
            .flat_map(|(_, s)| s.iter())
            .find(|(a, _)| a.ip() == ip)
            .map_or(self.http_port, |(a, _)| a.port())
    }

    async fn fetch(&self) -> Result<GroupList, String> {
        let client = Client::builder()
            .trackers(self.trackers.iter().map(|a| ServerAddr::from(*a)))
            .connect_timeout(self.timeout)
            .network_timeout(self.timeout)
            .use_connection_pool(false)
            .build()
            .map_err(|e| e.to_string())?;
        let cluster = client.cluster().await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for g in cluster {
            let mut storages = Vec::new();
            for s in g.storages {
                if s.status != STORAGE_STATUS_ACTIVE {
                    continue;
                }
                let Ok(ip) = s.ip_addr.trim().parse::<IpAddr>() else {
                    tracing::warn!("tracker reported a storage with a bad IP {:?}", s.ip_addr);
                    continue;
                };
                storages.push((SocketAddr::new(ip, self.http_port_for(ip)), 1));
            }
            out.push((g.stat.group_name.clone(), storages));
        }
        Ok(out)
    }
}

/// Static groups first; discovered storages are added to them, discovered groups appended.
pub fn merge(static_groups: &GroupList, discovered: GroupList) -> GroupList {
    let mut merged = static_groups.clone();
    for (name, storages) in discovered {
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
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_static_and_adds() {
        let a = |p: u16| SocketAddr::from(([10, 0, 0, 1], p));
        let b = |p: u16| SocketAddr::from(([10, 0, 0, 2], p));
        let st = vec![("group1".to_string(), vec![(a(80), 2)])];
        let m = merge(
            &st,
            vec![
                ("group1".into(), vec![(a(80), 1), (b(80), 1)]),
                ("group2".into(), vec![(b(81), 1)]),
            ],
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1, vec![(a(80), 2), (b(80), 1)]);
        assert_eq!(m[1].1, vec![(b(81), 1)]);
    }
}
