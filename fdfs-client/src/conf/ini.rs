//! The libfastcommon ini dialect (`ini_file_reader.c`) as FastDFS config files use it.
//!
//! - `key = value`, spaces around key and value trimmed; the value runs to the end of the line (a `#`
//!   inside a value is part of it).
//! - A line starting with `#` is a comment, except `#include <file>` (`include` case-insensitive,
//!   then a space or tab): the file is read in place, relative to the directory of the **top** file
//!   (libfastcommon's `config_path`; the same as the including file's directory unless includes are
//!   nested from another directory) unless absolute; a `file://` prefix is allowed, `http://`
//!   includes are refused. The current section is reset to the global one before and after the
//!   included text, as libfastcommon does.
//! - `[name]` starts a section; keys written after it belong to it. A section seen twice is merged;
//!   `[]` goes back to the global section. A line starting with `[` but not ending with `]` is not a
//!   section header (it is read as a `key = value` line, like libfastcommon does).
//! - A key may repeat (`tracker_server`): [`Section::all`] gives every value, [`Section::get`] the
//!   last one.
//! - Lines without `=` or with an empty key are ignored like libfastcommon does, and recorded in
//!   [`Ini::warnings`].
//!
//! Value readers: [`parse_bool`] (true/yes/on/1, case-insensitive, anything else is false),
//! [`parse_int`], [`parse_size`] (`256KB`, `1MB`, `4G`…), [`parse_duration_secs`] (`30`, `30s`, `5m`,
//! `2h`, `1d`), [`parse_time_of_day`] (`HH:MM`).

use std::path::{Path, PathBuf};

use super::error::ConfError;

/// Maximum `#include` nesting.
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The trimmed key.
    pub key: String,
    /// The trimmed value (may be empty).
    pub value: String,
    /// The file the line is in (as named to the loader, joined with include paths).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
}

impl Entry {
    /// A [`ConfError::Value`] about this entry.
    pub fn error(&self, msg: impl Into<String>) -> ConfError {
        ConfError::Value {
            file: self.file.clone(),
            line: self.line,
            key: self.key.clone(),
            msg: msg.into(),
        }
    }

    /// Read as a boolean, FastDFS style ([`parse_bool`]).
    pub fn as_bool(&self) -> bool {
        parse_bool(&self.value)
    }

    /// Read as an integer ([`parse_int`]), with a located error.
    pub fn as_int(&self) -> Result<i64, ConfError> {
        parse_int(&self.value).map_err(|m| self.error(m))
    }

    /// Read as a byte size ([`parse_size`]), with a located error.
    pub fn as_size(&self) -> Result<u64, ConfError> {
        parse_size(&self.value).map_err(|m| self.error(m))
    }

    /// Read as seconds ([`parse_duration_secs`]), with a located error.
    pub fn as_duration_secs(&self) -> Result<i64, ConfError> {
        parse_duration_secs(&self.value).map_err(|m| self.error(m))
    }
}

