//! The reply rules, once, as a pure function: what a client does after reading a reply header.
//!
//! Every caller that reads FastDFS replies (the async [`crate::client`], the blocking transport in
//! [`crate::blocking`] used by the nginx master and the tests, [`Header::expect_reply`]) goes
//! through [`reply_head`], so the rules cannot drift apart:
//! 1. the command must be RESP (100);
//! 2. a non-zero status is the answer: its body, normally empty, is skipped when it is at most
//!    [`MAX_ERROR_BODY`] bytes (the connection then stays in step) and refused when longer;
//! 3. a storage closes the connection after a bare EINVAL reply (`sock_send_done_callback` in
//!    FastDFS), so the connection must not be reused.
//!
//! The length bound of a successful body depends on the command; callers apply it with
//! [`Header::check_len`] before allocating.

use super::cmd;
use super::error::{ProtoError, Result};
use super::header::Header;
use super::status;

/// The longest body accepted with a non-zero status (skipped); a longer one is a protocol error.
pub const MAX_ERROR_BODY: u64 = 1024;

/// Who answered: the EINVAL-closes rule is the storage's alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A tracker.
    Tracker,
    /// A storage.
    Storage,
}

/// What a reply header tells the reader to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyHead {
    /// Status 0: `len` body bytes follow (check them against the command's bound).
    Body {
        /// The declared body length.
        len: u64,
    },
    /// A non-zero status: read and drop `skip` bytes, then report `status`.
    Failed {
        /// The errno value.
        status: u8,
        /// The error body to skip (at most [`MAX_ERROR_BODY`]).
        skip: u64,
        /// The peer closes the connection after this reply: do not reuse it.
        closes: bool,
    },
}

/// Applies the reply rules to `header` from `peer`.
///
/// Errors: [`ProtoError::UnexpectedCmd`] when the command is not RESP, [`ProtoError::BodyTooLong`]
/// (`what` = "error reply") when a failed reply carries more than [`MAX_ERROR_BODY`] bytes.
pub fn reply_head(header: &Header, peer: Peer) -> Result<ReplyHead> {
    if header.cmd != cmd::RESP {
        return Err(ProtoError::UnexpectedCmd {
            expected: cmd::RESP,
            got: header.cmd,
        });
    }
    if header.status == 0 {
        return Ok(ReplyHead::Body {
            len: header.body_len,
        });
    }
    header.check_len("error reply", MAX_ERROR_BODY)?;
    Ok(ReplyHead::Failed {
        status: header.status,
        skip: header.body_len,
        closes: peer == Peer::Storage && header.status == status::EINVAL && header.body_len == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let ok = Header::reply(0, 40);
        assert_eq!(
            reply_head(&ok, Peer::Tracker),
            Ok(ReplyHead::Body { len: 40 })
        );
        assert!(matches!(
            reply_head(&Header::new(cmd::UPLOAD_FILE, 0), Peer::Storage),
            Err(ProtoError::UnexpectedCmd { got: 11, .. })
        ));
        let einval = Header::reply(status::EINVAL, 0);
        assert_eq!(
            reply_head(&einval, Peer::Storage),
            Ok(ReplyHead::Failed {
                status: status::EINVAL,
                skip: 0,
                closes: true
            })
        );
        // Only a storage closes, and only after a bare EINVAL.
        assert!(matches!(
            reply_head(&einval, Peer::Tracker),
            Ok(ReplyHead::Failed { closes: false, .. })
        ));
        assert!(matches!(
            reply_head(&Header::reply(status::EINVAL, 3), Peer::Storage),
            Ok(ReplyHead::Failed {
                closes: false,
                skip: 3,
                ..
            })
        ));
        assert!(matches!(
            reply_head(&Header::reply(2, MAX_ERROR_BODY + 1), Peer::Storage),
            Err(ProtoError::BodyTooLong {
                what: "error reply",
                ..
            })
        ));
    }
}
