//! The tracker: answers from the shared cluster state (every tracker sees the same state).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fdfs_client::addr::ServerAddr;
use fdfs_client::file_id::{FileInfo, LogicName};
use fdfs_client::proto::{
    cmd, status, FetchServer, FetchServers, FetchStorageIds, GroupStat, GroupStats, Header,
    LeaderReply, ListOneGroup, ListStorage, QueryFetchAll, QueryFetchOne, QueryStoreWithGroupAll,
    QueryStoreWithGroupOne, QueryUpdate, RawField, Request, StorageClusterEntry,
    StorageClusterStat, StorageClusterStatRequest, StorageIds, StorageParameters, StorageStat,
    StorageStatBuff, StorageStats, StoreServer, StoreServers, TrackerClusterStat,
    TrackerClusterStatRequest, TrackerStat, VolumeStat, VolumeStatRequest, VolumeStats, HEADER_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use crate::state::{now_secs, Group, Node, Shared};
use crate::store;

const MAX_BODY: u64 = 64 * 1024;
/// Version string FastDFS 6.16 reports.
pub(crate) const VERSION: &str = "6.16.1";
const TOTAL_MB: u64 = 262_144;
const FREE_MB: u64 = 131_072;

/// Serves one connection (the accept loop is `state::accept_loop`, started by `Cluster`).
pub(crate) async fn serve(sh: Arc<Shared>, mut s: TcpStream) -> io::Result<()> {
    let _ = s.set_nodelay(true);
    let mut hb = [0u8; HEADER_LEN];
    loop {
        match s.read_exact(&mut hb).await {
            Ok(_) => crate::state::quick_ack(&s),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let h = Header::decode(&hb);
        if h.cmd == cmd::QUIT {
            return Ok(());
        }
        if h.body_len > MAX_BODY {
            reply(&mut s, status::EINVAL, &[]).await?;
            return Ok(());
        }
        let mut body = vec![0u8; usize::try_from(h.body_len).unwrap_or(0)];
        s.read_exact(&mut body).await?;
        debug!(cmd = h.cmd, len = h.body_len, "tracker request");
        let (st, out) = match handle(&sh, h, &body) {
            Ok(b) => (status::OK, b),
            Err(st) => (st, Vec::new()),
        };
        reply(&mut s, st, &out).await?;
    }
}

async fn reply(s: &mut TcpStream, st: u8, body: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&Header::reply(st, body.len() as u64).encode());
    out.extend_from_slice(body);
    s.write_all(&out).await
}

fn empty(body: &[u8]) -> Result<(), u8> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(status::EINVAL)
    }
}

