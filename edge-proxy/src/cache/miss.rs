//! The miss handler: writes a fetched body to a temporary file that its readers follow (see
//! [`super::fill`]), then appends the meta, moves the file into place and indexes the entry.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::key::{CacheHashKey, HashBinary};
use pingora::cache::storage::{HandleMiss, MissFinishType};
use pingora::cache::{CacheKey, CacheMeta};
use pingora::Result;

use super::disk::{internal, DiskCache};
use super::fill::{Fill, Progress};
use super::index::Entry;
use super::object_file;

pub(super) struct DiskMiss {
    cache: &'static DiskCache,
    hash: HashBinary,
    key: String,
    meta0: Vec<u8>,
    meta1: Vec<u8>,
    tmp: PathBuf,
    file: Option<File>,
    written: u64,
    finished: bool,
    /// Readers follow the write through this.
    fill: Arc<Fill>,
    /// The whole body is in the file: readers can finish even if storing it then fails.
    body_complete: bool,
}

impl Drop for DiskMiss {
    fn drop(&mut self) {
        if !self.finished {
            if !self.body_complete {
                self.fill.set(Progress::Failed);
            }
            self.cache.fills.end(&self.hash, &self.fill);
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl DiskMiss {
    /// Creates the temporary file and registers the fill its readers follow.
    pub(super) fn start(
        cache: &'static DiskCache,
        key: &CacheKey,
        meta: &CacheMeta,
    ) -> Result<DiskMiss> {
        let (meta0, meta1) = meta.serialize()?;
        let key_str = key
            .primary_key_str()
            .ok_or_else(|| internal("miss", "cache key is not UTF-8"))?
            .to_string();
        let tmp = cache.new_tmp();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| internal("create temp file", e))?;
        let read_handle = File::open(&tmp).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            internal("open temp file", e)
        })?;
        let hash = key.combined_bin();
        let fill = cache
            .fills
            .start(hash, (meta0.clone(), meta1.clone()), read_handle);
        Ok(DiskMiss {
            cache,
            hash,
            key: key_str,
            meta0,
            meta1,
            tmp,
            file: Some(file),
            written: 0,
            finished: false,
            fill,
            body_complete: false,
        })
    }

    /// Appends the meta part to the body in `file`, then renames the file into place. Returns
    /// the meta part's size.
    fn store(&self, mut file: File) -> Result<u64> {
        let path = self.cache.object_path(&self.hash);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| internal("mkdir", e))?;
        }
        let part = object_file::meta_part(&self.meta0, &self.meta1, &self.key, self.written);
        if part.len() as u64 > object_file::MAX_META {
            return Err(internal(
                "store",
                "header and key longer than a meta part may be",
            ));
        }
        file.write_all(&part)
            .map_err(|e| internal("write meta", e))?;
        drop(file);
        fs::rename(&self.tmp, &path).map_err(|e| internal("rename", e))?;
        Ok(part.len() as u64)
    }
}

#[async_trait]
impl HandleMiss for DiskMiss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Err(internal("write body", "already finished"));
        };
        f.write_all(&data).map_err(|e| internal("write body", e))?;
        self.written += data.len() as u64;
        self.fill.set(Progress::Writing(self.written));
        Ok(())
    }

    fn streaming_write_tag(&self) -> Option<&[u8]> {
        Some(self.fill.tag().as_bytes())
    }

    async fn finish(mut self: Box<Self>) -> Result<MissFinishType> {
        let Some(f) = self.file.take() else {
            return Err(internal("finish", "already finished"));
        };
        // The body is complete in the file: its readers can finish whatever happens to the entry
        // (they read the body's length, not the meta part written after it).
        self.body_complete = true;
        self.fill.set(Progress::Done(self.written));
        let meta_size = self.store(f)?;
        self.finished = true;
        // Not into memory yet: an object enters the memory tier on its first hit, so objects asked
        // for once (a crawl, a warm-up) do not push the hot ones out.
        let entry = Entry::new(&self.key, self.written, meta_size, SystemTime::now());
        let cache = self.cache;
        cache.index.write().insert(self.hash, entry);
        // New lookups find the index entry from now on.
        cache.fills.end(&self.hash, &self.fill);
        cache.evict_if_needed();
        Ok(MissFinishType::Created(self.written as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::cache_key;
    use super::super::test_util::{body, get, leak, meta, sp};
    use super::*;
    use pingora::cache::Storage;

    #[tokio::test]
    async fn readers_of_a_fill_stream_it_and_finish_even_if_storing_fails() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let k = cache_key("/g1/M00/fill");
        let body = body(20_000, 5);
        let mut m = c.get_miss_handler(&k, &meta(), &sp()).await.unwrap();
        m.write_body(Bytes::copy_from_slice(&body[..8000]), false)
            .await
            .unwrap();
        // a reader arriving during the fill gets what is written so far, then the rest
        let (_, mut early) = c.lookup(&k, &sp()).await.unwrap().expect("fill visible");
        assert_eq!(early.read_body().await.unwrap().unwrap(), &body[..8000]);
        assert_eq!(c.fills_in_progress(), 1);
        // the entry's directory cannot be created: storing fails after the body is complete
        let path = c.object_path(&k.combined_bin());
        let level2 = path.parent().unwrap();
        fs::create_dir_all(level2.parent().unwrap()).unwrap();
        fs::write(level2, b"not a directory").unwrap();
        m.write_body(Bytes::copy_from_slice(&body[8000..]), true)
            .await
            .unwrap();
        assert!(m.finish().await.is_err());
        let mut rest = Vec::new();
        while let Some(b) = early.read_body().await.unwrap() {
            rest.extend_from_slice(&b);
        }
        assert_eq!(rest, &body[8000..]);
        assert_eq!(c.fills_in_progress(), 0);
        assert!(get(c, "/g1/M00/fill").await.is_none(), "not stored");
    }

    #[tokio::test]
    async fn abandoned_write_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let k = cache_key("/x");
        let mut m = c.get_miss_handler(&k, &meta(), &sp()).await.unwrap();
        m.write_body(Bytes::from_static(b"partial"), false)
            .await
            .unwrap();
        drop(m);
        assert!(get(c, "/x").await.is_none());
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }
}
