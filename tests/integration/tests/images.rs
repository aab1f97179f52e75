//! End-to-end tests of `[images]`: the real `fdfs-edge` in front of an emulated cluster (pictures
//! uploaded with the client, served by the emulator's storages over HTTP), real HTTP requests,
//! the variants decoded again to check what they are. Nothing here asserts on timing.

use std::net::Ipv4Addr;

use fdfs_client::client::{Client, UploadOptions};
use fdfs_emu::{Cluster, ClusterConfig};
use fdfs_integration::edge::{cluster_client, trackers_table, Edge, EdgeConfig, StoreOrigin};
use fdfs_integration::http::{http, Response};
use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};

/// `[images]` of these tests, with a signing key (free sizes must be signed) and the upload
/// gateway (for DELETE).
const IMAGES: &str = r#"
[images]
suffix_sizes = ["150x150"]
max_source_pixels = 4000000
[images.presets]
thumb = { width = 150, height = 150, fit = "cover" }
small = { width = 64, format = "webp" }
[access]
[[access.key]]
id = "k"
secret = "0123456789abcdef-images"
[upload]
[[upload.bearer]]
id = "ops"
token = "ops-token-0123456789"
"#;

struct Stack {
    _storages: Vec<StoreOrigin>,
    _cluster: Cluster,
    edge: Edge,
    client: Client,
}

/// An emulated cluster on `127.0.<net>.x` and an edge on its trackers with `images` appended.
async fn stack(net: u8, images: &str) -> Stack {
    stack_with_cache(net, images, "").await
}

/// [`stack`] with `cache` appended to the edge's `[cache]` table.
async fn stack_with_cache(net: u8, images: &str, cache: &str) -> Stack {
    let cluster = Cluster::start(
        ClusterConfig::builder()
            .groups(1)
            .storages_per_group(1)
            .first_storage_ip(Ipv4Addr::new(127, 0, net, 11))
            .build(),
    )
    .expect("emulator");
    let mut storages = Vec::new();
    for st in cluster.storages() {
        let http = std::net::SocketAddr::from((st.ip, 8888));
        let origin = StoreOrigin::start(http, st.store_path().to_path_buf()).await;
        storages.push(origin.expect("storage HTTP"));
    }
    let edge = Edge::start(&EdgeConfig {
        extra: format!("{}{images}", trackers_table(cluster.trackers())),
        cache_extra: cache.to_string(),
        ..EdgeConfig::default()
    });
    let client = cluster_client(cluster.trackers());
    Stack {
        _storages: storages,
        _cluster: cluster,
        edge,
        client,
    }
}

impl Stack {
    async fn upload(&self, bytes: &[u8], ext: &str) -> String {
        let id = self
            .client
            .upload(bytes, &UploadOptions::new().ext(ext))
            .await
            .expect("upload");
        format!("/{id}")
    }

    async fn get(&self, path: &str, headers: &[&str]) -> Response {
        http(self.edge.listen, "GET", path, headers, None)
            .await
            .expect("GET")
    }

    /// `fdfs-edge sign` of `path` (with its variant query) against the edge's configuration.
    fn sign(&self, path: &str) -> String {
        let out = self.edge.run_cli(&["sign", path]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    async fn metrics(&self) -> String {
        let m = http(self.edge.admin, "GET", "/metrics", &[], None)
            .await
            .expect("metrics");
        String::from_utf8_lossy(&m.body).to_string()
    }
}

/// A picture with a different colour in each quarter (so crops and orientation show).
fn quarters(w: u32, h: u32) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| match (x < w / 2, y < h / 2) {
        (true, true) => Rgba([255, 0, 0, 255]),
        (false, true) => Rgba([0, 255, 0, 255]),
        (true, false) => Rgba([0, 0, 255, 255]),
        (false, false) => Rgba([255, 255, 0, 255]),
    })
}

