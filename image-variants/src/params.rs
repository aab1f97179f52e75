//! What a variant request asks for: the query parameters (`w`, `h`, `fit`, `g`, `q`, `fmt`,
//! `preset`), the suffix form (`name_150x150.jpg`), and the one canonical spelling of a variant
//! that names it in the cache key and in the edge's request to its image service.

use std::collections::BTreeMap;
use std::fmt;

/// The query parameters of a variant. With `[images]` on, a request carrying any of them asks
/// for a variant; a URL signature covers them (see `access::signed`).
pub const PARAM_NAMES: [&str; 7] = ["w", "h", "fit", "g", "q", "fmt", "preset"];

/// How the picture fits the asked box (sharp's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fills the box, cropping what overflows (at the gravity).
    Cover,
    /// Fits in the box, the rest padded (white for JPEG, transparent otherwise).
    Contain,
    /// Exactly the box, the aspect ratio ignored.
    Fill,
    /// Fits in the box, never cropped, never enlarged, no padding.
    Inside,
}

impl Fit {
    pub fn parse(s: &str) -> Option<Fit> {
        Some(match s {
            "cover" => Fit::Cover,
            "contain" => Fit::Contain,
            "fill" => Fit::Fill,
            "inside" => Fit::Inside,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
            Fit::Fill => "fill",
            Fit::Inside => "inside",
        }
    }
}

/// Where `cover` keeps the picture when it crops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gravity {
    Center,
    North,
    South,
    East,
    West,
    NorthEast,
    NorthWest,
    SouthEast,
    SouthWest,
}

const GRAVITIES: [(&str, Gravity); 9] = [
    ("center", Gravity::Center),
    ("north", Gravity::North),
    ("south", Gravity::South),
    ("east", Gravity::East),
    ("west", Gravity::West),
    ("northeast", Gravity::NorthEast),
    ("northwest", Gravity::NorthWest),
    ("southeast", Gravity::SouthEast),
    ("southwest", Gravity::SouthWest),
];

impl Gravity {
    pub fn parse(s: &str) -> Option<Gravity> {
        GRAVITIES.iter().find(|(n, _)| *n == s).map(|(_, g)| *g)
    }

    fn name(self) -> &'static str {
        GRAVITIES
            .iter()
            .find(|(_, g)| *g == self)
            .map_or("center", |(n, _)| n)
    }

    /// The share of the overflow cropped from the left and from the top.
    pub fn centering(self) -> (f64, f64) {
        match self {
            Gravity::Center => (0.5, 0.5),
            Gravity::North => (0.5, 0.0),
            Gravity::South => (0.5, 1.0),
            Gravity::East => (1.0, 0.5),
            Gravity::West => (0.0, 0.5),
            Gravity::NorthEast => (1.0, 0.0),
            Gravity::NorthWest => (0.0, 0.0),
            Gravity::SouthEast => (1.0, 1.0),
            Gravity::SouthWest => (0.0, 1.0),
        }
    }
}

/// The format a variant is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Avif,
    /// The original's own format (GIF becomes PNG: the edge writes no GIF).
    Original,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
            Format::Original => "original",
        }
    }

    fn parse_resolved(s: &str) -> Option<Format> {
        Some(match s {
            "jpeg" | "jpg" => Format::Jpeg,
            "png" => Format::Png,
            "webp" => Format::Webp,
            "avif" => Format::Avif,
            "original" => Format::Original,
            _ => return None,
        })
    }

    /// `auto`: WebP when the client accepts it, else the original's format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let webp = accept.is_some_and(|a| {
            a.split(',').any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let accepted = parts
                    .next()
                    .is_some_and(|t| t.eq_ignore_ascii_case("image/webp"));
                // `image/webp;q=0` is a refusal
                accepted && !parts.any(|p| p.replace(' ', "") == "q=0")
            })
        });
        if webp {
            Format::Webp
        } else {
            Format::Original
        }
    }
}

/// A variant, every choice made: what the cache key and the image service see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub gravity: Gravity,
    pub quality: u8,
    pub format: Format,
}

