//! FastDFS's base64 variant (libfastcommon `base64_init_ex(&ctx, 0, '-', '_', '.')`).
//!
//! - Alphabet `A–Z a–z 0–9 - _` (URL-safe), pad character `.`.
//! - [`encode`] never pads (file ids carry 27 chars for 20 bytes, 16 chars for 12 bytes).
//! - [`decode`] is lenient: every character outside the alphabet (including the pad `.`, `=`, `+`,
//!   `/`, whitespace, NUL, non-ASCII) is skipped, and a dangling last character that cannot form a
//!   byte is ignored. It never fails.
//! - [`decode_auto_into`] / [`decode_array`] reproduce libfastcommon's `base64_decode_auto` exactly,
//!   quirks included (pads count as zeros, broken groups zero the first byte); file ids use them.
//!
//! ```
//! use fdfs_client::base64;
//! let raw = base64::decode("fwAAC2sGUuSAEF-1AAAoAFc9-LE");
//! assert_eq!(raw.len(), 20);
//! assert_eq!(&raw[..4], &[127, 0, 0, 11]);
//! assert_eq!(base64::encode(&raw), "fwAAC2sGUuSAEF-1AAAoAFc9-LE");
//! ```

use ::base64::alphabet::Alphabet;
use ::base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ::base64::Engine as _;

/// The 64 characters of the FastDFS alphabet, in value order.
pub const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// FastDFS's pad character (never emitted by [`encode`], skipped by [`decode`]).
pub const PAD: u8 = b'.';

const fn make_engine() -> GeneralPurpose {
    let alphabet = match Alphabet::new(ALPHABET) {
        Ok(a) => a,
        Err(_) => panic!("invalid FastDFS base64 alphabet"),
    };
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    )
}

static ENGINE: GeneralPurpose = make_engine();

/// [`DECODE`]'s value for a byte outside the alphabet.
const NOT_ALPHABET: u8 = 0xff;

