//! What `fdfs monitor`, `fdfs storage-stat` and `fdfs volume-stat` print: the text of FastDFS 6.16's
//! `fdfs_monitor`, `fdfs_storage_stat` and `fdfs_volumn_stat` line for line (so scripts written for
//! those tools read ours), and the same facts as JSON. Pure functions of the decoded replies.

use fdfs_client::client::{storage_status_name, ClusterView, GroupInfo, ServerAddr};
use fdfs_client::proto::{StorageClusterStat, StorageStat, VolumeStat, VolumeStats};
use fdfs_client::utc::UtcTime;
use serde_json::{json, Map, Value};

/// `fdfs_monitor`'s whole output for `view`, asked of a client with `tracker_count` trackers.
/// `one_group`: a group was named (no `group count` / `Group N:` lines, as `fdfs_monitor <conf>
/// list group1`).
pub fn monitor_text(view: &ClusterView, tracker_count: usize, one_group: bool) -> String {
    let mut out = format!(
        "tracker server count={tracker_count}, current server index={}\n\ntracker server is {}\n\n",
        view.tracker_index, view.tracker
    );
    if !one_group {
        out.push_str(&format!("group count: {}\n", view.groups.len()));
    }
    for (gi, g) in view.groups.iter().enumerate() {
        if !one_group {
            out.push_str(&format!("\nGroup {}:\n", gi + 1));
        }
        out.push_str(&group_text(g));
        for si in 0..g.storages.len() {
            out.push_str(&storage_text(g, si));
        }
    }
    out
}

/// The group block of `list_storages` in fdfs_monitor.c, up to the blank line before the storages.
fn group_text(g: &GroupInfo) -> String {
    let s = &g.stat;
    let trunk = s.current_trunk_file_id >= 0;
    let mut out = format!("group name = {}\n", s.group_name);
    out.push_str(&space_lines("", s.total_mb, s.free_mb, s.reserved_mb));
    if trunk {
        out.push_str(&format!("trunk free space = {}\n", fmt_mb(s.trunk_free_mb)));
    }
    out.push_str(&format!(
        "storage server count = {}\nreadable server count = {}\nwritable server count = {}\n\
         storage server port = {}\nstore path count = {}\nsubdir count per path = {}\n\
         current write server index = {}\n",
        s.storage_count,
        s.readable_server_count,
        s.writable_server_count,
        s.storage_port,
        s.store_path_count,
        s.subdir_count_per_path,
        s.current_write_server
    ));
    match g.storages.iter().find(|st| st.if_trunk_server != 0) {
        Some(ts) if trunk => out.push_str(&format!(
            "current trunk server = {} ({})\ncurrent trunk file id = {}\n\n",
            ts.id, ts.ip_addr, s.current_trunk_file_id
        )),
        _ => out.push('\n'),
    }
    out
}

/// `read write mode` as fdfs_monitor names it.
fn rw_caption(rw_mode: u8) -> &'static str {
    match rw_mode {
        0 => "none (disabled)",
        4 => "readonly",
        2 => "writeonly",
        6 => "both (normal)",
        _ => "unknown",
    }
}

/// The text label fdfs_monitor prints for a counter. 6.16 misspells one (`stotal_download_bytes`);
/// it is kept, since scripts written for fdfs_monitor match on it.
fn counter_label(name: &str) -> &str {
    if name == "total_download_bytes" {
        "stotal_download_bytes"
    } else {
        name
    }
}

/// The four timestamps of the stat block, printed after the counters in this order.
const TIMESTAMPS: [&str; 4] = [
    "last_heart_beat_time",
    "last_source_update",
    "last_sync_update",
    "last_synced_timestamp",
];

