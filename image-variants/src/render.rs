//! Makes a variant from the original's bytes: limits checked on the header before anything is
//! decoded, EXIF orientation applied, resized with `fast_image_resize` (SIMD), written as JPEG,
//! PNG (the `image` crate) or WebP (libwebp). Pure and synchronous: the image service runs it in
//! its bounded pool, the fuzz target calls it directly. Metadata never reaches the output (the
//! picture is re-encoded from pixels).

use std::io::Cursor;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::gif::GifDecoder;
use image::codecs::png::{CompressionType, PngEncoder};
use image::codecs::webp::WebPDecoder;
use image::{
    AnimationDecoder, DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits,
    RgbaImage,
};

use crate::params::{Fit, Format, Variant};

/// What the edge accepts of an original.
#[derive(Debug, Clone, Copy)]
pub struct SourceLimits {
    /// Pixels of the original (width × height), checked on its header: a decompression bomb is
    /// refused before a pixel is decoded.
    pub max_pixels: u64,
}

/// A variant, ready to send.
#[derive(Debug)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why no variant was made; [`RenderError::status`] is the answer.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("not an image the edge reads (JPEG, PNG, GIF, WebP)")]
    NotAnImage,
    #[error("animated images are not resized")]
    Animated,
    #[error("the original is {width}x{height}, above the limit of {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("corrupt or truncated image: {0}")]
    Corrupt(String),
    #[error("encoding failed: {0}")]
    Encode(String),
}

impl RenderError {
    /// 415 for what is not an image, 422 for an image the edge will not or cannot process,
    /// 500 for its own failure.
    pub fn status(&self) -> u16 {
        match self {
            RenderError::NotAnImage => 415,
            RenderError::Encode(_) => 500,
            _ => 422,
        }
    }
}

/// Makes `variant` from the bytes of an original.
pub fn render(
    original: &[u8],
    variant: &Variant,
    limits: &SourceLimits,
) -> Result<Rendered, RenderError> {
    let format = image::guess_format(original).map_err(|_| RenderError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(RenderError::NotAnImage);
    }
    let (picture, shown) = decode(original, format, variant, limits)?;
    let resized = resize(&picture, shown, variant)?;
    encode(
        &resized,
        output_format(variant.format, format),
        variant.quality,
    )
}

/// The output format: `original` keeps JPEG, PNG and WebP; GIF becomes PNG.
fn output_format(asked: Format, source: ImageFormat) -> Format {
    match (asked, source) {
        (Format::Original, ImageFormat::Jpeg) => Format::Jpeg,
        (Format::Original, ImageFormat::WebP) => Format::Webp,
        (Format::Original, _) => Format::Png,
        (f, _) => f,
    }
}

fn corrupt(e: image::ImageError) -> RenderError {
    match e {
        image::ImageError::Unsupported(_) => RenderError::NotAnImage,
        e => RenderError::Corrupt(e.to_string()),
    }
}

/// What the decoders may allocate: the largest allowed picture at 4 bytes a pixel, and as much
/// again for a decoder's own buffers.
fn decoder_limits(limits: &SourceLimits) -> Limits {
    let mut l = Limits::default();
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(1 << 20));
    l
}

/// Decodes with the pixel limit checked on the header (before anything else is decoded: a GIF's
/// frames are only looked at after), refuses animations, applies the EXIF orientation. A JPEG
/// much larger than the variant is decoded shrunk (see [`crate::shrink`]). Also gives the size
/// of the original as shown (after the orientation), which the variant's size is computed from:
/// a shrunk picture's rounded size would move it by a pixel.
fn decode(
    bytes: &[u8],
    format: ImageFormat,
    variant: &Variant,
    limits: &SourceLimits,
) -> Result<(DynamicImage, (u32, u32)), RenderError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decoder_limits(limits));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(RenderError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    refuse_animation(bytes, format, limits)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let shown = crate::shrink::shown_size(width, height, orientation);
    if format == ImageFormat::Jpeg {
        let shrunk =
            crate::shrink::decode_shrunk(bytes, (width, height), orientation, variant, limits)?;
        if let Some(picture) = shrunk {
            return Ok((picture, shown));
        }
    }
    let mut picture = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    picture.apply_orientation(orientation);
    Ok((picture, shown))
}

