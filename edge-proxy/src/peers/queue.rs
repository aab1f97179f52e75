//! The purges each peer has not acknowledged yet: in memory in order, and on disk, one file per
//! purge (`<queue_dir>/<peer>/<sequence>` holding the key), written before the purge is answered
//! and removed once the peer acknowledged it. A restart reads them back in order.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// A purge waiting for one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: u64,
    pub key: String,
}

/// One peer's queue.
#[derive(Debug)]
pub struct PeerQueue {
    pub addr: SocketAddr,
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<Pending>,
    next_seq: u64,
}

/// The directory of a peer's queue: its address with the characters a file name should not
/// hold replaced (`10.0.0.2:8080` → `10.0.0.2_8080`, `[::1]:80` → `__1__80`).
fn dir_name(addr: SocketAddr) -> String {
    addr.to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}")
}

impl PeerQueue {
    /// Opens (creating it) the queue of `addr` under `root`, with the purges left from before.
    pub fn open(root: &Path, addr: SocketAddr) -> io::Result<PeerQueue> {
        let dir = root.join(dir_name(addr));
        fs::create_dir_all(&dir)?;
        let mut pending = Vec::new();
        for entry in fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name();
            // temporary files of a write cut short have a `.tmp` suffix and no sequence
            let Some(seq) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else {
                let _ = fs::remove_file(entry.path());
                continue;
            };
            match fs::read_to_string(entry.path()) {
                Ok(key) if !key.is_empty() => pending.push(Pending { seq, key }),
                _ => tracing::warn!("peer purge queue: unreadable {}", entry.path().display()),
            }
        }
        pending.sort_by_key(|p| p.seq);
        let next_seq = pending.last().map_or(0, |p| p.seq + 1);
        Ok(PeerQueue {
            addr,
            dir,
            state: Mutex::new(State {
                pending: pending.into(),
                next_seq,
            }),
        })
    }

    /// Adds `key` at the end, on disk first (written to a temporary name, synced, renamed).
    pub fn push(&self, key: &str) -> io::Result<()> {
        let mut st = self.state.lock();
        let seq = st.next_seq;
        let path = self.dir.join(file_name(seq));
        let tmp = self.dir.join(format!("{}.tmp", file_name(seq)));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(key.as_bytes())?;
        f.sync_data()?;
        fs::rename(&tmp, &path)?;
        st.next_seq = seq + 1;
        st.pending.push_back(Pending {
            seq,
            key: key.to_string(),
        });
        Ok(())
    }

    /// The oldest purge not acknowledged yet.
    pub fn front(&self) -> Option<Pending> {
        self.state.lock().pending.front().cloned()
    }

    /// The peer acknowledged `p`: forget it, on disk too.
    pub fn ack(&self, p: &Pending) {
        let mut st = self.state.lock();
        if st.pending.front() == Some(p) {
            st.pending.pop_front();
        }
        if let Err(e) = fs::remove_file(self.dir.join(file_name(p.seq))) {
            tracing::warn!("peer purge queue of {}: {e}", self.addr);
        }
    }

    pub fn len(&self) -> usize {
        self.state.lock().pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purges_survive_a_restart_in_order() {
        let root = tempfile::tempdir().expect("tempdir");
        let addr: SocketAddr = "127.0.0.2:8080".parse().expect("addr");
        let q = PeerQueue::open(root.path(), addr).expect("open");
        for k in ["/group1/a", "/group1/b?x=1", "/group2/*"] {
            q.push(k).expect("push");
        }
        let first = q.front().expect("pending");
        assert_eq!(first.key, "/group1/a");
        q.ack(&first);
        // a write cut short leaves a temporary file: ignored and removed
        let dir = root.path().join("127.0.0.2_8080");
        fs::write(dir.join("00000000000000000009.tmp"), "/half").expect("tmp");
        drop(q);
        let q = PeerQueue::open(root.path(), addr).expect("reopen");
        assert_eq!(q.len(), 2);
        assert_eq!(q.front().map(|p| p.key), Some("/group1/b?x=1".into()));
        q.push("/group1/c").expect("push");
        let keys: Vec<String> = std::iter::from_fn(|| {
            let p = q.front()?;
            q.ack(&p);
            Some(p.key)
        })
        .collect();
        assert_eq!(keys, ["/group1/b?x=1", "/group2/*", "/group1/c"]);
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
    }
}