/// One `\tStorage N:` block of fdfs_monitor.
fn storage_text(g: &GroupInfo, si: usize) -> String {
    let Some(st) = g.storages.get(si) else {
        return String::new();
    };
    let up_time = if st.up_time == 0 {
        String::new()
    } else {
        fmt_time_u(st.up_time)
    };
    let mut out = format!(
        "\tStorage {}:\n\t\tid = {}\n\t\thost = {}  {}\n\t\tread write mode = {}\n\
         \t\tversion = {}\n\t\tjoin time = {}\n\t\tup time = {}\n",
        si + 1,
        st.id,
        host(st),
        storage_status_name(st.status),
        rw_caption(st.rw_mode),
        st.version,
        fmt_time_u(st.join_time),
        up_time
    );
    out.push_str(&space_lines(
        "\t\t",
        st.total_mb,
        st.free_mb,
        st.reserved_mb,
    ));
    out.push_str(&format!(
        "\t\tupload priority = {}\n\t\tstore_path_count = {}\n\t\tsubdir_count_per_path = {}\n\
         \t\tcurrent_write_path = {}\n\t\tsource storage id = {}\n\t\tif_trunk_server = {}\n\
         \t\tconnection.alloc_count = {}\n\t\tconnection.current_count = {}\n\
         \t\tconnection.max_count = {}\n",
        st.upload_priority,
        st.store_path_count,
        st.subdir_count_per_path,
        st.current_write_path,
        st.src_id,
        st.if_trunk_server,
        st.stat.alloc_count,
        st.stat.current_count,
        st.stat.max_count
    ));
    let fields = st.stat.fields();
    for (name, v) in fields.iter().filter(|(n, _)| !TIMESTAMPS.contains(n)) {
        out.push_str(&format!("\t\t{} = {v}\n", counter_label(name)));
    }
    let time_of = |name: &str| {
        let v = fields
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v);
        fmt_time_u(v)
    };
    for name in TIMESTAMPS.iter().take(3) {
        out.push_str(&format!("\t\t{name} = {}\n", time_of(name)));
    }
    out.push_str(&format!(
        "\t\tlast_synced_timestamp = {} {}\n",
        time_of("last_synced_timestamp"),
        delay_text(g, si)
    ));
    out
}

fn host(st: &StorageStat) -> ServerAddr {
    ServerAddr::new(
        st.ip_addr.clone(),
        u16::try_from(st.storage_port).unwrap_or(0),
    )
}

/// The newest `last_source_update` of the other storages of the group (0 when none).
fn max_other_source_update(g: &GroupInfo, si: usize) -> u64 {
    g.storages
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != si)
        .map(|(_, s)| s.stat.last_source_update)
        .max()
        .unwrap_or(0)
}

/// fdfs_monitor's sync note: empty when no other storage ever was a source, `(never synced)`,
/// or `(<human duration> delay)`.
fn delay_text(g: &GroupInfo, si: usize) -> String {
    let newest = max_other_source_update(g, si);
    let synced = g
        .storages
        .get(si)
        .map_or(0, |s| s.stat.last_synced_timestamp);
    if newest == 0 {
        String::new()
    } else if synced == 0 {
        "(never synced)".to_owned()
    } else {
        let d = i64::try_from(newest).unwrap_or(i64::MAX) - i64::try_from(synced).unwrap_or(0);
        format!("({} delay)", human_seconds(d))
    }
}

/// How far storage `si` lags in sync, in seconds; `None` when that is not known (see
/// [`delay_text`]).
pub fn sync_delay(g: &GroupInfo, si: usize) -> Option<u64> {
    let newest = max_other_source_update(g, si);
    let synced = g.storages.get(si)?.stat.last_synced_timestamp;
    (newest != 0 && synced != 0).then(|| newest.saturating_sub(synced))
}