/// Each byte's value in the alphabet, or [`NOT_ALPHABET`]: one load per character where a search
/// of the alphabet took up to 64 comparisons (every request of the nginx module decodes an id).
static DECODE: [u8; 256] = {
    let mut table = [NOT_ALPHABET; 256];
    let chars = ALPHABET.as_bytes();
    let mut i = 0;
    while i < chars.len() {
        table[chars[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// True if `c` belongs to the FastDFS alphabet.
#[inline]
pub fn is_alphabet_char(c: u8) -> bool {
    DECODE[usize::from(c)] != NOT_ALPHABET
}

/// Encode without padding: `ceil(len * 4 / 3)` characters (20 bytes → 27, 12 bytes → 16).
pub fn encode(data: &[u8]) -> String {
    ENGINE.encode(data)
}

/// Number of characters [`encode`] produces for `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Lenient decode: characters outside the alphabet are skipped, a trailing lone character is ignored.
/// `n` valid characters give `n * 3 / 4` bytes (27 → 20, 16 → 12).
pub fn decode(s: impl AsRef<[u8]>) -> Vec<u8> {
    let mut clean: Vec<u8> = s
        .as_ref()
        .iter()
        .copied()
        .filter(|&c| is_alphabet_char(c))
        .collect();
    if clean.len() % 4 == 1 {
        // A single char carries 6 bits: not a byte. FastDFS drops it too.
        clean.pop();
    }
    // Cannot fail: only alphabet chars, no padding, valid length, trailing bits allowed.
    ENGINE.decode(&clean).unwrap_or_default()
}

/// Decode into a fixed-size array, zero-filling what the input does not provide. Extra bytes are
/// ignored. Uses [`decode_auto_into`], so the result is byte for byte what FastDFS gets from a file id
/// block, including for malformed input.
pub fn decode_array<const N: usize>(s: impl AsRef<[u8]>) -> [u8; N] {
    let mut out = [0u8; N];
    decode_auto_into(s.as_ref(), &mut out);
    out
}

/// FastDFS's exact `base64_decode_auto` into a zeroed buffer, as `fdfs_get_file_info_ex` and
/// `trunk_file_info_decode` use it:
///
/// - the input is padded with `.` to a multiple of 4;
/// - characters outside the alphabet and not `.` are skipped; each `.` counts as a zero value;
/// - every complete group of 4 values writes 3 bytes (bytes beyond `out` are dropped);
/// - if the values do not form complete groups, or there are more than 2 pads, the C code reports
///   length 0 and writes a NUL at `dest[0]`, so the first byte becomes 0 and the rest keeps what was
///   written; otherwise a NUL is written right after the decoded length.
///
/// Returns the length C reports (0 on the error paths).
pub fn decode_auto_into(src: &[u8], out: &mut [u8]) -> usize {
    let pads = (4 - src.len() % 4) % 4;
    let padded = src.iter().copied().chain(std::iter::repeat_n(PAD, pads));
    let (mut cycle, mut combined, mut dummies, mut written) = (0u32, 0u32, 0usize, 0usize);
    for c in padded {
        let value = if c == PAD {
            dummies += 1;
            0
        } else {
            match DECODE[usize::from(c)] {
                NOT_ALPHABET => continue,
                v => u32::from(v),
            }
        };
        combined = (combined << 6) | value;
        cycle += 1;
        if cycle == 4 {
            for b in [
                (combined >> 16) as u8,
                (combined >> 8) as u8,
                combined as u8,
            ] {
                if let Some(o) = out.get_mut(written) {
                    *o = b;
                }
                written += 1;
            }
            cycle = 0;
            combined = 0;
        }
    }
    if cycle != 0 || dummies > 2 {
        if let Some(o) = out.first_mut() {
            *o = 0;
        }
        return 0;
    }
    let len = written - dummies;
    if let Some(o) = out.get_mut(len) {
        *o = 0;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_all_lengths() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            let e = encode(&data[..n]);
            assert_eq!(e.len(), encoded_len(n));
            assert!(e.bytes().all(is_alphabet_char));
            assert_eq!(decode(&e), &data[..n]);
        }
    }

    #[test]
    fn decode_table_is_the_alphabet() {
        for c in 0..=255u8 {
            match DECODE[usize::from(c)] {
                NOT_ALPHABET => assert!(!ALPHABET.as_bytes().contains(&c), "{c}"),
                v => assert_eq!(ALPHABET.as_bytes()[usize::from(v)], c),
            }
            assert_eq!(
                is_alphabet_char(c),
                c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
            );
        }
    }

    #[test]
    fn lengths_of_file_id_blocks() {
        assert_eq!(encoded_len(20), 27);
        assert_eq!(encoded_len(12), 16);
    }

    #[test]
    fn lenient_skips_foreign_chars() {
        let e = encode(b"hello world");
        let noisy: String = e.chars().flat_map(|c| [c, '.', '=', '\0', '/']).collect();
        assert_eq!(decode(&noisy), b"hello world");
        assert_eq!(decode("é€"), Vec::<u8>::new());
        assert_eq!(decode("A"), Vec::<u8>::new());
        assert_eq!(decode("AAAAA"), vec![0, 0, 0]);
    }

    #[test]
    fn decode_auto_matches_c_quirks() {
        let good = "fwAAC2sGUuSAEF-1AAAoAFc9-LE";
        let mut out = [0xaa_u8; 20];
        assert_eq!(decode_auto_into(good.as_bytes(), &mut out), 20);
        assert_eq!(out.to_vec(), decode(good));
        // Skipped characters that break the groups: length 0 and the first byte zeroed, the rest kept.
        let broken = "fwAAC2sGUuSAEF-1AAAoAFc9-L!";
        let mut out = [0u8; 20];
        assert_eq!(decode_auto_into(broken.as_bytes(), &mut out), 0);
        assert_eq!(out[0], 0);
        assert_eq!(&out[1..18], &decode(good)[1..18]);
        // Only foreign characters: all zero.
        let mut out = [0u8; 20];
        assert_eq!(decode_auto_into(&[b'!'; 27], &mut out), 0);
        assert_eq!(out, [0; 20]);
        // Pads inside the data count as zero values.
        let mut out = [0xffu8; 3];
        assert_eq!(decode_auto_into(b"A.AA", &mut out), 2);
        assert_eq!(out, [0, 0, 0]);
        // More than 2 pads.
        let mut out = [9u8; 3];
        assert_eq!(decode_auto_into(b"_...", &mut out), 0);
        assert_eq!(out, [0, 0, 0]);
        // A tiny output buffer never overflows.
        let mut out = [0u8; 1];
        assert_eq!(decode_auto_into(good.as_bytes(), &mut out), 20);
    }

    #[test]
    fn decode_array_zero_fills() {
        let a: [u8; 4] = decode_array("_w");
        assert_eq!(a, [0xff, 0, 0, 0]);
    }
}