/// One request to its reply body, or an errno status.
pub(crate) fn handle(sh: &Shared, h: Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    let inval = |_| status::EINVAL;
    match h.cmd {
        cmd::ACTIVE_TEST => empty(body).map(|_| Vec::new()),
        cmd::QUERY_STORE_WITHOUT_GROUP_ONE => {
            empty(body)?;
            let g = pick_store_group(sh)?;
            store_one(sh, g)
        }
        cmd::QUERY_STORE_WITH_GROUP_ONE => {
            let req = QueryStoreWithGroupOne::decode_request(&h, body).map_err(inval)?;
            let (g, _) = sh.group_by_name(&req.group).ok_or(status::ENOENT)?;
            store_one(sh, g)
        }
        cmd::QUERY_STORE_WITHOUT_GROUP_ALL => {
            empty(body)?;
            let g = pick_store_group(sh)?;
            store_all(sh, g)
        }
        cmd::QUERY_STORE_WITH_GROUP_ALL => {
            let req = QueryStoreWithGroupAll::decode_request(&h, body).map_err(inval)?;
            let (g, _) = sh.group_by_name(&req.group).ok_or(status::ENOENT)?;
            store_all(sh, g)
        }
        cmd::QUERY_FETCH_ONE => {
            let req = QueryFetchOne::decode_request(&h, body).map_err(inval)?;
            fetch(sh, &req.group, &req.filename, Fetch::One)
        }
        cmd::QUERY_UPDATE => {
            let req = QueryUpdate::decode_request(&h, body).map_err(inval)?;
            fetch(sh, &req.group, &req.filename, Fetch::Update)
        }
        cmd::QUERY_FETCH_ALL => {
            let req = QueryFetchAll::decode_request(&h, body).map_err(inval)?;
            fetch(sh, &req.group, &req.filename, Fetch::All)
        }
        cmd::SERVER_LIST_ONE_GROUP => {
            let req = ListOneGroup::decode_request(&h, body).map_err(inval)?;
            let (_, g) = sh.group_by_name(&req.group).ok_or(status::ENOENT)?;
            Ok(group_stat(sh, g).encode())
        }
        cmd::SERVER_LIST_ALL_GROUPS => {
            empty(body)?;
            Ok(GroupStats {
                groups: sh.groups.iter().map(|g| group_stat(sh, g)).collect(),
            }
            .encode())
        }
        cmd::SERVER_LIST_STORAGE => {
            let req = ListStorage::decode_request(&h, body).map_err(inval)?;
            let (_, g) = sh.group_by_name(&req.group).ok_or(status::ENOENT)?;
            let storages: Vec<StorageStat> = g
                .members
                .iter()
                .filter_map(|&i| sh.nodes.get(i))
                .filter(|n| match &req.storage_id {
                    Some(id) if !id.is_empty() => {
                        stat_id(sh, n) == *id || n.info.ip.to_string() == *id
                    }
                    _ => true,
                })
                .map(|n| storage_stat(sh, g, n))
                .collect();
            if storages.is_empty() {
                return Err(status::ENOENT);
            }
            Ok(StorageStats {
                addr_width: Default::default(),
                storages,
            }
            .encode())
        }
        cmd::STORAGE_PARAMETER_REQ => {
            empty(body)?;
            Ok(parameters(sh).encode())
        }
        cmd::STORAGE_FETCH_STORAGE_IDS => storage_ids(sh, &h, body),
        cmd::SERVER_GET_LEADER => {
            empty(body)?;
            let leader = leader(sh).ok_or(status::ENOENT)?;
            Ok(LeaderReply {
                addr: leader.to_string(),
            }
            .encode())
        }
        cmd::SERVER_TRACKER_CLUSTER_STAT => {
            TrackerClusterStatRequest::decode_request(&h, body).map_err(inval)?;
            let lead = leader(sh);
            Ok(TrackerClusterStat {
                trackers: sh
                    .trackers
                    .iter()
                    .map(|t| {
                        let alive = t.alive.load(Ordering::SeqCst);
                        TrackerStat {
                            host: RawField::from_text(&t.addr.to_string()),
                            is_leader: u8::from(lead == Some(t.addr)),
                            is_active: u8::from(alive),
                            alloc_count: 256,
                            current_count: 1,
                            max_count: 4,
                            version: VERSION.to_string(),
                            up_time: sh.start_time,
                            last_heartbeat_time: if alive { now_secs() } else { 0 },
                        }
                    })
                    .collect(),
            }
            .encode())
        }
        cmd::SERVER_STORAGE_CLUSTER_STAT => {
            let req = StorageClusterStatRequest::decode_request(&h, body).map_err(inval)?;
            Ok(storage_cluster_stat(sh, &req).encode())
        }
        cmd::SERVER_STORAGE_VOLUMN_STAT => {
            let req = VolumeStatRequest::decode_request(&h, body).map_err(inval)?;
            Ok(volume_stat(sh, &req).encode())
        }
        _ => Err(status::EINVAL),
    }
}

/// Groups in name order, like the tracker's `sorted_groups` (`group10` before `group2`).
fn sorted_groups(sh: &Shared) -> Vec<&Group> {
    let mut groups: Vec<&Group> = sh.groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    groups
}

