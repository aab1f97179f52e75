//! What an upload or an append sends after its request prefix: bytes read from an `AsyncRead`
//! through a buffer ([`Connection::send_from`]), or pieces already in memory, handed over as
//! [`Bytes`] and written as they are ([`Connection::send_chunks`]). The second is for a caller
//! that receives the file in pieces anyway (an HTTP request body): a read into a buffer would copy
//! every byte once more on its way to the storage.

use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use super::connection::{Connection, Ctx};
use super::error::Result;
use super::storage::Progress;

/// A file's contents as a sequence of pieces ([`crate::client::Client::upload_chunks`]).
///
/// `poll_chunk` must be safe to poll once and leave: a piece that is not ready is not lost (the
/// sender polls with a waker that does nothing to see whether more is ready, and then waits with
/// its own).
pub trait ChunkSource {
    /// The next piece; `Ready(None)` at the end; an `Err` ends the file as failed.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>>;
}

impl ChunkSource for mpsc::Receiver<io::Result<Bytes>> {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        self.poll_recv(cx)
    }
}

/// How a request's content goes out on a connection after its prefix.
pub(crate) trait Outgoing {
    async fn send(
        &mut self,
        conn: &mut Connection,
        ctx: &Ctx,
        prefix: &[u8],
        len: u64,
        progress: Progress<'_>,
    ) -> Result<()>;
}

/// Content read from an `AsyncRead`.
pub(crate) struct FromReader<'r, R: ?Sized>(pub &'r mut R);

impl<R: AsyncRead + Unpin + ?Sized> Outgoing for FromReader<'_, R> {
    async fn send(
        &mut self,
        conn: &mut Connection,
        ctx: &Ctx,
        prefix: &[u8],
        len: u64,
        progress: Progress<'_>,
    ) -> Result<()> {
        conn.send_from(ctx, prefix, self.0, len, progress).await
    }
}

/// Content handed over in pieces.
pub(crate) struct FromChunks<'c, C: ?Sized>(pub &'c mut C);

impl<C: ChunkSource + ?Sized> Outgoing for FromChunks<'_, C> {
    async fn send(
        &mut self,
        conn: &mut Connection,
        ctx: &Ctx,
        prefix: &[u8],
        len: u64,
        progress: Progress<'_>,
    ) -> Result<()> {
        conn.send_chunks(ctx, prefix, self.0, len, progress).await
    }
}