impl fmt::Display for Variant {
    /// The canonical query (see [`Variant::push_canonical`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(48);
        self.push_canonical(&mut s);
        f.write_str(&s)
    }
}

/// `n` in decimal, without the formatting machinery (a cache hit of a variant writes its key).
fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

#[cfg(test)]
impl Variant {
    /// A variant of the given size, fit and format, centred, at quality 80: what the tests vary.
    pub(crate) fn sized(width: Option<u32>, height: Option<u32>, fit: Fit, format: Format) -> Self {
        Variant {
            width,
            height,
            fit,
            gravity: Gravity::Center,
            quality: 80,
            format,
        }
    }
}

impl Variant {
    /// Appends the canonical query: every field, in a fixed order
    /// (`w=500&h=-&fit=inside&g=center&q=80&fmt=webp`).
    pub fn push_canonical(&self, out: &mut String) {
        let dim = |out: &mut String, d: Option<u32>| match d {
            Some(v) => push_decimal(out, v),
            None => out.push('-'),
        };
        out.push_str("w=");
        dim(out, self.width);
        out.push_str("&h=");
        dim(out, self.height);
        out.push_str("&fit=");
        out.push_str(self.fit.name());
        out.push_str("&g=");
        out.push_str(self.gravity.name());
        out.push_str("&q=");
        push_decimal(out, u32::from(self.quality));
        out.push_str("&fmt=");
        out.push_str(self.format.name());
    }

    /// Reads the canonical query back (the image service's side of [`fmt::Display`]); `None` for
    /// anything else.
    pub fn parse_canonical(q: &str) -> Option<Variant> {
        let mut it = q.split('&');
        let mut next = |name: &str| {
            it.next()
                .and_then(|p| p.strip_prefix(name))
                .and_then(|p| p.strip_prefix('='))
        };
        let dim = |s: &str| {
            if s == "-" {
                Some(None)
            } else {
                s.parse::<u32>().ok().filter(|v| *v > 0).map(Some)
            }
        };
        let v = Variant {
            width: dim(next("w")?)?,
            height: dim(next("h")?)?,
            fit: Fit::parse(next("fit")?)?,
            gravity: Gravity::parse(next("g")?)?,
            quality: next("q")?.parse().ok().filter(|q| (1..=100).contains(q))?,
            format: Format::parse_resolved(next("fmt")?)?,
        };
        (it.next().is_none() && (v.width.is_some() || v.height.is_some())).then_some(v)
    }
}

/// A named preset of `[images.presets]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub gravity: Gravity,
    pub quality: Option<u8>,
    /// `None`: the request's `fmt` (or the original's format).
    pub format: Option<RequestedFormat>,
}

/// `fmt` as a request writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedFormat {
    Auto,
    Is(Format),
}

impl RequestedFormat {
    pub fn parse(s: &str) -> Result<RequestedFormat, ParamError> {
        match s {
            "auto" => Ok(RequestedFormat::Auto),
            _ => Format::parse_resolved(s)
                .map(RequestedFormat::Is)
                .ok_or(ParamError::Bad("fmt")),
        }
    }
}

