//! The checksum an upload may carry: `Content-MD5` (base64 MD5, RFC 1864), `Repr-Digest:
//! sha-256=:<base64>:` (RFC 9530) or `Digest: SHA-256=<base64>` (RFC 3230). The edge computes it
//! while the body goes by and deletes the stored file when it does not match.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The checksum the client announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Md5(Vec<u8>),
    Sha256(Vec<u8>),
}

fn decode(v: &str, len: usize, what: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(v.trim())
        .ok()
        .filter(|d| d.len() == len)
        .ok_or_else(|| format!("bad {what} value"))
}

/// The announced checksum, from the three headers (the first present wins); `Err` is a 400.
pub fn expected(
    content_md5: Option<&str>,
    repr_digest: Option<&str>,
    digest: Option<&str>,
) -> Result<Option<Expected>, String> {
    if let Some(v) = content_md5 {
        return decode(v, 16, "Content-MD5").map(|d| Some(Expected::Md5(d)));
    }
    if let Some(v) = repr_digest {
        // a structured dictionary: `sha-256=:…:, sha-512=:…:`
        for member in v.split(',') {
            if let Some((alg, val)) = member.trim().split_once('=') {
                if alg.trim().eq_ignore_ascii_case("sha-256") {
                    let b64 = val.trim().trim_matches(':');
                    return decode(b64, 32, "Repr-Digest").map(|d| Some(Expected::Sha256(d)));
                }
            }
        }
        return Err("Repr-Digest without sha-256".into());
    }
    if let Some(v) = digest {
        for member in v.split(',') {
            if let Some((alg, val)) = member.trim().split_once('=') {
                match alg.trim().to_ascii_lowercase().as_str() {
                    "sha-256" => {
                        return decode(val, 32, "Digest").map(|d| Some(Expected::Sha256(d)))
                    }
                    "md5" => return decode(val, 16, "Digest").map(|d| Some(Expected::Md5(d))),
                    _ => {}
                }
            }
        }
        return Err("Digest without SHA-256 or MD5".into());
    }
    Ok(None)
}

/// Hashes the bytes of an upload for its announced checksum.
#[derive(Default)]
pub enum Hasher {
    #[default]
    None,
    Md5(Md5),
    Sha256(Sha256),
}

impl Hasher {
    pub fn for_expected(e: Option<&Expected>) -> Hasher {
        match e {
            None => Hasher::None,
            Some(Expected::Md5(_)) => Hasher::Md5(Md5::new()),
            Some(Expected::Sha256(_)) => Hasher::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::None => {}
            Hasher::Md5(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
        }
    }

    /// Whether the bytes seen match `e` (true when nothing was announced).
    pub fn matches(self, e: Option<&Expected>) -> bool {
        match (self, e) {
            (_, None) => true,
            (Hasher::Md5(h), Some(Expected::Md5(want))) => h.finalize().as_slice() == want,
            (Hasher::Sha256(h), Some(Expected::Sha256(want))) => h.finalize().as_slice() == want,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_checksums_are_read_and_checked() {
        // printf hello | openssl md5 -binary | base64; printf hello | openssl sha256 -binary | base64
        let md5 = "XUFAKrxLKna5cZ2REBfFkg==";
        let sha = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
        let check = |e: Option<Expected>, body: &[u8]| {
            let mut h = Hasher::for_expected(e.as_ref());
            h.update(body);
            h.matches(e.as_ref())
        };
        let e = expected(Some(md5), None, None).expect("md5");
        assert!(check(e.clone(), b"hello"));
        assert!(!check(e, b"hellO"));
        let e = expected(
            None,
            Some(&format!("sha-512=:AA==:, sha-256=:{sha}:")),
            None,
        )
        .expect("rd");
        assert!(check(e, b"hello"));
        let e = expected(None, None, Some(&format!("SHA-256={sha}"))).expect("digest");
        assert!(check(e, b"hello"));
        assert_eq!(expected(None, None, None), Ok(None));
        assert!(expected(Some("not base64!"), None, None).is_err());
        assert!(expected(Some("AAAA"), None, None).is_err(), "wrong length");
        assert!(expected(None, Some("sha-512=:AA==:"), None).is_err());
    }
}
