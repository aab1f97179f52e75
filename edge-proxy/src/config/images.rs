//! `[images]`: the table, its presets and its checks.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::check::{at_path, problem, Problem, Seg};
use super::values::Size;
use super::Config;

/// `[images]`: variants of pictures made at the edge (see the edge README).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesSection {
    /// `[images.presets]`: `thumb = { width = 150, height = 150, fit = "cover" }`.
    #[serde(default)]
    pub presets: BTreeMap<String, PresetSection>,
    /// Free sizes (`?w=…&h=…`) without a signature: anyone may then make the edge resize to any
    /// size up to `max_side`, so it is off unless said.
    #[serde(default)]
    pub unsigned_sizes: bool,
    /// The suffix form `name_150x150.jpg`, for these sizes (`["150x150"]`); empty: off.
    #[serde(default)]
    pub suffix_sizes: Vec<String>,
    /// How a suffix-form size fits (the Java client's thumbnails fit inside).
    #[serde(default = "default_fit")]
    pub suffix_fit: String,
    #[serde(default = "default_quality")]
    pub quality: u8,
    /// The largest width or height of a variant.
    #[serde(default = "default_max_side")]
    pub max_side: u32,
    /// The largest original, in pixels (checked on its header, before decoding).
    #[serde(default = "default_max_source_pixels")]
    pub max_source_pixels: u64,
    /// The largest original, in bytes.
    #[serde(default = "default_max_source_bytes")]
    pub max_source_bytes: Size,
    /// Variants made at the same time (0: one per CPU).
    #[serde(default)]
    pub workers: usize,
    /// Variant requests waiting for a worker; more: 503 with `Retry-After`.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetSection {
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[serde(default = "default_fit")]
    pub fit: String,
    #[serde(default = "default_gravity")]
    pub gravity: String,
    pub quality: Option<u8>,
    pub format: Option<String>,
}

fn default_fit() -> String {
    "inside".into()
}
fn default_gravity() -> String {
    "center".into()
}
fn default_quality() -> u8 {
    80
}
fn default_max_side() -> u32 {
    4096
}
fn default_max_source_pixels() -> u64 {
    50_000_000
}
fn default_max_source_bytes() -> Size {
    Size(32 << 20)
}
fn default_queue() -> usize {
    8
}

/// `"150x150"` as (150, 150).
pub fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once('x')?;
    let w: u32 = w.parse().ok().filter(|w| *w > 0)?;
    let h: u32 = h.parse().ok().filter(|h| *h > 0)?;
    Some((w, h))
}

impl PresetSection {
    /// The preset, or what is wrong with it.
    pub fn preset(&self) -> Result<crate::images::params::Preset, String> {
        use crate::images::params::{Fit, Gravity, Preset, RequestedFormat};
        if self.width.is_none() && self.height.is_none() {
            return Err("needs a width or a height".into());
        }
        if self.width == Some(0) || self.height == Some(0) {
            return Err("width and height must be > 0".into());
        }
        if self.quality.is_some_and(|q| !(1..=100).contains(&q)) {
            return Err("quality must be 1 to 100".into());
        }
        Ok(Preset {
            width: self.width,
            height: self.height,
            fit: Fit::parse(&self.fit).ok_or("fit must be cover, contain, fill or inside")?,
            gravity: Gravity::parse(&self.gravity)
                .ok_or("gravity must be center, north, south, east, west, northeast, …")?,
            quality: self.quality,
            format: self
                .format
                .as_deref()
                .map(RequestedFormat::parse)
                .transpose()
                .map_err(|e| format!("format: {e}"))?,
        })
    }
}

impl Config {
    pub(super) fn check_images(&self) -> Result<(), Problem> {
        let Some(i) = &self.images else {
            return Ok(());
        };
        for (name, p) in &i.presets {
            if let Err(e) = p.preset() {
                let msg = format!("[images.presets] {name}: {e}");
                return Err(problem(msg, at_path!["images", "presets", name.as_str()]));
            }
        }
        for (n, s) in i.suffix_sizes.iter().enumerate() {
            if parse_size(s).is_none_or(|(w, h)| w.max(h) > i.max_side) {
                let msg =
                    format!("[images] suffix_sizes: `{s}` is not WIDTHxHEIGHT within max_side");
                return Err(problem(msg, at_path!["images", "suffix_sizes", n]));
            }
        }
        if crate::images::params::Fit::parse(&i.suffix_fit).is_none() {
            let msg = "[images] suffix_fit must be cover, contain, fill or inside";
            return Err(problem(msg, at_path!["images", "suffix_fit"]));
        }
        if !(1..=100).contains(&i.quality) {
            return Err(problem(
                "[images] quality must be 1 to 100",
                at_path!["images", "quality"],
            ));
        }
        if !(16..=16384).contains(&i.max_side) {
            let msg = "[images] max_side must be 16 to 16384";
            return Err(problem(msg, at_path!["images", "max_side"]));
        }
        if i.max_source_pixels == 0 || i.max_source_bytes.0 == 0 {
            let msg = "[images] max_source_pixels and max_source_bytes must be > 0";
            return Err(problem(msg, at_path!["images"]));
        }
        let free_unsigned = i.unsigned_sizes;
        let keys = self.access.as_ref().is_some_and(|a| !a.keys.is_empty());
        if i.presets.is_empty() && i.suffix_sizes.is_empty() && !free_unsigned && !keys {
            let msg = "[images] makes nothing: add [images.presets], suffix_sizes, an \
                       [[access.key]] to sign sizes, or unsigned_sizes = true";
            return Err(problem(msg, at_path!["images"]));
        }
        Ok(())
    }
}
