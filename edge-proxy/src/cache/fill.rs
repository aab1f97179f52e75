//! Fills in progress, readable while they are being written (Pingora's "streaming partial write").
//!
//! Without this, requests for an object being fetched wait on the cache lock until the whole body
//! is on disk, and those still waiting after `lock_timeout` go to the storage themselves, uncached:
//! a large cold object asked for by many clients at once was fetched many times. With it, the cache
//! lock is released as soon as the response header is known, and every reader (the request that
//! fetches included) streams the body from the temporary file as it grows.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pingora::cache::key::HashBinary;
use pingora::cache::storage::streaming_write::U64WriteId;
use pingora::cache::storage::HitHandler;
use pingora::cache::CacheMeta;
use pingora::{Error, ErrorType, Result};
use tokio::sync::watch;

use super::hit::DiskHitHandler;

/// How far a fill has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// This many bytes are in the file; more to come.
    Writing(u64),
    /// Complete with this many bytes.
    Done(u64),
    /// Abandoned (upstream or disk error): readers fail rather than serve a truncated body.
    Failed,
}

/// One fill: its response header and a read handle on its temporary file (kept open, so readers
/// go on after the file is renamed into place).
pub struct Fill {
    id: U64WriteId,
    meta: (Vec<u8>, Vec<u8>),
    file: File,
    progress: watch::Sender<Progress>,
}

impl Fill {
    pub fn set(&self, p: Progress) {
        self.progress.send_replace(p);
    }

    /// `HandleMiss::streaming_write_tag` of the fill, and what `Storage::lookup_streaming_write`
    /// finds it by.
    pub fn tag(&self) -> &U64WriteId {
        &self.id
    }

    /// Follows the fill's progress (for its hit handlers).
    pub(super) fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Reads written bytes at `pos` of the body.
    pub(super) fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.file.read_at(buf, pos)
    }

    fn reader(self: &Arc<Self>) -> Result<(CacheMeta, HitHandler)> {
        let meta = CacheMeta::deserialize(&self.meta.0, &self.meta.1)?;
        Ok((meta, Box::new(DiskHitHandler::fill(self.clone()))))
    }

    fn is(&self, id: U64WriteId) -> bool {
        u64::from(self.id) == u64::from(id)
    }
}

/// The fills in progress, by cache key hash (more than one per key is possible: a refresh while an
/// older fill still runs).
#[derive(Default)]
pub struct Fills {
    by_key: Mutex<HashMap<HashBinary, Vec<Arc<Fill>>>>,
    next_id: AtomicU64,
}

impl Fills {
    /// Registers a fill whose body will be written to the file that `file` reads.
    pub fn start(&self, h: HashBinary, meta: (Vec<u8>, Vec<u8>), file: File) -> Arc<Fill> {
        let fill = Arc::new(Fill {
            id: self.next_id.fetch_add(1, Ordering::Relaxed).into(),
            meta,
            file,
            progress: watch::Sender::new(Progress::Writing(0)),
        });
        self.by_key.lock().entry(h).or_default().push(fill.clone());
        fill
    }

    /// Forgets a fill (complete or abandoned); its readers keep their handle.
    pub fn end(&self, h: &HashBinary, fill: &Fill) {
        let mut map = self.by_key.lock();
        if let Some(v) = map.get_mut(h) {
            v.retain(|f| !f.is(fill.id));
            if v.is_empty() {
                map.remove(h);
            }
        }
    }

    /// A reader of the oldest fill in progress for `h`, if any.
    pub fn read_any(&self, h: &HashBinary) -> Option<Result<(CacheMeta, HitHandler)>> {
        let fill = self.by_key.lock().get(h).and_then(|v| v.first().cloned())?;
        Some(fill.reader())
    }

    /// Is a fill of `h` in progress?
    pub fn any(&self, h: &HashBinary) -> bool {
        self.by_key.lock().contains_key(h)
    }

    /// A reader of the fill tagged `tag` (the request that writes it reads its own fill).
    pub fn read_tagged(
        &self,
        h: &HashBinary,
        tag: Option<&[u8]>,
    ) -> Result<(CacheMeta, HitHandler)> {
        let id = tag
            .and_then(|t| U64WriteId::try_from(t).ok())
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "fill tag missing"))?;
        let fill = self
            .by_key
            .lock()
            .get(h)
            .and_then(|v| v.iter().find(|f| f.is(id)).cloned())
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "fill not in progress"))?;
        fill.reader()
    }

    pub fn in_progress(&self) -> usize {
        self.by_key.lock().values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::ResponseHeader;
    use std::io::Write;
    use std::time::{Duration, SystemTime};

    fn meta() -> (Vec<u8>, Vec<u8>) {
        let now = SystemTime::now();
        let header = ResponseHeader::build(200, None).unwrap();
        CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header)
            .serialize()
            .unwrap()
    }

    #[tokio::test]
    async fn a_reader_follows_the_writer_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fill");
        let mut w = std::fs::File::create(&path).unwrap();
        let fills = Fills::default();
        let h = [7u8; 16];
        let fill = fills.start(h, meta(), std::fs::File::open(&path).unwrap());
        let (_, mut reader) = fills.read_any(&h).unwrap().unwrap();
        let writer = {
            let fill = fill.clone();
            tokio::spawn(async move {
                for i in 0..4u8 {
                    w.write_all(&[i; 1000]).unwrap();
                    fill.set(Progress::Writing(u64::from(i + 1) * 1000));
                    tokio::task::yield_now().await;
                }
                fill.set(Progress::Done(4000));
            })
        };
        let mut got = Vec::new();
        while let Some(b) = reader.read_body().await.unwrap() {
            got.extend_from_slice(&b);
        }
        writer.await.unwrap();
        assert_eq!(got.len(), 4000);
        assert!(got
            .chunks(1000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
        let (_, mut tagged) = fills.read_tagged(&h, Some(fill.tag().as_bytes())).unwrap();
        tagged.seek(1500, Some(1600)).unwrap();
        assert_eq!(tagged.read_body().await.unwrap().unwrap(), vec![1u8; 100]);
        assert!(tagged.read_body().await.unwrap().is_none());
        fills.end(&h, &fill);
        assert!(fills.read_any(&h).is_none());
        assert_eq!(fills.in_progress(), 0);
    }

    #[tokio::test]
    async fn readers_of_a_failed_fill_get_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fill");
        std::fs::write(&path, [1u8; 10]).unwrap();
        let fills = Fills::default();
        let h = [9u8; 16];
        let fill = fills.start(h, meta(), std::fs::File::open(&path).unwrap());
        fill.set(Progress::Writing(10));
        let (_, mut reader) = fills.read_any(&h).unwrap().unwrap();
        assert_eq!(reader.read_body().await.unwrap().unwrap().len(), 10);
        let waiting = tokio::spawn(async move { reader.read_body().await });
        fill.set(Progress::Failed);
        assert!(waiting.await.unwrap().is_err());
        assert!(fills.read_tagged(&h, Some(&[0u8; 3])).is_err());
    }
}
