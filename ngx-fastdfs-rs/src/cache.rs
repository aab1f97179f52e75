//! The last good tracker answer, kept on disk under `base_path` (`ngx_fastdfs_tracker.cache`), so a
//! start or reload while every tracker is down or hung still knows the cluster members, the storage
//! ids and the sync window. Written atomically (temporary file, then rename) after every good
//! answer; read when no tracker answers and by `nginx -t`. It is only used for the same
//! `tracker_server` list it was written for.
//!
//! Format: `key = value` lines, `#` comments; `group`, `member` and `storage_id` repeat.
//!
//! `base_path` is often `/tmp`: the temporary file is created exclusively (never through a planted
//! symlink), and a cache file that another user owns or may write is refused (its member list
//! decides where the node forwards to).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use fdfs_client::conf::StorageIdsConf;

use crate::instance::{parse_ip, Instance};
use crate::tracker::TrackerParams;

/// The cache file name, under `base_path`.
pub const FILE_NAME: &str = "ngx_fastdfs_tracker.cache";

/// Why the cache could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file exists but cannot be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A file this process must not trust (someone else could have written it).
    #[error("not trusted: {0}")]
    Untrusted(String),
    /// A line that does not fit the format.
    #[error("line {line}: {msg}")]
    Format {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        msg: String,
    },
}

/// A cached answer.
#[derive(Debug, Clone)]
pub struct Cached {
    /// When it was written (unix seconds).
    pub written: i64,
    /// What the trackers said then.
    pub params: TrackerParams,
}

/// Where the cache of `inst` lives (`None` without `base_path`).
pub fn path(inst: &Instance) -> Option<PathBuf> {
    inst.conf.base_path.as_ref().map(|b| b.join(FILE_NAME))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The file's text for `p`, answered by the trackers `trackers`.
pub fn render(trackers: &str, p: &TrackerParams, written: i64) -> String {
    let mut s = String::from(
        "# ngx_fastdfs_module: the trackers' last answer, used when no tracker answers.\n",
    );
    let _ = writeln!(s, "written = {written}");
    let _ = writeln!(s, "trackers = {trackers}");
    if let Some(d) = p.sync_max_delay {
        let _ = writeln!(s, "storage_sync_file_max_delay = {d}");
    }
    let _ = writeln!(s, "use_storage_id = {}", p.use_storage_id);
    for g in &p.groups {
        let _ = writeln!(s, "group = {g}");
    }
    for m in &p.members {
        let _ = writeln!(s, "member = {m}");
    }
    for line in p.storage_ids_text.iter().flat_map(|t| t.lines()) {
        if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            let _ = writeln!(s, "storage_id = {}", line.trim());
        }
    }
    s
}

/// Write the answer atomically: a temporary file in the same directory, then a rename.
pub fn store(path: &Path, trackers: &str, p: &TrackerParams) -> Result<(), CacheError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    // A leftover (or planted) file of that name goes first; create_new never follows a symlink.
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(render(trackers, p, now()).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

/// Read the cache: `Ok(None)` when there is none, or when it was written for other trackers.
pub fn load(path: &Path, trackers: &str) -> Result<Option<Cached>, CacheError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    trusted(&meta)?;
    let text = std::fs::read_to_string(path)?;
    let c = parse(&text, &path.display().to_string())?;
    Ok((c.0 == trackers).then_some(c.1))
}

/// A regular file owned by this user (or root) that nobody else may write.
fn trusted(meta: &std::fs::Metadata) -> Result<(), CacheError> {
    // SAFETY: geteuid has no failure mode and touches no memory.
    let me = unsafe { libc::geteuid() };
    let untrusted = CacheError::Untrusted;
    if !meta.file_type().is_file() {
        return Err(untrusted("not a regular file".into()));
    }
    if meta.uid() != me && meta.uid() != 0 {
        return Err(untrusted(format!(
            "owned by uid {}, not by this user",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(untrusted(format!(
            "writable by group or others (mode {:o})",
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

/// Parse the text: (the tracker list it was written for, the answer).
pub fn parse(text: &str, name: &str) -> Result<(String, Cached), CacheError> {
    let mut trackers = String::new();
    let mut c = Cached {
        written: 0,
        params: TrackerParams::default(),
    };
    let mut ids = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |msg: String| CacheError::Format { line: i + 1, msg };
        let Some((k, v)) = line.split_once('=') else {
            return Err(bad(format!("expected key = value, got {line:?}")));
        };
        let v = v.trim();
        let int = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| bad(format!("not a number: {v:?}")))
        };
        match k.trim() {
            "written" => c.written = int(v)?,
            "trackers" => trackers = v.to_owned(),
            "storage_sync_file_max_delay" => c.params.sync_max_delay = Some(int(v)?),
            "use_storage_id" => c.params.use_storage_id = v == "true",
            "group" => c.params.groups.push(v.to_owned()),
            "member" => c
                .params
                .members
                .push(parse_ip(v).ok_or_else(|| bad(format!("not an IP address: {v:?}")))?),
            "storage_id" => {
                ids.push_str(v);
                ids.push('\n');
            }
            other => return Err(bad(format!("unknown key {other:?}"))),
        }
    }
    if !ids.is_empty() {
        let table =
            StorageIdsConf::parse_str(&ids, &format!("{name} (storage ids)")).map_err(|e| {
                CacheError::Format {
                    line: 0,
                    msg: e.to_string(),
                }
            })?;
        c.params.storage_ids = Some(table);
        c.params.storage_ids_text = Some(ids);
    }
    Ok((trackers, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = TrackerParams {
            sync_max_delay: Some(600),
            use_storage_id: true,
            storage_ids: None,
            storage_ids_text: Some("100001 group1 127.0.0.11\n100002 group1 127.0.0.12\n".into()),
            members: vec!["127.0.0.11".parse().unwrap(), "::1".parse().unwrap()],
            groups: vec!["group1".into()],
        };
        let text = render("127.0.0.10:22122", &p, 42);
        let (t, c) = parse(&text, "x").expect("parse");
        assert_eq!(t, "127.0.0.10:22122");
        assert_eq!(c.written, 42);
        assert_eq!(c.params.sync_max_delay, Some(600));
        assert_eq!(c.params.members, p.members);
        assert_eq!(c.params.groups, p.groups);
        assert_eq!(c.params.storage_ids.map(|t| t.entries.len()), Some(2));
        assert!(parse("member = host\n", "x").is_err());
    }

    #[test]
    fn atomic_store_and_key() {
        let dir = std::env::temp_dir().join(format!("ngx-fastdfs-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(FILE_NAME);
        let p = TrackerParams {
            members: vec!["127.0.0.12".parse().unwrap()],
            ..TrackerParams::default()
        };
        store(&path, "a:1", &p).expect("store");
        assert_eq!(
            load(&path, "a:1").expect("load").map(|c| c.params.members),
            Some(p.members.clone())
        );
        assert!(load(&path, "b:2").expect("other trackers").is_none());
        assert!(load(&dir.join("absent"), "a:1").expect("absent").is_none());
        // A cache anyone may write is not trusted.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(load(&path, "a:1").is_err());
        store(&path, "a:1", &p).expect("store again");
        assert!(load(&path, "a:1").expect("rewritten").is_some());
        let left: Vec<_> = std::fs::read_dir(&dir).expect("ls").flatten().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