/// Why a variant request is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("bad value of `{0}`")]
    Bad(&'static str),
    #[error("`{0}` given twice")]
    Repeated(&'static str),
    #[error("unknown preset `{0}`")]
    UnknownPreset(String),
    #[error("`preset` cannot be combined with other variant parameters")]
    PresetMixed,
    #[error("a width or a height is needed")]
    NoSize,
    #[error("{0} is above the limit of {1} pixels")]
    TooLarge(&'static str, u32),
}

/// The variant parameters of a query, as given (decoded values), and whether it named a preset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Asked {
    values: BTreeMap<&'static str, String>,
}

impl Asked {
    /// The variant parameters of `query`; the other parameters are left alone. `None` when
    /// there is none (not a variant request).
    pub fn from_query(query: Option<&str>) -> Result<Option<Asked>, ParamError> {
        let mut asked = Asked::default();
        for pair in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(&name) = PARAM_NAMES.iter().find(|n| **n == k) else {
                continue;
            };
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| ParamError::Bad(name))?;
            if asked.values.insert(name, v.into_owned()).is_some() {
                return Err(ParamError::Repeated(name));
            }
        }
        Ok((!asked.values.is_empty()).then_some(asked))
    }

    /// The suffix form: `stem_<w>x<h>.<ext>` → the original's path and the size.
    pub fn from_suffix(path: &str) -> Option<(String, u32, u32)> {
        let (dir, name) = path.rsplit_once('/')?;
        let (stem, ext) = name
            .rsplit_once('.')
            .map_or((name, None), |(s, e)| (s, Some(e)));
        let (base, size) = stem.rsplit_once('_')?;
        let (w, h) = size.split_once('x')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
        if base.is_empty() || !digits(w) || !digits(h) {
            return None;
        }
        let original = match ext {
            Some(e) => format!("{dir}/{base}.{e}"),
            None => format!("{dir}/{base}"),
        };
        Some((original, w.parse().ok()?, h.parse().ok()?))
    }

    pub fn preset_name(&self) -> Option<&str> {
        self.values.get("preset").map(String::as_str)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The parameters as given, in the fixed order of [`PARAM_NAMES`]: what a signature covers.
    pub fn signed_line(&self) -> String {
        PARAM_NAMES
            .iter()
            .filter_map(|n| self.values.get(n).map(|v| format!("{n}={v}")))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The requested variant, from a preset or the free parameters.
    pub fn resolve(&self, presets: &BTreeMap<String, Preset>) -> Result<Preset, ParamError> {
        if let Some(name) = self.preset_name() {
            if self.values.len() > 1 {
                return Err(ParamError::PresetMixed);
            }
            return presets
                .get(name)
                .copied()
                .ok_or_else(|| ParamError::UnknownPreset(name.to_string()));
        }
        let dim = |name: &'static str| -> Result<Option<u32>, ParamError> {
            self.get(name)
                .map(|v| {
                    v.parse::<u32>()
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or(ParamError::Bad(name))
                })
                .transpose()
        };
        let fit = self
            .get("fit")
            .map(|f| Fit::parse(f).ok_or(ParamError::Bad("fit")));
        let gravity = self
            .get("g")
            .map(|g| Gravity::parse(g).ok_or(ParamError::Bad("g")));
        let quality = self.get("q").map(|q| {
            q.parse::<u8>()
                .ok()
                .filter(|q| (1..=100).contains(q))
                .ok_or(ParamError::Bad("q"))
        });
        Ok(Preset {
            width: dim("w")?,
            height: dim("h")?,
            fit: fit.transpose()?.unwrap_or(Fit::Inside),
            gravity: gravity.transpose()?.unwrap_or(Gravity::Center),
            quality: quality.transpose()?,
            format: self.get("fmt").map(RequestedFormat::parse).transpose()?,
        })
    }
}

impl Preset {
    /// The variant, with the defaults and the client's `Accept` for `auto`, within the output
    /// limit.
    pub fn variant(
        &self,
        default_quality: u8,
        max_side: u32,
        accept: Option<&str>,
    ) -> Result<Variant, ParamError> {
        if self.width.is_none() && self.height.is_none() {
            return Err(ParamError::NoSize);
        }
        for (name, d) in [("width", self.width), ("height", self.height)] {
            if d.is_some_and(|d| d > max_side) {
                return Err(ParamError::TooLarge(name, max_side));
            }
        }
        let format = match self.format {
            None => Format::Original,
            Some(RequestedFormat::Is(f)) => f,
            Some(RequestedFormat::Auto) => Format::negotiate(accept),
        };
        Ok(Variant {
            width: self.width,
            height: self.height,
            fit: self.fit,
            gravity: self.gravity,
            quality: self.quality.unwrap_or(default_quality),
            format,
        })
    }

