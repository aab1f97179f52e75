//! Errors of file id parsing, decoding and encoding.

/// Why a file id (or logic name) was rejected. The nginx module maps each to a status and logs it.
///
/// Every variant is a malformed request (400 in the C module) except where [`FileIdError::http_status`]
/// says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileIdError {
    /// No `/` between the group and the logic name (`url_have_group_name=true`, §1.2 step 3).
    #[error("file id has no group segment (expected \"group/Mxx/HH/HH/name\")")]
    MissingGroup,
    /// The group segment is empty (`/M00/...`).
    #[error("file id has an empty group name")]
    EmptyGroup,
    /// The group name is longer than FastDFS allows ([`super::GROUP_NAME_MAX_LEN`]).
    #[error("group name is {len} bytes long, FastDFS allows at most {max}")]
    GroupTooLong { len: usize, max: usize },
    /// The logic name is longer than any FastDFS name can be ([`super::LOGIC_NAME_MAX_LEN`]).
    #[error("file name is {len} bytes long, at most {max} expected")]
    TooLong { len: usize, max: usize },
    /// A control character (NUL, CR, LF, ...) or a byte that is not UTF-8.
    #[error("invalid byte {byte:#04x} at offset {offset} of the file id")]
    InvalidChar { byte: u8, offset: usize },
    /// The logic name (id without the group) is shorter than 22 chars (§1.2 step 4).
    #[error("file name is {len} chars long, at least 22 expected")]
    TooShort { len: usize },
    /// The name starts with `M` but char 3 is not `/` (§1.2 step 6).
    #[error("store path prefix: expected \"Mxx/\", got {got:?}")]
    BadStorePathPrefix { got: String },
    /// The two chars after `M` are not hex digits.
    #[error("store path index: expected two hex digits after 'M', got {got:?}")]
    BadStorePathIndex { got: String },
    /// The store path index is not below `store_path_count` (§1.2 step 7).
    #[error("store path index {index} out of range: store_path_count is {count}")]
    StorePathIndexOutOfRange { index: u8, count: usize },
    /// The true name does not start with `HH/HH/` in uppercase hex (§1.2 step 8).
    #[error("sub directories: expected \"HH/HH/\" (uppercase hex), got {got:?}")]
    BadSubdir { got: String },
    /// A `/` after `HH/HH/` (§1.2 step 8).
    #[error("unexpected '/' in the file name after the sub directories")]
    ExtraSlash,
    /// The logic name is shorter than 44 chars and cannot be decoded (EINVAL, §1.2 step 9).
    #[error("file name is {len} chars long, at least 44 expected to decode it")]
    NameTooShort { len: usize },
}

impl FileIdError {
    /// The status the C module answers with for this error (all of them are 400 there).
    pub fn http_status(&self) -> u16 {
        400
    }
}

/// Why a logic name could not be encoded (emulator side; inputs come from the program, not the network).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The extension is longer than 6 chars or contains `/` or a character that is not printable ASCII.
    #[error("extension {0:?}: at most 6 printable ASCII chars without '/' expected")]
    BadExtension(String),
    /// The random digits do not match the extension (need 6 − len(ext) digits, or 7 without extension).
    #[error("random digits {got:?}: expected {expected} ASCII digits")]
    BadRandomDigits { got: String, expected: usize },
    /// A storage id outside 1..=0xFFFFFF cannot be told apart from an IPv4 address.
    #[error("storage id {0} out of range 1..=16777215")]
    BadStorageId(u32),
    /// A trunk location was given but the size field lacks the trunk bit, or the other way round.
    #[error("trunk location and the trunk bit (59) of the size field disagree")]
    TrunkFlagMismatch,
    /// The master name given to [`super::slave_name`] is not a valid normal/trunk/appender name.
    #[error("master file name {0:?} is not a valid master name")]
    BadMaster(String),
    /// The slave prefix is too long (>16), has characters not allowed in a file name, or is empty
    /// while the slave name would equal the master's.
    #[error("slave prefix {0:?}: up to 16 printable ASCII chars without '/' expected (empty only with another extension)")]
    BadPrefix(String),
    /// The group name is empty, too long or contains `/`.
    #[error("group name {0:?}: 1 to 16 chars without '/' expected")]
    BadGroup(String),
}

/// Why a trunk slot header does not belong to a file id (§1.5). The C module treats all of
/// these as "not found" (the file is then looked for on the source storage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrunkSlotError {
    /// Fewer than 24 bytes were available at the slot offset.
    #[error("trunk slot header: 24 bytes expected, got {0}")]
    HeaderTooShort(usize),
    /// The id is not a trunk id (no trunk location).
    #[error("file id is not a trunk file id")]
    NotTrunk,
    /// The slot is free (type byte 0): the file was deleted.
    #[error("trunk slot is free")]
    FreeSlot,
    /// The type byte is neither `F`, `L` nor 0.
    #[error("trunk slot has unknown type byte {0:#04x}")]
    BadType(u8),
    /// A header field differs from what the id implies.
    #[error("trunk slot header field {field} is {found}, the file id implies {expected}")]
    Mismatch {
        field: &'static str,
        found: String,
        expected: String,
    },
}
