//! [`Connection`]: one TCP connection to a tracker or storage, with FastDFS framing and timeouts.
//!
//! Every read and write is bounded by the network timeout; connecting by the connect timeout. Reply
//! bodies are read into memory only after their declared length was checked against the command's
//! maximum ([`Connection::recv_body`]); file contents are streamed through a fixed-size buffer
//! ([`Connection::copy_body_to`], [`Connection::send_from`]) or written as handed over
//! ([`Connection::send_chunks`]).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;

use super::body::ChunkSource;
use super::error::{Error, Result, Role};
use crate::addr::ServerAddr;
use crate::proto::{self, Header, Reply, Request};

/// The size of the buffer file contents are streamed through.
pub const STREAM_BUF_SIZE: usize = 256 * 1024;

/// The buffer [`Connection::send_from`] and [`Connection::copy_body_to`] copy through: `len`
/// bytes, at most [`STREAM_BUF_SIZE`], at least 1 (so no empty buffer to special-case).
fn stream_buf(len: u64) -> Vec<u8> {
    vec![0u8; stream_buf_len(len)]
}

fn stream_buf_len(len: u64) -> usize {
    usize::try_from(len)
        .unwrap_or(usize::MAX)
        .clamp(1, STREAM_BUF_SIZE)
}

/// The part of `buf` the next read may fill: never more than the `left` bytes still due, so a
/// copy does not read past the frame it belongs to.
fn next_chunk(buf: &mut [u8], left: u64) -> &mut [u8] {
    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
    buf.get_mut(..want).unwrap_or_default()
}

/// Reads into `room` (at most `left` bytes): waits for the first bytes, then takes whatever else
/// the reader has ready without waiting. An HTTP body handed over in pieces (pingora gives the
/// part read with the request header apart from the rest) then goes out in one write instead of
/// one per piece. A read that is not ready has read nothing (the `AsyncRead` contract), so
/// polling it once and dropping it loses no data.
async fn read_ready<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    room: &mut [u8],
    left: u64,
) -> Result<usize> {
    let room = next_chunk(room, left);
    let mut n = reader.read(room).await.map_err(source_failed)?;
    let mut cx = Context::from_waker(Waker::noop());
    while n > 0 && n < room.len() {
        let mut rest = ReadBuf::new(room.get_mut(n..).unwrap_or_default());
        match Pin::new(&mut *reader).poll_read(&mut cx, &mut rest) {
            Poll::Ready(Ok(())) if !rest.filled().is_empty() => n += rest.filled().len(),
            Poll::Ready(Ok(())) | Poll::Pending => break,
            Poll::Ready(Err(e)) => return Err(source_failed(e)),
        }
    }
    Ok(n)
}

/// At most this many bytes in one write of [`Connection::send_chunks`] (as [`STREAM_BUF_SIZE`])...
const WRITE_MAX: usize = STREAM_BUF_SIZE;
/// ...and at most this many pieces (well under the system's `IOV_MAX`).
const WRITE_PIECES: usize = 64;

fn source_failed(e: io::Error) -> Error {
    Error::local("read the data to send", e)
}

/// Counts `piece` against the `left` bytes still due of `len`.
fn take_piece(piece: &Bytes, left: &mut u64, len: u64) -> Result<()> {
    *left = left.checked_sub(piece.len() as u64).ok_or_else(|| {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            format!("source longer than the declared {len} bytes"),
        );
        source_failed(e)
    })?;
    Ok(())
}

/// Waits for the next non-empty piece.
async fn next_piece<C: ChunkSource + ?Sized>(
    chunks: &mut C,
    left: &mut u64,
    len: u64,
) -> Result<Bytes> {
    loop {
        match std::future::poll_fn(|cx| chunks.poll_chunk(cx)).await {
            Some(Ok(p)) if p.is_empty() => continue,
            Some(Ok(p)) => return take_piece(&p, left, len).map(|()| p),
            Some(Err(e)) => return Err(source_failed(e)),
            None => return Err(ended_short(*left, len)),
        }
    }
}

fn ended_short(left: u64, len: u64) -> Error {
    let e = io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("source ended {left} bytes short of the declared {len}"),
    );
    source_failed(e)
}

/// The next piece if one is ready now. Called only while bytes are due: the end is an error.
fn ready_piece<C: ChunkSource + ?Sized>(
    chunks: &mut C,
    left: &mut u64,
    len: u64,
) -> Result<Option<Bytes>> {
    let mut cx = Context::from_waker(Waker::noop());
    match chunks.poll_chunk(&mut cx) {
        Poll::Ready(Some(Ok(p))) => take_piece(&p, left, len).map(|()| Some(p)),
        Poll::Ready(Some(Err(e))) => Err(source_failed(e)),
        Poll::Ready(None) => Err(ended_short(*left, len)),
        Poll::Pending => Ok(None),
    }
}

