//! Where the time of a variant goes: the stages of `render` (decode, with JPEG shrink-on-load as
//! `render` does it; resize; encode) timed one by one, in one thread, with the libraries and
//! settings `render` uses, and `render` itself for the whole. `bench/images.sh` prints it next to
//! the HTTP figures. The last column is the decoding and resize without shrink-on-load (the whole
//! picture decoded by zune-jpeg, then resized).
//!
//!   cargo run --release -p image-variants --example render_stages -- [--runs N] QUERY FILE...
//!
//! QUERY is a variant's canonical query without its format, e.g. `w=500&h=500&fit=inside&g=center&q=80`.
//! Prints a Markdown table: milliseconds per stage, the median of N runs (default 5).

use std::time::Instant;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage, ImageFormat, ImageReader, RgbImage};
use image_variants::params::Variant;
use image_variants::render::{encode_jpeg, output_size, render, SourceLimits};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `f` `runs` times; the median milliseconds and the last result.
fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(out);
    }
    (median(times), last.expect("at least one run"))
}

fn variant(query: &str, fmt: &str) -> Variant {
    Variant::parse_canonical(&format!("{query}&fmt={fmt}"))
        .unwrap_or_else(|| panic!("not a canonical query without fmt: {query}"))
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 5;
    if args.first().map(String::as_str) == Some("--runs") {
        runs = args.get(1).and_then(|n| n.parse().ok()).expect("--runs N");
        args.drain(..2);
    }
    let (query, files) = args.split_first().expect("QUERY FILE...");
    let (jpeg, webp) = (variant(query, "jpeg"), variant(query, "webp"));
    let limits = SourceLimits {
        max_pixels: 50_000_000,
    };
    println!(
        "| original | decode | resize | encode JPEG | encode WebP | render JPEG | render WebP | whole decode + resize |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for file in files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let full = || {
            ImageReader::new(std::io::Cursor::new(&bytes))
                .with_guessed_format()
                .expect("reads")
                .decode()
                .expect("decodes")
        };
        let (sw, sh) = {
            let p = full();
            (p.width(), p.height())
        };
        let (w, h) = output_size(sw, sh, &jpeg);
        // render's decoding: a JPEG at least twice the variant's size is decoded shrunk in the DCT
        // (jpeg-decoder's scale, to no less than the resize needs), anything else whole
        let s = (f64::from(w) / f64::from(sw)).max(f64::from(h) / f64::from(sh));
        let shrink = image::guess_format(&bytes).ok() == Some(ImageFormat::Jpeg) && s <= 0.5;
        let up = |n: u32| (f64::from(n) * s - 1e-6).ceil().max(1.0) as u16;
        let (t_decode, src) = timed(runs, || {
            if !shrink {
                return full();
            }
            let mut d = jpeg_decoder::Decoder::new(&bytes[..]);
            let (dw, dh) = d.scale(up(sw), up(sh)).expect("scales");
            let pixels = d.decode().expect("decodes");
            let (dw, dh) = (u32::from(dw), u32::from(dh));
            match d.info().map(|i| i.pixel_format) {
                Some(jpeg_decoder::PixelFormat::RGB24) => {
                    RgbImage::from_raw(dw, dh, pixels).map(DynamicImage::ImageRgb8)
                }
                Some(jpeg_decoder::PixelFormat::L8) => {
                    GrayImage::from_raw(dw, dh, pixels).map(DynamicImage::ImageLuma8)
                }
                _ => None,
            }
            .unwrap_or_else(full)
        });
        let alg = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        let (t_resize, small) = timed(runs, || {
            let mut out = DynamicImage::new(w, h, src.color());
            Resizer::new()
                .resize(&src, &mut out, &alg)
                .expect("resized");
            out
        });
        let rgb = small.to_rgb8();
        let (t_jpeg, _) = timed(runs, || {
            encode_jpeg(&rgb, jpeg.quality).expect("jpeg").len()
        });
        let (t_webp, _) = timed(runs, || {
            webp::Encoder::from_rgb(rgb.as_raw(), w, h)
                .encode_simple(false, f32::from(webp.quality))
                .expect("webp")
                .len()
        });
        let (t_render_jpeg, _) = timed(runs, || render(&bytes, &jpeg, &limits).expect("render"));
        let (t_render_webp, _) = timed(runs, || render(&bytes, &webp, &limits).expect("render"));
        // the same without shrink-on-load: the whole picture decoded (zune-jpeg), then resized
        let (t_whole, _) = timed(runs, || {
            let whole = full();
            let mut out = DynamicImage::new(w, h, whole.color());
            Resizer::new()
                .resize(&whole, &mut out, &alg)
                .expect("resized");
            out
        });
        let name = std::path::Path::new(file)
            .file_name()
            .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "| {name} {sw}x{sh} -> {w}x{h} (decoded at {}x{}) | {t_decode:.1} | {t_resize:.1} | {t_jpeg:.1} | {t_webp:.1} | {t_render_jpeg:.1} | {t_render_webp:.1} | {t_whole:.1} |",
            src.width(),
            src.height()
        );
    }
}
