//! A reader for nginx configuration files, enough to migrate a tracker node: directives with their
//! arguments and blocks, comments, single and double quotes, `include` (a file or `dir/*.conf`,
//! relative to the including file's directory).
//!
//! Hand-written rather than a crate: the crates that parse nginx configuration are unmaintained
//! or build a full typed model of every module's directives; migration needs only the token tree,
//! about a hundred lines. Real configurations are not always well formed: the deployment this
//! project replaces ends without the closing `}` of `http`, which nginx itself would refuse. The
//! reader closes such blocks at the end of the file and says so, rather than refusing a file its
//! operator believes works.

use std::path::{Path, PathBuf};

/// One directive: `name args...;` or `name args... { block }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// Where it is written (`file:line`).
    pub at: String,
    /// The `{ ... }` block, for block directives.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// The directives of the block named `name` directly inside this one's block.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Directive> + 'a {
        self.block.iter().flatten().filter(move |d| d.name == name)
    }
}

/// The directives of a file, with what the reader had to repair.
#[derive(Debug, Default)]
pub struct Parsed {
    pub directives: Vec<Directive>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{at}: {msg}")]
    Syntax { at: String, msg: String },
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// Reads `path` and the files it includes.
pub fn parse_file(path: &Path) -> Result<Parsed, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|source| ParseError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut parsed = parse_str(&path.display().to_string(), &text)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut warnings = std::mem::take(&mut parsed.warnings);
    parsed.directives = expand_includes(parsed.directives, dir, &mut warnings, 0)?;
    parsed.warnings = warnings;
    Ok(parsed)
}

/// Parses configuration text; `file` names it in errors and in each directive's `at`.
pub fn parse_str(file: &str, text: &str) -> Result<Parsed, ParseError> {
    let tokens = tokenize(file, text)?;
    let mut warnings = Vec::new();
    let mut pos = 0;
    let directives = parse_block(file, &tokens, &mut pos, 0, &mut warnings)?;
    Ok(Parsed {
        directives,
        warnings,
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Splits `text` into words and `{`, `}`, `;`, each with the line it starts on.
fn tokenize(file: &str, text: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => skip_comment(&mut chars),
            '{' | '}' | ';' => {
                chars.next();
                let tok = match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    _ => Tok::Semi,
                };
                out.push((tok, line));
            }
            '"' | '\'' => {
                let start = line;
                chars.next();
                let word = quoted(&mut chars, c, &mut line).ok_or_else(|| ParseError::Syntax {
                    at: format!("{file}:{start}"),
                    msg: format!("unterminated {c}-quoted string"),
                })?;
                out.push((Tok::Word(word), start));
            }
            _ => out.push((Tok::Word(bare_word(&mut chars)), line)),
        }
    }
    Ok(out)
}

/// Skips a `#` comment up to (not including) its newline, which still counts the line.
fn skip_comment(chars: &mut Chars<'_>) {
    while chars.peek().is_some_and(|&c| c != '\n') {
        chars.next();
    }
}

/// The rest of a string quoted with `q` (the opening quote already read), counting the newlines
/// inside it; `\q` is a quote, any other backslash is kept. `None` when the text ends first.
fn quoted(chars: &mut Chars<'_>, q: char, line: &mut usize) -> Option<String> {
    let mut word = String::new();
    loop {
        match chars.next()? {
            '\\' => match chars.next() {
                Some(n) if n == q => word.push(n),
                Some(n) => {
                    word.push('\\');
                    word.push(n);
                }
                None => word.push('\\'),
            },
            c if c == q => return Some(word),
            n => {
                if n == '\n' {
                    *line += 1;
                }
                word.push(n);
            }
        }
    }
}

/// An unquoted word, up to whitespace or `{`, `}`, `;`.
fn bare_word(chars: &mut Chars<'_>) -> String {
    let mut word = String::new();
    while let Some(&n) = chars.peek() {
        if n.is_whitespace() || matches!(n, '{' | '}' | ';') {
            break;
        }
        // `${name}` is one word in nginx.
        if n == '$' {
            word.push(n);
            chars.next();
            if chars.peek() == Some(&'{') {
                for m in chars.by_ref() {
                    word.push(m);
                    if m == '}' {
                        break;
                    }
                }
            }
            continue;
        }
        word.push(n);
        chars.next();
    }
    word
}