fn encoded(img: &RgbaImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let img = if format == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img.clone()).to_rgb8())
    } else {
        DynamicImage::ImageRgba8(img.clone())
    };
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A JPEG with an EXIF APP1 segment saying orientation `o` (6: rotate 90° clockwise to view).
fn jpeg_with_orientation(img: &RgbaImage, o: u8) -> Vec<u8> {
    let jpeg = encoded(img, ImageFormat::Jpeg);
    // "Exif\0\0", a big-endian TIFF header, one IFD with one SHORT entry (0x0112 = Orientation)
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0".to_vec();
    tiff.extend_from_slice(&[o, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let len = u16::try_from(app1.len() + 2).expect("short segment");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn decoded(r: &Response) -> DynamicImage {
    image::load_from_memory(&r.body).unwrap_or_else(|e| {
        panic!(
            "{e}: status {} body {:?}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
        )
    })
}

fn dims(r: &Response) -> (u32, u32) {
    let i = decoded(r);
    (i.width(), i.height())
}

fn series(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Presets, signed free sizes (and unsigned ones refused), each fit, gravity, quality and format,
/// `auto` negotiation with `Vary: Accept`, EXIF orientation, bad parameters: through the edge
/// from an emulated storage, each variant cached after its first request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parameters_presets_signatures_and_formats() {
    let s = stack(13, IMAGES).await;
    let png = s
        .upload(&encoded(&quarters(400, 200), ImageFormat::Png), "png")
        .await;

    // a preset: no signature needed; made once, then a hit with the same bytes
    let first = s.get(&format!("{png}?preset=thumb"), &[]).await;
    assert_eq!(
        first.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.cache_status(), "MISS");
    assert_eq!(first.header("Content-Type"), Some("image/png"));
    assert_eq!(dims(&first), (150, 150));
    let again = s.get(&format!("{png}?preset=thumb"), &[]).await;
    assert_eq!(again.cache_status(), "HIT");
    assert_eq!(again.body, first.body);
    // HEAD: of a cached variant, and of one not made yet (made, then answered without a body)
    for q in ["preset=thumb", "preset=small"] {
        let head = http(s.edge.listen, "HEAD", &format!("{png}?{q}"), &[], None)
            .await
            .expect("HEAD");
        assert_eq!(head.status, 200, "{q}");
        assert!(head
            .header("Content-Type")
            .is_some_and(|t| t.starts_with("image/")));
        assert!(head.body.is_empty());
    }
    // the original itself is untouched
    let original = s.get(&png, &[]).await;
    assert_eq!(dims(&original), (400, 200));

    // free sizes: refused unsigned, accepted signed, refused when the signed parameters change
    let unsigned = s.get(&format!("{png}?w=100&h=100&fit=contain"), &[]).await;
    assert_eq!(unsigned.status, 403);
    let signed = s.sign(&format!("{png}?w=100&h=100&fit=contain"));
    let ok = s.get(&signed, &[]).await;
    assert_eq!(ok.status, 200, "{signed}");
    assert_eq!(dims(&ok), (100, 100));
    // contain: padded (transparent corners), the picture in the middle
    let c = decoded(&ok).to_rgba8();
    assert_eq!(c.get_pixel(0, 0).0[3], 0, "padding is transparent");
    assert_eq!(c.get_pixel(10, 40).0, [255, 0, 0, 255]);
    let tampered = signed.replace("w=100", "w=300");
    assert_eq!(s.get(&tampered, &[]).await.status, 403);
    let m = s.metrics().await;
    assert!(
        series(
            &m,
            "fdfs_edge_access_denied_total{reason=\"unsigned_variant\"}"
        ) >= 2.0,
        "{m}"
    );

    // fit and gravity
    let cases = [
        ("w=100", (100, 50)),
        ("h=100", (200, 100)),
        ("w=1000&h=1000", (400, 200)),
        ("w=50&h=80&fit=fill", (50, 80)),
        ("w=80&h=80&fit=cover", (80, 80)),
    ];
    for (q, want) in cases {
        let r = s.get(&s.sign(&format!("{png}?{q}")), &[]).await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(dims(&r), want, "{q}");
    }
    let west = decoded(
        &s.get(&s.sign(&format!("{png}?w=50&h=50&fit=cover&g=west")), &[])
            .await,
    );
    let east = decoded(
        &s.get(&s.sign(&format!("{png}?w=50&h=50&fit=cover&g=east")), &[])
            .await,
    );
    assert_eq!(
        west.to_rgba8().get_pixel(5, 5).0,
        [255, 0, 0, 255],
        "west keeps the left"
    );
    assert_eq!(
        east.to_rgba8().get_pixel(44, 5).0,
        [0, 255, 0, 255],
        "east keeps the right"
    );

    // formats and quality
    let avif = s.get(&s.sign(&format!("{png}?w=100&fmt=avif")), &[]).await;
    assert_eq!(avif.header("Content-Type"), Some("image/avif"));
    assert_eq!(avif.body.get(4..12), Some(&b"ftypavif"[..]));
    let webp = s.get(&s.sign(&format!("{png}?w=100&fmt=webp")), &[]).await;
    assert_eq!(webp.header("Content-Type"), Some("image/webp"));
    assert!(webp.body.starts_with(b"RIFF"));
    assert_eq!(dims(&webp), (100, 50));
    let q10 = s
        .get(&s.sign(&format!("{png}?w=200&fmt=jpeg&q=10")), &[])
        .await;
    let q95 = s
        .get(&s.sign(&format!("{png}?w=200&fmt=jpeg&q=95")), &[])
        .await;
    assert_eq!(q10.header("Content-Type"), Some("image/jpeg"));
    assert!(
        q10.body.len() < q95.body.len(),
        "{} {}",
        q10.body.len(),
        q95.body.len()
    );

    // auto: WebP for a client that accepts it, the original's format otherwise, Vary: Accept,
    // one cached copy per format
    let auto = s.sign(&format!("{png}?w=120&fmt=auto"));
    let to_webp = s.get(&auto, &["Accept: image/avif,image/webp,*/*"]).await;
    let to_old = s.get(&auto, &["Accept: image/png,*/*"]).await;
    assert_eq!(to_webp.header("Content-Type"), Some("image/webp"));
    assert_eq!(to_old.header("Content-Type"), Some("image/png"));
    for r in [&to_webp, &to_old] {
        assert_eq!(r.header("Vary"), Some("Accept"));
        assert_eq!(r.cache_status(), "MISS");
    }
    let hit = s.get(&auto, &["Accept: image/webp"]).await;
    assert_eq!(
        (hit.cache_status(), hit.header("Vary")),
        ("HIT", Some("Accept"))
    );
    assert_eq!(hit.body, to_webp.body);

    // a preset with its own format
    let small = s.get(&format!("{png}?preset=small"), &[]).await;
    assert_eq!(small.header("Content-Type"), Some("image/webp"));
    assert_eq!(dims(&small), (64, 32));

    // EXIF orientation 6: a 60x40 picture shown as 40x60; the variant carries no EXIF
    let jpg = s
        .upload(&jpeg_with_orientation(&quarters(60, 40), 6), "jpg")
        .await;
    let turned = s.get(&s.sign(&format!("{jpg}?w=20")), &[]).await;
    assert_eq!(turned.header("Content-Type"), Some("image/jpeg"));
    assert_eq!(dims(&turned), (20, 30));
    assert!(
        !turned.body.windows(6).any(|w| w == b"Exif\0\0"),
        "metadata stripped"
    );

    // bad parameters: 400 with the reason
    for q in [
        "w=abc",
        "w=0",
        "w=10&fit=stretch",
        "w=10&fmt=gif",
        "w=10&q=0",
        "preset=nope",
        "w=99999",
    ] {
        let r = s.get(&s.sign(&format!("{png}?{q}")), &[]).await;
        assert_eq!(r.status, 400, "{q}: {}", String::from_utf8_lossy(&r.body));
    }
}

/// The suffix form of thumbnails made at upload (`name_150x150.png`) for a listed size; PURGE of
/// the original purges its variants, and DELETE (through `[upload]`) too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suffix_form_and_purge_and_delete_of_the_original() {
    let s = stack(14, IMAGES).await;
    let png = s
        .upload(&encoded(&quarters(300, 600), ImageFormat::Png), "png")
        .await;
    let suffix = png.replace(".png", "_150x150.png");
    let thumb = s.get(&suffix, &[]).await;
    assert_eq!(thumb.status, 200, "{suffix}");
    assert_eq!(dims(&thumb), (75, 150), "fits inside 150x150");
    // an unlisted size is a file like any other (here: none)
    assert_eq!(
        s.get(&png.replace(".png", "_99x99.png"), &[]).await.status,
        404
    );
    let preset = s.get(&format!("{png}?preset=thumb"), &[]).await;
    assert_eq!(preset.status, 200);
    assert_eq!(s.get(&suffix, &[]).await.cache_status(), "HIT");

    // PURGE of the original: its variants go too
    let purged = http(s.edge.listen, "PURGE", &png, &[], None)
        .await
        .expect("purge");
    assert_eq!(
        purged.status,
        200,
        "{}",
        String::from_utf8_lossy(&purged.body)
    );
    // the original (cached when the image service fetched it) and its two variants
    let said = String::from_utf8_lossy(&purged.body).to_string();
    assert!(said.contains("3 object(s)"), "{said}");
    assert_eq!(s.get(&suffix, &[]).await.cache_status(), "MISS");
    assert_eq!(
        s.get(&format!("{png}?preset=thumb"), &[])
            .await
            .cache_status(),
        "MISS"
    );

    // DELETE of the original: the file and its cached variants are gone
    let auth = "Authorization: Bearer ops-token-0123456789";
    let deleted = http(s.edge.listen, "DELETE", &png, &[auth], None)
        .await
        .expect("delete");
    assert_eq!(deleted.status, 204);
    assert_eq!(s.get(&suffix, &[]).await.status, 404);
    assert_eq!(s.get(&format!("{png}?preset=thumb"), &[]).await.status, 404);
}

/// What the edge must not resize: a text file (415), a truncated picture, a decompression bomb
/// (a PNG whose header claims 20000x20000), an animated GIF, an original over max_source_bytes
/// (422) — each refused with the reason logged, never cached, and the edge still serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_images_corrupt_images_and_bombs_are_refused() {
    let s = stack(
        15,
        &IMAGES.replace("[images]\n", "[images]\nmax_source_bytes = \"200KiB\"\n"),
    )
    .await;
    let text = s.upload(b"plain text, not a picture\n", "png").await;
    let r = s.get(&format!("{text}?preset=thumb"), &[]).await;
    assert_eq!(r.status, 415, "{}", String::from_utf8_lossy(&r.body));

    let png = encoded(&quarters(200, 200), ImageFormat::Png);
    let truncated = s.upload(&png[..png.len() / 2], "png").await;
    assert_eq!(
        s.get(&format!("{truncated}?preset=thumb"), &[])
            .await
            .status,
        422
    );

    // 20000x20000 in the header: refused on the header, before a pixel is decoded
    // (IHDR's CRC made right, so that only the size is wrong)
    let mut bomb = png.clone();
    bomb[16..24].copy_from_slice(&[0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20]);
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let bomb = s.upload(&bomb, "png").await;
    let r = s.get(&format!("{bomb}?preset=thumb"), &[]).await;
    assert_eq!(r.status, 422);
    assert!(
        String::from_utf8_lossy(&r.body).contains("20000x20000"),
        "{:?}",
        r.body
    );

    let gif = animated_gif();
    let gif = s.upload(&gif, "gif").await;
    assert_eq!(s.get(&format!("{gif}?preset=thumb"), &[]).await.status, 422);

    let noise = RgbaImage::from_fn(400, 400, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
        Rgba([v, v.rotate_left(3), v.rotate_left(5), 255])
    });
    let large = s.upload(&encoded(&noise, ImageFormat::Png), "png").await;
    let r = s.get(&format!("{large}?preset=thumb"), &[]).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("max_source_bytes"));

    // nothing refused was cached, and the edge still serves
    let again = s.get(&format!("{text}?preset=thumb"), &[]).await;
    assert_eq!((again.status, again.cache_status()), (415, "MISS"));
    let good = s.upload(&png, "png").await;
    assert_eq!(
        s.get(&format!("{good}?preset=thumb"), &[]).await.status,
        200
    );
    let m = s.metrics().await;
    assert_eq!(
        series(
            &m,
            "fdfs_edge_image_variants_total{outcome=\"refused_source\"}"
        ),
        5.0,
        "{m}"
    );
    assert_eq!(
        series(
            &m,
            "fdfs_edge_image_variants_total{outcome=\"original_refused\"}"
        ),
        1.0
    );
    assert!(s.edge.logs().contains("animated images are not resized"));
}

