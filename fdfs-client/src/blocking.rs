//! A small blocking transport next to the pure [`crate::proto`] codec, as quinn-proto's core is
//! driven by quinn, or mini-redis's `blocking_client`: for the places that must not run tokio — the
//! nginx master process asking its trackers at configuration load, and the emulator's tests.
//!
//! It adds nothing to the protocol: frames come from [`crate::proto`], the reply rules from
//! [`crate::proto::reply::reply_head`]. Every function works on any `Read + Write`, so a caller
//! can bound each read itself (the nginx module wraps its socket to charge every read to a total
//! budget); [`Conn::connect`] is the plain `std::net` case.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::proto::reply::{reply_head, ReplyHead, MAX_ERROR_BODY};
use crate::proto::{Header, ProtoError, Reply, Request, HEADER_LEN};

pub use crate::proto::reply::Peer;

/// Why a blocking call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Socket trouble (a read timeout shows as `WouldBlock` or `TimedOut`).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A reply that breaks the protocol (wrong command, too long, does not decode).
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// The peer answered with a non-zero status; its short error body was read, so the stream
    /// stays in step.
    #[error("{}", ProtoError::Status { status: *status })]
    Status {
        /// The errno value.
        status: u8,
        /// The peer closes the connection after this reply (a storage after a bare EINVAL).
        closes: bool,
        /// The error body (FastDFS sends none; at most [`MAX_ERROR_BODY`] bytes).
        body: Vec<u8>,
    },
}

impl CallError {
    /// The FastDFS status, for a [`CallError::Status`].
    pub fn status(&self) -> Option<u8> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Writes a whole frame.
pub fn send<S: Write>(stream: &mut S, frame: &[u8]) -> Result<(), CallError> {
    stream.write_all(frame)?;
    stream.flush()?;
    Ok(())
}

/// Reads one reply under the reply rules: its header and a body of at most `max_body` bytes. A
/// non-zero status is [`CallError::Status`] with its short error body, read so that the stream
/// stays in step.
pub fn recv<S: Read>(
    stream: &mut S,
    peer: Peer,
    max_body: u64,
) -> Result<(Header, Vec<u8>), CallError> {
    let mut raw = [0u8; HEADER_LEN];
    stream.read_exact(&mut raw)?;
    let header = Header::decode(&raw);
    match reply_head(&header, peer)? {
        ReplyHead::Failed {
            status,
            skip,
            closes,
        } => {
            // `skip <= MAX_ERROR_BODY` (checked by `reply_head`): a small allocation.
            let n = usize::try_from(skip.min(MAX_ERROR_BODY)).unwrap_or(0);
            let mut body = vec![0u8; n];
            stream.read_exact(&mut body)?;
            Err(CallError::Status {
                status,
                closes,
                body,
            })
        }
        ReplyHead::Body { len } => {
            header.check_len("reply", max_body)?;
            let len = usize::try_from(len).map_err(|_| ProtoError::BodyTooLong {
                what: "reply",
                len,
                max: max_body,
            })?;
            let mut body = vec![0u8; len];
            stream.read_exact(&mut body)?;
            Ok((header, body))
        }
    }
}

/// Sends `req` and decodes its reply.
pub fn call<S: Read + Write, Q: Request>(
    stream: &mut S,
    peer: Peer,
    req: &Q,
) -> Result<Q::Reply, CallError> {
    send(stream, &req.to_frame())?;
    let (header, body) = recv(stream, peer, <Q::Reply as Reply>::MAX_BODY)?;
    Ok(<Q::Reply as Reply>::decode_reply(&header, &body)?)
}

/// One blocking connection to a tracker or storage.
#[derive(Debug)]
pub struct Conn<S = TcpStream> {
    stream: S,
    peer: Peer,
    closing: bool,
}

impl Conn<TcpStream> {
    /// Connects within `connect_timeout`; every later read and write waits at most `io_timeout`.
    pub fn connect(
        addr: SocketAddr,
        peer: Peer,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, connect_timeout)?;
        stream.set_read_timeout(Some(io_timeout))?;
        stream.set_write_timeout(Some(io_timeout))?;
        // Small frames (headers, queries) must not wait for Nagle.
        stream.set_nodelay(true)?;
        Ok(Conn::new(stream, peer))
    }
}

impl<S: Read + Write> Conn<S> {
    /// A connection over an already open stream.
    pub fn new(stream: S, peer: Peer) -> Self {
        Conn {
            stream,
            peer,
            closing: false,
        }
    }

    /// The stream, for socket options or raw bytes.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// False once the peer announced it closes the connection (a storage after a bare EINVAL).
    pub fn reusable(&self) -> bool {
        !self.closing
    }

    /// Writes a whole frame.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), CallError> {
        send(&mut self.stream, frame)
    }

    /// Reads one reply (see [`recv`]).
    pub fn recv(&mut self, max_body: u64) -> Result<(Header, Vec<u8>), CallError> {
        let r = recv(&mut self.stream, self.peer, max_body);
        if let Err(CallError::Status { closes: true, .. }) = r {
            self.closing = true;
        }
        r
    }

    /// Sends `req` and decodes its reply.
    pub fn call<Q: Request>(&mut self, req: &Q) -> Result<Q::Reply, CallError> {
        self.send(&req.to_frame())?;
        let (header, body) = self.recv(<Q::Reply as Reply>::MAX_BODY)?;
        Ok(<Q::Reply as Reply>::decode_reply(&header, &body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{status, ActiveTest, EmptyReply, StorageParameterReq, StorageParameters};

    /// A stream that replays `input` and records what is written.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        sent: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn script(parts: &[&[u8]]) -> Script {
        Script {
            input: io::Cursor::new(parts.concat()),
            sent: Vec::new(),
        }
    }

    #[test]
    fn call_decodes_and_skips_error_bodies() {
        let params = StorageParameters::from_pairs([("use_storage_id", "1")]);
        let ok = Reply::to_frame(&params);
        let failed = Header::reply(status::ENOENT, 3).encode();
        let mut c = Conn::new(
            script(&[&failed, b"abc", &ok, &Reply::to_frame(&EmptyReply)]),
            Peer::Tracker,
        );
        let e = c.call(&StorageParameterReq).unwrap_err();
        assert_eq!(e.status(), Some(status::ENOENT));
        // The error body was skipped: the next reply is read in step.
        assert_eq!(c.call(&StorageParameterReq).unwrap(), params);
        c.call(&ActiveTest).unwrap();
        assert!(c.reusable());
        assert_eq!(c.stream().sent.len(), 30);
    }

    #[test]
    fn storage_closes_after_bare_einval() {
        let mut c = Conn::new(
            script(&[&Header::reply(status::EINVAL, 0).encode()]),
            Peer::Storage,
        );
        assert!(matches!(
            c.call(&ActiveTest),
            Err(CallError::Status { closes: true, .. })
        ));
        assert!(!c.reusable());
    }

    #[test]
    fn bounds_and_truncation() {
        // A body longer than the reply type allows is refused before reading it.
        let mut s = script(&[&Header::reply(0, 1 << 40).encode()]);
        assert!(matches!(
            call(&mut s, Peer::Tracker, &ActiveTest),
            Err(CallError::Proto(ProtoError::BodyTooLong { .. }))
        ));
        let mut s = script(&[&Header::reply(0, 4).encode(), b"ab"]);
        assert!(matches!(
            recv(&mut s, Peer::Tracker, 10),
            Err(CallError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof
        ));
    }
}
