//! [`ConfError`]: every config error names the file, the line (when there is one) and what was expected.

/// A configuration error. Display: `<file>:<line>: <key>: <message>` (line and key when known), e.g.
/// `/etc/fdfs/mod_fastdfs.conf:12: response_mode: expected "proxy" or "redirect", got "foo"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    /// The file (or an included file) could not be read. `line` is the `#include` line, 0 for the top file.
    #[error("{}{}: cannot read file: {msg}", file, line_suffix(*line))]
    Io {
        file: String,
        line: usize,
        msg: String,
    },
    /// A line that does not fit the syntax.
    #[error("{file}:{line}: {msg}")]
    Syntax {
        file: String,
        line: usize,
        msg: String,
    },
    /// A value that does not fit its key.
    #[error("{file}:{line}: {key}: {msg}")]
    Value {
        file: String,
        line: usize,
        key: String,
        msg: String,
    },
    /// A required key is absent, or keys contradict each other (no single line to blame).
    #[error("{file}: {key}: {msg}")]
    Missing {
        file: String,
        key: String,
        msg: String,
    },
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

impl ConfError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ConfError::Io { file, .. }
            | ConfError::Syntax { file, .. }
            | ConfError::Value { file, .. }
            | ConfError::Missing { file, .. } => file,
        }
    }

    /// The 1-based line, when the error is tied to one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfError::Io { line, .. } => (*line != 0).then_some(*line),
            ConfError::Syntax { line, .. } | ConfError::Value { line, .. } => Some(*line),
            ConfError::Missing { .. } => None,
        }
    }

    /// The key, when the error is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfError::Value { key, .. } | ConfError::Missing { key, .. } => Some(key),
            ConfError::Io { .. } | ConfError::Syntax { .. } => None,
        }
    }
}

/// Reads a whole configuration file: its text, and the name its errors will carry.
pub(crate) fn read_file(path: &std::path::Path) -> Result<(String, String), ConfError> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, name)),
        Err(e) => Err(ConfError::Io {
            file: name,
            line: 0,
            msg: e.to_string(),
        }),
    }
}