/// What a failing call was doing, for error messages: the server and the operation.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub role: Role,
    pub addr: String,
    pub op: String,
}

impl Ctx {
    pub fn status(&self, status: u8) -> Error {
        Error::Status {
            role: self.role,
            addr: self.addr.clone(),
            op: self.op.clone(),
            status,
        }
    }

    pub fn protocol(&self, source: proto::ProtoError) -> Error {
        Error::Protocol {
            role: self.role,
            addr: self.addr.clone(),
            op: self.op.clone(),
            source,
        }
    }

    pub fn io(&self, source: io::Error) -> Error {
        Error::Io {
            role: self.role,
            addr: self.addr.clone(),
            op: self.op.clone(),
            source,
        }
    }

    pub fn timeout(&self, after: Duration) -> Error {
        Error::Timeout {
            role: self.role,
            addr: self.addr.clone(),
            op: self.op.clone(),
            after,
        }
    }

    /// `io` within `t`: its failure, or the time running out, as this call's error.
    pub async fn bounded<T>(
        &self,
        t: Duration,
        io: impl std::future::Future<Output = io::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(t, io).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.io(e)),
            Err(_) => Err(self.timeout(t)),
        }
    }
}

/// What a connection reads ahead: a reply's header and a small body (a tracker's answer, a file
/// id) in one `recv` instead of two. Larger reads go past it straight to the socket.
const READ_AHEAD: usize = 4096;

/// One connection to a server.
#[derive(Debug)]
pub struct Connection {
    /// Writes go straight to the socket (a `BufReader` passes them through).
    stream: BufReader<TcpStream>,
    addr: ServerAddr,
    addr_text: String,
    role: Role,
    network_timeout: Duration,
    last_used: Instant,
    /// The server is closing this connection (a FastDFS storage does after a bare EINVAL reply).
    closing: bool,
}

