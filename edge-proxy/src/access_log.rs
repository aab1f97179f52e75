//! The access log: one line per request, appended to a file (or written to stdout with `-`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use parking_lot::Mutex;

pub enum AccessLog {
    Stdout,
    File(Mutex<File>),
}

impl AccessLog {
    /// `-` = stdout, anything else = a file opened for appending.
    pub fn open(target: &str) -> io::Result<AccessLog> {
        if target == "-" {
            return Ok(AccessLog::Stdout);
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(target))?;
        Ok(AccessLog::File(Mutex::new(f)))
    }

    /// Writes one complete line (a single `write` on the file, so lines do not interleave).
    pub fn write(&self, line: &[u8]) {
        let res = match self {
            AccessLog::Stdout => io::stdout().lock().write_all(line),
            AccessLog::File(f) => f.lock().write_all(line),
        };
        if let Err(e) = res {
            tracing::warn!("access log write failed: {e}");
        }
    }
}