fn refuse_animation(
    bytes: &[u8],
    format: ImageFormat,
    limits: &SourceLimits,
) -> Result<(), RenderError> {
    let animated = match format {
        ImageFormat::Gif => {
            let mut d = GifDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
            // each frame is a buffer of the screen's size: the same allocation limit
            d.set_limits(decoder_limits(limits)).map_err(corrupt)?;
            d.into_frames().take(2).count() > 1
        }
        ImageFormat::WebP => WebPDecoder::new(Cursor::new(bytes))
            .map_err(corrupt)?
            .has_animation(),
        _ => false,
    };
    if animated {
        return Err(RenderError::Animated);
    }
    Ok(())
}

/// The size of the output for a source of `sw`×`sh` (at least 1×1).
pub fn output_size(sw: u32, sh: u32, v: &Variant) -> (u32, u32) {
    let (sw_f, sh_f) = (f64::from(sw.max(1)), f64::from(sh.max(1)));
    let scaled = |n: f64| (n.round() as u32).max(1);
    match (v.width, v.height, v.fit) {
        (Some(w), None, _) => (w, scaled(f64::from(w) * sh_f / sw_f)),
        (None, Some(h), _) => (scaled(f64::from(h) * sw_f / sh_f), h),
        (Some(w), Some(h), Fit::Inside) => {
            // never enlarged
            let s = (f64::from(w) / sw_f).min(f64::from(h) / sh_f).min(1.0);
            (scaled(sw_f * s), scaled(sh_f * s))
        }
        (Some(w), Some(h), _) => (w, h),
        (None, None, _) => (sw, sh),
    }
}

/// The picture at the variant's size and fit, that size computed from the original's `shown`
/// size (`src` may be the original shrunk on load).
fn resize(src: &DynamicImage, shown: (u32, u32), v: &Variant) -> Result<DynamicImage, RenderError> {
    let (w, h) = output_size(shown.0, shown.1, v);
    let fail = |e: &dyn std::fmt::Display| RenderError::Encode(format!("resize: {e}"));
    let alg = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let mut resizer = Resizer::new();
    if v.fit == Fit::Contain {
        // fit inside the box, then centred on a transparent canvas of the box's size
        let (sw, sh) = (f64::from(shown.0.max(1)), f64::from(shown.1.max(1)));
        let s = (f64::from(w) / sw).min(f64::from(h) / sh);
        let inner_w = ((sw * s).round() as u32).clamp(1, w);
        let inner_h = ((sh * s).round() as u32).clamp(1, h);
        let mut inner = DynamicImage::new(inner_w, inner_h, src.color());
        resizer
            .resize(src, &mut inner, &alg)
            .map_err(|e| fail(&e))?;
        let mut canvas = RgbaImage::new(w, h);
        let (x, y) = (i64::from((w - inner_w) / 2), i64::from((h - inner_h) / 2));
        image::imageops::overlay(&mut canvas, &inner.to_rgba8(), x, y);
        return Ok(DynamicImage::ImageRgba8(canvas));
    }
    let opts = if v.fit == Fit::Cover {
        alg.fit_into_destination(Some(v.gravity.centering()))
    } else {
        alg
    };
    // in the source's own pixel type: no copy of the (large) source to RGBA first
    let mut out = DynamicImage::new(w, h, src.color());
    resizer.resize(src, &mut out, &opts).map_err(|e| fail(&e))?;
    Ok(out)
}