/// libfastcommon's `seconds_to_human_str`: `1 day 2 hours 5 seconds` (zero parts after the first
/// left out), `0 second` for nothing or a negative span.
fn human_seconds(secs: i64) -> String {
    let s = secs.max(0);
    let parts = [
        (s / 86_400, "day"),
        (s % 86_400 / 3600, "hour"),
        (s % 3600 / 60, "minute"),
        (s % 60, "second"),
    ];
    let Some(first) = parts.iter().position(|(n, _)| *n > 0) else {
        return "0 second".to_owned();
    };
    let words: Vec<String> = parts
        .iter()
        .skip(first)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| {
            if *n == 1 {
                format!("1 {unit}")
            } else {
                format!("{n} {unit}s")
            }
        })
        .collect();
    words.join(" ")
}

fn space_lines(indent: &str, total_mb: u64, free_mb: u64, reserved_mb: u64) -> String {
    let avail = free_mb.saturating_sub(reserved_mb);
    format!(
        "{indent}disk total space     = {}\n{indent}disk free space      = {}\n\
         {indent}disk reserved space  = {}\n{indent}disk available space = {}\n",
        fmt_mb(total_mb),
        fmt_mb(free_mb),
        fmt_mb(reserved_mb),
        fmt_mb(avail)
    )
}

/// `fdfs monitor --json`: every figure of the text, with the counters under their own names.
pub fn monitor_json(view: &ClusterView, trackers: &[ServerAddr]) -> Value {
    let trackers: Vec<String> = trackers.iter().map(ToString::to_string).collect();
    let groups: Vec<Value> = view.groups.iter().map(group_json).collect();
    json!({
        "tracker_server_count": trackers.len(),
        "current_server_index": view.tracker_index,
        "tracker": view.tracker.to_string(),
        "trackers": trackers,
        "group_count": groups.len(),
        "groups": groups,
    })
}

fn group_json(g: &GroupInfo) -> Value {
    let s = &g.stat;
    let storages: Vec<Value> = (0..g.storages.len())
        .filter_map(|si| storage_json(g, si))
        .collect();
    let trunk_server = g
        .storages
        .iter()
        .find(|st| st.if_trunk_server != 0 && s.current_trunk_file_id >= 0)
        .map(|st| st.id.clone());
    json!({
        "group": s.group_name,
        "total_mb": s.total_mb,
        "free_mb": s.free_mb,
        "reserved_mb": s.reserved_mb,
        "available_mb": s.free_mb.saturating_sub(s.reserved_mb),
        "trunk_free_mb": s.trunk_free_mb,
        "storage_count": s.storage_count,
        "storage_port": s.storage_port,
        "readable_server_count": s.readable_server_count,
        "writable_server_count": s.writable_server_count,
        "current_write_server": s.current_write_server,
        "store_path_count": s.store_path_count,
        "subdir_count_per_path": s.subdir_count_per_path,
        "current_trunk_file_id": s.current_trunk_file_id,
        "current_trunk_server": trunk_server,
        "storages": storages,
    })
}

fn storage_json(g: &GroupInfo, si: usize) -> Option<Value> {
    let st = g.storages.get(si)?;
    let mut v = json!({
        "id": st.id,
        "ip": st.ip_addr,
        "port": st.storage_port,
        "addr": host(st).to_string(),
        "status": storage_status_name(st.status),
        "status_code": st.status,
        "rw_mode": st.rw_mode,
        "rw_mode_name": rw_caption(st.rw_mode),
        "version": st.version,
        "join_time": st.join_time,
        "up_time": st.up_time,
        "total_mb": st.total_mb,
        "free_mb": st.free_mb,
        "reserved_mb": st.reserved_mb,
        "available_mb": st.free_mb.saturating_sub(st.reserved_mb),
        "upload_priority": st.upload_priority,
        "store_path_count": st.store_path_count,
        "subdir_count_per_path": st.subdir_count_per_path,
        "current_write_path": st.current_write_path,
        "src_id": st.src_id,
        "if_trunk_server": st.if_trunk_server != 0,
        "connection": {
            "alloc_count": st.stat.alloc_count,
            "current_count": st.stat.current_count,
            "max_count": st.stat.max_count,
        },
        "sync_delay": sync_delay(g, si),
    });
    // Every counter and timestamp of the stat block, under its field name.
    if let Some(obj) = v.as_object_mut() {
        for (name, n) in st.stat.fields() {
            obj.insert(name.to_owned(), Value::from(n));
        }
    }
    Some(v)
}