/// A section: the global one has the name `""`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Section name without brackets (`""` for global).
    pub name: String,
    /// Entries in file order.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The last entry for `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// The last value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// The last value for `key`, `None` if absent or empty.
    pub fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every entry for `key`, in file order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.key == key)
    }

    /// True if the key is present.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Boolean (`default` when absent), FastDFS style.
    pub fn get_bool(&self, key: &str, default: bool) -> bool {
        self.entry(key).map_or(default, Entry::as_bool)
    }

    /// Warnings for boolean keys whose value FastDFS would silently read as false although it is not a
    /// recognised spelling (`ture`, `enable`…): see [`is_recognised_bool`].
    pub fn bool_warnings(&self, keys: &[&str]) -> Vec<ConfError> {
        self.entries
            .iter()
            .filter(|e| {
                keys.contains(&e.key.as_str())
                    && !e.value.is_empty()
                    && !is_recognised_bool(&e.value)
            })
            .map(|e| {
                e.error(format!(
                    "expected true/yes/on/1 or false/no/off/0, got {:?} (read as false)",
                    e.value
                ))
            })
            .collect()
    }

    /// Integer, `None` when absent or empty.
    pub fn get_int(&self, key: &str) -> Result<Option<i64>, ConfError> {
        match self.entry(key) {
            Some(e) if !e.value.is_empty() => e.as_int().map(Some),
            _ => Ok(None),
        }
    }

    /// Byte size, `None` when absent or empty.
    pub fn get_size(&self, key: &str) -> Result<Option<u64>, ConfError> {
        match self.entry(key) {
            Some(e) if !e.value.is_empty() => e.as_size().map(Some),
            _ => Ok(None),
        }
    }

    /// A port (1..=65535), `default` when absent or empty.
    pub fn get_port(&self, key: &str, default: u16) -> Result<u16, ConfError> {
        match self.entry(key) {
            Some(e) if !e.value.is_empty() => {
                let n = e.as_int()?;
                u16::try_from(n)
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| e.error(format!("expected a port 1..65535, got {n}")))
            }
            _ => Ok(default),
        }
    }

    /// Seconds, `None` when absent or empty.
    pub fn get_duration_secs(&self, key: &str) -> Result<Option<i64>, ConfError> {
        match self.entry(key) {
            Some(e) if !e.value.is_empty() => e.as_duration_secs().map(Some),
            _ => Ok(None),
        }
    }
}

/// A parsed ini file with its includes resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ini {
    /// The name of the top file as given to the loader.
    pub file: String,
    /// Sections in order of first appearance; index 0 is the global section.
    pub sections: Vec<Section>,
    /// Lines that were ignored (no `=`, empty key, unknown `#@` directive…), as located messages.
    pub warnings: Vec<ConfError>,
}

/// Reads an included file: the loader's only I/O.
pub type FileReader<'r> = dyn FnMut(&Path) -> std::io::Result<String> + 'r;

impl Ini {
    /// Load a file from disk (and its includes).
    pub fn load(path: impl AsRef<Path>) -> Result<Ini, ConfError> {
        let (text, name) = super::error::read_file(path.as_ref())?;
        Self::parse_str(&text, &name)
    }

    /// Parse text as if it were the file `name`; includes are read from disk relative to `name`'s
    /// directory.
    pub fn parse_str(text: &str, name: &str) -> Result<Ini, ConfError> {
        Self::parse_str_with(text, name, &mut |p: &Path| std::fs::read_to_string(p))
    }

    /// Parse text as the file `name`, reading includes through `reader` (tests, embedded configs).
    pub fn parse_str_with(
        text: &str,
        name: &str,
        reader: &mut FileReader<'_>,
    ) -> Result<Ini, ConfError> {
        let mut ini = Ini {
            file: name.to_owned(),
            sections: vec![Section::default()],
            warnings: Vec::new(),
        };
        let mut current = 0usize;
        let top_dir = Path::new(name)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        ini.parse_into(text, name, &top_dir, reader, &mut current, 0)?;
        Ok(ini)
    }

