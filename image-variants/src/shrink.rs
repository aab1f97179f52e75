//! Shrink-on-load for JPEG: an original much larger than its variant is decoded at 1/2, 1/4 or 1/8
//! of its size in the DCT (what libjpeg's `scale_denom` and libvips' shrink-on-load do), never
//! below the size the resize needs, so the resize still does the filtering. A 4000x3000 photo made
//! into a 500x375 thumbnail decodes 1000x750 pixels instead of twelve million.

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{Decoder, PixelFormat};

use crate::params::Variant;
use crate::render::{output_size, RenderError, SourceLimits};

/// Whether `o` swaps width and height.
fn turns(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The size of a `w`x`h` picture (as stored) shown with `orientation`.
pub fn shown_size(w: u32, h: u32, orientation: Orientation) -> (u32, u32) {
    if turns(orientation) {
        (h, w)
    } else {
        (w, h)
    }
}

/// The smallest size (as stored, before the orientation) the resize needs of a `w`x`h` original
/// shown with `orientation`; `None` when it is over half the original (no scale would help).
fn needed(w: u32, h: u32, orientation: Orientation, v: &Variant) -> Option<(u16, u16)> {
    let (dw, dh) = shown_size(w, h, orientation);
    let (ow, oh) = output_size(dw, dh, v);
    // the larger of the two scales: enough for every fit (contain pads, cover crops after)
    let s = (f64::from(ow) / f64::from(dw)).max(f64::from(oh) / f64::from(dh));
    if s > 0.5 {
        return None;
    }
    // (less a hair: 3000 x 500/3000 is 500.0000001 in floating point)
    let up = |n: u32| (f64::from(n) * s - 1e-6).ceil().max(1.0) as u32;
    // back to the picture as stored (the same swap)
    let (nw, nh) = shown_size(up(dw), up(dh), orientation);
    Some((u16::try_from(nw).ok()?, u16::try_from(nh).ok()?))
}

/// The JPEG decoded at the smallest DCT scale that still gives the resize what it needs, with
/// the orientation applied; `None` when no scale helps or the JPEG is one the general decoder
/// handles (CMYK, 16 bits).
pub fn decode_shrunk(
    bytes: &[u8],
    (w, h): (u32, u32),
    orientation: Orientation,
    v: &Variant,
    limits: &SourceLimits,
) -> Result<Option<DynamicImage>, RenderError> {
    let Some((nw, nh)) = needed(w, h, orientation, v) else {
        return Ok(None);
    };
    let corrupt = |e: jpeg_decoder::Error| RenderError::Corrupt(e.to_string());
    let mut d = Decoder::new(bytes);
    d.set_max_decoding_buffer_size(
        usize::try_from(limits.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX),
    );
    let (sw, sh) = d.scale(nw, nh).map_err(corrupt)?;
    let format = d.info().map(|i| i.pixel_format);
    if !matches!(format, Some(PixelFormat::L8 | PixelFormat::RGB24)) {
        return Ok(None);
    }
    let pixels = d.decode().map_err(corrupt)?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let picture = match format {
        Some(PixelFormat::L8) => GrayImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageLuma8),
        _ => RgbImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageRgb8),
    };
    let Some(mut picture) = picture else {
        return Err(RenderError::Corrupt(
            "fewer pixels than the header says".into(),
        ));
    };
    picture.apply_orientation(orientation);
    Ok(Some(picture))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Fit, Format};

    fn v(w: Option<u32>, h: Option<u32>, fit: Fit) -> Variant {
        Variant::sized(w, h, fit, Format::Jpeg)
    }

    #[test]
    fn needed_sizes() {
        let none = Orientation::NoTransforms;
        assert_eq!(
            needed(4000, 3000, none, &v(Some(500), Some(500), Fit::Inside)),
            Some((500, 375))
        );
        assert_eq!(
            needed(4000, 3000, none, &v(Some(500), Some(500), Fit::Cover)),
            Some((667, 500))
        );
        assert_eq!(
            needed(4000, 3000, none, &v(Some(2100), None, Fit::Inside)),
            None
        );
        // shown turned (3000x4000): the 500x667 variant needs 501 of the stored height (667 is
        // 666.7 rounded up, a scale of 0.16675) and 667 of its width
        let turned = Orientation::Rotate90;
        assert_eq!(
            needed(4000, 3000, turned, &v(Some(500), None, Fit::Inside)),
            Some((667, 501))
        );
    }
}