/// `fdfs_storage_stat` (`-d`: `detail`) for a SERVER_STORAGE_CLUSTER_STAT reply; nothing when no
/// storage passed the filter, like the C tool.
pub fn storage_stat_text(r: &StorageClusterStat, detail: bool) -> String {
    if r.storages.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n");
    for s in &r.storages {
        if r.use_storage_id != 0 {
            out.push_str(&format!("{} ", s.id));
        }
        out.push_str(&format!(
            "{} {}, ",
            s.host.text(),
            storage_status_name(s.status)
        ));
        if r.use_trunk_file != 0 {
            out.push_str(&format!("is_trunk_server: {}, ", s.is_trunk_server));
        }
        out.push_str(&format!(
            "connections {{alloc: {}, current: {}, max: {}}}\n",
            s.alloc_count, s.current_count, s.max_count
        ));
        if detail {
            out.push_str(&format!(
                "  version: {}, up_time: {}, last_heartbeat_time: {}\n\n",
                s.version,
                fmt_time_u(s.up_time),
                fmt_time_u(s.last_heartbeat_time)
            ));
        }
    }
    out.push_str(&format!("\nstorage server count: {}\n\n", r.storages.len()));
    out
}

/// `fdfs storage-stat --json`.
pub fn storage_stat_json(r: &StorageClusterStat) -> Value {
    let storages: Vec<Value> = r
        .storages
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "host": s.host.text(),
                "status": storage_status_name(s.status),
                "status_code": s.status,
                "is_trunk_server": s.is_trunk_server != 0,
                "connection": {
                    "alloc_count": s.alloc_count,
                    "current_count": s.current_count,
                    "max_count": s.max_count,
                },
                "version": s.version,
                "up_time": s.up_time,
                "last_heartbeat_time": s.last_heartbeat_time,
            })
        })
        .collect();
    json!({
        "use_storage_id": r.use_storage_id != 0,
        "use_trunk_file": r.use_trunk_file != 0,
        "storage_count": storages.len(),
        "storages": storages,
    })
}

/// `fdfs_volumn_stat` for a SERVER_STORAGE_VOLUMN_STAT reply: one line per group, then a summary
/// when there are several; nothing when no group passed the filter.
pub fn volume_stat_text(r: &VolumeStats) -> String {
    if r.groups.is_empty() {
        return String::new();
    }
    let trunk = r.use_trunk_file != 0;
    let mut out = String::from("\n");
    let mut sum = VolumeStat::default();
    let mut available = 0;
    for g in &r.groups {
        sum.total_mb += g.total_mb;
        sum.free_mb += g.free_mb;
        sum.reserved_mb += g.reserved_mb;
        sum.avail_mb += g.avail_mb;
        sum.trunk_free_mb += g.trunk_free_mb;
        sum.is_disk_available |= g.is_disk_available;
        sum.is_trunk_available |= g.is_trunk_available;
        if g.is_disk_available != 0 || g.is_trunk_available != 0 {
            available += 1;
        }
        out.push_str(&volume_line(g, trunk));
    }
    if r.groups.len() <= 1 {
        out.push_str(&format!(
            "storage volumn / group count: {}\n\n",
            r.groups.len()
        ));
    } else {
        let bar = "=".repeat(32);
        out.push_str(&format!("{bar} VOLUMNS SUMMARY {bar}\n"));
        out.push_str(&volume_line(&sum, trunk));
        out.push_str(&format!(
            "volumn / group counts {{total: {}, available: {available}}}\n\n",
            r.groups.len()
        ));
    }
    out
}

