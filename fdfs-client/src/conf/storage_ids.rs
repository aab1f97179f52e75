//! `storage_ids.conf` (`fdfs_load_storage_ids`, §7): one storage per line,
//! `<id> <group> <host>[:port] [option=value ...]`.
//!
//! - `id`: decimal 1..=16777215 without leading zeros (`fdfs_is_server_id_valid`);
//! - `host`: an IP/hostname, a 6.x dual address `ip1,ip2`, or IPv6 in brackets `[v6]` / `[v6a,v6b]`;
//! - `:port` (5.05+): either every line has a port or none does;
//! - options after the host (6.13 `rw=r|w|rw|none`) are kept but not interpreted by the module;
//! - `#` comments and blank lines are skipped; duplicate ids are an error.
//!
//! Resolving a file id's storage id uses the entry's **first** address.
//!
//! This is the one parser of the format: a FETCH_STORAGE_IDS reply carries the tracker's file, and
//! [`crate::proto::StorageIds::entries`] reads it with [`parse_entries`], under the same rules.

use std::path::Path;

use super::addr::AddrSpec;
use super::error::ConfError;

/// `FDFS_MAX_SERVER_ID`.
pub const MAX_SERVER_ID: u32 = 0xFF_FFFF;

/// One storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageIdEntry {
    /// The numeric id.
    pub id: u32,
    /// Its group.
    pub group_name: String,
    /// Its addresses (the module uses the first).
    pub addrs: Vec<String>,
    /// The port, if written.
    pub port: Option<u16>,
    /// `key=value` options after the host (e.g. `rw=none`), in order.
    pub options: Vec<(String, String)>,
    /// Line number in the file.
    pub line: usize,
}

impl StorageIdEntry {
    /// The first address.
    pub fn first_ip(&self) -> &str {
        self.addrs.first().map_or("", String::as_str)
    }

    /// The value of option `key` (e.g. `rw`).
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The parsed table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageIdsConf {
    /// The file it came from.
    pub file: String,
    /// Entries in file order.
    pub entries: Vec<StorageIdEntry>,
}

/// `fdfs_is_server_id_valid`: decimal, no sign, no leading zero, 1..=16777215.
pub fn parse_server_id(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || !s.bytes().all(|c| c.is_ascii_digit()) || s.starts_with('0') {
        return None;
    }
    s.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_SERVER_ID).contains(n))
}

