//! Splitting and validating file ids (§1.2 steps 3–8), without decoding the name.

use super::error::FileIdError;
use super::{decode::FileInfo, GROUP_NAME_MAX_LEN, LOGIC_NAME_MAX_LEN, MIN_LOGIC_NAME_LEN};

/// A validated logic name: `Mxx/HH/HH/name` (or a legacy `HH/HH/name` without `Mxx/`, store index 0).
///
/// Parsing checks, in the C module's order: control chars / length bounds, `< 22` chars (step 4),
/// the `Mxx/` prefix with a hex index (step 6), `HH/HH/` uppercase hex and no further `/` (step 8).
/// The store-path range check (step 7) needs the config: [`LogicName::check_store_path_index`].
/// Decoding the name (step 9) is [`LogicName::decode`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicName {
    raw: String,
    store_path_index: u8,
    /// 4 for `Mxx/` names, 0 for legacy names.
    true_offset: usize,
    subdirs: (u8, u8),
}

/// A validated full file id `group/logic-name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileId {
    group: String,
    logic: LogicName,
}

fn check_chars(s: &[u8], base: usize) -> Result<(), FileIdError> {
    match s.iter().position(|&b| b < 0x20 || b == 0x7f) {
        Some(i) => Err(FileIdError::InvalidChar {
            byte: s.get(i).copied().unwrap_or(0),
            offset: base + i,
        }),
        None => Ok(()),
    }
}

fn utf8(b: &[u8]) -> Result<&str, FileIdError> {
    std::str::from_utf8(b).map_err(|e| {
        let at = e.valid_up_to();
        FileIdError::InvalidChar {
            byte: b.get(at).copied().unwrap_or(0),
            offset: at,
        }
    })
}

fn hex_val(c: u8, upper_only: bool) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' if !upper_only => Some(c - b'a' + 10),
        _ => None,
    }
}

fn lossy_prefix(b: &[u8], n: usize) -> String {
    String::from_utf8_lossy(b.get(..n.min(b.len())).unwrap_or(b)).into_owned()
}

/// Spec §1.2 step 6 (`storage_split_filename_no_check`): returns (store path index, offset of the true
/// name). A name not starting with `M` is a legacy name: index 0, offset 0.
pub fn split_store_path(logic: &[u8]) -> Result<(u8, usize), FileIdError> {
    if logic.first() != Some(&b'M') {
        return Ok((0, 0));
    }
    if logic.get(3) != Some(&b'/') {
        return Err(FileIdError::BadStorePathPrefix {
            got: lossy_prefix(logic, 4),
        });
    }
    let hi = logic.get(1).and_then(|&c| hex_val(c, false));
    let lo = logic.get(2).and_then(|&c| hex_val(c, false));
    match (hi, lo) {
        (Some(h), Some(l)) => Ok((h * 16 + l, 4)),
        _ => Err(FileIdError::BadStorePathIndex {
            got: lossy_prefix(logic.get(1..).unwrap_or(&[]), 2),
        }),
    }
}

/// Spec §1.2 step 8 (`fdfs_check_data_filename`): `HH/HH/` in uppercase hex, then no `/`.
/// Returns the two sub directory numbers.
pub fn check_data_filename(true_name: &[u8]) -> Result<(u8, u8), FileIdError> {
    let bad = || FileIdError::BadSubdir {
        got: lossy_prefix(true_name, 6),
    };
    let h = |i: usize| true_name.get(i).and_then(|&c| hex_val(c, true));
    let (a1, a2, b1, b2) = match (h(0), h(1), h(3), h(4)) {
        (Some(a1), Some(a2), Some(b1), Some(b2)) => (a1, a2, b1, b2),
        _ => return Err(bad()),
    };
    if true_name.get(2) != Some(&b'/') || true_name.get(5) != Some(&b'/') {
        return Err(bad());
    }
    if true_name.get(6..).unwrap_or(&[]).contains(&b'/') {
        return Err(FileIdError::ExtraSlash);
    }
    Ok((a1 * 16 + a2, b1 * 16 + b2))
}

impl LogicName {
    /// Parse and validate a logic name (the file id without `group/`).
    pub fn parse(s: &str) -> Result<Self, FileIdError> {
        Self::parse_bytes(s.as_bytes())
    }

    /// Like [`LogicName::parse`], for raw bytes from a URL (non-UTF-8 is [`FileIdError::InvalidChar`]).
    pub fn parse_bytes(b: &[u8]) -> Result<Self, FileIdError> {
        check_chars(b, 0)?;
        if b.len() > LOGIC_NAME_MAX_LEN {
            return Err(FileIdError::TooLong {
                len: b.len(),
                max: LOGIC_NAME_MAX_LEN,
            });
        }
        if b.len() < MIN_LOGIC_NAME_LEN {
            return Err(FileIdError::TooShort { len: b.len() });
        }
        let raw = utf8(b)?;
        let (store_path_index, true_offset) = split_store_path(b)?;
        let subdirs = check_data_filename(b.get(true_offset..).unwrap_or(&[]))?;
        Ok(LogicName {
            raw: raw.to_owned(),
            store_path_index,
            true_offset,
            subdirs,
        })
    }