    /// Whether the variant depends on the client's `Accept` (`Vary: Accept`).
    pub fn negotiated(&self) -> bool {
        self.format == Some(RequestedFormat::Auto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(q: &str) -> Asked {
        Asked::from_query(Some(q))
            .expect("parsed")
            .expect("a variant")
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 99, 100, 4096, 65535, u32::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn canonical_round_trip() {
        let p = asked("h=200&w=300&fit=cover&g=north&q=70&fmt=webp")
            .resolve(&BTreeMap::new())
            .expect("resolved");
        let v = p.variant(80, 4096, None).expect("variant");
        let s = v.to_string();
        assert_eq!(s, "w=300&h=200&fit=cover&g=north&q=70&fmt=webp");
        assert_eq!(Variant::parse_canonical(&s), Some(v));
        // defaults are written out: two spellings of one variant share a key
        let a = asked("w=300").resolve(&BTreeMap::new()).expect("resolved");
        let b = asked("w=300&fit=inside&g=center&q=80")
            .resolve(&BTreeMap::new())
            .expect("ok");
        assert_eq!(a.variant(80, 4096, None), b.variant(80, 4096, None));
        assert_eq!(
            Variant::parse_canonical("w=-&h=-&fit=cover&g=center&q=80&fmt=jpeg"),
            None
        );
        assert_eq!(
            Variant::parse_canonical("w=1&h=-&fit=cover&g=center&q=80&fmt=jpeg&x=1"),
            None
        );
    }

    #[test]
    fn refusals() {
        let none = BTreeMap::new();
        assert_eq!(asked("w=0").resolve(&none), Err(ParamError::Bad("w")));
        assert_eq!(asked("w=abc").resolve(&none), Err(ParamError::Bad("w")));
        assert_eq!(asked("w=1&q=101").resolve(&none), Err(ParamError::Bad("q")));
        assert_eq!(
            asked("w=1&fit=stretch").resolve(&none),
            Err(ParamError::Bad("fit"))
        );
        assert_eq!(
            asked("w=1&fmt=gif").resolve(&none),
            Err(ParamError::Bad("fmt"))
        );
        assert_eq!(
            asked("preset=x&w=1").resolve(&none),
            Err(ParamError::PresetMixed)
        );
        assert_eq!(
            asked("preset=x").resolve(&none),
            Err(ParamError::UnknownPreset("x".into()))
        );
        assert_eq!(
            Asked::from_query(Some("w=1&w=2")),
            Err(ParamError::Repeated("w"))
        );
        assert_eq!(Asked::from_query(Some("filename=a.jpg")), Ok(None));
        let p = asked("fit=cover").resolve(&none).expect("parsed");
        assert_eq!(p.variant(80, 100, None), Err(ParamError::NoSize));
        let p = asked("w=101").resolve(&none).expect("parsed");
        assert_eq!(
            p.variant(80, 100, None),
            Err(ParamError::TooLarge("width", 100))
        );
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(
            Format::negotiate(Some("image/avif,image/webp,*/*")),
            Format::Webp
        );
        assert_eq!(
            Format::negotiate(Some("image/webp;q=0, image/*")),
            Format::Original
        );
        assert_eq!(
            Format::negotiate(Some("image/png,*/*;q=0.8")),
            Format::Original
        );
        assert_eq!(Format::negotiate(None), Format::Original);
    }

    #[test]
    fn suffix_form() {
        assert_eq!(
            Asked::from_suffix("/group1/M00/00/00/abc_150x100.jpg"),
            Some(("/group1/M00/00/00/abc.jpg".to_string(), 150, 100))
        );
        assert_eq!(Asked::from_suffix("/group1/M00/00/00/abc.jpg"), None);
        assert_eq!(Asked::from_suffix("/group1/M00/00/00/_150x100.jpg"), None);
        assert_eq!(Asked::from_suffix("/group1/M00/00/00/a_x100.jpg"), None);
    }

    #[test]
    fn signed_line_is_ordered() {
        assert_eq!(asked("h=2&zz=1&w=1").signed_line(), "w=1&h=2");
    }
}