/// SERVER_STORAGE_CLUSTER_STAT as 6.16 answers it: every storage of every group (by id within a
/// group) that passes the filter; an `op_type` other than `=` or `!` matches nothing.
fn storage_cluster_stat(sh: &Shared, req: &StorageClusterStatRequest) -> StorageClusterStat {
    let mut storages = Vec::new();
    for g in sorted_groups(sh) {
        let mut nodes: Vec<&Node> = g.members.iter().filter_map(|&i| sh.nodes.get(i)).collect();
        nodes.sort_by_key(|n| stat_id(sh, n));
        for n in nodes {
            let st = storage_stat(sh, g, n);
            if !storage_filter_passes(sh, req, &st) {
                continue;
            }
            storages.push(StorageClusterEntry {
                id: st.id,
                host: RawField::from_text(&format!("{}:{}", n.info.ip, n.info.port)),
                is_trunk_server: st.if_trunk_server,
                status: st.status,
                alloc_count: st.stat.alloc_count,
                current_count: st.stat.current_count,
                max_count: st.stat.max_count,
                version: st.version,
                up_time: st.up_time,
                last_heartbeat_time: st.stat.last_heart_beat_time,
            });
        }
    }
    StorageClusterStat {
        use_storage_id: u8::from(sh.cfg.use_storage_id),
        use_trunk_file: u8::from(sh.cfg.trunk),
        storages,
    }
}

fn storage_filter_passes(sh: &Shared, req: &StorageClusterStatRequest, st: &StorageStat) -> bool {
    // The trunk filter only applies when the cluster uses trunk files (6.16 ignores it otherwise).
    if sh.cfg.trunk
        && req.filter_by & StorageClusterStatRequest::BY_IS_TRUNK_SERVER != 0
        && st.if_trunk_server != req.is_trunk_server
    {
        return false;
    }
    if req.filter_by & StorageClusterStatRequest::BY_STATUS == 0 {
        return true;
    }
    match req.op_type {
        b'=' => st.status == req.status,
        b'!' => st.status != req.status,
        _ => false,
    }
}

/// The tracker's `reserved_storage_space` (the parameters say 20%) applied to `total_mb`, as
/// `calc_reserved_space` does (truncated).
fn reserved_mb(total_mb: u64) -> u64 {
    total_mb / 5
}

/// `fdfs_check_reserved_space` with a ratio: free space above the reserved ratio.
fn disk_available(total_mb: u64, free_mb: u64) -> bool {
    total_mb > 0 && free_mb.saturating_mul(5) > total_mb
}

/// SERVER_STORAGE_VOLUMN_STAT as 6.16 answers it: one entry per group (name order) that passes the
/// filter; avail and trunk free are 0 when that space is not available.
fn volume_stat(sh: &Shared, req: &VolumeStatRequest) -> VolumeStats {
    let mut groups = Vec::new();
    for g in sorted_groups(sh) {
        let stat = group_stat(sh, g);
        let disk = u8::from(disk_available(stat.total_mb, stat.free_mb));
        let trunk = u8::from(
            sh.cfg.trunk && disk_available(stat.total_mb, stat.free_mb + stat.trunk_free_mb),
        );
        let by = |bit: u8, have: u8, want: u8| req.filter_by & bit != 0 && have != want;
        if by(
            VolumeStatRequest::BY_IS_DISK_AVAILABLE,
            disk,
            req.is_disk_available,
        ) || (sh.cfg.trunk
            && by(
                VolumeStatRequest::BY_IS_TRUNK_AVAILABLE,
                trunk,
                req.is_trunk_available,
            ))
            || by(
                VolumeStatRequest::BY_IS_SPACE_AVAILABLE,
                disk | trunk,
                req.is_space_available,
            )
        {
            continue;
        }
        groups.push(VolumeStat {
            group_name: stat.group_name,
            total_mb: stat.total_mb,
            free_mb: stat.free_mb,
            reserved_mb: stat.reserved_mb,
            avail_mb: if disk == 1 {
                stat.free_mb.saturating_sub(stat.reserved_mb)
            } else {
                0
            },
            trunk_free_mb: if trunk == 1 { stat.trunk_free_mb } else { 0 },
            is_disk_available: disk,
            is_trunk_available: trunk,
        });
    }
    VolumeStats {
        use_trunk_file: u8::from(sh.cfg.trunk),
        groups,
    }
}

/// The leader: the first tracker that is up.
fn leader(sh: &Shared) -> Option<std::net::SocketAddrV4> {
    sh.trackers
        .iter()
        .find(|t| t.alive.load(Ordering::SeqCst))
        .map(|t| t.addr)
}

fn active_members(sh: &Shared, g: &Group) -> Vec<usize> {
    g.members
        .iter()
        .copied()
        .filter(|&i| sh.nodes.get(i).is_some_and(Node::is_alive))
        .collect()
}

