//! The access log: one line per request, appended to a file (or written to stdout with `-`), in
//! nginx's `combined` format, by default followed by the cache status, the storages tried, the
//! request time and the error if any (`[server] access_log_format = "edge"`).
//!
//! As nginx does, the time is `[03/Dec/2026:13:16:10 +0000]` and `"`, `\`, control characters
//! and bytes above 0x7e in logged values are written `\xHH`, so a value cannot end its field.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fdfs_client::utc::UtcTime;
use parking_lot::Mutex;

use crate::config::AccessLogFormat;

enum Target {
    Stdout,
    File(Reopen),
}

/// An open log file that can be opened again at its path (after logrotate moved it away), as nginx
/// does on `SIGUSR1`.
#[derive(Clone)]
pub struct Reopen {
    file: Arc<Mutex<File>>,
    path: PathBuf,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Reopen {
    /// Opens `path` for appending.
    pub fn open(path: &Path) -> io::Result<Reopen> {
        Ok(Reopen {
            file: Arc::new(Mutex::new(open_append(path)?)),
            path: path.to_path_buf(),
        })
    }

    /// Opens the path again; lines from then on go to the new file. On failure the old file
    /// stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        let f = open_append(&self.path)?;
        *self.file.lock() = f;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Points standard output and standard error (where the error log goes in daemon mode) at `path`
/// opened again, after logrotate moved the old file away.
pub fn reopen_error_log(path: &Path) -> io::Result<()> {
    let f = open_append(path)?;
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 on two valid descriptors (ours, open; the standard ones); it touches no
        // Rust-owned memory, and `f` stays open until both calls are done.
        if unsafe { libc::dup2(f.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

pub struct AccessLog {
    target: Target,
    format: AccessLogFormat,
}

/// What one line says about a request.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub client: Option<IpAddr>,
    pub method: &'a str,
    /// The request target as received.
    pub uri: &'a str,
    /// `HTTP/1.1`
    pub version: &'a str,
    pub status: u16,
    pub body_bytes: usize,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    /// `X-Cache-Status`, `-` when none.
    pub cache: &'a str,
    pub upstream: &'a [SocketAddr],
    /// Seconds since the request started.
    pub request_time: f64,
    pub error: Option<&'a str>,
}

/// Appends `b` as nginx escapes log variables.
fn escape_into(out: &mut String, b: &[u8]) {
    for &c in b {
        if c == b'"' || c == b'\\' || !(0x20..0x7f).contains(&c) {
            out.push_str(&format!("\\x{c:02X}"));
        } else {
            out.push(char::from(c));
        }
    }
}

fn field(out: &mut String, v: Option<&[u8]>) {
    match v {
        Some(v) if !v.is_empty() => escape_into(out, v),
        _ => out.push('-'),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// nginx's `$time_local` in UTC: `03/Dec/2026:13:16:10 +0000`.
pub fn nginx_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let t = UtcTime::from_unix(i64::try_from(secs).unwrap_or(i64::MAX));
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day,
        MONTHS[usize::from(t.month.clamp(1, 12)) - 1],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// One line (with its newline) for `e` at time `now`.
pub fn format_line(format: AccessLogFormat, e: &Entry<'_>, now: SystemTime) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(&e.client.map_or_else(|| "-".to_string(), |i| i.to_string()));
    s.push_str(" - - [");
    s.push_str(&nginx_time(now));
    s.push_str("] \"");
    escape_into(&mut s, e.method.as_bytes());
    s.push(' ');
    escape_into(&mut s, e.uri.as_bytes());
    s.push(' ');
    escape_into(&mut s, e.version.as_bytes());
    s.push_str(&format!("\" {} {} \"", e.status, e.body_bytes));
    field(&mut s, e.referer);
    s.push_str("\" \"");
    field(&mut s, e.user_agent);
    s.push('"');
    if format == AccessLogFormat::Edge {
        let upstream: Vec<String> = e.upstream.iter().map(|a| a.to_string()).collect();
        let upstream = if upstream.is_empty() {
            "-".to_string()
        } else {
            upstream.join(", ")
        };
        s.push_str(&format!(
            " cache={} upstream={upstream} rt={:.3}",
            e.cache, e.request_time
        ));
        if let Some(err) = e.error {
            s.push_str(" err=\"");
            escape_into(&mut s, err.as_bytes());
            s.push('"');
        }
    }
    s.push('\n');
    s
}

impl AccessLog {
    /// `-` = stdout, anything else = a file opened for appending.
    pub fn open(target: &str, format: AccessLogFormat) -> io::Result<AccessLog> {
        let target = if target == "-" {
            Target::Stdout
        } else {
            Target::File(Reopen::open(Path::new(target))?)
        };
        Ok(AccessLog { target, format })
    }

    /// The handle that reopens the file (none for stdout).
    pub fn reopener(&self) -> Option<Reopen> {
        match &self.target {
            Target::Stdout => None,
            Target::File(r) => Some(r.clone()),
        }
    }

    /// Logs one request.
    pub fn log(&self, e: &Entry<'_>) {
        self.write(format_line(self.format, e, SystemTime::now()).as_bytes());
    }

    /// Writes one complete line (a single `write` on the file, so lines do not interleave).
    pub fn write(&self, line: &[u8]) {
        let res = match &self.target {
            Target::Stdout => io::stdout().lock().write_all(line),
            Target::File(r) => r.file.lock().write_all(line),
        };
        if let Err(e) = res {
            tracing::warn!("access log write failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry<'a>(ua: &'a [u8], upstream: &'a [SocketAddr]) -> Entry<'a> {
        Entry {
            client: Some("127.0.0.1".parse().unwrap()),
            method: "GET",
            uri: "/group1/M00/00/00/a.jpg?x=1",
            version: "HTTP/1.1",
            status: 200,
            body_bytes: 1234,
            referer: None,
            user_agent: Some(ua),
            cache: "HIT",
            upstream,
            request_time: 0.0016,
            error: None,
        }
    }

    #[test]
    fn time_is_in_nginx_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_303_770); // 2026-12-03 13:16:10 UTC
        assert_eq!(nginx_time(t), "03/Dec/2026:13:16:10 +0000");
        assert_eq!(nginx_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(nginx_time(leap), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn combined_and_edge_lines() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_303_770);
        let up = ["127.0.0.1:8888".parse().unwrap()];
        let e = entry(b"curl/8.0", &up);
        let combined = format_line(AccessLogFormat::Combined, &e, t);
        assert_eq!(
            combined,
            "127.0.0.1 - - [03/Dec/2026:13:16:10 +0000] \"GET /group1/M00/00/00/a.jpg?x=1 HTTP/1.1\" 200 1234 \"-\" \"curl/8.0\"\n"
        );
        let edge = format_line(AccessLogFormat::Edge, &e, t);
        assert_eq!(
            edge,
            format!(
                "{} cache=HIT upstream=127.0.0.1:8888 rt=0.002\n",
                combined.trim_end()
            )
        );
    }

    #[test]
    fn quotes_and_control_characters_are_escaped() {
        let e = entry(b"evil\" \"x\\\n\xff", &[]);
        let line = format_line(AccessLogFormat::Combined, &e, UNIX_EPOCH);
        assert!(
            line.ends_with("\"evil\\x22 \\x22x\\x5C\\x0A\\xFF\"\n"),
            "{line}"
        );
        assert_eq!(line.matches('"').count(), 6, "{line}");
    }
}