/// Writes the picture; JPEG has no alpha: transparent parts become white.
fn encode(picture: &DynamicImage, format: Format, quality: u8) -> Result<Rendered, RenderError> {
    let (width, height) = (picture.width(), picture.height());
    let fail = |e: &dyn std::fmt::Display| RenderError::Encode(e.to_string());
    let mut bytes = Vec::new();
    let content_type = match format {
        Format::Jpeg | Format::Original => {
            bytes = encode_jpeg(&on_white(picture), quality).map_err(|e| fail(&e))?;
            "image/jpeg"
        }
        Format::Png => {
            let rgba = picture.to_rgba8();
            PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, Default::default())
                .write_image(
                    rgba.as_raw(),
                    width,
                    height,
                    image::ExtendedColorType::Rgba8,
                )
                .map_err(|e| fail(&e))?;
            "image/png"
        }
        Format::Webp => {
            let mem = if picture.color().has_alpha() {
                let rgba = picture.to_rgba8();
                webp::Encoder::from_rgba(rgba.as_raw(), width, height)
                    .encode_simple(false, f32::from(quality))
            } else {
                let rgb = picture.to_rgb8();
                webp::Encoder::from_rgb(rgb.as_raw(), width, height)
                    .encode_simple(false, f32::from(quality))
            }
            .map_err(|e| fail(&format!("{e:?}")))?;
            bytes.extend_from_slice(&mem);
            "image/webp"
        }
        Format::Avif => {
            bytes = avif(picture, quality).map_err(|e| fail(&e))?;
            "image/avif"
        }
    };
    Ok(Rendered {
        bytes,
        content_type,
        width,
        height,
    })
}

