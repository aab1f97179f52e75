//! Variants of pictures, without I/O: what a request asks for ([`params`]) and the decoding,
//! resizing and encoding of one ([`render`], with JPEG shrink-on-load in `shrink`). `fdfs-edge`'s `[images]` serves them; the fuzz
//! target `image_variant` calls [`render::render`] directly.

pub mod params;
pub mod render;
mod shrink;
