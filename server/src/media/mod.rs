//! Photo uploads: validation and processing of the images members send as evidence of visits.
//!
//! [`process`] is pure and synchronous (the server runs it inside `tokio::task::spawn_blocking`).
//! It trusts nothing the client declares: the format is sniffed from the bytes, the dimensions
//! are read from the header and checked against [`Limits`] before any pixel is decoded, a
//! truncated JPEG is refused, and everything it produces is re-encoded from decoded pixels, so
//! no metadata of the upload (EXIF with its GPS position, XMP, ICC profiles, comments, trailers
//! after the image) survives in the stored copies. What the server wants to keep from the EXIF
//! is extracted first, as [`ExifFacts`].
//!
//! Only JPEG and PNG are accepted; other recognised formats (HEIC, WebP, GIF, TIFF, ...) are
//! [`MediaError::Unsupported`], anything else is [`MediaError::NotAnImage`].

mod exif;
mod pipeline;
mod removed;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use self::exif::read_exif;
pub use self::pipeline::process;
pub use self::removed::restore;

/// Longest side, in pixels, of the thumbnails [`process`] makes, smallest first.
pub const THUMBNAIL_SIZES: [u32; 2] = [320, 1280];
/// JPEG quality of the stripped full-size copy of a JPEG upload.
pub const STRIPPED_JPEG_QUALITY: u8 = 85;
/// JPEG quality of the thumbnails.
pub const THUMBNAIL_JPEG_QUALITY: u8 = 80;

/// What an upload may be. Checked on the header, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Widest accepted image, in pixels.
    pub max_width: u32,
    /// Tallest accepted image, in pixels.
    pub max_height: u32,
    /// Most pixels (width × height) accepted.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate for the decoded pixels.
    pub max_alloc_bytes: u64,
    /// Largest accepted upload, in bytes.
    pub max_input_bytes: usize,
}

impl Default for Limits {
    /// 12 000 × 12 000 pixels, 50 megapixels, 512 MiB decoded, 32 MiB uploaded.
    fn default() -> Self {
        Limits {
            max_width: 12_000,
            max_height: 12_000,
            max_pixels: 50_000_000,
            max_alloc_bytes: 512 * 1024 * 1024,
            max_input_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The accepted image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    /// `"jpeg"` or `"png"`, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
        }
    }

    /// The content type: `"image/jpeg"` or `"image/png"`.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }

    /// The usual file extension, without the dot: `"jpg"` or `"png"`.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
        }
    }
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the server keeps from an upload's EXIF. Every field is `None` when the EXIF is missing,
/// garbled, or holds an implausible value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExifFacts {
    /// When the photo was taken, camera local time: `"YYYY-MM-DDTHH:MM:SS"`, followed by the
    /// UTC offset (`"+02:00"`) when the EXIF records one. From DateTimeOriginal (with
    /// OffsetTimeOriginal), else from DateTime (with OffsetTime).
    pub taken_at: Option<String>,
    /// The UTC offset of `taken_at`, `"+HH:MM"` or `"-HH:MM"`, when recorded.
    pub taken_at_offset: Option<String>,
    /// Latitude in decimal degrees, north positive. Set together with `lon`, or not at all.
    pub lat: Option<f64>,
    /// Longitude in decimal degrees, east positive. Set together with `lat`, or not at all.
    pub lon: Option<f64>,
    /// EXIF orientation, 1 to 8 (1 = upright; 6 = the camera was turned clockwise).
    pub orientation: Option<u16>,
    /// Make and model, e.g. `"samsung SM-A515F"`.
    pub camera: Option<String>,
}

impl ExifFacts {
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        *self == ExifFacts::default()
    }
}

/// The result of [`process`]: what the server stores for one accepted upload.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The format of the upload, which is also the format of `stripped`.
    pub format: ImageFormat,
    /// Width of the upright image (EXIF orientation applied), in pixels.
    pub width: u32,
    /// Height of the upright image, in pixels.
    pub height: u32,
    /// What the upload's EXIF said (read before it was thrown away).
    pub exif: ExifFacts,
    /// The full-size image, upright, with no metadata: an upright JPEG upload without its
    /// metadata segments (its scans untouched); one that had to be turned re-encoded from its
    /// pixels (quality [`STRIPPED_JPEG_QUALITY`]); a PNG upload re-encoded as PNG.
    pub stripped: Vec<u8>,
    /// For an upright JPEG, what `stripped` left out of the upload, in the form [`restore`]
    /// puts back: kept instead of the upload itself.
    pub removed: Option<Vec<u8>>,
    /// `(size, jpeg)` for each of [`THUMBNAIL_SIZES`], smallest first: upright JPEGs (quality
    /// [`THUMBNAIL_JPEG_QUALITY`], no metadata) whose longest side is `size`, or the image's own
    /// size when it is smaller (never upscaled; an upright JPEG's is then `stripped` itself).
    /// Transparency is flattened onto white.
    pub thumbnails: Vec<(u32, Vec<u8>)>,
}

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MediaError {
    #[error("the image is empty (0 bytes)")]
    Empty,
    #[error("the image is {bytes} bytes, above the limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the file is not an image: only JPEG and PNG photos are accepted")]
    NotAnImage,
    #[error("{format} images are not accepted: send a JPEG or PNG photo")]
    Unsupported { format: String },
    #[error("the image is {width}×{height} pixels, above the limit of {limit}")]
    DimensionsTooLarge {
        width: u32,
        height: u32,
        limit: String,
    },
    #[error("the image is damaged or incomplete: {0}")]
    Corrupt(String),
}

impl MediaError {
    /// Stable machine-readable code, for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Empty => "empty_image",
            MediaError::TooLarge { .. } => "image_too_large",
            MediaError::NotAnImage => "not_an_image",
            MediaError::Unsupported { .. } => "unsupported_image_format",
            MediaError::DimensionsTooLarge { .. } => "image_dimensions_too_large",
            MediaError::Corrupt(_) => "corrupt_image",
        }
    }
}