fn pick_store_group(sh: &Shared) -> Result<usize, u8> {
    if let Some(name) = &sh.cfg.store_group {
        return sh.group_by_name(name).map(|(i, _)| i).ok_or(status::ENOENT);
    }
    let n = sh.groups.len();
    let start = sh.group_rr.fetch_add(1, Ordering::SeqCst);
    (0..n)
        .map(|k| (start + k) % n.max(1))
        .find(|&g| {
            sh.groups
                .get(g)
                .is_some_and(|grp| !active_members(sh, grp).is_empty())
        })
        .ok_or(status::ENOENT)
}

fn node_addr(n: &Node) -> ServerAddr {
    ServerAddr::new(n.info.ip.to_string(), n.info.port)
}

fn store_path_index(n: &Node) -> u8 {
    let count = n.info.store_paths.len().max(1);
    let k = n.next_path.fetch_add(1, Ordering::SeqCst) as usize % count;
    u8::try_from(k).unwrap_or(0)
}

fn store_one(sh: &Shared, g: usize) -> Result<Vec<u8>, u8> {
    let grp = sh.groups.get(g).ok_or(status::ENOENT)?;
    let active = active_members(sh, grp);
    if active.is_empty() {
        return Err(status::ENOENT);
    }
    let k = grp.store_rr.fetch_add(1, Ordering::SeqCst) % active.len();
    let n = active
        .get(k)
        .and_then(|&i| sh.nodes.get(i))
        .ok_or(status::ENOENT)?;
    let a = node_addr(n);
    Ok(StoreServer {
        group: grp.name.clone(),
        ip: a.host().to_owned(),
        port: a.port(),
        store_path_index: store_path_index(n),
        addr_width: Default::default(),
    }
    .encode())
}

fn store_all(sh: &Shared, g: usize) -> Result<Vec<u8>, u8> {
    let grp = sh.groups.get(g).ok_or(status::ENOENT)?;
    let active = active_members(sh, grp);
    let first = active
        .first()
        .and_then(|&i| sh.nodes.get(i))
        .ok_or(status::ENOENT)?;
    Ok(StoreServers {
        group: grp.name.clone(),
        servers: active
            .iter()
            .filter_map(|&i| sh.nodes.get(i))
            .map(node_addr)
            .collect(),
        store_path_index: store_path_index(first),
        addr_width: Default::default(),
    }
    .encode())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    One,
    All,
    Update,
}

/// True if storage `n` holds the file now.
pub(crate) fn has_file(n: &Node, logic: &LogicName, info: Option<&FileInfo>) -> bool {
    n.store_path(logic.store_path_index())
        .is_some_and(|sp| store::locate(sp, logic, info).is_some())
}

fn fetch(sh: &Shared, group: &str, filename: &str, mode: Fetch) -> Result<Vec<u8>, u8> {
    let (gi, grp) = sh.group_by_name(group).ok_or(status::ENOENT)?;
    let logic = LogicName::parse(filename).map_err(|_| status::EINVAL)?;
    let info = FileInfo::decode(&logic).ok();
    let active = active_members(sh, grp);
    if active.is_empty() {
        return Err(status::ENOENT);
    }
    let source = info
        .as_ref()
        .and_then(|i| sh.source_node(gi, i.source))
        .filter(|s| active.contains(s));
    let holders: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&i| {
            sh.nodes
                .get(i)
                .is_some_and(|n| has_file(n, &logic, info.as_ref()))
        })
        .collect();
    // Like FastDFS: storages known to have the file; else the source; else any active one.
    let candidates: Vec<usize> = if !holders.is_empty() {
        holders
    } else if let Some(s) = source {
        vec![s]
    } else {
        active
    };
    let pick = match mode {
        // FastDFS sends updates (delete, metadata, append) to the source storage while it is active,
        // whether or not it still holds the file, so a second delete answers ENOENT.
        Fetch::Update => source.or_else(|| candidates.first().copied()),
        Fetch::One | Fetch::All => {
            let k = grp.fetch_rr.fetch_add(1, Ordering::SeqCst) % candidates.len().max(1);
            candidates.get(k).copied()
        }
    };
    let first = pick.and_then(|i| sh.nodes.get(i)).ok_or(status::ENOENT)?;
    let a = node_addr(first);
    if mode == Fetch::All {
        let mut servers = vec![a];
        servers.extend(
            candidates
                .iter()
                .filter(|&&i| Some(i) != pick)
                .filter_map(|&i| sh.nodes.get(i))
                .map(node_addr),
        );
        return Ok(FetchServers {
            group: grp.name.clone(),
            servers,
            addr_width: Default::default(),
        }
        .encode());
    }
    Ok(FetchServer {
        group: grp.name.clone(),
        ip: a.host().to_owned(),
        port: a.port(),
        addr_width: Default::default(),
    }
    .encode())
}

