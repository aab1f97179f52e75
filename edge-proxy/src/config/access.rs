//! `[access]`, `[peers]` and `[upload]`: their checks, and the secret files they name (read once, when the file is loaded, so
//! that `fdfs-edge -t` finds an unreadable key before a start does).

use std::path::Path;
use std::time::Duration;

use super::check::{at_path, problem, Problem, Seg};
use super::{AccessSection, Config, PolicyName};

/// A shorter secret is a typo or a placeholder, not a key (`openssl rand -base64 32` makes one).
pub const MIN_SECRET_LEN: usize = 16;

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl AccessSection {
    fn uses(&self, p: PolicyName) -> bool {
        self.default == p || self.rules.iter().any(|r| r.policy == p)
    }
}

/// A secret given inline and as a file, or neither: which one is meant cannot be guessed.
fn one_secret(inline: bool, file: bool, what: &str, at: Vec<Seg>) -> Result<(), Problem> {
    match (inline, file) {
        (true, false) | (false, true) => Ok(()),
        (true, true) => Err(problem(
            format!("{what}: both a secret and a secret_file"),
            at,
        )),
        (false, false) => Err(problem(format!("{what}: no secret and no secret_file"), at)),
    }
}

impl Config {
    pub(super) fn check_access(&self) -> Result<(), Problem> {
        let Some(a) = &self.access else {
            return Ok(());
        };
        check_keys(a)?;
        check_rules(a)?;
        if let Some(t) = &a.token {
            let at = at_path!["access", "token"];
            one_secret(
                t.secret_key.is_some(),
                t.secret_file.is_some(),
                "[access.token]",
                at,
            )?;
            if t.ttl.0 < Duration::from_secs(1) || t.ttl.0 > super::MAX_DURATION {
                let msg = "[access.token] ttl must be 1s to 3650d";
                return Err(problem(msg, at_path!["access", "token", "ttl"]));
            }
        }
        if a.uses(PolicyName::Signed) && a.keys.is_empty() {
            let msg = "[access]: a policy is `signed` but there is no [[access.key]]";
            return Err(problem(msg, at_path!["access"]));
        }
        if a.uses(PolicyName::Token) && a.token.is_none() {
            let msg = "[access]: a policy is `token` but there is no [access.token]";
            return Err(problem(msg, at_path!["access"]));
        }
        if a.skew.0 > Duration::from_secs(3600) {
            let msg = "[access] skew must be 0s to 1h";
            return Err(problem(msg, at_path!["access", "skew"]));
        }
        if let Some(h) = &a.storage_bypass_header {
            let at = at_path!["access", "storage_bypass_header"];
            if h.name.is_empty() || !h.name.bytes().all(is_token_char) {
                let msg = format!(
                    "[access] storage_bypass_header: bad header name `{}`",
                    h.name
                );
                return Err(problem(msg, at));
            }
            if h.value.bytes().any(|b| b.is_ascii_control()) {
                let msg = "[access] storage_bypass_header: the value has control characters";
                return Err(problem(msg, at));
            }
        }
        Ok(())
    }

    /// Replaces each `secret_file` of `[access]` by the secret it holds (its first line).
    pub(super) fn read_secret_files(&mut self) -> Result<(), Problem> {
        let Some(a) = &mut self.access else {
            return Ok(());
        };
        for (i, k) in a.keys.iter_mut().enumerate() {
            if let Some(f) = k.secret_file.take() {
                let at = at_path!["access", "key", i, "secret_file"];
                k.secret = Some(read_secret(&f, at, MIN_SECRET_LEN)?);
            }
        }
        if let Some(t) = &mut a.token {
            if let Some(f) = t.secret_file.take() {
                let at = at_path!["access", "token", "secret_file"];
                // the storages' own key: whatever they were given
                t.secret_key = Some(read_secret(&f, at, 1)?);
            }
        }
        Ok(())
    }

    /// Reads `[peers] secret_file` into `secret`.
    pub(super) fn read_peer_secret(&mut self) -> Result<(), Problem> {
        if let Some(p) = &mut self.peers {
            if let Some(f) = p.secret_file.take() {
                let at = at_path!["peers", "secret_file"];
                p.secret = Some(read_secret(&f, at, MIN_SECRET_LEN)?);
            }
        }
        Ok(())
    }

    /// Reads each `[[upload.bearer]] token_file` into `token`.
    pub(super) fn read_bearer_tokens(&mut self) -> Result<(), Problem> {
        if let Some(u) = &mut self.upload {
            for (i, b) in u.bearers.iter_mut().enumerate() {
                if let Some(f) = b.token_file.take() {
                    let at = at_path!["upload", "bearer", i, "token_file"];
                    b.token = Some(read_secret(&f, at, MIN_SECRET_LEN)?);
                }
            }
        }
        Ok(())
    }

