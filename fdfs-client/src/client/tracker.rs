//! Tracker calls: where to upload, download, update; the cluster's groups, storages, parameters, ids.

use super::error::{Error, Result, Role};
use super::types::{split_file_id, ClusterView, GroupInfo, StorageServer};
use super::Client;
use crate::addr::ServerAddr;
use crate::conf::StorageIdEntry;
use crate::proto::{self, GroupStat, StorageStat};

fn store_server(r: proto::StoreServer) -> StorageServer {
    StorageServer {
        group: r.group,
        addr: ServerAddr::new(r.ip, r.port),
        store_path_index: Some(r.store_path_index),
    }
}

fn fetch_server(r: proto::FetchServer) -> StorageServer {
    StorageServer {
        group: r.group,
        addr: ServerAddr::new(r.ip, r.port),
        store_path_index: None,
    }
}

/// The storages of a query-all reply, each in the reply's `group`.
fn storages_in(
    group: &str,
    servers: Vec<ServerAddr>,
    store_path_index: Option<u8>,
) -> Vec<StorageServer> {
    servers
        .into_iter()
        .map(|s| StorageServer {
            group: group.to_owned(),
            addr: ServerAddr::new(s.host(), s.port()),
            store_path_index,
        })
        .collect()
}

fn check_group(group: &str) -> Result<()> {
    if group.is_empty() || group.len() > proto::wire::GROUP_NAME_LEN {
        return Err(Error::invalid(format!(
            "invalid group {group:?}: 1 to 16 bytes"
        )));
    }
    Ok(())
}

impl Client {
    /// A storage to upload to, in `group` or in a group the tracker picks.
    pub async fn query_store(&self, group: Option<&str>) -> Result<StorageServer> {
        let reply = match group {
            Some(g) => {
                check_group(g)?;
                let op = format!("query store in {g}");
                self.tracker_request(&op, &proto::QueryStoreWithGroupOne::new(g))
                    .await?
            }
            None => {
                self.tracker_request("query store", &proto::QueryStoreWithoutGroupOne)
                    .await?
            }
        };
        Ok(store_server(reply))
    }

    /// Every storage one can upload to, in `group` or in a group the tracker picks.
    pub async fn query_store_all(&self, group: Option<&str>) -> Result<Vec<StorageServer>> {
        let reply = match group {
            Some(g) => {
                check_group(g)?;
                let op = format!("query all stores in {g}");
                self.tracker_request(&op, &proto::QueryStoreWithGroupAll::new(g))
                    .await?
            }
            None => {
                self.tracker_request("query all stores", &proto::QueryStoreWithoutGroupAll)
                    .await?
            }
        };
        Ok(storages_in(
            &reply.group,
            reply.servers,
            Some(reply.store_path_index),
        ))
    }

    /// A storage to download `file_id` from.
    pub async fn query_fetch(&self, file_id: &str) -> Result<StorageServer> {
        self.query_file_one("query fetch", file_id, |g, f| {
            proto::QueryFetchOne::new(g, f)
        })
        .await
    }

    /// QUERY_FETCH_ONE or QUERY_UPDATE: both ask about one file and get one [`proto::FetchServer`].
    async fn query_file_one<R: proto::Request<Reply = proto::FetchServer>>(
        &self,
        what: &str,
        file_id: &str,
        request: fn(&str, &str) -> R,
    ) -> Result<StorageServer> {
        let p = split_file_id(file_id)?;
        let op = format!("{what} {file_id}");
        let reply = self
            .tracker_request(&op, &request(p.group, p.filename))
            .await?;
        Ok(fetch_server(reply))
    }

    /// Every storage `file_id` can be downloaded from.
    pub async fn query_fetch_all(&self, file_id: &str) -> Result<Vec<StorageServer>> {
        let p = split_file_id(file_id)?;
        let op = format!("query fetch all {file_id}");
        let reply = self
            .tracker_request(&op, &proto::QueryFetchAll::new(p.group, p.filename))
            .await?;
        Ok(storages_in(&reply.group, reply.servers, None))
    }

    /// The storage to update `file_id` on (delete, metadata, append...): its source server.
    pub async fn query_update(&self, file_id: &str) -> Result<StorageServer> {
        self.query_file_one("query update", file_id, |g, f| {
            proto::QueryUpdate::new(g, f)
        })
        .await
    }

    /// Stat of every group.
    pub async fn list_groups(&self) -> Result<Vec<GroupStat>> {
        Ok(self
            .tracker_request("list groups", &proto::ListAllGroups)
            .await?
            .groups)
    }

    /// Stat of one group.
    pub async fn list_group(&self, group: &str) -> Result<GroupStat> {
        check_group(group)?;
        let op = format!("list group {group}");
        self.tracker_request(&op, &proto::ListOneGroup::new(group))
            .await
    }

