//! File metadata: a list of `name\x02value` records separated by `\x01`.

use super::error::{ProtoError, Result};
use super::wire::{META_FIELD_SEP, META_RECORD_SEP};
use super::{message, Reply};

/// How SET_METADATA combines the new pairs with the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetaOp {
    /// `'O'`: replace all stored metadata.
    #[default]
    Overwrite,
    /// `'M'`: insert missing names, update existing ones.
    Merge,
}

impl MetaOp {
    /// The wire flag byte (`b'O'` or `b'M'`).
    pub const fn as_byte(self) -> u8 {
        match self {
            MetaOp::Overwrite => b'O',
            MetaOp::Merge => b'M',
        }
    }

    /// Parses the wire flag byte.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            b'O' => Ok(MetaOp::Overwrite),
            b'M' => Ok(MetaOp::Merge),
            _ => Err(ProtoError::InvalidField {
                what: "metadata op flag",
                reason: "not 'O' or 'M'",
            }),
        }
    }
}

/// An ordered list of metadata pairs; also the GET_METADATA reply body.
///
/// Names and values are kept as text (lossy UTF-8). A record without a field separator decodes
/// as a name with an empty value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// `(name, value)` pairs in wire order.
    pub pairs: Vec<(String, String)>,
}

impl Metadata {
    /// Bound on a GET_METADATA reply (1 MiB; the server's own buffers are far smaller).
    pub const MAX_BODY: u64 = 1 << 20;

    /// Builds from pairs.
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        Metadata {
            pairs: pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }

    /// The value of the first pair named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True if there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Length of the encoded form.
    pub fn encoded_len(&self) -> usize {
        let seps = self.pairs.len() * 2;
        self.pairs
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
            + seps.saturating_sub(1)
    }

    /// Appends `n1\x02v1\x01n2\x02v2...` to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for (i, (n, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push(META_RECORD_SEP);
            }
            out.extend_from_slice(n.as_bytes());
            out.push(META_FIELD_SEP);
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// Parses the record list (empty input gives an empty list).
    pub fn decode(body: &[u8]) -> Result<Self> {
        if body.is_empty() {
            return Ok(Metadata::default());
        }
        let pairs = body
            .split(|&b| b == META_RECORD_SEP)
            .map(|rec| {
                let mut it = rec.splitn(2, |&b| b == META_FIELD_SEP);
                let n = it.next().unwrap_or(&[]);
                let v = it.next().unwrap_or(&[]);
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        Ok(Metadata { pairs })
    }
}

message!(Metadata);

impl Reply for Metadata {
    const MAX_BODY: u64 = Metadata::MAX_BODY;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let m = Metadata::new([("a", "b"), ("width", "160")]);
        let b = m.encode();
        assert_eq!(b, b"a\x02b\x01width\x02160");
        assert_eq!(b.len(), m.encoded_len());
        assert_eq!(Metadata::decode(&b).unwrap(), m);
        assert_eq!(m.get("width"), Some("160"));
        assert!(Metadata::decode(b"").unwrap().is_empty());
        assert_eq!(Metadata::default().encoded_len(), 0);
        assert_eq!(MetaOp::from_byte(b'M').unwrap(), MetaOp::Merge);
        assert!(MetaOp::from_byte(b'X').is_err());
    }
}