    pub(super) fn check_upload(&self) -> Result<(), Problem> {
        let Some(u) = &self.upload else {
            return Ok(());
        };
        if self.trackers.is_none() {
            let msg = "[upload] needs [trackers]: uploads and deletes go through the trackers";
            return Err(problem(msg, at_path!["upload"]));
        }
        let keys = self.access.as_ref().is_some_and(|a| !a.keys.is_empty());
        if u.bearers.is_empty() && !keys {
            let msg = "[upload] is never open: add an [[upload.bearer]] or an [[access.key]]";
            return Err(problem(msg, at_path!["upload"]));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, b) in u.bearers.iter().enumerate() {
            if !valid_key_id(&b.id) || !ids.insert(b.id.as_str()) {
                let msg = format!(
                    "[[upload.bearer]] id `{}`: empty, repeated or not letters, digits and -._~",
                    b.id
                );
                return Err(problem(msg, at_path!["upload", "bearer", i, "id"]));
            }
            let what = format!("[[upload.bearer]] `{}`", b.id);
            let at = at_path!["upload", "bearer", i];
            one_secret(b.token.is_some(), b.token_file.is_some(), &what, at)?;
            if b.token.as_ref().is_some_and(|t| t.len() < MIN_SECRET_LEN) {
                let msg = format!("{what}: the token must be at least {MIN_SECRET_LEN} bytes");
                return Err(problem(msg, at_path!["upload", "bearer", i, "token"]));
            }
        }
        if u.block_size.0 < 64 << 10 || u.block_size.0 > 64 << 20 {
            let msg = "[upload] block_size must be 64KiB to 64MiB";
            return Err(problem(msg, at_path!["upload", "block_size"]));
        }
        if u.max_concurrent_per_client == 0 {
            let msg = "[upload] max_concurrent_per_client must be >= 1";
            return Err(problem(
                msg,
                at_path!["upload", "max_concurrent_per_client"],
            ));
        }
        Ok(())
    }

    pub(super) fn check_peers(&self) -> Result<(), Problem> {
        let Some(p) = &self.peers else {
            return Ok(());
        };
        if p.edges.is_empty() {
            let msg = "[peers] edges must not be empty (leave the table out without peers)";
            return Err(problem(msg, at_path!["peers", "edges"]));
        }
        for (i, e) in p.edges.iter().enumerate() {
            if self.server.listen.iter().any(|l| l.0 == e.0) {
                let msg = format!("[peers] edges: {} is this edge's own listen address", e.0);
                return Err(problem(msg, at_path!["peers", "edges", i]));
            }
        }
        one_secret(
            p.secret.is_some(),
            p.secret_file.is_some(),
            "[peers]",
            at_path!["peers"],
        )?;
        if p.secret.as_ref().is_some_and(|s| s.len() < MIN_SECRET_LEN) {
            let msg = format!("[peers] the secret must be at least {MIN_SECRET_LEN} bytes");
            return Err(problem(msg, at_path!["peers", "secret"]));
        }
        for (key, d, least) in [
            ("retry", p.retry.0, Duration::from_millis(100)),
            ("timeout", p.timeout.0, Duration::from_millis(1)),
        ] {
            if d < least || d > Duration::from_secs(3600) {
                let msg = format!(
                    "[peers] {key} must be {} to 1h",
                    super::values::human(least)
                );
                return Err(problem(msg, at_path!["peers", key]));
            }
        }
        Ok(())
    }
}

fn check_keys(a: &AccessSection) -> Result<(), Problem> {
    let mut ids = std::collections::HashSet::new();
    for (i, k) in a.keys.iter().enumerate() {
        if !valid_key_id(&k.id) {
            let msg = format!(
                "[[access.key]] id `{}`: letters, digits and -._~ only",
                k.id
            );
            return Err(problem(msg, at_path!["access", "key", i, "id"]));
        }
        if !ids.insert(k.id.as_str()) {
            let msg = format!("[[access.key]] id `{}` given twice", k.id);
            return Err(problem(msg, at_path!["access", "key", i, "id"]));
        }
        let what = format!("[[access.key]] `{}`", k.id);
        let at = at_path!["access", "key", i];
        one_secret(k.secret.is_some(), k.secret_file.is_some(), &what, at)?;
        if k.secret.as_ref().is_some_and(|s| s.len() < MIN_SECRET_LEN) {
            let msg = format!("{what}: the secret must be at least {MIN_SECRET_LEN} bytes");
            return Err(problem(msg, at_path!["access", "key", i, "secret"]));
        }
    }
    Ok(())
}

fn check_rules(a: &AccessSection) -> Result<(), Problem> {
    for (i, r) in a.rules.iter().enumerate() {
        let at = at_path!["access", "rule", i];
        match (&r.prefix, &r.group) {
            (Some(p), None) if p.starts_with('/') => {}
            (Some(_), None) => {
                let msg = "[[access.rule]] prefix must start with /";
                return Err(problem(msg, at_path!["access", "rule", i, "prefix"]));
            }
            (None, Some(g)) if !g.is_empty() && !g.contains('/') => {}
            (None, Some(_)) => {
                let msg = "[[access.rule]] group must be a group name";
                return Err(problem(msg, at_path!["access", "rule", i, "group"]));
            }
            _ => {
                let msg = "[[access.rule]] takes a prefix or a group (one of them)";
                return Err(problem(msg, at));
            }
        }
    }
    Ok(())
}

fn read_secret(file: &Path, at: Vec<Seg>, min_len: usize) -> Result<String, Problem> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| problem(format!("secret file {}: {e}", file.display()), at.clone()))?;
    let secret = text.lines().next().unwrap_or("").trim().to_string();
    if secret.len() < min_len {
        let msg = format!(
            "secret file {}: the secret (its first line) must be at least {min_len} byte(s)",
            file.display()
        );
        return Err(problem(msg, at));
    }
    Ok(secret)
}