    /// The whole logic name, e.g. `M00/00/00/wKgB….jpg`.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Its length in bytes (what FastDFS's classification uses).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Always false (a valid name has at least 22 chars); present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// True for a legacy name without the `Mxx/` prefix.
    pub fn is_legacy(&self) -> bool {
        self.true_offset == 0
    }

    /// The store path index (`xx` of `Mxx`, 0 for legacy names).
    pub fn store_path_index(&self) -> u8 {
        self.store_path_index
    }

    /// Spec §1.2 step 7: the index must be below `store_path_count`.
    pub fn check_store_path_index(&self, store_path_count: usize) -> Result<(), FileIdError> {
        if usize::from(self.store_path_index) < store_path_count {
            Ok(())
        } else {
            Err(FileIdError::StorePathIndexOutOfRange {
                index: self.store_path_index,
                count: store_path_count,
            })
        }
    }

    /// The true file name `HH/HH/name` (relative to `<store path>/data`).
    pub fn true_name(&self) -> &str {
        self.raw.get(self.true_offset..).unwrap_or("")
    }

    /// The two sub directory numbers (`HH/HH`).
    pub fn subdirs(&self) -> (u8, u8) {
        self.subdirs
    }

    /// `HH/HH` as written in the name.
    pub fn subdir_path(&self) -> &str {
        self.true_name().get(..5).unwrap_or("")
    }

    /// The bare file name after `HH/HH/`.
    pub fn file_name(&self) -> &str {
        self.true_name().get(6..).unwrap_or("")
    }

    /// The path relative to a store path: `data/HH/HH/name` (§1.4).
    pub fn local_path(&self) -> String {
        let mut path = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_local_path(&mut path);
        path
    }

    /// [`local_path`](Self::local_path) written into `out`, for callers that build a full path
    /// on every request without allocating for each part.
    pub fn write_local_path(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        // Two plain writes: `write!` would interpret a format at run time, on every request.
        out.write_str("data/")?;
        out.write_str(self.true_name())
    }

    /// Where the storage keeps the file's metadata: `data/HH/HH/name-m`.
    pub fn metadata_local_path(&self) -> String {
        format!("data/{}-m", self.true_name())
    }

    /// The extension as the HTTP code sees it (`fdfs_http_get_file_extension`, §1.2 step 15): the
    /// text after the last `.` within the final 6 chars, so at most 5 chars; `None` if there is none.
    pub fn http_extension(&self) -> Option<&str> {
        http_extension(self.file_name())
    }

    /// Decode what the name carries (§1.3). Errors only with [`FileIdError::NameTooShort`].
    pub fn decode(&self) -> Result<FileInfo, FileIdError> {
        FileInfo::decode(self)
    }
}

/// `fdfs_http_get_file_extension`: the text after the last `.` found within the last 6 chars of `name`.
pub fn http_extension(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    let start = b.len().saturating_sub(6);
    let tail = b.get(start..)?;
    let dot = tail.iter().rposition(|&c| c == b'.')?;
    name.get(start + dot + 1..)
}

impl std::fmt::Display for LogicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for LogicName {
    type Err = FileIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FileId {
    /// Parse `group/Mxx/HH/HH/name` (no leading `/`).
    pub fn parse(s: &str) -> Result<Self, FileIdError> {
        Self::parse_bytes(s.as_bytes())
    }

    /// Like [`FileId::parse`] for raw bytes.
    pub fn parse_bytes(b: &[u8]) -> Result<Self, FileIdError> {
        check_chars(b, 0)?;
        let slash = b
            .iter()
            .position(|&c| c == b'/')
            .ok_or(FileIdError::MissingGroup)?;
        let (group, rest) = (
            b.get(..slash).unwrap_or(&[]),
            b.get(slash + 1..).unwrap_or(&[]),
        );
        if group.is_empty() {
            return Err(FileIdError::EmptyGroup);
        }
        if group.len() > GROUP_NAME_MAX_LEN {
            return Err(FileIdError::GroupTooLong {
                len: group.len(),
                max: GROUP_NAME_MAX_LEN,
            });
        }
        let group = utf8(group)?.to_owned();
        let logic = LogicName::parse_bytes(rest).map_err(|e| match e {
            FileIdError::InvalidChar { byte, offset } => FileIdError::InvalidChar {
                byte,
                offset: offset + slash + 1,
            },
            e => e,
        })?;
        Ok(FileId { group, logic })
    }

    /// Build from an already validated group (not checked) and logic name.
    pub fn from_parts(group: impl Into<String>, logic: LogicName) -> Self {
        FileId {
            group: group.into(),
            logic,
        }
    }

    /// The group name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The logic name (everything after `group/`).
    pub fn logic(&self) -> &LogicName {
        &self.logic
    }

    /// Decode the logic name.
    pub fn decode(&self) -> Result<FileInfo, FileIdError> {
        self.logic.decode()
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.group, self.logic)
    }
}

impl std::str::FromStr for FileId {
    type Err = FileIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
