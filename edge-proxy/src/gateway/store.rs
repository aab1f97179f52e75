//! Moving an upload's bytes into FastDFS as they arrive, never holding the whole file: a body of
//! known length is streamed to one storage in one upload; a body of unknown length (chunked, or
//! the file of a `multipart/form-data` form) goes in blocks of `block` bytes to an appender file,
//! which is renamed to a normal id when the body is complete (`REGENERATE_APPENDER_FILENAME`), and
//! deleted if the body fails halfway: nothing half-written is reported as stored.

use std::io;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use fdfs_client::client::{ChunkSource, Client, UploadKind, UploadOptions};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::digest::Hasher;

/// The request body, chunk by chunk (an `Err` ends it: the client stopped sending, or too much).
pub type Chunks = mpsc::Receiver<io::Result<Bytes>>;

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub file_id: String,
    pub size: u64,
}

/// Why an upload did not store a file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request body failed (the client stopped sending, or sent too much).
    #[error("request body: {0}")]
    Body(String),
    /// A `multipart/form-data` body that is not one.
    #[error("multipart body: {0}")]
    Multipart(String),
    #[error("{0}")]
    Fdfs(#[from] fdfs_client::client::Error),
}

/// Where and how to store.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub client: &'a Client,
    pub group: Option<String>,
    pub ext: String,
    /// Block size for bodies of unknown length.
    pub block: usize,
}

impl Target<'_> {
    fn options(&self, kind: UploadKind) -> UploadOptions {
        UploadOptions {
            ext: self.ext.clone(),
            group: self.group.clone(),
            kind,
            ..UploadOptions::default()
        }
    }
}

/// The request body's pieces on their way to the storage, hashed as they go by; a failure of the
/// body is kept, so that the upload's result can tell a short body from a storage's error.
struct Hashed<'h> {
    chunks: Chunks,
    hasher: &'h mut Hasher,
    error: Option<String>,
}

impl ChunkSource for Hashed<'_> {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let polled = self.chunks.poll_recv(cx);
        match &polled {
            Poll::Ready(Some(Ok(b))) => self.hasher.update(b),
            Poll::Ready(Some(Err(e))) => self.error = Some(e.to_string()),
            _ => {}
        }
        polled
    }
}

/// A body of `len` bytes, streamed to a storage in one upload (each piece written as the client
/// sent it: no copy on the way).
pub async fn streamed(
    t: &Target<'_>,
    chunks: Chunks,
    len: u64,
    hasher: &mut Hasher,
) -> Result<Stored, StoreError> {
    let mut body = Hashed {
        chunks,
        hasher,
        error: None,
    };
    let stored = t
        .client
        .upload_chunks(&mut body, len, &t.options(UploadKind::Normal))
        .await;
    // closed now: a pump still reading for a store that gave up stops at its next send instead of
    // waiting on a full channel while the clean-up below runs
    drop(body.chunks);
    match (stored, body.error) {
        (Ok(file_id), None) => Ok(Stored { file_id, size: len }),
        // the storage saw a short body and stored nothing
        (Ok(file_id), Some(e)) => {
            delete_quietly(t.client, &file_id).await;
            Err(StoreError::Body(e))
        }
        (Err(_), Some(e)) => Err(StoreError::Body(e)),
        (Err(e), None) => Err(e.into()),
    }
}

/// A body of unknown length (chunked PUT).
pub async fn chunked(
    t: &Target<'_>,
    chunks: Chunks,
    hasher: &mut Hasher,
) -> Result<Stored, StoreError> {
    let body = ReceiverStream::new(chunks).map(|r| r.map_err(|e| StoreError::Body(e.to_string())));
    in_blocks(t, body, hasher).await
}

