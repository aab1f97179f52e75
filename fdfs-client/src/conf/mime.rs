//! The mime types file FastDFS reads (`http.mime_types_filename`, usually nginx's `mime.types`).
//!
//! Accepted forms: nginx blocks `types { text/html html htm; ... }` and plain lines
//! `type ext1 ext2` (with or without the final `;`). `#` starts a comment up to the end of the line.
//! Statements end at `;` or at the end of a line. Extension lookup is exact (case-sensitive, like
//! FastDFS's hash lookup); the first mapping of an extension wins.

use std::collections::HashMap;
use std::path::Path;

use super::error::ConfError;

/// Extension → content type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MimeTypes {
    map: HashMap<String, String>,
}

impl MimeTypes {
    /// Load from a path.
    pub fn load(path: impl AsRef<Path>) -> Result<MimeTypes, ConfError> {
        let (text, name) = super::error::read_file(path.as_ref())?;
        Self::parse_str(&text, &name)
    }

    /// Parse text as the file `name`.
    ///
    /// A statement is `type ext...` and ends at `;`; a line starting with a token that contains `/`
    /// also ends the pending one (plain FastDFS-style lines), while a line starting with a bare token
    /// continues it (nginx-style statements spanning lines).
    pub fn parse_str(text: &str, name: &str) -> Result<MimeTypes, ConfError> {
        let mut map: HashMap<String, String> = HashMap::new();
        // (type, exts) of the statement being read.
        let mut pending: Option<(String, Vec<String>)> = None;
        let mut flush = |p: &mut Option<(String, Vec<String>)>| {
            if let Some((ty, exts)) = p.take() {
                for e in exts {
                    map.entry(e).or_insert_with(|| ty.clone());
                }
            }
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            let mut first_on_line = true;
            let mut rest = line;
            while !rest.is_empty() {
                // Next token or ';' / '{' / '}'.
                let t = rest.trim_start();
                if t.is_empty() {
                    break;
                }
                let (tok, after) =
                    match t.find(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}') {
                        Some(0) => t.split_at(1),
                        Some(n) => t.split_at(n),
                        None => (t, ""),
                    };
                rest = after;
                match tok {
                    ";" | "}" => flush(&mut pending),
                    "{" => {}
                    "types" if pending.is_none() => {}
                    _ if tok.contains('/') && (pending.is_none() || first_on_line) => {
                        flush(&mut pending);
                        pending = Some((tok.to_owned(), Vec::new()));
                    }
                    _ => match pending.as_mut() {
                        Some((_, exts)) => exts.push(tok.to_owned()),
                        None => {
                            return Err(ConfError::Syntax {
                                file: name.to_owned(),
                                line: i + 1,
                                msg: format!(
                                    "expected \"type/subtype ext ...;\", got {:?}",
                                    line.trim()
                                ),
                            })
                        }
                    },
                }
                first_on_line = false;
            }
        }
        flush(&mut pending);
        Ok(MimeTypes { map })
    }

    /// The content type of an extension (without the dot).
    pub fn get(&self, ext: &str) -> Option<&str> {
        self.map.get(ext).map(String::as_str)
    }

    /// The type of `ext`, or `default`.
    pub fn get_or<'a>(&'a self, ext: &str, default: &'a str) -> &'a str {
        self.get(ext).unwrap_or(default)
    }

    /// Number of extensions known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if no extension is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_block_and_plain_lines() {
        let text = "\ntypes {\n    text/html                             html htm shtml;\n    image/jpeg  jpeg jpg; # comment\n  application/octet-stream bin exe dll\n  deb iso;\n}\nvideo/x-flv flv\nimage/png png;\n";
        let m = MimeTypes::parse_str(text, "mime.types").unwrap();
        assert_eq!(m.get("htm"), Some("text/html"));
        assert_eq!(m.get("jpg"), Some("image/jpeg"));
        assert_eq!(m.get("dll"), Some("application/octet-stream"));
        assert_eq!(m.get("flv"), Some("video/x-flv"));
        assert_eq!(m.get("png"), Some("image/png"));
        assert_eq!(m.get("JPG"), None);
        assert_eq!(
            m.get_or("xyz", "application/octet-stream"),
            "application/octet-stream"
        );
    }

    #[test]
    fn bad_line() {
        let e =
            MimeTypes::parse_str("types {\n  html text;\n}\n", "/etc/fdfs/mime.types").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/fdfs/mime.types:2: expected \"type/subtype ext ...;\", got \"html text;\""
        );
    }
}