/// Baseline JPEG, chroma subsampled 4:2:0 below quality 90 (as libjpeg's users do), Huffman
/// tables optimized for the picture: about a third smaller than the `image` crate's 4:4:4 output
/// at the same quality, and faster to make.
pub fn encode_jpeg(rgb: &image::RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let side = |n: u32| u16::try_from(n).map_err(|_| format!("{n} pixels is over JPEG's 65535"));
    let (w, h) = (side(rgb.width())?, side(rgb.height())?);
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
    encoder.set_optimized_huffman_tables(true);
    encoder
        .encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// AVIF (rav1e at speed 8: a tenth of the time of the default speed for a slightly larger file;
/// the variant is made once and cached).
fn avif(picture: &DynamicImage, quality: u8) -> Result<Vec<u8>, ravif::Error> {
    use rgb::FromSlice;
    let (w, h) = (picture.width() as usize, picture.height() as usize);
    let encoder = ravif::Encoder::new()
        .with_quality(f32::from(quality))
        .with_alpha_quality(f32::from(quality))
        .with_speed(8);
    let encoded = if picture.color().has_alpha() {
        let rgba = picture.to_rgba8();
        encoder.encode_rgba(ravif::Img::new(rgba.as_raw().as_rgba(), w, h))?
    } else {
        let rgb = picture.to_rgb8();
        encoder.encode_rgb(ravif::Img::new(rgb.as_raw().as_rgb(), w, h))?
    };
    Ok(encoded.avif_file)
}

/// The picture over a white background, without alpha.
fn on_white(picture: &DynamicImage) -> image::RgbImage {
    if !picture.color().has_alpha() {
        return picture.to_rgb8();
    }
    let rgba = picture.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let mix = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
        });
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgba8)
            .expect("png");
        out
    }

    const LIMITS: SourceLimits = SourceLimits {
        max_pixels: 1 << 24,
    };

    fn dims(bytes: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory(bytes).expect("decodes");
        (img.width(), img.height())
    }

    #[test]
    fn sizes_by_fit() {
        let src = png(400, 200);
        let cases = [
            (
                Variant::sized(Some(100), None, Fit::Inside, Format::Png),
                (100, 50),
            ),
            (
                Variant::sized(None, Some(100), Fit::Inside, Format::Png),
                (200, 100),
            ),
            (
                Variant::sized(Some(100), Some(100), Fit::Inside, Format::Png),
                (100, 50),
            ),
            (
                Variant::sized(Some(800), Some(800), Fit::Inside, Format::Png),
                (400, 200),
            ),
            (
                Variant::sized(Some(100), Some(100), Fit::Cover, Format::Png),
                (100, 100),
            ),
            (
                Variant::sized(Some(100), Some(100), Fit::Contain, Format::Png),
                (100, 100),
            ),
            (
                Variant::sized(Some(100), Some(30), Fit::Fill, Format::Png),
                (100, 30),
            ),
        ];
        for (v, want) in cases {
            let out = render(&src, &v, &LIMITS).expect("rendered");
            assert_eq!((out.width, out.height), want, "{v}");
            assert_eq!(dims(&out.bytes), want, "{v}");
        }
    }

    #[test]
    fn formats() {
        let src = png(64, 64);
        // the magic bytes of each format, and where they are
        for (f, ct, at, magic) in [
            (Format::Jpeg, "image/jpeg", 0, &b"\xff\xd8"[..]),
            (Format::Webp, "image/webp", 0, b"RIFF"),
            (Format::Avif, "image/avif", 4, b"ftypavif"),
            (Format::Png, "image/png", 0, b"\x89PNG"),
            (Format::Original, "image/png", 0, b"\x89PNG"),
        ] {
            let out = render(
                &src,
                &Variant::sized(Some(32), None, Fit::Inside, f),
                &LIMITS,
            )
            .expect("ok");
            assert_eq!(out.content_type, ct);
            assert_eq!(out.bytes.get(at..at + magic.len()), Some(magic), "{ct}");
        }
    }

    /// A JPEG eight times larger than its variant goes through shrink-on-load: the same size and
    /// the same picture as the full decode would give.
    #[test]
    fn large_jpeg_is_shrunk_on_load() {
        let img = RgbaImage::from_fn(800, 600, |x, y| match (x < 400, y < 300) {
            (true, true) => image::Rgba([255, 0, 0, 255]),
            (false, true) => image::Rgba([0, 255, 0, 255]),
            (true, false) => image::Rgba([0, 0, 255, 255]),
            (false, false) => image::Rgba([255, 255, 0, 255]),
        });
        let mut jpeg = Vec::new();
        let rgb = DynamicImage::ImageRgba8(img).to_rgb8();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .write_image(rgb.as_raw(), 800, 600, image::ExtendedColorType::Rgb8)
            .expect("jpeg");
        let out = render(
            &jpeg,
            &Variant::sized(Some(100), None, Fit::Inside, Format::Png),
            &LIMITS,
        )
        .expect("rendered");
        assert_eq!((out.width, out.height), (100, 75));
        let made = image::load_from_memory(&out.bytes).expect("png").to_rgb8();
        for (x, y, want) in [
            (20, 20, [255, 0, 0]),
            (80, 20, [0, 255, 0]),
            (20, 60, [0, 0, 255]),
            (80, 60, [255, 255, 0]),
        ] {
            let got = made.get_pixel(x, y).0;
            let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(w) < 24);
            assert!(close, "({x},{y}): {got:?} not {want:?}");
        }
    }

    /// The variant's size is the original's scaled and rounded once: a 2000x1333 JPEG decoded
    /// at half size (1000x667, rounded up) still makes 500x333, as nginx and libvips do.
    #[test]
    fn shrunk_on_load_keeps_the_size_of_the_original() {
        let rgb = image::RgbImage::from_fn(2000, 1333, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 70)
            .write_image(rgb.as_raw(), 2000, 1333, image::ExtendedColorType::Rgb8)
            .expect("jpeg");
        let out = render(
            &jpeg,
            &Variant::sized(Some(500), Some(500), Fit::Inside, Format::Jpeg),
            &LIMITS,
        )
        .expect("rendered");
        assert_eq!((out.width, out.height), (500, 333));
        assert_eq!(dims(&out.bytes), (500, 333));
    }

    #[test]
    fn refusals() {
        let v = Variant::sized(Some(10), None, Fit::Inside, Format::Jpeg);
        let e = render(b"just text, not a picture", &v, &LIMITS).expect_err("refused");
        assert_eq!(e.status(), 415);
        let src = png(300, 300);
        let e = render(&src[..src.len() / 2], &v, &LIMITS).expect_err("truncated");
        assert_eq!(e.status(), 422, "{e}");
        let small = SourceLimits {
            max_pixels: 300 * 299,
        };
        let e = render(&src, &v, &small).expect_err("bomb");
        assert!(matches!(e, RenderError::TooManyPixels { .. }), "{e}");
    }
}