/// The id the tracker shows for a storage (its storage id, or its IP in IP mode).
pub(crate) fn stat_id(sh: &Shared, n: &Node) -> String {
    if sh.cfg.use_storage_id {
        n.info.id.clone().unwrap_or_default()
    } else {
        n.info.ip.to_string()
    }
}

pub(crate) fn group_stat(sh: &Shared, g: &Group) -> GroupStat {
    let active = active_members(sh, g);
    let nodes: Vec<&Node> = g.members.iter().filter_map(|&i| sh.nodes.get(i)).collect();
    let port = match nodes.first() {
        Some(f) if nodes.iter().all(|n| n.info.port == f.info.port) => u64::from(f.info.port),
        Some(_) => u64::MAX,
        None => 0,
    };
    let trunk_id = g.trunk.lock().map(|t| t.trunk_id).unwrap_or(0);
    GroupStat {
        group_name: g.name.clone(),
        total_mb: TOTAL_MB,
        free_mb: FREE_MB,
        reserved_mb: reserved_mb(TOTAL_MB),
        trunk_free_mb: 0,
        storage_count: nodes.len() as u64,
        storage_port: port,
        readable_server_count: active.len() as u64,
        writable_server_count: active.len() as u64,
        current_write_server: (g.store_rr.load(Ordering::SeqCst) % nodes.len().max(1)) as u64,
        store_path_count: nodes
            .first()
            .map(|n| n.info.store_paths.len() as u64)
            .unwrap_or(0),
        subdir_count_per_path: u64::from(sh.cfg.subdir_count_per_path),
        current_trunk_file_id: if sh.cfg.trunk && trunk_id > 0 {
            i64::from(trunk_id)
        } else {
            -1
        },
    }
}

pub(crate) fn storage_stat(sh: &Shared, g: &Group, n: &Node) -> StorageStat {
    let c = &n.counters;
    let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let stat = StorageStatBuff {
        alloc_count: 64,
        current_count: 0,
        max_count: 1,
        total_upload_count: l(&c.upload),
        success_upload_count: l(&c.upload),
        total_append_count: l(&c.append),
        success_append_count: l(&c.append),
        total_modify_count: l(&c.modify),
        success_modify_count: l(&c.modify),
        total_truncate_count: l(&c.truncate),
        success_truncate_count: l(&c.truncate),
        total_set_meta_count: l(&c.set_meta),
        success_set_meta_count: l(&c.set_meta),
        total_delete_count: l(&c.delete),
        success_delete_count: l(&c.delete),
        total_download_count: l(&c.download),
        success_download_count: l(&c.download),
        total_get_meta_count: l(&c.get_meta),
        success_get_meta_count: l(&c.get_meta),
        total_upload_bytes: l(&c.upload_bytes),
        success_upload_bytes: l(&c.upload_bytes),
        total_download_bytes: l(&c.download_bytes),
        success_download_bytes: l(&c.download_bytes),
        total_sync_in_bytes: l(&c.sync_in_bytes),
        success_sync_in_bytes: l(&c.sync_in_bytes),
        total_sync_out_bytes: l(&c.sync_out_bytes),
        success_sync_out_bytes: l(&c.sync_out_bytes),
        last_heart_beat_time: if n.is_alive() { now_secs() } else { 0 },
        ..Default::default()
    };
    StorageStat {
        status: n.status(),
        rw_mode: 6,
        id: stat_id(sh, n),
        ip_addr: n.info.ip.to_string(),
        src_id: String::new(),
        version: VERSION.to_string(),
        join_time: n.join_time,
        up_time: n.up_time.load(Ordering::SeqCst),
        total_mb: TOTAL_MB,
        free_mb: FREE_MB,
        reserved_mb: reserved_mb(TOTAL_MB),
        upload_priority: 10,
        store_path_count: n.info.store_paths.len() as u64,
        subdir_count_per_path: u64::from(sh.cfg.subdir_count_per_path),
        current_write_path: 0,
        storage_port: u64::from(n.info.port),
        stat,
        if_trunk_server: u8::from(sh.cfg.trunk && g.members.first() == Some(&n.info.index)),
        addr_width: Default::default(),
    }
}

