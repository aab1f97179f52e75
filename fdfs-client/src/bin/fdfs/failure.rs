//! How the tool fails: the exit statuses, the one-line message on stderr and the `--json` error object.

use std::process::ExitCode;

use fdfs_client::client::{Error, ErrorKind};
use serde_json::{json, Value};

use crate::ui::print_json;

/// The exit statuses, as `--help` lists them. A usage error is clap's 2; server answers and network
/// failures get their own codes so a script can tell "not there" from "could not ask".
pub const EXIT_CODES: &str = "Exit status:
  0  success
  1  local failure: bad argument or config, local file error
  2  usage error (bad command line)
  3  not found: the server answered ENOENT
  4  refused: the server answered another error status (named in the message)
  5  unreachable: no tracker or storage could be connected to
  6  network: a server timed out or dropped the connection
  7  protocol: a server's reply was malformed
With --json, stdout holds one JSON object either way: the result, or
{\"error\": {\"message\", \"kind\", \"exit_code\", \"status\", \"errno\", \"server\"}}.";

/// Exit status: local failure.
const EXIT_FAILURE: u8 = 1;
/// Exit status: usage error (clap's).
const EXIT_USAGE: u8 = 2;
/// Exit status: the server answered ENOENT.
const EXIT_NOT_FOUND: u8 = 3;
/// Exit status: the server answered another error status.
const EXIT_REFUSED: u8 = 4;
/// Exit status: nothing could be connected to.
const EXIT_UNREACHABLE: u8 = 5;
/// Exit status: timed out or connection lost.
const EXIT_NETWORK: u8 = 6;
/// Exit status: malformed reply.
const EXIT_PROTOCOL: u8 = 7;

/// A failure of the tool: the message, the exit status and what JSON callers get to branch on.
pub struct Failure {
    msg: String,
    code: u8,
    /// `local`, `usage`, `not_found`, `refused`, `unreachable`, `network`, `protocol`.
    kind: &'static str,
    /// The FastDFS status (errno) the server answered, if any.
    status: Option<u8>,
    /// The server the failure is about, if any.
    server: Option<String>,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let (code, kind) = match (e.kind(), e.status()) {
            (_, Some(s)) if s == fdfs_client::client::ENOENT => (EXIT_NOT_FOUND, "not_found"),
            (_, Some(_)) => (EXIT_REFUSED, "refused"),
            (ErrorKind::Connect | ErrorKind::NoTracker, _) => (EXIT_UNREACHABLE, "unreachable"),
            (ErrorKind::Timeout | ErrorKind::Io, _) => (EXIT_NETWORK, "network"),
            (ErrorKind::Protocol, _) => (EXIT_PROTOCOL, "protocol"),
            _ => (EXIT_FAILURE, "local"),
        };
        Failure {
            msg: e.to_string(),
            code,
            kind,
            status: e.status(),
            server: e.addr().map(str::to_owned),
        }
    }
}

impl Failure {
    /// The `--json` error object.
    fn json(&self) -> Value {
        json!({ "error": {
            "message": self.msg,
            "kind": self.kind,
            "exit_code": self.code,
            "status": self.status,
            "errno": self.status.map(fdfs_client::proto::status::errno_name),
            "server": self.server,
        }})
    }
}

/// A local failure (bad argument, config or local file): exit status 1.
pub fn fail(msg: impl Into<String>) -> Failure {
    Failure {
        msg: msg.into(),
        code: EXIT_FAILURE,
        kind: "local",
        status: None,
        server: None,
    }
}

/// One line on stderr; under `--json` also the error object on stdout.
pub fn report_failure(f: &Failure, json: bool) -> ExitCode {
    tracing::debug!(kind = f.kind, code = f.code, "failed");
    eprintln!("fdfs: {}", f.msg);
    if json {
        print_json(&f.json());
    }
    ExitCode::from(f.code.max(1))
}

/// clap's own handling (help, version, usage message and status 2), plus the JSON error object when
/// `--json` was on the command line.
pub fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as K;
    let json = std::env::args().skip(1).any(|a| a == "--json");
    if !json || matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
        e.exit();
    }
    // clap's message without the usage and hint lines, on one line.
    let text = e.render().to_string();
    let msg = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_owned();
    let _ = e.print();
    let f = Failure {
        msg,
        code: EXIT_USAGE,
        kind: "usage",
        status: None,
        server: None,
    };
    print_json(&f.json());
    ExitCode::from(EXIT_USAGE)
}
