//! The hit handler: one enum over the three places a hit's body is read from, as Pingora's
//! `MemHitHandler` is one over its complete and partial objects.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::storage::HandleHit;
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, Storage};
use pingora::{Error, ErrorType, Result};
use tokio::sync::watch;

use super::disk::internal;
use super::fill::{Fill, Progress};

/// Largest body chunk handed to Pingora per read of a file or a fill.
const CHUNK: u64 = 256 << 10;

pub(super) enum DiskHitHandler {
    /// A complete body held in memory: sent as one slice of it, no copy.
    Mem(MemHit),
    /// A complete body in its file.
    File(FileHit),
    /// A body still being written by a fill, followed as it grows.
    Fill(FillHit),
}

impl DiskHitHandler {
    pub(super) fn mem(body: Bytes) -> DiskHitHandler {
        let span = Span::whole(body.len() as u64);
        DiskHitHandler::Mem(MemHit { body, span })
    }

    pub(super) fn file(file: File, body_len: u64) -> DiskHitHandler {
        DiskHitHandler::File(FileHit {
            file,
            span: Span::whole(body_len),
            file_pos: 0,
        })
    }

    pub(super) fn fill(fill: Arc<Fill>) -> DiskHitHandler {
        DiskHitHandler::Fill(FillHit {
            progress: fill.subscribe(),
            fill,
            pos: 0,
            end: None,
        })
    }
}

/// The part `pos..end` still to send of a complete body of `len` bytes.
struct Span {
    pos: u64,
    end: u64,
    len: u64,
}

impl Span {
    fn whole(len: u64) -> Span {
        Span {
            pos: 0,
            end: len,
            len,
        }
    }

    /// Pingora's rule (see `MemHitHandler`): a start past the body is an error, an end past it
    /// is the end of the body.
    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        let start = start as u64;
        if start >= self.len {
            return Error::e_explain(
                ErrorType::InternalError,
                format!("seek start out of range {start} >= {}", self.len),
            );
        }
        self.pos = start;
        self.end = end.map_or(self.len, |e| (e as u64).min(self.len));
        Ok(())
    }
}

pub(super) struct MemHit {
    body: Bytes,
    span: Span,
}

impl MemHit {
    fn read(&mut self) -> Option<Bytes> {
        let s = &mut self.span;
        if s.pos >= s.end {
            return None;
        }
        let part = self.body.slice(s.pos as usize..s.end as usize);
        s.pos = s.end;
        Some(part)
    }
}

pub(super) struct FileHit {
    file: File,
    span: Span,
    /// The offset of the file descriptor.
    file_pos: u64,
}

impl FileHit {
    fn read(&mut self) -> Result<Option<Bytes>> {
        let s = &mut self.span;
        if s.pos >= s.end {
            return Ok(None);
        }
        let want = (s.end - s.pos).min(CHUNK);
        // Page-cache reads, blocking like nginx without aio: sequential from the file offset (a
        // seek only after a Range seek), into a buffer that is not zeroed first.
        let mut file = &self.file;
        if self.file_pos != s.pos {
            file.seek(SeekFrom::Start(s.pos))
                .map_err(|e| internal("seek body", e))?;
            self.file_pos = s.pos;
        }
        let mut buf = Vec::with_capacity(want as usize);
        let n = file
            .take(want)
            .read_to_end(&mut buf)
            .map_err(|e| internal("read body", e))?;
        if n == 0 {
            return Err(internal("read body", "file shorter than recorded"));
        }
        s.pos += n as u64;
        self.file_pos += n as u64;
        Ok(Some(Bytes::from(buf)))
    }
}

/// Streams a fill's body as it is written; waits when it has caught up with the writer.
pub(super) struct FillHit {
    fill: Arc<Fill>,
    progress: watch::Receiver<Progress>,
    pos: u64,
    /// Exclusive end of a seek, if any.
    end: Option<u64>,
}

fn fill_error(what: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, what)
}

impl FillHit {
    async fn read(&mut self) -> Result<Option<Bytes>> {
        loop {
            let available = match *self.progress.borrow_and_update() {
                Progress::Failed => return Err(fill_error("the fill of this object failed")),
                Progress::Writing(n) => n,
                Progress::Done(n) => {
                    if self.pos >= self.end.map_or(n, |e| e.min(n)) {
                        return Ok(None);
                    }
                    n
                }
            };
            let limit = self.end.map_or(available, |e| e.min(available));
            if self.pos < limit {
                let want = (limit - self.pos).min(CHUNK) as usize;
                let mut buf = vec![0u8; want];
                let n = self
                    .fill
                    .read_at(&mut buf, self.pos)
                    .map_err(|e| Error::because(ErrorType::InternalError, "read fill", e))?;
                if n == 0 {
                    return Err(fill_error("fill file shorter than written"));
                }
                buf.truncate(n);
                self.pos += n as u64;
                return Ok(Some(Bytes::from(buf)));
            }
            if self.end.is_some_and(|e| self.pos >= e) {
                return Ok(None);
            }
            if self.progress.changed().await.is_err() {
                return Err(fill_error("the fill of this object stopped"));
            }
        }
    }

    /// The body's length is not known yet: no range check, a read past the end ends at the end.
    fn seek(&mut self, start: usize, end: Option<usize>) {
        self.pos = start as u64;
        self.end = end.map(|e| e as u64);
    }
}

#[async_trait]
impl HandleHit for DiskHitHandler {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        match self {
            DiskHitHandler::Mem(m) => Ok(m.read()),
            DiskHitHandler::File(f) => f.read(),
            DiskHitHandler::Fill(f) => f.read().await,
        }
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        match self {
            DiskHitHandler::Mem(m) => m.span.seek(start, end),
            DiskHitHandler::File(f) => f.span.seek(start, end),
            DiskHitHandler::Fill(f) => {
                f.seek(start, end);
                Ok(())
            }
        }
    }

    fn get_eviction_weight(&self) -> usize {
        match self {
            DiskHitHandler::Mem(m) => m.span.len as usize,
            DiskHitHandler::File(f) => f.span.len as usize,
            // not known while it is written (Pingora's `MemHitHandler::Partial` says 0 too)
            DiskHitHandler::Fill(_) => 0,
        }
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::cache_key;
    use super::super::test_util::{body, leak, put, sp};
    use pingora::cache::Storage;

    #[tokio::test]
    async fn range_seek() {
        let d = tempfile::tempdir().unwrap();
        let c = leak(d.path(), 1 << 30);
        let b = body(150_000, 9);
        put(c, "/r", &b).await;
        let k = cache_key("/r");
        let (_, mut hit) = c.lookup(&k, &sp()).await.unwrap().unwrap();
        hit.seek(100_000, Some(100_010)).unwrap();
        let mut out = Vec::new();
        while let Some(x) = hit.read_body().await.unwrap() {
            out.extend_from_slice(&x);
        }
        assert_eq!(out, &b[100_000..100_010]);
        assert!(hit.seek(150_000, None).is_err());
    }
}