/// A variant larger than `[cache] max_object_size` is served whole and uncached (made again on
/// the next request); a small one is cached as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_variant_over_the_cache_size_limit_is_served_uncached() {
    let s = stack_with_cache(18, IMAGES, "max_object_size = \"8KiB\"\n").await;
    // noise does not compress: the 150x150 PNG thumbnail is tens of KiB
    let mut seed = 0x2545_f491_u32;
    let noise = RgbaImage::from_fn(300, 300, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let [r, g, b, _] = seed.to_le_bytes();
        Rgba([r, g, b, 255])
    });
    let large = s.upload(&encoded(&noise, ImageFormat::Png), "png").await;
    let flat = s
        .upload(&encoded(&quarters(300, 300), ImageFormat::Png), "png")
        .await;
    let made = |m: &str| series(m, "fdfs_edge_image_variants_total{outcome=\"made\"}");
    let before = made(&s.metrics().await);
    for _ in 0..2 {
        let r = s.get(&format!("{large}?preset=thumb"), &[]).await;
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        assert!(r.body.len() > 8 << 10, "{} bytes", r.body.len());
        assert_eq!(dims(&r), (150, 150));
        assert_ne!(r.cache_status(), "HIT");
    }
    assert_eq!(made(&s.metrics().await) - before, 2.0);
    let first = s.get(&format!("{flat}?preset=thumb"), &[]).await;
    assert!(first.body.len() < 8 << 10, "{} bytes", first.body.len());
    let again = s.get(&format!("{flat}?preset=thumb"), &[]).await;
    assert_eq!(again.cache_status(), "HIT");
    assert_eq!(again.body, first.body);
    assert_eq!(made(&s.metrics().await) - before, 3.0);
}

fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::Frame;
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        enc.set_repeat(Repeat::Infinite).expect("repeat");
        for c in [0u8, 255] {
            let f = RgbaImage::from_pixel(20, 20, Rgba([c, 0, 0, 255]));
            enc.encode_frame(Frame::new(f)).expect("frame");
        }
    }
    out
}

/// With one worker and no queue, a burst of variant misses gets 503 with `Retry-After` beyond
/// the one being made, while cached objects keep being served (the pool runs off the proxy's
/// I/O threads).
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn saturated_generation_refuses_with_503_and_hits_go_on() {
    let conf = IMAGES.replace(
        "[images]\n",
        "[images]\nworkers = 1\nqueue = 0\nunsigned_sizes = true\n",
    );
    let s = stack(16, &conf).await;
    let big = s
        .upload(&encoded(&quarters(1600, 1200), ImageFormat::Png), "png")
        .await;
    let cached = s.upload(b"a cached object\n", "txt").await;
    assert_eq!(s.get(&cached, &[]).await.status, 200);
    assert_eq!(s.get(&cached, &[]).await.cache_status(), "HIT");

    let mut statuses = Vec::new();
    for round in 0..5 {
        let burst: Vec<_> = (0..8)
            .map(|i| {
                let (addr, path) = (s.edge.listen, format!("{big}?w={}", 100 + round * 10 + i));
                tokio::spawn(async move { http(addr, "GET", &path, &[], None).await })
            })
            .collect();
        // while the burst is being answered, hits are served
        for _ in 0..5 {
            let hit = s.get(&cached, &[]).await;
            assert_eq!((hit.status, hit.cache_status()), (200, "HIT"));
        }
        for b in burst {
            let r = b.await.expect("task").expect("answer");
            if r.status == 503 {
                assert_eq!(r.header("Retry-After"), Some("1"));
            }
            statuses.push(r.status);
        }
        if statuses.contains(&503) && statuses.contains(&200) {
            break;
        }
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let m = s.metrics().await;
    assert!(
        series(&m, "fdfs_edge_image_variants_total{outcome=\"queue_full\"}") >= 1.0,
        "{m}"
    );
}

/// A graceful upgrade (`-u`) hands the image service's sockets over with the others: variants
/// are still made by the new process, and the ones made before are still cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn variants_survive_a_graceful_upgrade() {
    let mut s = stack(17, IMAGES).await;
    let png = s
        .upload(&encoded(&quarters(200, 100), ImageFormat::Png), "png")
        .await;
    let thumb = format!("{png}?preset=thumb");
    assert_eq!(s.get(&thumb, &[]).await.cache_status(), "MISS");
    let old = s.edge.pid();
    let edge = tokio::task::spawn_blocking(move || {
        s.edge.upgrade();
        s
    });
    let s = edge.await.expect("upgrade");
    assert_ne!(s.edge.pid(), old);
    let kept = s.get(&thumb, &[]).await;
    assert_eq!((kept.status, kept.cache_status()), (200, "HIT"));
    let new = s.get(&format!("{png}?preset=small"), &[]).await;
    assert_eq!(new.status, 200, "{}", String::from_utf8_lossy(&new.body));
    assert_eq!(dims(&new), (64, 32));
}
