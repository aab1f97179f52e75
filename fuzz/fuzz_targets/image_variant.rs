//! `[images]`: the decoder entry point and the parameter parsers. Any bytes as an original must
//! give a variant or an error, never a panic, an overflow or an allocation past the limits.
//!
//! Input: the first two bytes choose the variant (small sizes, every fit, gravity and format, so a
//! run stays fast), the rest is the original; the whole input, as text, also goes through the
//! query, suffix and canonical parsers.
#![no_main]

use std::collections::BTreeMap;

use image_variants::params::{Asked, Fit, Format, Gravity, Variant};
use image_variants::render::{output_size, render, SourceLimits};
use libfuzzer_sys::fuzz_target;

const FITS: [Fit; 4] = [Fit::Cover, Fit::Contain, Fit::Fill, Fit::Inside];
const FORMATS: [Format; 5] = [
    Format::Jpeg,
    Format::Png,
    Format::Webp,
    Format::Avif,
    Format::Original,
];
const GRAVITIES: [Gravity; 3] = [Gravity::Center, Gravity::NorthEast, Gravity::South];

fn variant(a: u8, b: u8) -> Variant {
    let dim = |x: u8| (x & 0x1f != 0).then_some(u32::from(x & 0x1f) * 3);
    Variant {
        width: dim(a).or(Some(8)),
        height: dim(b),
        fit: FITS[usize::from(a >> 6)],
        gravity: GRAVITIES[usize::from(b >> 5) % GRAVITIES.len()],
        quality: 1 + (a ^ b) % 100,
        format: FORMATS[usize::from(b >> 5) % FORMATS.len()],
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 2 {
        let v = variant(data[0], data[1]);
        let limits = SourceLimits { max_pixels: 4_000_000 };
        if let Ok(r) = render(&data[2..], &v, &limits) {
            assert!(!r.bytes.is_empty());
            assert!(r.width >= 1 && r.height >= 1);
        }
        let _ = output_size(u32::from(data[0]), u32::from(data[1]), &v);
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(Some(asked)) = Asked::from_query(Some(&text)) {
        let _ = asked.signed_line();
        if let Ok(p) = asked.resolve(&BTreeMap::new()) {
            if let Ok(v) = p.variant(80, 4096, Some(&text)) {
                assert_eq!(Variant::parse_canonical(&v.to_string()), Some(v));
            }
        }
    }
    let _ = Variant::parse_canonical(&text);
    let _ = Asked::from_suffix(&text);
});