    fn section_index(&mut self, name: &str) -> usize {
        match self.sections.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.sections.push(Section {
                    name: name.to_owned(),
                    entries: Vec::new(),
                });
                self.sections.len() - 1
            }
        }
    }

    /// Reads `text` (the file `file`) into the sections, line by line; `current` is the section
    /// keys go to, shared with the includes because libfastcommon resets it around them.
    fn parse_into(
        &mut self,
        text: &str,
        file: &str,
        top_dir: &Path,
        reader: &mut FileReader<'_>,
        current: &mut usize,
        depth: usize,
    ) -> Result<(), ConfError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let at = LineAt { file, line: i + 1 };
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                // Any `#` line but `#include <file>` is a comment.
                if let Some(target) = include_target(rest) {
                    let (name, sub) = read_include(target, at, top_dir, reader, depth)?;
                    // libfastcommon reads an included file in the global section and returns to
                    // it afterwards.
                    *current = 0;
                    self.parse_into(&sub, &name, top_dir, reader, current, depth + 1)?;
                    *current = 0;
                }
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                *current = self.section_index(name.trim());
                continue;
            }
            self.key_line(line, at, *current)?;
        }
        Ok(())
    }

    /// A `key = value` line into section `current`; a line without `=` or with an empty key is
    /// ignored with a warning, as libfastcommon ignores it.
    fn key_line(&mut self, line: &str, at: LineAt<'_>, current: usize) -> Result<(), ConfError> {
        let Some((k, v)) = line.split_once('=') else {
            self.warnings.push(at.syntax(format!(
                "ignored line without '=' (expected \"key = value\"): {line:?}"
            )));
            return Ok(());
        };
        let key = k.trim();
        if key.is_empty() {
            self.warnings
                .push(at.syntax(format!("ignored line with an empty key: {line:?}")));
            return Ok(());
        }
        let entry = Entry {
            key: key.to_owned(),
            value: v.trim().to_owned(),
            file: at.file.to_owned(),
            line: at.line,
        };
        match self.sections.get_mut(current) {
            Some(s) => s.entries.push(entry),
            None => return Err(at.syntax("internal: no current section".into())),
        }
        Ok(())
    }

    /// The global section.
    pub fn global(&self) -> &Section {
        static EMPTY: Section = Section {
            name: String::new(),
            entries: Vec::new(),
        };
        self.sections.first().unwrap_or(&EMPTY)
    }

    /// A named section (`""` = global).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The top file's directory (for relative file names in values).
    pub fn dir(&self) -> PathBuf {
        Path::new(&self.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A [`ConfError::Missing`] for this file.
    pub fn missing(&self, key: &str, msg: impl Into<String>) -> ConfError {
        ConfError::Missing {
            file: self.file.clone(),
            key: key.to_owned(),
            msg: msg.into(),
        }
    }
}

/// The file and line being read, for the errors and warnings about it.
#[derive(Clone, Copy)]
struct LineAt<'a> {
    file: &'a str,
    line: usize,
}

impl LineAt<'_> {
    fn syntax(self, msg: String) -> ConfError {
        ConfError::Syntax {
            file: self.file.to_owned(),
            line: self.line,
            msg,
        }
    }
}

/// The argument of `#include <file>` (`rest` is the line after its `#`; `include` is
/// case-insensitive and must be followed by a space or tab), trimmed; `None` for a comment.
fn include_target(rest: &str) -> Option<&str> {
    let arg = rest
        .get(..7)
        .filter(|w| w.eq_ignore_ascii_case("include"))
        .and_then(|_| rest.get(7..))?;
    // `#includefoo` is a comment.
    arg.starts_with([' ', '\t']).then(|| arg.trim())
}

/// The file `#include <target>` at `at` names (relative to the top file's directory): its name
/// and text.
fn read_include(
    target: &str,
    at: LineAt<'_>,
    top_dir: &Path,
    reader: &mut FileReader<'_>,
    depth: usize,
) -> Result<(String, String), ConfError> {
    let target = target.strip_prefix("file://").unwrap_or(target);
    if target.is_empty() {
        return Err(at.syntax("#include: expected a file name".into()));
    }
    if target.starts_with("http://") || target.starts_with("https://") {
        return Err(at.syntax(format!(
            "#include {target}: URL includes are not supported, expected a file path"
        )));
    }
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(at.syntax(format!(
            "#include {target}: more than {MAX_INCLUDE_DEPTH} nested includes (a loop?)"
        )));
    }
    let path = if Path::new(target).is_absolute() {
        PathBuf::from(target)
    } else {
        top_dir.join(target)
    };
    let name = path.display().to_string();
    let sub = reader(&path).map_err(|e| ConfError::Io {
        file: name.clone(),
        line: 0,
        msg: format!("{e} (included from {}:{})", at.file, at.line),
    })?;
    Ok((name, sub))
}