/// `group_output` of fdfs_volumn_stat.c.
fn volume_line(g: &VolumeStat, trunk: bool) -> String {
    let mut out = format!("{} disk_available: {}", g.group_name, g.is_disk_available);
    if trunk {
        out.push_str(&format!(", trunk_available: {}", g.is_trunk_available));
    }
    let usable = i128::from(g.total_mb) - i128::from(g.reserved_mb);
    let percent = |part: i128| {
        if usable > 0 {
            part as f64 / usable as f64 * 100.0
        } else {
            0.0
        }
    };
    out.push_str(&format!(
        ", disk space {{total: {}, free: {}, reserved: {}, avail: {}, util: {:.2}%}}",
        human_mb(g.total_mb),
        human_mb(g.free_mb),
        human_mb(g.reserved_mb),
        human_mb(g.avail_mb),
        percent(usable - i128::from(g.avail_mb))
    ));
    if trunk {
        let total_avail = g.avail_mb + g.trunk_free_mb;
        out.push_str(&format!(
            ", trunk free space: {}, total available {{space: {}, ratio: {:.2}%}}\n\n",
            human_mb(g.trunk_free_mb),
            human_mb(total_avail),
            percent(i128::from(total_avail))
        ));
    } else {
        out.push_str("\n\n");
    }
    out
}

/// `fdfs volume-stat --json`.
pub fn volume_stat_json(r: &VolumeStats) -> Value {
    let groups: Vec<Value> = r
        .groups
        .iter()
        .map(|g| {
            json!({
                "group": g.group_name,
                "total_mb": g.total_mb,
                "free_mb": g.free_mb,
                "reserved_mb": g.reserved_mb,
                "avail_mb": g.avail_mb,
                "trunk_free_mb": g.trunk_free_mb,
                "is_disk_available": g.is_disk_available != 0,
                "is_trunk_available": g.is_trunk_available != 0,
            })
        })
        .collect();
    let mut m = Map::new();
    m.insert("use_trunk_file".into(), Value::from(r.use_trunk_file != 0));
    m.insert("group_count".into(), Value::from(groups.len()));
    m.insert("groups".into(), Value::Array(groups));
    Value::Object(m)
}

/// A size in MB without the column padding (`252 GB`).
fn human_mb(mb: u64) -> String {
    fmt_mb(mb).trim_start().to_owned()
}

/// A size in MB the way `fdfs_monitor` prints it (libfastcommon's `bytes_to_human_str`, right-aligned
/// in 7 columns): rounded to the nearest unit, one decimal below 10 (`252 GB`, `2.5 GB`, `512 MB`).
pub fn fmt_mb(mb: u64) -> String {
    let bytes = u128::from(mb) << 20;
    let units: [(u32, char); 6] = [
        (60, 'E'),
        (50, 'P'),
        (40, 'T'),
        (30, 'G'),
        (20, 'M'),
        (10, 'K'),
    ];
    let text = match units.iter().find(|(shift, _)| bytes >> shift > 0) {
        Some(&(shift, unit)) => format!("{} {unit}B", scaled(bytes, shift)),
        None => format!("{bytes}  B"),
    };
    format!("{text:>7}")
}

/// `bytes / 2^shift` rounded: to a tenth below 10, to a unit above.
fn scaled(bytes: u128, shift: u32) -> String {
    let one = 1u128 << shift;
    let mut n = bytes / one;
    let rem = bytes % one;
    if n >= 10 {
        if rem >= one / 2 {
            n += 1;
        }
        return n.to_string();
    }
    let mut tenth = (rem * 10 + one / 2) / one;
    if tenth == 10 {
        n += 1;
        tenth = 0;
    }
    if n < 10 {
        format!("{n}.{tenth}")
    } else {
        n.to_string()
    }
}

pub fn fmt_time_u(ts: u64) -> String {
    fmt_time(i64::try_from(ts).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn fmt_time(ts: i64) -> String {
    let t = UtcTime::from_unix(ts);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests;