/// The STORAGE_PARAMETER_REQ text, in the order FastDFS 6.16 writes it.
pub(crate) fn parameters(sh: &Shared) -> StorageParameters {
    let c = &sh.cfg;
    let b = |v: bool| if v { "1" } else { "0" };
    let s = |v: u32| v.to_string();
    let vals: Vec<(&str, String)> = vec![
        ("use_storage_id", b(c.use_storage_id).into()),
        (
            "id_type_in_filename",
            if c.use_storage_id { "id" } else { "ip" }.into(),
        ),
        ("trust_storage_server_id", "0".into()),
        ("response_ip_addr_size", "16".into()),
        ("storage_ip_changed_auto_adjust", "1".into()),
        (
            "storage_sync_file_max_delay",
            s(c.storage_sync_file_max_delay),
        ),
        ("store_path", "0".into()),
        ("reserved_storage_space", "20.00%".into()),
        ("use_trunk_file", b(c.trunk).into()),
        ("slot_min_size", s(c.slot_min_size)),
        ("slot_max_size", s(c.slot_max_size)),
        (
            "trunk_alloc_alignment_size",
            s(c.trunk_alloc_alignment_size),
        ),
        ("trunk_file_size", s(c.trunk_file_size)),
        ("trunk_create_file_advance", "0".into()),
        ("trunk_create_file_time_base", "02:00".into()),
        ("trunk_create_file_interval", "86400".into()),
        ("trunk_create_file_space_threshold", "21474836480".into()),
        ("trunk_init_check_occupying", "0".into()),
        ("trunk_init_reload_from_binlog", "0".into()),
        ("trunk_free_space_merge", "0".into()),
        ("delete_unused_trunk_files", "0".into()),
        ("trunk_compress_binlog_min_interval", "0".into()),
        ("trunk_compress_binlog_interval", "0".into()),
        ("trunk_compress_binlog_time_base", "03:00".into()),
        ("trunk_binlog_max_backups", "0".into()),
        ("store_slave_file_use_link", "0".into()),
    ];
    StorageParameters::from_pairs(vals.iter().map(|(k, v)| (*k, v.as_str())))
}

/// One `storage_ids.conf` / FETCH_STORAGE_IDS line per storage (storage-id mode).
pub(crate) fn id_lines(sh: &Shared) -> Vec<String> {
    sh.nodes
        .iter()
        .map(|n| {
            format!(
                "{} {} {}:{}",
                n.info.id.clone().unwrap_or_default(),
                n.info.group,
                n.info.ip,
                n.info.port
            )
        })
        .collect()
}

fn storage_ids(sh: &Shared, h: &Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    let req = FetchStorageIds::decode_request(h, body).map_err(|_| status::EINVAL)?;
    // 6.16 wants exactly 5 bytes (start index + allow_empty).
    let allow_empty = req.allow_empty.ok_or(status::EINVAL)?;
    if !sh.cfg.use_storage_id {
        if allow_empty {
            return Ok(vec![0u8; 8]);
        }
        return Err(status::EOPNOTSUPP);
    }
    let lines = id_lines(sh);
    let start = usize::try_from(req.start_index).unwrap_or(usize::MAX);
    if start >= lines.len() {
        return Err(status::EINVAL);
    }
    let page: Vec<&String> = lines.iter().skip(start).collect();
    let mut text = String::new();
    for l in &page {
        text.push_str(l);
        text.push('\n');
    }
    Ok(StorageIds {
        total: lines.len() as u32,
        count: page.len() as u32,
        text,
    }
    .encode())
}
