//! [`Error`]: everything a client call can fail with, keeping the server and the operation.
//!
//! Displayed as one line that says what and where, e.g.
//! `storage 127.0.0.11:23000: download group1/M00/00/00/x.jpg: ENOENT (2)`.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::proto::ProtoError;

/// Which kind of server a failed call talked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A tracker server.
    Tracker,
    /// A storage server.
    Storage,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Tracker => "tracker",
            Role::Storage => "storage",
        })
    }
}

/// The coarse kind of an [`Error`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The TCP connection could not be made (refused, unreachable, or the connect timeout elapsed).
    Connect,
    /// The server did not answer (or did not accept data) within the network timeout.
    Timeout,
    /// The connection failed mid-call (reset, closed early).
    Io,
    /// The server answered with a non-zero status (an errno value).
    Status,
    /// The server's reply is malformed (wrong command, truncated, impossible length...).
    Protocol,
    /// Every tracker failed.
    NoTracker,
    /// A bad argument (file id, metadata, range...) caught before talking to anybody.
    InvalidArgument,
    /// A bad configuration file.
    Config,
    /// A local file or stream (not the network) failed.
    Local,
}

/// An error from a client call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting to a server failed.
    #[error("{role} {addr}: {op}: connect failed: {source}")]
    Connect {
        /// Tracker or storage.
        role: Role,
        /// `ip:port`.
        addr: String,
        /// What was being done.
        op: String,
        /// The cause.
        source: io::Error,
    },
    /// Connecting took longer than the connect timeout.
    #[error("{role} {addr}: {op}: connect timed out after {}", fmt_duration(*.after))]
    ConnectTimeout {
        /// Tracker or storage.
        role: Role,
        /// `ip:port`.
        addr: String,
        /// What was being done.
        op: String,
        /// The connect timeout.
        after: Duration,
    },
    /// A read or write took longer than the network timeout.
    #[error("{role} {addr}: {op}: no answer within {}", fmt_duration(*.after))]
    Timeout {
        /// Tracker or storage.
        role: Role,
        /// `ip:port`.
        addr: String,
        /// What was being done.
        op: String,
        /// The network timeout.
        after: Duration,
    },
    /// The connection failed during the call.
    #[error("{role} {addr}: {op}: {source}")]
    Io {
        /// Tracker or storage.
        role: Role,
        /// `ip:port`.
        addr: String,
        /// What was being done.
        op: String,
        /// The cause.
        source: io::Error,
    },
    /// The server answered with a non-zero status.
    #[error("{role} {addr}: {op}: {} ({status})", crate::proto::status::errno_name(*.status))]
    Status {
        /// Tracker or storage.
        role: Role,
        /// `ip:port`.
        addr: String,
        /// What was being done.
        op: String,
        /// The errno value the server sent.
        status: u8,
    },
    /// The server's reply is malformed.
    #[error("{role} {addr}: {op}: bad reply: {source}")]
    Protocol {
        /// Tracker or storage.
        role: Role,
        /// `ip:port`.
        addr: String,
        /// What was being done.
        op: String,
        /// What is wrong with it.
        source: ProtoError,
    },
    /// Every tracker failed (or is cooling down after a failure); `last` is the last failure.
    #[error("no tracker available ({count} configured); last error: {last}")]
    NoTracker {
        /// How many trackers are configured.
        count: usize,
        /// The last failure, if any call was tried.
        last: Box<Error>,
    },
    /// No tracker configured at all.
    #[error("no tracker server configured")]
    NoTrackerConfigured,
    /// A bad argument, caught before talking to any server.
    #[error("{0}")]
    InvalidArgument(String),
    /// A bad configuration.
    #[error("config: {0}")]
    Config(String),
    /// A local file or stream failed.
    #[error("{what}: {source}")]
    Local {
        /// What was being done (e.g. `read /tmp/x`).
        what: String,
        /// The cause.
        source: io::Error,
    },
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { .. } | Error::ConnectTimeout { .. } => ErrorKind::Connect,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Io { .. } => ErrorKind::Io,
            Error::Status { .. } => ErrorKind::Status,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::NoTracker { .. } | Error::NoTrackerConfigured => ErrorKind::NoTracker,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Config(_) => ErrorKind::Config,
            Error::Local { .. } => ErrorKind::Local,
        }
    }

    /// The FastDFS status (errno) the server answered with, if that is what failed.
    /// Looks through [`Error::NoTracker`] to its last error.
    pub fn status(&self) -> Option<u8> {
        match self {
            Error::Status { status, .. } => Some(*status),
            Error::NoTracker { last, .. } => last.status(),
            _ => None,
        }
    }

    /// True when the server said the file does not exist (ENOENT).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(ENOENT)
    }

    /// True when a network timeout (not a connect timeout) elapsed.
    /// Looks through [`Error::NoTracker`] to its last error.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::NoTracker { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// The server address this error is about, if any.
    pub fn addr(&self) -> Option<&str> {
        match self {
            Error::Connect { addr, .. }
            | Error::ConnectTimeout { addr, .. }
            | Error::Timeout { addr, .. }
            | Error::Io { addr, .. }
            | Error::Status { addr, .. }
            | Error::Protocol { addr, .. } => Some(addr),
            Error::NoTracker { last, .. } => last.addr(),
            _ => None,
        }
    }

    /// Whether a call that failed this way may succeed on another tracker: the tracker was unreachable,
    /// hung up, timed out or talked nonsense. A status reply (e.g. ENOENT) is an answer, not a failure.
    pub(crate) fn is_server_failure(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Io | ErrorKind::Protocol
        )
    }

    pub(crate) fn local(what: impl Into<String>, source: io::Error) -> Self {
        Error::Local {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

/// `ENOENT`: no such file.
pub const ENOENT: u8 = 2;

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_status() {
        let e = Error::Status {
            role: Role::Storage,
            addr: "127.0.0.11:23000".into(),
            op: "download group1/M00/00/00/x.jpg".into(),
            status: 2,
        };
        assert_eq!(
            e.to_string(),
            "storage 127.0.0.11:23000: download group1/M00/00/00/x.jpg: ENOENT (2)"
        );
        assert!(e.is_not_found());
        assert_eq!(e.kind(), ErrorKind::Status);
        assert!(!e.is_server_failure());
    }

    #[test]
    fn display_timeout_and_no_tracker() {
        let e = Error::Timeout {
            role: Role::Tracker,
            addr: "127.0.0.10:22122".into(),
            op: "query store".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "tracker 127.0.0.10:22122: query store: no answer within 1500ms"
        );
        let e = Error::NoTracker {
            count: 2,
            last: Box::new(e),
        };
        assert!(e.is_timeout());
        assert_eq!(e.addr(), Some("127.0.0.10:22122"));
        assert!(e
            .to_string()
            .starts_with("no tracker available (2 configured); last error: tracker"));
    }
}
