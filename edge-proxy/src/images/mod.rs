//! `[images]`: variants of pictures (resized, cropped, re-encoded) made at the edge and cached
//! like any object.
//!
//! - [`params`] (crate `image-variants`): what a request asks for (query parameters, presets,
//!   the suffix form) and the canonical spelling that names a variant in the cache key;
//! - [`render`] (crate `image-variants`): the decoding, resizing and encoding, pure and
//!   synchronous;
//! - [`pool`]: the bounded pool it runs in (503 with `Retry-After` when full);
//! - [`service`]: the internal HTTP service the proxy asks for a variant it does not hold.
//!
//! The proxy's side (`proxy::variant`) decides whether a request is a variant request and whether
//! it may be made (a preset, a signed URL, or `unsigned_sizes`), keys it, and sends a miss to the
//! service instead of a storage.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub mod pool;
pub mod service;

pub use image_variants::{params, render};

use params::{Asked, Fit, ParamError, Preset, Variant};
use pool::Pool;
use render::SourceLimits;

/// The header that marks the edge's own requests between the proxy and the image service; its
/// value is a secret made at start.
pub const INTERNAL_HEADER: &str = "X-Fdfs-Edge-Internal";

/// The suffix form (`name_150x150.jpg`): the sizes it may ask for and how they fit.
#[derive(Debug, Clone)]
pub struct Suffix {
    pub sizes: Vec<(u32, u32)>,
    pub fit: Fit,
}

/// `[images]`, ready to use.
pub struct Images {
    pub presets: BTreeMap<String, Preset>,
    /// Free sizes without a signature.
    pub unsigned_sizes: bool,
    pub suffix: Option<Suffix>,
    /// `q` when the request does not say.
    pub quality: u8,
    /// The largest width or height of a variant.
    pub max_side: u32,
    pub limits: SourceLimits,
    pub max_source_bytes: u64,
    pub pool: Pool,
    /// The image service's socket (the proxy's upstream for variants).
    pub service_socket: PathBuf,
    /// The proxy's internal socket (the image service's way to the originals).
    pub origin_socket: PathBuf,
    /// The value of [`INTERNAL_HEADER`].
    pub secret: String,
}

/// A variant request, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRequest {
    /// The original's canonical path.
    pub original: String,
    pub variant: Variant,
    /// The format came from `Accept` (`fmt=auto`): the answer says `Vary: Accept`.
    pub negotiated: bool,
    /// Free parameters (not a preset, not a listed suffix size): they need a signature unless
    /// `unsigned_sizes` is on.
    pub free: bool,
}

impl VariantRequest {
    /// The cache key's query and the image service's: the canonical variant.
    pub fn key(&self) -> String {
        let mut key = String::with_capacity(self.original.len() + 64);
        key.push_str(&self.original);
        key.push('?');
        self.variant.push_canonical(&mut key);
        key
    }
}

impl Images {
    /// Whether the request for `path?query` is a variant request, and which. `Ok(None)`: it is
    /// not (no variant parameter, no suffix form of a listed size).
    pub fn request(
        &self,
        path: &str,
        query: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Option<VariantRequest>, ParamError> {
        if let Some(asked) = Asked::from_query(query)? {
            let preset = asked.resolve(&self.presets)?;
            return Ok(Some(VariantRequest {
                original: path.to_string(),
                variant: preset.variant(self.quality, self.max_side, accept)?,
                negotiated: preset.negotiated(),
                free: asked.preset_name().is_none(),
            }));
        }
        let Some(suffix) = &self.suffix else {
            return Ok(None);
        };
        let Some((original, w, h)) = Asked::from_suffix(path) else {
            return Ok(None);
        };
        if !suffix.sizes.contains(&(w, h)) {
            // not a size the edge makes: perhaps a thumbnail stored as a file
            return Ok(None);
        }
        let preset = Preset {
            width: Some(w),
            height: Some(h),
            fit: suffix.fit,
            gravity: params::Gravity::Center,
            quality: None,
            format: None,
        };
        Ok(Some(VariantRequest {
            original,
            variant: preset.variant(self.quality, self.max_side, accept)?,
            negotiated: false,
            free: false,
        }))
    }
}

/// A secret for [`INTERNAL_HEADER`]: 128 random bits from the kernel.
pub fn new_secret() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    Ok(hex::encode(b))
}