fn parse_block(
    file: &str,
    tokens: &[(Tok, usize)],
    pos: &mut usize,
    depth: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<Directive>, ParseError> {
    let mut out = Vec::new();
    let mut words: Vec<(String, usize)> = Vec::new();
    while let Some((tok, line)) = tokens.get(*pos) {
        *pos += 1;
        match tok {
            Tok::Word(w) => words.push((w.clone(), *line)),
            Tok::Semi | Tok::Open => {
                let Some(((name, first), args)) = words.split_first() else {
                    return Err(ParseError::Syntax {
                        at: format!("{file}:{line}"),
                        msg: format!(
                            "unexpected \"{}\"",
                            if *tok == Tok::Semi { ";" } else { "{" }
                        ),
                    });
                };
                let block = if *tok == Tok::Open {
                    Some(parse_block(file, tokens, pos, depth + 1, warnings)?)
                } else {
                    None
                };
                out.push(Directive {
                    name: name.clone(),
                    args: args.iter().map(|(a, _)| a.clone()).collect(),
                    at: format!("{file}:{first}"),
                    block,
                });
                words.clear();
            }
            Tok::Close => {
                if depth == 0 {
                    return Err(ParseError::Syntax {
                        at: format!("{file}:{line}"),
                        msg: "unexpected \"}\"".into(),
                    });
                }
                if let Some((w, l)) = words.first() {
                    return Err(ParseError::Syntax {
                        at: format!("{file}:{l}"),
                        msg: format!("directive \"{w}\" is not terminated by \";\""),
                    });
                }
                return Ok(out);
            }
        }
    }
    if let Some((w, l)) = words.first() {
        return Err(ParseError::Syntax {
            at: format!("{file}:{l}"),
            msg: format!("directive \"{w}\" is not terminated by \";\" at the end of the file"),
        });
    }
    if depth > 0 {
        warnings.push(format!(
            "{file}: the file ends inside a block (a closing \"}}\" is missing); read as if it were there"
        ));
    }
    Ok(out)
}

/// Replaces each `include` by the directives of the files it names; `mime.types` and includes
/// whose files do not exist are kept out with a warning (they hold nothing the edge maps).
fn expand_includes(
    directives: Vec<Directive>,
    dir: &Path,
    warnings: &mut Vec<String>,
    depth: usize,
) -> Result<Vec<Directive>, ParseError> {
    let mut out = Vec::new();
    for mut d in directives {
        if d.name == "include" && depth < 8 {
            let Some(pattern) = d.args.first() else {
                continue;
            };
            // The types table: nothing in it for the edge, which passes Content-Type on.
            if pattern.ends_with("mime.types") {
                continue;
            }
            let files = include_files(dir, pattern);
            if files.is_empty() {
                warnings.push(format!(
                    "{}: include {pattern}: no such file here, not read",
                    d.at
                ));
            }
            for f in files {
                let mut parsed = parse_file(&f)?;
                warnings.append(&mut parsed.warnings);
                let sub_dir = f.parent().unwrap_or(dir).to_path_buf();
                out.extend(expand_includes(
                    parsed.directives,
                    &sub_dir,
                    warnings,
                    depth + 1,
                )?);
            }
            continue;
        }
        if let Some(block) = d.block.take() {
            d.block = Some(expand_includes(block, dir, warnings, depth)?);
        }
        out.push(d);
    }
    Ok(out)
}

/// The files an `include` names: a path, or a `*` pattern in its last component.
fn include_files(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = dir.join(pattern);
    let Some(name) = full.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    if !name.contains('*') {
        return if full.is_file() {
            vec![full]
        } else {
            Vec::new()
        };
    }
    let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
    let parent = full.parent().unwrap_or(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_quotes_comments_and_lines() {
        let p = parse_str(
            "n.conf",
            "# c\nhttp {\n  gzip_disable \"MSIE [1-6]\\.\";\n  upstream fdfs { server 1.2.3.4:80 weight=1; }\n  location ~/group([0-9])/M00 { proxy_pass http://fdfs; }\n}\n",
        )
        .expect("parses");
        assert!(p.warnings.is_empty());
        let http = &p.directives[0];
        assert_eq!(http.name, "http");
        let d = http.block.as_ref().expect("block");
        assert_eq!(d[0].args, ["MSIE [1-6]\\."]);
        assert_eq!(d[0].at, "n.conf:3");
        let up = &d[1];
        assert_eq!(up.args, ["fdfs"]);
        let server = up.children("server").next().expect("server");
        assert_eq!(server.args, ["1.2.3.4:80", "weight=1"]);
        assert_eq!(d[2].args, ["~/group([0-9])/M00"]);
        assert_eq!(d[2].at, "n.conf:5");
    }

    #[test]
    fn a_missing_closing_brace_at_the_end_is_repaired_with_a_warning() {
        let p = parse_str("n.conf", "http {\n server { listen 80; }\n").expect("parses");
        assert_eq!(p.directives.len(), 1);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("closing"), "{:?}", p.warnings);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse_str("n.conf", "http {\n listen 80\n}\n").expect_err("no ;");
        assert_eq!(
            e.to_string(),
            "n.conf:2: directive \"listen\" is not terminated by \";\""
        );
        let e = parse_str("n.conf", "a;\n}\n").expect_err("extra }");
        assert_eq!(e.to_string(), "n.conf:2: unexpected \"}\"");
        let e = parse_str("n.conf", "a \"b;\n").expect_err("quote");
        assert!(e.to_string().starts_with("n.conf:1: unterminated"), "{e}");
    }

    #[test]
    fn includes_are_read_relative_to_the_including_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
        std::fs::write(
            dir.path().join("conf.d/up.conf"),
            "upstream fdfs { server 127.0.0.1:8888; }\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("mime.types"), "types { text/html html; }\n").expect("w");
        std::fs::write(
            dir.path().join("nginx.conf"),
            "http {\n include mime.types;\n include conf.d/*.conf;\n include missing.conf;\n}\n",
        )
        .expect("write");
        let p = parse_file(&dir.path().join("nginx.conf")).expect("parses");
        let http = &p.directives[0];
        let names: Vec<&str> = http
            .block
            .iter()
            .flatten()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["upstream"]);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("missing.conf"));
    }
}