impl Connection {
    /// Connects to `addr` within `connect_timeout`; later reads and writes each get `network_timeout`.
    pub async fn connect(
        role: Role,
        addr: &ServerAddr,
        op: &str,
        connect_timeout: Duration,
        network_timeout: Duration,
    ) -> Result<Connection> {
        let addr_text = addr.to_string();
        let op = op.to_owned();
        let attempt = TcpStream::connect((addr.host(), addr.port()));
        let stream = match tokio::time::timeout(connect_timeout, attempt).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(Error::Connect {
                    role,
                    addr: addr_text,
                    op,
                    source,
                });
            }
            Err(_) => {
                return Err(Error::ConnectTimeout {
                    role,
                    addr: addr_text,
                    op,
                    after: connect_timeout,
                });
            }
        };
        // Small frames (headers, queries) must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        tracing::debug!(%role, addr = %addr_text, "connected");
        Ok(Connection {
            stream: BufReader::with_capacity(READ_AHEAD, stream),
            addr: addr.clone(),
            addr_text,
            role,
            network_timeout,
            last_used: Instant::now(),
            closing: false,
        })
    }

    /// The server address.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// Tracker or storage.
    pub fn role(&self) -> Role {
        self.role
    }

    /// False once the server announced it closes the connection (see `recv_header`).
    pub fn reusable(&self) -> bool {
        !self.closing
    }

    /// When the connection last completed a call.
    pub fn last_used(&self) -> Instant {
        self.last_used
    }

    pub(crate) fn touch(&mut self) {
        self.last_used = Instant::now();
    }

    pub(crate) fn ctx(&self, op: impl Into<String>) -> Ctx {
        Ctx {
            role: self.role,
            addr: self.addr_text.clone(),
            op: op.into(),
        }
    }

    /// Writes all of `data`.
    pub(crate) async fn write_all(&mut self, ctx: &Ctx, data: &[u8]) -> Result<()> {
        ctx.bounded(self.network_timeout, self.stream.write_all(data))
            .await
    }

    /// Sends `prefix`, then exactly `len` bytes from `reader` through a fixed-size buffer. The
    /// prefix goes out in one write with the first bytes read, and each write takes all the
    /// reader has ready ([`read_ready`]): with `TCP_NODELAY`, every write is a segment of its own
    /// and one more wake-up of the storage, and a small file is one write this way. A reader that
    /// ends early is a local error (the frame is then broken: drop the connection).
    pub(crate) async fn send_from<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        ctx: &Ctx,
        prefix: &[u8],
        reader: &mut R,
        len: u64,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        if len == 0 {
            return self.write_all(ctx, prefix).await;
        }
        let mut buf = prefix.to_vec();
        buf.resize(prefix.len() + stream_buf_len(len), 0);
        // bytes at the start of `buf` still to go out with the next read's
        let mut pending = prefix.len();
        let mut left = len;
        while left > 0 {
            let room = buf.get_mut(pending..).unwrap_or_default();
            let n = read_ready(reader, room, left).await?;
            if n == 0 {
                return Err(ended_short(left, len));
            }
            let out = buf.get(..pending + n).unwrap_or_default();
            self.write_all(ctx, out).await?;
            pending = 0;
            left -= n as u64;
            progress(n as u64);
        }
        Ok(())
    }

    /// Sends `prefix`, then exactly `len` bytes in the pieces `chunks` hands over, none of them
    /// copied: each write is one vectored write of the prefix (the first time) and of every piece
    /// ready at once, up to [`WRITE_MAX`] bytes, so a small file is one write (as with
    /// [`Connection::send_from`]) and a large one fewer writes than it has pieces. A
    /// source that ends early or hands over more than `len` is a local error (the frame is then
    /// broken: drop the connection).
    pub(crate) async fn send_chunks<C: ChunkSource + ?Sized>(
        &mut self,
        ctx: &Ctx,
        prefix: &[u8],
        chunks: &mut C,
        len: u64,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        if len == 0 {
            return self.write_all(ctx, prefix).await;
        }
        let mut left = len;
        let mut head = prefix;
        let mut pieces: Vec<Bytes> = Vec::new();
        while left > 0 {
            pieces.push(next_piece(chunks, &mut left, len).await?);
            let mut n = pieces.iter().map(Bytes::len).sum::<usize>();
            while left > 0 && n < WRITE_MAX && pieces.len() < WRITE_PIECES {
                let Some(more) = ready_piece(chunks, &mut left, len)? else {
                    break;
                };
                n += more.len();
                pieces.push(more);
            }
            let mut slices: Vec<IoSlice<'_>> = std::iter::once(head)
                .filter(|h| !h.is_empty())
                .chain(pieces.iter().map(|p| &p[..]))
                .map(IoSlice::new)
                .collect();
            self.write_all_vectored(ctx, &mut slices).await?;
            head = &[];
            pieces.clear();
            progress(n as u64);
        }
        Ok(())
    }

    /// Writes all of `slices` (vectored writes: no copy into one buffer first).
    async fn write_all_vectored(&mut self, ctx: &Ctx, slices: &mut [IoSlice<'_>]) -> Result<()> {
        let mut slices = slices;
        let stream = &mut self.stream;
        let write = async move {
            while !slices.is_empty() {
                let n = stream.write_vectored(slices).await?;
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
                IoSlice::advance_slices(&mut slices, n);
            }
            Ok(())
        };
        ctx.bounded(self.network_timeout, write).await
    }

    /// Reads a reply header and applies the reply rules ([`proto::reply::reply_head`]).
    pub(crate) async fn recv_header(&mut self, ctx: &Ctx) -> Result<Header> {
        let mut raw = [0u8; proto::HEADER_LEN];
        ctx.bounded(self.network_timeout, self.stream.read_exact(&mut raw))
            .await?;
        let header = Header::decode(&raw);
        tracing::debug!(
            role = %ctx.role,
            addr = %ctx.addr,
            op = %ctx.op,
            status = header.status,
            body_len = header.body_len,
            "reply"
        );
        let peer = match self.role {
            Role::Tracker => proto::reply::Peer::Tracker,
            Role::Storage => proto::reply::Peer::Storage,
        };
        match proto::reply::reply_head(&header, peer).map_err(|e| ctx.protocol(e))? {
            proto::reply::ReplyHead::Body { .. } => {}
            proto::reply::ReplyHead::Failed {
                status,
                skip,
                closes,
            } => {
                // Never reuse a connection the server is closing.
                self.closing |= closes;
                // Skip the short error body so the connection stays in step.
                let mut sink = [0u8; proto::reply::MAX_ERROR_BODY as usize];
                let n = usize::try_from(skip).unwrap_or(sink.len()).min(sink.len());
                self.read_exact(ctx, sink.get_mut(..n).unwrap_or_default())
                    .await?;
                return Err(ctx.status(status));
            }
        }
        Ok(header)
    }

    /// Reads exactly `buf.len()` bytes.
    pub(crate) async fn read_exact(&mut self, ctx: &Ctx, buf: &mut [u8]) -> Result<()> {
        ctx.bounded(self.network_timeout, self.stream.read_exact(buf))
            .await?;
        Ok(())
    }

    /// Reads a reply body of `header.body_len` bytes into memory, after checking it is at most `max`.
    pub(crate) async fn recv_body(
        &mut self,
        ctx: &Ctx,
        header: &Header,
        what: &'static str,
        max: u64,
    ) -> Result<Vec<u8>> {
        if header.body_len > max {
            return Err(ctx.protocol(proto::ProtoError::BodyTooLong {
                what,
                len: header.body_len,
                max,
            }));
        }
        // `max` is small for every in-memory reply, so this conversion cannot truncate.
        let len = usize::try_from(header.body_len).map_err(|_| {
            ctx.protocol(proto::ProtoError::BodyTooLong {
                what,
                len: header.body_len,
                max,
            })
        })?;
        let mut body = vec![0u8; len];
        self.read_exact(ctx, &mut body).await?;
        Ok(body)
    }

    /// Reads up to `buf.len()` bytes (at least one); end of stream is an error.
    pub(crate) async fn read_some(&mut self, ctx: &Ctx, buf: &mut [u8]) -> Result<usize> {
        let n = ctx
            .bounded(self.network_timeout, self.stream.read(buf))
            .await?;
        if n == 0 && !buf.is_empty() {
            return Err(ctx.io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of the reply",
            )));
        }
        Ok(n)
    }

    /// Streams `len` body bytes to `writer` through a fixed-size buffer.
    pub(crate) async fn copy_body_to<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        ctx: &Ctx,
        len: u64,
        writer: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64> {
        let mut buf = stream_buf(len);
        let mut left = len;
        while left > 0 {
            let chunk = next_chunk(&mut buf, left);
            let n = self.read_some(ctx, chunk).await?;
            let got = chunk.get(..n).unwrap_or_default();
            writer
                .write_all(got)
                .await
                .map_err(|e| Error::local("write the downloaded data", e))?;
            left -= n as u64;
            progress(n as u64);
        }
        writer
            .flush()
            .await
            .map_err(|e| Error::local("write the downloaded data", e))?;
        Ok(len)
    }

    /// Sends a request held in memory and reads its reply (length checked before allocating).
    pub(crate) async fn request<R: Request>(&mut self, ctx: &Ctx, req: &R) -> Result<R::Reply> {
        let frame = req.to_frame();
        tracing::debug!(
            role = %ctx.role,
            addr = %ctx.addr,
            cmd = proto::cmd::name_or_unknown(R::CMD),
            body_len = frame.len() - proto::HEADER_LEN,
            "request"
        );
        self.write_all(ctx, &frame).await?;
        self.recv_reply::<R::Reply>(ctx).await
    }

    /// Reads a reply: RESP, status 0, a body no longer than `P::MAX_BODY`, decoded.
    pub(crate) async fn recv_reply<P: Reply>(&mut self, ctx: &Ctx) -> Result<P> {
        let header = self.recv_header(ctx).await?;
        let body = self.recv_body(ctx, &header, "reply", P::MAX_BODY).await?;
        P::decode_reply(&header, &body).map_err(|e| ctx.protocol(e))
    }

    /// Whether the server closed (or broke) this idle connection: a non-blocking peek sees the end of
    /// the stream, an error, or bytes nobody asked for (an idle FastDFS connection has nothing to read,
    /// read ahead or not). Costs one system call and no round trip.
    pub(crate) fn looks_dead(&self) -> bool {
        if !self.stream.buffer().is_empty() {
            return true;
        }
        let sock = socket2::SockRef::from(self.stream.get_ref());
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match sock.peek(&mut buf) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// ACTIVE_TEST: is the server still there and the connection in sync?
    pub(crate) async fn active_test(&mut self) -> Result<()> {
        let ctx = self.ctx("active test");
        self.request(&ctx, &proto::ActiveTest).await?;
        self.touch();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_takes_every_piece_the_reader_has_ready() {
        // `Chain` hands out its two parts in two reads, as pingora hands out a body
        let mut reader = (&b"head"[..]).chain(&b"-and-body"[..]);
        let mut room = [0u8; 64];
        let n = read_ready(&mut reader, &mut room, 64).await.unwrap();
        assert_eq!(&room[..n], b"head-and-body");
    }

    #[tokio::test]
    async fn a_read_does_not_wait_for_more_than_the_first_piece_nor_go_past_left() {
        let (mut tx, mut rx) = tokio::io::duplex(64);
        tx.write_all(b"first").await.unwrap();
        let mut room = [0u8; 64];
        // the writer is still open: more may come, but the read returns what is there
        let n = read_ready(&mut rx, &mut room, 64).await.unwrap();
        assert_eq!(&room[..n], b"first");
        tx.write_all(b"second").await.unwrap();
        let n = read_ready(&mut rx, &mut room, 3).await.unwrap();
        assert_eq!(&room[..n], b"sec");
    }
}
