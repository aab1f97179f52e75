//! The 10-byte [`Header`]: body length (u64 BE), command, status.

use super::cmd;
use super::error::{ProtoError, Result};

/// Size of the header on the wire.
pub const HEADER_LEN: usize = 10;

/// The frame header preceding every request and reply.
///
/// `body_len` is what the peer *claims*; check it with [`Header::expect_reply`] (or
/// [`Header::expect_request`]) before allocating anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Length of the body that follows (not including the header).
    pub body_len: u64,
    /// Command code (see [`cmd`]); [`cmd::RESP`] in replies.
    pub cmd: u8,
    /// 0 on success, an errno value in failed replies (see [`super::status`]). Requests put
    /// flags here in a few places (QUERY_FILE_INFO).
    pub status: u8,
}

impl Header {
    /// A request header with status 0.
    pub const fn new(cmd: u8, body_len: u64) -> Self {
        Header {
            body_len,
            cmd,
            status: 0,
        }
    }

    /// A reply header (`cmd` = RESP).
    pub const fn reply(status: u8, body_len: u64) -> Self {
        Header {
            body_len,
            cmd: cmd::RESP,
            status,
        }
    }

    /// The 10 wire bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let len = self.body_len.to_be_bytes();
        b[..8].copy_from_slice(&len);
        b[8] = self.cmd;
        b[9] = self.status;
        b
    }

    /// Parses the 10 wire bytes (cannot fail: every value is representable; validate next).
    pub fn decode(buf: &[u8; HEADER_LEN]) -> Self {
        let mut len = [0u8; 8];
        len.copy_from_slice(&buf[..8]);
        Header {
            body_len: u64::from_be_bytes(len),
            cmd: buf[8],
            status: buf[9],
        }
    }

    /// Parses the first 10 bytes of `buf`; [`ProtoError::Truncated`] if shorter.
    pub fn decode_slice(buf: &[u8]) -> Result<Self> {
        let arr: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(ProtoError::Truncated {
                what: "header",
                need: HEADER_LEN,
                got: buf.len(),
            })?;
        Ok(Header::decode(arr))
    }

    /// Validates a reply header whose body the caller reads whole: the rules of
    /// [`super::reply::reply_head`] (RESP, a non-zero status is [`ProtoError::Status`]), then
    /// `body_len <= max_len`.
    ///
    /// On [`ProtoError::Status`] the peer may still have sent `body_len` bytes (usually 0); the
    /// caller must skip them (or drop the connection) before reusing it.
    pub fn expect_reply(&self, max_len: u64) -> Result<()> {
        // The peer kind only matters for the EINVAL-closes rule, which a header check ignores.
        match super::reply::reply_head(self, super::reply::Peer::Tracker)? {
            super::reply::ReplyHead::Failed { status, .. } => Err(ProtoError::Status { status }),
            super::reply::ReplyHead::Body { .. } => self.check_len("reply", max_len),
        }
    }

    /// Validates a request header on the server side: command and length bound.
    pub fn expect_request(&self, cmd: u8, max_len: u64) -> Result<()> {
        if self.cmd != cmd {
            return Err(ProtoError::UnexpectedCmd {
                expected: cmd,
                got: self.cmd,
            });
        }
        self.check_len("request", max_len)
    }

    /// [`ProtoError::BodyTooLong`] if `body_len > max_len`.
    pub fn check_len(&self, what: &'static str, max_len: u64) -> Result<()> {
        if self.body_len > max_len {
            return Err(ProtoError::BodyTooLong {
                what,
                len: self.body_len,
                max: max_len,
            });
        }
        Ok(())
    }

    /// True if this is a RESP with status 0.
    pub fn is_ok(&self) -> bool {
        self.cmd == cmd::RESP && self.status == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let h = Header::new(cmd::UPLOAD_FILE, 10255);
        let b = h.encode();
        assert_eq!(b, [0, 0, 0, 0, 0, 0, 0x28, 0x0f, 0x0b, 0]);
        assert_eq!(Header::decode(&b), h);
        assert_eq!(Header::decode_slice(&b).unwrap(), h);
        assert!(Header::decode_slice(&b[..9]).is_err());
    }

    #[test]
    fn reply_checks() {
        let huge = Header::reply(0, 1 << 63);
        assert!(matches!(
            huge.expect_reply(1024),
            Err(ProtoError::BodyTooLong { .. })
        ));
        let st = Header::reply(2, 0);
        assert_eq!(st.expect_reply(0), Err(ProtoError::Status { status: 2 }));
        let wrong = Header::new(cmd::UPLOAD_FILE, 0);
        assert!(matches!(
            wrong.expect_reply(0),
            Err(ProtoError::UnexpectedCmd { .. })
        ));
        Header::reply(0, 40).expect_reply(40).unwrap();
        assert!(Header::new(11, 5).expect_request(12, 10).is_err());
    }
}