/// A file name from a value: `v` if absolute, else joined to `dir` (the config's directory).
pub fn resolve_in(dir: &Path, v: &str) -> PathBuf {
    let p = Path::new(v);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// `target` if absolute, else joined to the directory of `file`.
pub fn resolve_relative(file: &str, target: &str) -> PathBuf {
    let t = Path::new(target);
    if t.is_absolute() {
        return t.to_path_buf();
    }
    match Path::new(file).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(t),
        _ => t.to_path_buf(),
    }
}

/// FastDFS booleans (`iniGetBoolValue` / `FAST_INI_STRING_IS_TRUE`): `true`, `yes`, `on`, `1`
/// (case-insensitive) are true; anything else, including `ture`, is false.
pub fn parse_bool(v: &str) -> bool {
    let v = v.trim();
    ["true", "yes", "on", "1"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}

/// True if `v` is one of the spellings FastDFS understands as a boolean (true/yes/on/1 and
/// false/no/off/0); used to warn about values such as `ture`.
pub fn is_recognised_bool(v: &str) -> bool {
    let v = v.trim();
    ["true", "yes", "on", "1", "false", "no", "off", "0"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}

/// An integer: optional sign and decimal digits, optionally followed by whitespace and anything
/// (libfastcommon keeps `# comments` in values and `atoi` stops at them: `2   # seconds` is 2).
/// Text glued to the digits (`30s`, `3O`) or no digits at all is an error rather than C's silent
/// `atoi` value: a clear message at startup is more useful.
pub fn parse_int(v: &str) -> Result<i64, String> {
    let t = v.trim();
    let end = t.find(char::is_whitespace).unwrap_or(t.len());
    let (num, rest) = t.split_at(end);
    if !rest.trim_start().is_empty() && !rest.trim_start().starts_with('#') {
        return Err(format!("expected an integer, got {v:?}"));
    }
    num.parse::<i64>()
        .map_err(|_| format!("expected an integer, got {v:?}"))
}

/// A byte size (`parse_bytes`): digits, optional spaces, then an optional unit `K`, `M`, `G`, `T`
/// (case-insensitive, 1024-based) optionally followed by `B`; a bare `B` means bytes.
pub fn parse_size(v: &str) -> Result<u64, String> {
    let err = || format!("expected a size such as 1024, 256KB, 1MB or 4G, got {v:?}");
    let t = v.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(err());
    }
    let n: u64 = num.parse().map_err(|_| err())?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.strip_suffix('B').unwrap_or(&unit);
    let mult: u64 = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// Seconds with an optional unit: `s`, `m` (minutes), `h`, `d` (case-insensitive).
pub fn parse_duration_secs(v: &str) -> Result<i64, String> {
    let err = || format!("expected a duration such as 30, 30s, 5m, 2h or 1d, got {v:?}");
    let t = v.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(t.len(), |(i, _)| i);
    let (num, unit) = t.split_at(end);
    let n: i64 = num.parse().map_err(|_| err())?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// A time of day `HH:MM` (as in `sync_start_time`), returned as (hour, minute).
pub fn parse_time_of_day(v: &str) -> Result<(u8, u8), String> {
    let err = || format!("expected a time of day HH:MM, got {v:?}");
    let (h, m) = v.trim().split_once(':').ok_or_else(err)?;
    let h: u8 = h.trim().parse().map_err(|_| err())?;
    let m: u8 = m.trim().parse().map_err(|_| err())?;
    if h > 23 || m > 59 {
        return Err(err());
    }
    Ok((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one port reader every config uses: default when absent or empty, 1..=65535 else.
    #[test]
    fn ports_and_relative_names() {
        let ini = Ini::parse_str("a=23000\nb=\nc=0\nd=70000\n", "/etc/fdfs/x.conf").unwrap();
        let g = ini.global();
        assert_eq!(g.get_port("a", 80).unwrap(), 23000);
        assert_eq!(g.get_port("b", 80).unwrap(), 80);
        assert_eq!(g.get_port("missing", 81).unwrap(), 81);
        assert!(g.get_port("c", 80).is_err());
        assert_eq!(
            g.get_port("d", 80).unwrap_err().to_string(),
            "/etc/fdfs/x.conf:4: d: expected a port 1..65535, got 70000"
        );
        let dir = ini.dir();
        assert_eq!(
            resolve_in(&dir, "ids.conf"),
            Path::new("/etc/fdfs/ids.conf")
        );
        assert_eq!(
            resolve_in(&dir, "/abs/ids.conf"),
            Path::new("/abs/ids.conf")
        );
    }

    #[test]
    fn bools() {
        for t in ["true", "TRUE", "Yes", "on", "1", " On "] {
            assert!(parse_bool(t), "{t}");
        }
        for f in ["false", "ture", "0", "", "2", "enable", "y"] {
            assert!(!parse_bool(f), "{f}");
        }
        assert!(!is_recognised_bool("ture"));
        assert!(is_recognised_bool("OFF"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256KB"), Ok(256 * 1024));
        assert_eq!(parse_size("1MB"), Ok(1 << 20));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("2 T"), Ok(2 << 40));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("512B"), Ok(512));
        assert!(parse_size("10%").is_err());
        assert!(parse_size("MB").is_err());
        assert!(parse_size("-1K").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration_secs("30"), Ok(30));
        assert_eq!(parse_duration_secs("30s"), Ok(30));
        assert_eq!(parse_duration_secs("5m"), Ok(300));
        assert_eq!(parse_duration_secs("2H"), Ok(7200));
        assert_eq!(parse_duration_secs("1d"), Ok(86400));
        assert_eq!(parse_duration_secs("-1"), Ok(-1));
        assert!(parse_duration_secs("x").is_err());
        assert!(parse_duration_secs("5w").is_err());
        assert_eq!(parse_time_of_day("02:30"), Ok((2, 30)));
        assert!(parse_time_of_day("24:00").is_err());
        assert!(parse_time_of_day("0230").is_err());
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int(" 42 "), Ok(42));
        assert_eq!(parse_int("-3"), Ok(-3));
        assert_eq!(parse_int("2   # seconds"), Ok(2));
        assert!(parse_int("2 3").is_err());
        assert!(parse_int("").is_err());
        assert!(parse_int("3O").is_err());
        let e = parse_int("30s").unwrap_err();
        assert!(e.contains("expected an integer"), "{e}");
    }

    #[test]
    fn sections_repeats_and_warnings() {
        let text = "a = 1\n  # comment\nt = x:1\nt=y:2\n\n[g1]\nk = v # not a comment\nbogus line\n= v\n[g2]\n k2 = \n[g1]\nk3=3\n";
        let ini = Ini::parse_str_with(text, "/etc/x.conf", &mut |_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
        .unwrap();
        assert_eq!(ini.global().get("a"), Some("1"));
        let ts: Vec<_> = ini.global().all("t").map(|e| e.value.as_str()).collect();
        assert_eq!(ts, ["x:1", "y:2"]);
        assert_eq!(ini.global().get("t"), Some("y:2"));
        let g1 = ini.section("g1").unwrap();
        assert_eq!(g1.get("k"), Some("v # not a comment"));
        assert_eq!(g1.get("k3"), Some("3"));
        assert_eq!(g1.entry("k3").unwrap().line, 13);
        assert_eq!(ini.section("g2").unwrap().get("k2"), Some(""));
        assert_eq!(ini.section("g2").unwrap().get_nonempty("k2"), None);
        assert_eq!(ini.warnings.len(), 2);
        assert_eq!(
            ini.warnings[0].to_string(),
            "/etc/x.conf:8: ignored line without '=' (expected \"key = value\"): \"bogus line\""
        );
    }

    #[test]
    fn crlf_and_bom() {
        let ini = Ini::parse_str_with("\u{feff}a = 1\r\n[s]\r\nb=2\r\n", "x.conf", &mut |_| {
            Ok(String::new())
        })
        .unwrap();
        assert_eq!(ini.global().get("a"), Some("1"));
        assert_eq!(ini.section("s").unwrap().get("b"), Some("2"));
    }

    #[test]
    fn includes() {
        let main =
            "a = 1\n[s]\nb = 2\n#include inc.conf\nc = 3\n# include not.conf\n#includenot.conf\n";
        let mut seen = Vec::new();
        let ini = Ini::parse_str_with(main, "/etc/fdfs/main.conf", &mut |p: &Path| {
            seen.push(p.to_path_buf());
            Ok("d = 4\n".to_owned())
        })
        .unwrap();
        assert_eq!(seen, [PathBuf::from("/etc/fdfs/inc.conf")]);
        assert_eq!(ini.global().get("d"), Some("4"));
        assert_eq!(ini.global().entry("d").unwrap().file, "/etc/fdfs/inc.conf");
        // The include reset the section to global, and it stays there.
        assert_eq!(ini.global().get("c"), Some("3"));
        assert_eq!(ini.section("s").unwrap().get("b"), Some("2"));
    }

    #[test]
    fn include_section_reset_case_and_nesting() {
        // The included file opens [x]; after it the including file is back in the global section.
        let main =
            "[s]\n#INCLUDE\tsub/a.conf\nafter = 1\n#include file:///abs/b.conf\n[]\nback = 2\n";
        let mut seen = Vec::new();
        let ini = Ini::parse_str_with(main, "/etc/fdfs/main.conf", &mut |p: &Path| {
            seen.push(p.to_path_buf());
            Ok(match p.to_str() {
                // Nested include: relative to the top file's directory, not sub/.
                Some("/etc/fdfs/sub/a.conf") => "[x]\ninx = 1\n#include c.conf\n".to_owned(),
                _ => "deep = 1\n".to_owned(),
            })
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                PathBuf::from("/etc/fdfs/sub/a.conf"),
                PathBuf::from("/etc/fdfs/c.conf"),
                PathBuf::from("/abs/b.conf")
            ]
        );
        assert_eq!(ini.section("x").unwrap().get("inx"), Some("1"));
        assert_eq!(ini.global().get("deep"), Some("1"));
        assert_eq!(ini.global().get("after"), Some("1"));
        assert_eq!(ini.global().get("back"), Some("2"));
        assert!(ini.section("s").unwrap().entries.is_empty());
    }

    #[test]
    fn include_errors() {
        let e = Ini::parse_str_with("#include missing.conf\n", "conf/a.conf", &mut |_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
        .unwrap_err();
        assert_eq!(e.file(), "conf/missing.conf");
        assert!(e.to_string().contains("included from conf/a.conf:1"), "{e}");
        let e = Ini::parse_str_with("#include self.conf\n", "/x/self.conf", &mut |_| {
            Ok("#include self.conf\n".into())
        })
        .unwrap_err();
        assert!(e.to_string().contains("nested includes"), "{e}");
        // Not a section header: an ignored line (no '=').
        let ini =
            Ini::parse_str_with("x=1\n[bad\n", "/x/a.conf", &mut |_| Ok(String::new())).unwrap();
        assert_eq!(ini.sections.len(), 1);
        assert_eq!(ini.warnings.len(), 1);
        let e = Ini::parse_str_with("#include http://h/x.conf\n", "/x/a.conf", &mut |_| {
            Ok(String::new())
        })
        .unwrap_err();
        assert_eq!(e.line(), Some(1));
    }
}