/// Sends `body` in blocks: the first block that fills starts an appender file, the others are
/// appended, the end renames it; a body that ends before a block filled is one normal upload.
async fn in_blocks<S>(t: &Target<'_>, body: S, hasher: &mut Hasher) -> Result<Stored, StoreError>
where
    S: Stream<Item = Result<Bytes, StoreError>>,
{
    let mut appender: Option<String> = None;
    let result = fill_blocks(t, body, hasher, &mut appender).await;
    if let (Err(_), Some(id)) = (&result, &appender) {
        delete_quietly(t.client, id).await;
    }
    result
}

async fn fill_blocks<S>(
    t: &Target<'_>,
    body: S,
    hasher: &mut Hasher,
    appender: &mut Option<String>,
) -> Result<Stored, StoreError>
where
    S: Stream<Item = Result<Bytes, StoreError>>,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::with_capacity(t.block);
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        buf.extend_from_slice(&chunk);
        if buf.len() >= t.block {
            flush(t, &buf, appender).await?;
            buf.clear();
        }
    }
    let file_id = match appender.take() {
        None => {
            let opts = t.options(UploadKind::Normal);
            t.client.upload(&buf, &opts).await?
        }
        Some(id) => {
            // put back for the clean-up until the rename is done
            *appender = Some(id.clone());
            if !buf.is_empty() {
                t.client.append(&id, &buf).await?;
            }
            let renamed = t.client.regenerate_appender_filename(&id).await?;
            *appender = None;
            renamed
        }
    };
    Ok(Stored { file_id, size })
}

async fn flush(
    t: &Target<'_>,
    block: &[u8],
    appender: &mut Option<String>,
) -> Result<(), StoreError> {
    match appender {
        None => {
            let opts = t.options(UploadKind::Appender);
            *appender = Some(t.client.upload(block, &opts).await?);
        }
        Some(id) => t.client.append(id, block).await?,
    }
    Ok(())
}

/// The longest form field kept as metadata.
const MAX_FIELD: usize = 64 << 10;

/// A `multipart/form-data` body: its one file field is stored (in blocks), its other fields are
/// returned as metadata pairs.
pub async fn multipart(
    t: &Target<'_>,
    chunks: Chunks,
    boundary: String,
    hasher: &mut Hasher,
) -> Result<(Stored, Vec<(String, String)>), StoreError> {
    let mut form = multer::Multipart::new(ReceiverStream::new(chunks), boundary);
    let mut stored: Option<Stored> = None;
    let mut meta = Vec::new();
    let result = read_form(t, &mut form, hasher, &mut stored, &mut meta).await;
    match (result, stored) {
        (Ok(()), Some(s)) => Ok((s, meta)),
        (Ok(()), None) => Err(StoreError::Multipart("no file field".into())),
        (Err(e), Some(s)) => {
            // stored, but the rest of the form failed: not reported as stored
            delete_quietly(t.client, &s.file_id).await;
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

fn form_error(e: multer::Error) -> StoreError {
    match e {
        multer::Error::StreamReadFailed(e) => StoreError::Body(e.to_string()),
        e => StoreError::Multipart(e.to_string()),
    }
}

async fn read_form(
    t: &Target<'_>,
    form: &mut multer::Multipart<'_>,
    hasher: &mut Hasher,
    stored: &mut Option<Stored>,
    meta: &mut Vec<(String, String)>,
) -> Result<(), StoreError> {
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or("").to_string();
        let Some(file_name) = field.file_name().map(str::to_string) else {
            let mut value = Vec::new();
            while let Some(c) = field.chunk().await.map_err(form_error)? {
                value.extend_from_slice(&c);
                if value.len() > MAX_FIELD {
                    return Err(StoreError::Multipart(format!("field `{name}` over 64 KiB")));
                }
            }
            let value = String::from_utf8(value)
                .map_err(|_| StoreError::Multipart(format!("field `{name}` is not UTF-8")))?;
            meta.push((name, value));
            continue;
        };
        if stored.is_some() {
            return Err(StoreError::Multipart("one file per request".into()));
        }
        let mut target = t.clone();
        if target.ext.is_empty() {
            target.ext = fdfs_client::file_id::file_ext_name(&file_name)
                .filter(|e| e.bytes().all(|b| b.is_ascii_alphanumeric()))
                .unwrap_or("")
                .to_string();
        }
        let body = field.map(|r| r.map_err(form_error));
        *stored = Some(in_blocks(&target, body, hasher).await?);
    }
    Ok(())
}

/// Deletes a file that must not stay (best effort, logged).
pub async fn delete_quietly(client: &Client, file_id: &str) {
    if let Err(e) = client.delete(file_id).await {
        tracing::error!("upload: could not delete the incomplete file {file_id}: {e}");
    }
}