/// A storage-id line or table that breaks the rules: the line (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct StorageIdError {
    /// The line the error is on.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl StorageIdEntry {
    /// Parses one line numbered `line_no`: `None` for a blank or `#` comment line.
    pub fn parse_line(raw: &str, line_no: usize) -> Result<Option<StorageIdEntry>, StorageIdError> {
        let err = |msg: String| StorageIdError { line: line_no, msg };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        let mut it = line.split_whitespace();
        let (Some(id_s), Some(group), Some(host)) = (it.next(), it.next(), it.next()) else {
            return Err(err(format!(
                "expected \"<id> <group> <ip>[:port]\", got {line:?}"
            )));
        };
        let id = parse_server_id(id_s).ok_or_else(|| {
            err(format!(
                "storage id: expected an integer 1..{MAX_SERVER_ID} without leading zeros, got {id_s:?}"
            ))
        })?;
        if group.len() > crate::file_id::GROUP_NAME_MAX_LEN {
            return Err(err(format!(
                "group name: expected at most {} chars, got {group:?}",
                crate::file_id::GROUP_NAME_MAX_LEN
            )));
        }
        let addr = AddrSpec::parse(host).map_err(err)?;
        let options = it
            .map(|opt| {
                opt.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        err(format!(
                            "expected an option \"key=value\" after the address, got {opt:?}"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(StorageIdEntry {
            id,
            group_name: group.to_owned(),
            addrs: addr.hosts,
            port: addr.port,
            options,
            line: line_no,
        }))
    }
}

/// Parses a storage-id table (a storage_ids.conf file, or the text of a FETCH_STORAGE_IDS reply,
/// which is the tracker's file): every line by [`StorageIdEntry::parse_line`], then the table
/// rules — no duplicate id, and either every line has a port or none does. An empty table is
/// valid here (a tracker without storage ids sends one); [`StorageIdsConf`] refuses an empty file.
pub fn parse_entries(text: &str) -> Result<Vec<StorageIdEntry>, StorageIdError> {
    let mut entries: Vec<StorageIdEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let Some(e) = StorageIdEntry::parse_line(raw, i + 1)? else {
            continue;
        };
        if let Some(prev) = entries.iter().find(|p| p.id == e.id) {
            return Err(StorageIdError {
                line: e.line,
                msg: format!(
                    "duplicate storage id {} (first on line {})",
                    e.id, prev.line
                ),
            });
        }
        entries.push(e);
    }
    let with_port = entries.iter().filter(|e| e.port.is_some()).count();
    if with_port != 0 && with_port != entries.len() {
        let odd = entries
            .iter()
            .find(|e| e.port.is_none())
            .map_or(0, |e| e.line);
        return Err(StorageIdError {
            line: odd,
            msg: "some storages have a port and some do not: expected the same form (host:port) on every line".into(),
        });
    }
    Ok(entries)
}

impl StorageIdsConf {
    /// Load from a path.
    pub fn load(path: impl AsRef<Path>) -> Result<StorageIdsConf, ConfError> {
        let (text, name) = super::error::read_file(path.as_ref())?;
        Self::parse_str(&text, &name)
    }

    /// Parse text as the file `name` ([`parse_entries`]); a file without any id is an error.
    pub fn parse_str(text: &str, name: &str) -> Result<StorageIdsConf, ConfError> {
        let entries = parse_entries(text).map_err(|e| ConfError::Syntax {
            file: name.to_owned(),
            line: e.line,
            msg: e.msg,
        })?;
        if entries.is_empty() {
            return Err(ConfError::Missing {
                file: name.to_owned(),
                key: "storage ids".into(),
                msg: "no storage id: expected lines \"<id> <group> <ip>[:port]\"".into(),
            });
        }
        Ok(StorageIdsConf {
            file: name.to_owned(),
            entries,
        })
    }

    /// The entry for an id.
    pub fn get(&self, id: u32) -> Option<&StorageIdEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The first IP of an id (what the module proxies to), `None` if unknown.
    pub fn first_ip(&self, id: u32) -> Option<&str> {
        self.get(id).map(StorageIdEntry::first_ip)
    }

    /// The entries of a group.
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a StorageIdEntry> + 'a {
        self.entries.iter().filter(move |e| e.group_name == group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the fuzz targets (`conf`, `proto_reply`) check, on seeded arbitrary bytes so that
    /// every `cargo test` runs it: never a panic, and what is accepted obeys the rules.
    #[test]
    fn arbitrary_text_obeys_the_rules() {
        let mut x = 0x2545_f491_u32;
        let alphabet = b"0123456789 group1.:,[]#=\nrw\t\xff";
        for round in 0..5_000 {
            let len = round % 97;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    alphabet[(x as usize) % alphabet.len()]
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            match parse_entries(&text) {
                Ok(entries) => {
                    for (i, e) in entries.iter().enumerate() {
                        assert!((1..=MAX_SERVER_ID).contains(&e.id), "{text:?}");
                        assert!(!e.addrs.is_empty() && !e.first_ip().is_empty());
                        assert!(entries[..i].iter().all(|p| p.id != e.id));
                    }
                    let ports = entries.iter().filter(|e| e.port.is_some()).count();
                    assert!(ports == 0 || ports == entries.len(), "{text:?}");
                    // The file loader differs only in refusing an empty table.
                    let conf = StorageIdsConf::parse_str(&text, "t");
                    assert_eq!(conf.is_ok(), !entries.is_empty(), "{text:?}");
                }
                Err(e) => {
                    assert!(e.line >= 1, "{text:?}: {e}");
                    assert!(StorageIdsConf::parse_str(&text, "t").is_err());
                }
            }
        }
    }
}
