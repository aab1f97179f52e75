//! [`ProtoError`]: everything that can go wrong turning bytes into frames.

use thiserror::Error;

/// An error decoding (or, rarely, encoding) a FastDFS frame.
///
/// Decoders never panic and never allocate more than the bytes they were given; every malformed
/// input ends here.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtoError {
    /// The header declares a body longer than the command can legitimately carry
    /// (checked before anything is allocated).
    #[error("{what}: declared body length {len} exceeds the maximum {max}")]
    BodyTooLong {
        /// What was being decoded.
        what: &'static str,
        /// The declared length.
        len: u64,
        /// The largest acceptable length.
        max: u64,
    },
    /// A reply came with a command byte other than RESP (100), or a request with an unexpected command.
    #[error("unexpected command {got} (expected {expected})")]
    UnexpectedCmd {
        /// The expected command code.
        expected: u8,
        /// The received command code.
        got: u8,
    },
    /// The peer answered with a non-zero status (an errno value).
    #[error("server status {status} ({})", crate::proto::status::errno_name(*status))]
    Status {
        /// The errno value.
        status: u8,
    },
    /// The body is shorter than its fixed layout requires.
    #[error("{what}: truncated, need {need} bytes, got {got}")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        got: usize,
    },
    /// The body length is not one the layout allows (e.g. trailing bytes, not a multiple of a record).
    #[error("{what}: invalid body length {got}")]
    BadLength {
        /// What was being decoded.
        what: &'static str,
        /// The actual length.
        got: u64,
    },
    /// A field has an impossible value.
    #[error("{what}: invalid field: {reason}")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The storage-id table of a FETCH_STORAGE_IDS reply breaks the storage_ids.conf rules.
    #[error("storage ids reply: {0}")]
    StorageIds(crate::conf::storage_ids::StorageIdError),
    /// A value does not fit its fixed-width field (encoding side).
    #[error("{what}: {len} bytes do not fit in {max}")]
    FieldTooLong {
        /// The field.
        what: &'static str,
        /// The value length.
        len: usize,
        /// The field width (or maximum).
        max: usize,
    },
}

/// Shorthand for `Result<T, ProtoError>`.
pub type Result<T, E = ProtoError> = std::result::Result<T, E>;