    /// Stat of the storages of `group` (or of one storage, by id or IP).
    pub async fn list_storages(
        &self,
        group: &str,
        storage_id: Option<&str>,
    ) -> Result<Vec<StorageStat>> {
        check_group(group)?;
        let op = format!("list storages of {group}");
        let mut req = proto::ListStorage::new(group);
        if let Some(id) = storage_id {
            if id.len() > proto::wire::STORAGE_ID_LEN {
                return Err(Error::invalid(format!(
                    "invalid storage id {id:?}: at most 16 bytes"
                )));
            }
            req.storage_id = Some(id.to_owned());
        }
        Ok(self.tracker_request(&op, &req).await?.storages)
    }

    /// Every group with its storages (what `fdfs monitor` shows).
    pub async fn cluster(&self) -> Result<Vec<GroupInfo>> {
        let groups = self.list_groups().await?;
        let mut out = Vec::with_capacity(groups.len());
        for stat in groups {
            let storages = self.list_storages(&stat.group_name, None).await?;
            out.push(GroupInfo { stat, storages });
        }
        Ok(out)
    }

    /// The cluster as one tracker sees it, like `fdfs_monitor`: the groups (only `group` if given)
    /// and their storages, every call answered by the same tracker (the first that answers).
    /// An unknown `group` is ENOENT.
    pub async fn cluster_view(&self, group: Option<&str>) -> Result<ClusterView> {
        if let Some(g) = group {
            check_group(g)?;
        }
        let (tracker, all) = self
            .tracker_request_at("list groups", &proto::ListAllGroups)
            .await?;
        let stats: Vec<GroupStat> = match group {
            Some(g) => all
                .groups
                .into_iter()
                .filter(|s| s.group_name == g)
                .collect(),
            None => all.groups,
        };
        if let (Some(g), true) = (group, stats.is_empty()) {
            return Err(Error::Status {
                role: Role::Tracker,
                addr: tracker.to_string(),
                op: format!("list group {g}"),
                status: super::ENOENT,
            });
        }
        let mut groups = Vec::with_capacity(stats.len());
        for stat in stats {
            let op = format!("list storages of {}", stat.group_name);
            let req = proto::ListStorage::new(stat.group_name.clone());
            let storages = self
                .request_on(Role::Tracker, &tracker, &op, &req, true)
                .await?
                .storages;
            groups.push(GroupInfo { stat, storages });
        }
        let tracker_index = self
            .trackers()
            .iter()
            .position(|t| *t == tracker)
            .unwrap_or(0);
        Ok(ClusterView {
            tracker,
            tracker_index,
            groups,
        })
    }

    /// Every storage of the cluster that passes `filter`, as `fdfs_storage_stat` lists them
    /// (SERVER_STORAGE_CLUSTER_STAT, FastDFS 6.16+): status, connections, version, heart beat.
    pub async fn storage_cluster_stat(
        &self,
        filter: proto::StorageClusterStatRequest,
    ) -> Result<proto::StorageClusterStat> {
        self.tracker_request("storage cluster stat", &filter).await
    }

    /// Disk space of every group that passes `filter`, as `fdfs_volumn_stat` lists them
    /// (SERVER_STORAGE_VOLUMN_STAT, FastDFS 6.16+).
    pub async fn volume_stat(
        &self,
        filter: proto::VolumeStatRequest,
    ) -> Result<proto::VolumeStats> {
        self.tracker_request("volume stat", &filter).await
    }

    /// The storage ids the tracker knows (its storage_ids.conf, when `use_storage_id` is on).
    /// Empty when the tracker does not use storage ids.
    pub async fn storage_ids(&self) -> Result<Vec<StorageIdEntry>> {
        let op = "fetch storage ids";
        let mut text = String::new();
        let mut start = 0u32;
        // Paged: ask from `start_index` until every id was received. 6.12+ trackers take the 5-byte
        // form; `allow_empty` gets an empty list instead of EOPNOTSUPP without storage ids.
        let tracker = loop {
            let req = proto::FetchStorageIds {
                start_index: start,
                allow_empty: Some(true),
            };
            let (tracker, reply) = self.tracker_request_at(op, &req).await?;
            text.push_str(&reply.text);
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            start = start.saturating_add(reply.count);
            if reply.count == 0 || start >= reply.total {
                break tracker;
            }
        };
        // The pages make one table: its rules (no duplicate id, ports on every line or none)
        // hold across pages, so it is parsed once, by the one storage-id parser.
        proto::StorageIds {
            total: start,
            count: start,
            text,
        }
        .entries()
        .map_err(|source| Error::Protocol {
            role: Role::Tracker,
            addr: tracker.to_string(),
            op: op.to_owned(),
            source,
        })
    }

    /// The cluster parameters the tracker hands to storages (`key=value` pairs).
    pub async fn storage_parameters(&self) -> Result<Vec<(String, String)>> {
        let reply = self
            .tracker_request("storage parameters", &proto::StorageParameterReq)
            .await?;
        Ok(reply
            .pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// The leader tracker's address, as a tracker reports it.
    pub async fn tracker_leader(&self) -> Result<String> {
        Ok(self
            .tracker_request("get leader", &proto::GetLeader)
            .await?
            .addr)
    }
}
