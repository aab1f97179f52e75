//! Configuration files: the libfastcommon ini dialect and the typed configs built on it.
//!
//! - [`ini`]: [`Ini`] — `key = value`, `#` comments, `#include file`, `[sections]`, repeated keys;
//!   value readers for FastDFS booleans, sizes (`256KB`), durations and times of day.
//! - [`client`]: [`ClientConf`] (client.conf).
//! - [`mod_fastdfs`]: [`ModFastdfsConf`] (mod_fastdfs.conf, §4.1: `[groupN]`, `storage_peers`…).
//! - [`http`]: [`HttpConf`] (http.conf, §4.2, both `multi_range` spellings).
//! - [`storage_ids`]: [`StorageIdsConf`] (storage_ids.conf, 5.x and 6.x forms) and the one parser
//!   of that format, [`storage_ids::parse_entries`], which also reads FETCH_STORAGE_IDS replies.
//! - [`mime`]: [`MimeTypes`] (nginx-style mime.types).
//! - [`addr`]: [`AddrSpec`] (`host[:port]` as written, dual IPs, `[ipv6]`).
//!
//! Every loader works from a path (`load`, std::fs at startup) or from text with a virtual file name
//! (`parse_str`). Every error is a [`ConfError`] naming the file, the line when there is one, and
//! what was expected, e.g.
//! `/etc/fdfs/mod_fastdfs.conf:12: response_mode: expected "proxy" or "redirect", got "foo"`.

pub mod addr;
pub mod client;
pub mod error;
pub mod http;
pub mod ini;
pub mod mime;
pub mod mod_fastdfs;
pub mod storage_ids;

pub use addr::AddrSpec;
pub use client::ClientConf;
pub use error::ConfError;
pub use http::{AntiSteal, HttpConf};
pub use ini::{Entry, Ini, Section};
pub use mime::MimeTypes;
pub use mod_fastdfs::{BypassHeader, GroupConf, LogLevel, ModFastdfsConf, ResponseMode};
pub use storage_ids::{StorageIdEntry, StorageIdError, StorageIdsConf};
