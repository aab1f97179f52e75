//! The checks serde cannot make (cross-field rules, ranges), and the line each error names.
//!
//! A failed check names the value by its path in the file (`group[1].storages[0].weight`), and
//! [`line_of_path`] looks that path up in toml's own document parser, which keeps the span of
//! every key and value. Searching the text for the key instead would name the first line that
//! mentions it: a bad `weight` in the second `[[group]]` reported at the first group's `weight`.

use std::collections::HashSet;
use std::time::Duration;

use super::values::human;
use super::Config;

/// The longest duration any setting takes (nginx's `expires max` is 10 years too).
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);
/// More worker threads than this is a typo, not a machine.
pub const MAX_THREADS: usize = 1024;

/// One step of a path into the file: a key of a table or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

/// `at_path!["group", i, "name"]`: the path of a value in the file.
macro_rules! at_path {
    ($($seg:expr),* $(,)?) => { vec![$(Seg::from($seg)),*] };
}
pub(super) use at_path;

/// A value the file may not hold: the message, and the path of the value (empty when the
/// problem is the absence of something, which has no line).
#[derive(Debug)]
pub(super) struct Problem {
    pub msg: String,
    pub at: Vec<Seg>,
}

pub(super) fn problem(msg: impl Into<String>, at: Vec<Seg>) -> Problem {
    Problem {
        msg: msg.into(),
        at,
    }
}

/// The error of `problem` in the file `name` of text `text`: with the line of its value when
/// it has one.
pub(super) fn error_at(text: &str, name: &str, p: Problem) -> super::ConfigError {
    match line_of_path(text, &p.at) {
        Some(line) => super::ConfigError::Parse {
            path: name.to_string(),
            line,
            msg: p.msg,
        },
        None => super::ConfigError::Invalid {
            path: name.to_string(),
            msg: p.msg,
        },
    }
}

