//! `http.conf` (`fdfs_http_params_load`, §4.2). Usually `#include`d by mod_fastdfs.conf, so the
//! keys are read from the including file's global section.

use std::path::{Path, PathBuf};

use super::error::ConfError;
use super::ini::{resolve_in, Ini, Section};

/// Longest `http.default_content_type` the C code accepts (< 64 chars).
pub const CONTENT_TYPE_MAX_LEN: usize = 63;

/// The anti-steal token settings (`http.anti_steal.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AntiSteal {
    /// `http.anti_steal.check_token` (false).
    pub check_token: bool,
    /// `http.anti_steal.token_ttl` (600 s; must be > 0 when checking tokens).
    pub token_ttl: i64,
    /// `http.anti_steal.secret_key` (required when checking tokens).
    pub secret_key: String,
    /// `http.anti_steal.token_check_fail`: a file served with 200 when the token is wrong (resolved
    /// relative to the config directory).
    pub token_check_fail: Option<PathBuf>,
}

impl Default for AntiSteal {
    fn default() -> Self {
        AntiSteal {
            check_token: false,
            token_ttl: 600,
            secret_key: String::new(),
            token_check_fail: None,
        }
    }
}

/// The `http.*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConf {
    /// `http.disabled` (false): disables tokens and multi-range too.
    pub disabled: bool,
    /// `http.need_find_content_type` (true): only forces the mime file to be loaded.
    pub need_find_content_type: bool,
    /// `http.multi_range.enabled`, or V5's `http.multi_range.enabed` (true). `enabled` wins if both.
    pub multi_range_enabled: bool,
    /// `http.server_port` (80, must be > 0, unused).
    pub server_port: u16,
    /// `http.mime_types_filename`, resolved relative to the config directory (`http://` kept as is).
    pub mime_types_filename: Option<PathBuf>,
    /// `http.default_content_type`.
    pub default_content_type: Option<String>,
    /// `http.anti_steal.*`.
    pub anti_steal: AntiSteal,
}

impl Default for HttpConf {
    fn default() -> Self {
        HttpConf {
            disabled: false,
            need_find_content_type: true,
            multi_range_enabled: true,
            server_port: 80,
            mime_types_filename: None,
            default_content_type: None,
            anti_steal: AntiSteal::default(),
        }
    }
}

fn resolve(dir: &Path, v: &str) -> PathBuf {
    if v.starts_with("http://") || v.starts_with("https://") {
        return PathBuf::from(v);
    }
    resolve_in(dir, v)
}

impl HttpConf {
    /// Load a standalone http.conf (with [`HttpConf::validate`]).
    pub fn load(path: impl AsRef<Path>) -> Result<HttpConf, ConfError> {
        let ini = Ini::load(path)?;
        let c = Self::from_ini(&ini)?;
        c.validate(&ini)?;
        Ok(c)
    }

    /// Parse http.conf text as the file `name` (with [`HttpConf::validate`]).
    pub fn parse_str(text: &str, name: &str) -> Result<HttpConf, ConfError> {
        let ini = Ini::parse_str(text, name)?;
        let c = Self::from_ini(&ini)?;
        c.validate(&ini)?;
        Ok(c)
    }

    /// Read the keys from the global section of `ini`; relative file names are resolved against the
    /// directory of `ini.file`. Does not check required keys: see [`HttpConf::validate`].
    pub fn from_ini(ini: &Ini) -> Result<HttpConf, ConfError> {
        Self::from_section(ini.global(), &ini.dir())
    }

    /// Read the keys from a section, resolving file names against `dir`.
    pub fn from_section(s: &Section, dir: &Path) -> Result<HttpConf, ConfError> {
        let d = HttpConf::default();
        let multi_range_enabled = match s.entry("http.multi_range.enabled") {
            Some(e) => e.as_bool(),
            None => s.get_bool("http.multi_range.enabed", d.multi_range_enabled),
        };
        let server_port = s.get_port("http.server_port", d.server_port)?;
        let default_content_type = match s.entry("http.default_content_type") {
            Some(e) if !e.value.is_empty() => {
                if e.value.len() > CONTENT_TYPE_MAX_LEN {
                    return Err(e.error(format!(
                        "expected at most {CONTENT_TYPE_MAX_LEN} chars, got {}",
                        e.value.len()
                    )));
                }
                Some(e.value.clone())
            }
            _ => None,
        };
        let token_ttl = match s.entry("http.anti_steal.token_ttl") {
            Some(e) if !e.value.is_empty() => e.as_duration_secs()?,
            _ => d.anti_steal.token_ttl,
        };
        Ok(HttpConf {
            disabled: s.get_bool("http.disabled", d.disabled),
            need_find_content_type: s
                .get_bool("http.need_find_content_type", d.need_find_content_type),
            multi_range_enabled,
            server_port,
            mime_types_filename: s
                .get_nonempty("http.mime_types_filename")
                .map(|v| resolve(dir, v)),
            default_content_type,
            anti_steal: AntiSteal {
                check_token: s.get_bool("http.anti_steal.check_token", false),
                token_ttl,
                secret_key: s.get("http.anti_steal.secret_key").unwrap_or("").to_owned(),
                token_check_fail: s
                    .get_nonempty("http.anti_steal.token_check_fail")
                    .map(|v| resolve(dir, v)),
            },
        })
    }

    /// True when the mime types file and default content type are required (need_find_content_type,
    /// check_token or multi-range, unless `http.disabled`).
    pub fn needs_mime_types(&self) -> bool {
        !self.disabled
            && (self.need_find_content_type
                || self.anti_steal.check_token
                || self.multi_range_enabled)
    }

    /// The C module's startup checks: mime file and default type when needed; when checking tokens,
    /// ttl > 0 and a secret key. Errors point at `ini`'s lines.
    pub fn validate(&self, ini: &Ini) -> Result<(), ConfError> {
        if self.disabled {
            return Ok(());
        }
        let g = ini.global();
        if self.needs_mime_types() {
            if self.mime_types_filename.is_none() {
                return Err(ini.missing(
                    "http.mime_types_filename",
                    "required (need_find_content_type, check_token or multi_range is on): expected a mime.types file name",
                ));
            }
            if self.default_content_type.is_none() {
                return Err(ini.missing(
                    "http.default_content_type",
                    "required (need_find_content_type, check_token or multi_range is on): expected a content type such as application/octet-stream",
                ));
            }
        }
        if self.anti_steal.check_token {
            if self.anti_steal.token_ttl <= 0 {
                let msg = format!(
                    "expected a positive number of seconds, got {}",
                    self.anti_steal.token_ttl
                );
                return Err(match g.entry("http.anti_steal.token_ttl") {
                    Some(e) => e.error(msg),
                    None => ini.missing("http.anti_steal.token_ttl", msg),
                });
            }
            if self.anti_steal.secret_key.is_empty() {
                return Err(ini.missing(
                    "http.anti_steal.secret_key",
                    "required when http.anti_steal.check_token is true: expected a non-empty secret",
                ));
            }
        }
        Ok(())
    }
}
