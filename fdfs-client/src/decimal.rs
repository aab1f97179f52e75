//! Decimal numbers written digit by digit, for text built on every request (a trunk container's
//! path in the nginx module, a storage's host and port): `write!` with `{:06}` or an address's
//! `Display` interprets its format at run time, which cost more than the rest of such a request's
//! decision.

use std::fmt;

/// Write `n` in decimal, zero-padded to at least `min_digits` digits (as `{n:0min_digits$}`; at
/// most 10 digits of padding, the length of `u32::MAX`).
pub fn write(out: &mut impl fmt::Write, n: u32, min_digits: usize) -> fmt::Result {
    let mut digits = [b'0'; 10];
    let mut rest = n;
    let mut start = digits.len();
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
        start -= 1;
        if rest == 0 {
            break;
        }
    }
    let start = start.min(digits.len().saturating_sub(min_digits));
    out.write_str(std::str::from_utf8(digits.get(start..).unwrap_or(&[])).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    fn written(n: u32, min_digits: usize) -> String {
        let mut s = String::new();
        super::write(&mut s, n, min_digits).unwrap();
        s
    }

    #[test]
    fn as_format_writes_it() {
        for n in [0, 7, 10, 99, 255, 65535, 999_999, 1_000_000, u32::MAX] {
            for width in [0, 1, 2, 6, 10] {
                assert_eq!(written(n, width), format!("{n:0width$}"));
            }
            assert_eq!(written(n, 12), written(n, 10), "padding stops at 10 digits");
        }
    }
}