/// The 1-based line of the value at `path`; when the path ends in a key the file leaves out
/// (a default), the line of the nearest enclosing table that has one. `None` when the text does
/// not parse as TOML or nothing on the path has a span.
pub(super) fn line_of_path(text: &str, path: &[Seg]) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    let mut span = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => item.get(k.as_str()),
            Seg::Index(i) => item.get(*i),
        };
        let Some(next) = next else { break };
        item = next;
        // Implicit tables (a dotted key's parents) have no span: keep the last one seen.
        span = item.span().or(span);
    }
    span.map(|s| line_of(text, s.start))
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Cross-field checks and ranges, table by table; the first problem found.
    pub(super) fn validate(&self) -> Result<(), Problem> {
        self.check_server()?;
        self.check_groups()?;
        self.check_trackers()?;
        self.check_response()?;
        self.check_health()?;
        self.check_cache()?;
        self.check_access()?;
        self.check_peers()?;
        self.check_upload()?;
        self.check_images()?;
        self.check_durations()
    }

    fn check_server(&self) -> Result<(), Problem> {
        let s = &self.server;
        if s.listen.is_empty() {
            let msg = "[server] listen must not be empty";
            return Err(problem(msg, at_path!["server", "listen"]));
        }
        if s.threads == 0 {
            let msg = "[server] threads must be >= 1";
            return Err(problem(msg, at_path!["server", "threads"]));
        }
        if s.threads > MAX_THREADS {
            let msg = format!("[server] threads must be 1 to {MAX_THREADS}");
            return Err(problem(msg, at_path!["server", "threads"]));
        }
        if let Some(t) = &self.tls {
            if t.listen.is_empty() {
                let msg = "[tls] listen must not be empty (leave the table out without TLS)";
                return Err(problem(msg, at_path!["tls", "listen"]));
            }
            for (i, a) in t.listen.iter().enumerate() {
                let admin = self.admin.as_ref().is_some_and(|ad| ad.listen.0 == a.0);
                if admin || s.listen.iter().any(|l| l.0 == a.0) {
                    let msg = format!("[tls] listen: {} is already a plain HTTP listener", a.0);
                    return Err(problem(msg, at_path!["tls", "listen", i]));
                }
            }
        }
        if s.max_connections == 0 {
            let msg = "[server] max_connections must be > 0";
            return Err(problem(msg, at_path!["server", "max_connections"]));
        }
        if s.max_header_size.0 == 0 {
            let msg = "[server] max_header_size must be > 0";
            return Err(problem(msg, at_path!["server", "max_header_size"]));
        }
        Ok(())
    }

    fn check_groups(&self) -> Result<(), Problem> {
        if self.groups.is_empty() && self.trackers.is_none() {
            let msg = "no [[group]] and no [trackers]: nothing to proxy to";
            return Err(problem(msg, Vec::new()));
        }
        let mut names = HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let valid_name = !g.name.is_empty()
                && g.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid_name {
                let msg = format!("invalid group name `{}`", g.name);
                return Err(problem(msg, at_path!["group", i, "name"]));
            }
            if !names.insert(g.name.as_str()) {
                let msg = format!("group `{}` defined twice", g.name);
                return Err(problem(msg, at_path!["group", i, "name"]));
            }
            if g.storages.is_empty() && self.trackers.is_none() {
                let msg = format!("group `{}` has no storages", g.name);
                return Err(problem(msg, at_path!["group", i, "name"]));
            }
            let mut seen = HashSet::new();
            for (j, s) in g.storages.iter().enumerate() {
                if s.weight() == 0 {
                    let msg = format!(
                        "storage {} of group `{}`: weight must be >= 1",
                        s.addr(),
                        g.name
                    );
                    return Err(problem(msg, at_path!["group", i, "storages", j, "weight"]));
                }
                if !seen.insert(s.addr()) {
                    let msg = format!("storage {} listed twice in group `{}`", s.addr(), g.name);
                    return Err(problem(msg, at_path!["group", i, "storages", j]));
                }
            }
        }
        Ok(())
    }

    fn check_trackers(&self) -> Result<(), Problem> {
        let Some(t) = &self.trackers else {
            return Ok(());
        };
        if t.servers.is_empty() {
            let msg = "[trackers] servers must not be empty";
            return Err(problem(msg, at_path!["trackers", "servers"]));
        }
        if t.http_port == 0 {
            let msg = "[trackers] http_port must be 1 to 65535";
            return Err(problem(msg, at_path!["trackers", "http_port"]));
        }
        Ok(())
    }

    fn check_response(&self) -> Result<(), Problem> {
        let r = &self.response;
        if !(1..=9).contains(&r.gzip_level) {
            let msg = "[response] gzip_level must be 1 to 9";
            return Err(problem(msg, at_path!["response", "gzip_level"]));
        }
        for (k, o) in r.cors_origins.iter().enumerate() {
            let scheme = o.starts_with("http://") || o.starts_with("https://");
            if o != "*" && (!scheme || o.ends_with('/') || o.contains(char::is_whitespace)) {
                let msg = format!(
                    "[response] cors_origins: `{o}` is not an origin (`https://host[:port]`, or `*`)"
                );
                return Err(problem(msg, at_path!["response", "cors_origins", k]));
            }
        }
        if r.download_name_meta.is_some() && self.trackers.is_none() {
            let msg =
                "[response] download_name_meta needs [trackers] (metadata is read from FastDFS)";
            return Err(problem(msg, at_path!["response", "download_name_meta"]));
        }
        let not_mime = |t: &String| t.split('/').count() != 2 || t.contains(char::is_whitespace);
        if let Some(k) = r.gzip_types.iter().position(not_mime) {
            let msg = format!(
                "[response] gzip_types: `{}` is not a MIME type",
                r.gzip_types[k]
            );
            return Err(problem(msg, at_path!["response", "gzip_types", k]));
        }
        Ok(())
    }

    fn check_health(&self) -> Result<(), Problem> {
        // (`upstream.max_fails = 0` is accepted: as in nginx, it turns passive accounting off.)
        let p = &self.health.path;
        if !p.starts_with('/') {
            let msg = "[health] path must start with /";
            return Err(problem(msg, at_path!["health", "path"]));
        }
        if p.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            let msg = "[health] path must not contain spaces or control characters";
            return Err(problem(msg, at_path!["health", "path"]));
        }
        Ok(())
    }

    fn check_cache(&self) -> Result<(), Problem> {
        if self.cache.max_size.0 == 0 {
            let msg = "[cache] max_size must be > 0";
            return Err(problem(msg, at_path!["cache", "max_size"]));
        }
        Ok(())
    }

    /// Durations that parse but would break the edge at run time: a zero interval stops the
    /// background service, a far-future `expires` makes every response panic (dates past 9999).
    fn check_durations(&self) -> Result<(), Problem> {
        for (table, key, value, min) in self.durations() {
            if value < min || value > MAX_DURATION {
                let least = if min.is_zero() {
                    "0s".into()
                } else {
                    human(min)
                };
                let msg = format!(
                    "[{table}] {key} = \"{}\" is out of range ({least} to 3650d)",
                    human(value)
                );
                return Err(problem(msg, at_path![table, key]));
            }
        }
        Ok(())
    }

    /// Every duration of the file with its table, key and least value.
    fn durations(&self) -> Vec<(&'static str, &'static str, Duration, Duration)> {
        let (zero, ms) = (Duration::ZERO, Duration::from_millis(1));
        let (s, u, h, c) = (&self.server, &self.upstream, &self.health, &self.cache);
        let mut v = vec![
            ("server", "grace_period", s.grace_period.0, zero),
            (
                "server",
                "graceful_shutdown_timeout",
                s.graceful_shutdown_timeout.0,
                zero,
            ),
            (
                "server",
                "client_header_timeout",
                s.client_header_timeout.0,
                ms,
            ),
            ("server", "client_body_timeout", s.client_body_timeout.0, ms),
            ("server", "keepalive_timeout", s.keepalive_timeout.0, ms),
            ("upstream", "connect_timeout", u.connect_timeout.0, ms),
            ("upstream", "read_timeout", u.read_timeout.0, ms),
            ("upstream", "write_timeout", u.write_timeout.0, ms),
            ("upstream", "fail_timeout", u.fail_timeout.0, zero),
            (
                "health",
                "interval",
                h.interval.0,
                Duration::from_millis(100),
            ),
            ("health", "timeout", h.timeout.0, ms),
            ("cache", "valid", c.valid.0, zero),
            ("cache", "inactive", c.inactive.0, Duration::from_secs(1)),
            ("cache", "stale_if_error", c.stale_if_error.0, zero),
            ("cache", "lock_timeout", c.lock_timeout.0, ms),
        ];
        if let Some(e) = self.response.expires.0 {
            v.push(("response", "expires", e, zero));
        }
        if let Some(t) = &self.trackers {
            v.push(("trackers", "refresh", t.refresh.0, Duration::from_secs(1)));
            v.push(("trackers", "timeout", t.timeout.0, ms));
        }
        v
    }
}
