//! The upload pipeline: sniff, check the header, decode, orient, re-encode, thumbnail.

use std::borrow::Cow;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use fast_image_resize as fir;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader};

use super::exif::read_exif;
use super::{
    ImageFormat, Limits, MediaError, Processed, STRIPPED_JPEG_QUALITY, THUMBNAIL_JPEG_QUALITY,
    THUMBNAIL_SIZES,
};

/// Validates an upload and makes what the server stores of it.
///
/// In order, without trusting any declared content type or file name:
/// 1. refuses empty input and input above `limits.max_input_bytes`;
/// 2. sniffs the format from the magic bytes: JPEG and PNG go on, other image formats are
///    [`MediaError::Unsupported`], anything else [`MediaError::NotAnImage`];
/// 3. reads width and height from the header (PNG IHDR, JPEG SOF) and checks them against
///    `limits` before any pixel buffer exists; for a JPEG also walks the marker structure to
///    its end-of-image marker, so a truncated upload is [`MediaError::Corrupt`] (the JPEG
///    decoder would otherwise fill the missing part with grey);
/// 4. reads the EXIF facts, then decodes with `image`, whose own limits (width, height,
///    allocation) are set as a second line of defence;
/// 5. applies the EXIF orientation to the pixels, makes the full image without any metadata
///    (an upright JPEG by dropping its metadata segments, any other by re-encoding it), and
///    makes the thumbnails.
pub fn process(bytes: &[u8], limits: &Limits) -> Result<Processed, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    if bytes.len() > limits.max_input_bytes {
        return Err(MediaError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_input_bytes,
        });
    }
    let format = sniff(bytes)?;
    let mut jpeg = None;
    let (width, height) = match format {
        ImageFormat::Png => png_dimensions(bytes)?,
        ImageFormat::Jpeg => {
            let layout = jpeg.insert(jpeg_layout(bytes)?);
            check_dimensions(layout.width, layout.height, limits)?;
            if !layout.complete {
                return Err(MediaError::Corrupt(
                    "the JPEG is truncated (it has no end-of-image marker)".into(),
                ));
            }
            (layout.width, layout.height)
        }
    };
    check_dimensions(width, height, limits)?;

    let exif = read_exif(bytes);
    let exif_orientation = exif
        .orientation
        .and_then(|o| Orientation::from_exif(o as u8));
    let (image, orientation) = catch_unwind(AssertUnwindSafe(|| {
        decode(bytes, format, limits, (width, height), exif_orientation)
    }))
    .map_err(|_| MediaError::Corrupt("the image decoder failed on this file".into()))??;

    // An upright JPEG loses its metadata segments and nothing else: its scans are kept byte
    // for byte, so the copy is exactly the photo taken, and no time goes into encoding it again.
    // One that must be turned is re-encoded from its upright pixels.
    let lossless = match &jpeg {
        Some(layout) if orientation == Orientation::NoTransforms => Some(strip_jpeg(bytes, layout)),
        _ => None,
    };
    let thumbnails = thumbnails(&image, lossless.as_deref())?;
    let (stripped, removed) = match (lossless, &jpeg) {
        (Some(copy), Some(layout)) => {
            let mut taken = layout.metadata.clone();
            taken.push(layout.end..bytes.len());
            (copy, Some(super::removed::removed(bytes, &taken)))
        }
        _ => (encode_stripped(&image, format, bytes.len())?, None),
    };
    Ok(Processed {
        format,
        width: image.width(),
        height: image.height(),
        exif,
        stripped,
        removed,
        thumbnails,
    })
}

/// The format from the magic bytes alone.
fn sniff(bytes: &[u8]) -> Result<ImageFormat, MediaError> {
    let unsupported = |name: &str| {
        Err(MediaError::Unsupported {
            format: name.to_owned(),
        })
    };
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageFormat::Png);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return unsupported("GIF");
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return unsupported("WebP");
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        match &bytes[8..12] {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" => {
                return unsupported("HEIC");
            }
            b"mif1" | b"msf1" => return unsupported("HEIF"),
            b"avif" | b"avis" => return unsupported("AVIF"),
            _ => {}
        }
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return unsupported("TIFF");
    }
    // "BM", the file size, then four reserved zero bytes.
    if bytes.len() >= 14 && bytes.starts_with(b"BM") && bytes[6..10] == [0; 4] {
        return unsupported("BMP");
    }
    if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return unsupported("JPEG XL");
    }
    if bytes.starts_with(b"\0\0\0\x0cjP  \r\n\x87\n") {
        return unsupported("JPEG 2000");
    }
    Err(MediaError::NotAnImage)
}

fn describe_limits(limits: &Limits) -> String {
    format!(
        "{}×{} pixels and {} megapixels",
        limits.max_width,
        limits.max_height,
        limits.max_pixels as f64 / 1e6
    )
}

fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt(format!(
            "the header gives a size of {width}×{height} pixels"
        )));
    }
    if width > limits.max_width
        || height > limits.max_height
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(MediaError::DimensionsTooLarge {
            width,
            height,
            limit: describe_limits(limits),
        });
    }
    Ok(())
}

/// Width and height from the IHDR chunk, which must come first.
fn png_dimensions(bytes: &[u8]) -> Result<(u32, u32), MediaError> {
    let be32 =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if bytes.len() < 8 + 8 + 13 + 4 || &bytes[12..16] != b"IHDR" || be32(8) != 13 {
        return Err(MediaError::Corrupt(
            "the PNG does not start with a valid IHDR header".into(),
        ));
    }
    Ok((be32(16), be32(20)))
}

/// What the marker walk of a JPEG found.
#[derive(Debug, PartialEq)]
struct JpegLayout {
    width: u32,
    height: u32,
    /// The end-of-image marker was reached, every segment and scan before it being whole.
    complete: bool,
    /// The segments that carry metadata (see [`is_metadata`]), as byte ranges.
    metadata: Vec<std::ops::Range<usize>>,
    /// Where the end-of-image marker ends: what follows is a trailer.
    end: usize,
}

/// Segments a stripped JPEG leaves out: every application segment (EXIF, XMP, JFIF and its
/// thumbnail, maker notes) and comment, except the two that say how to read the colours: an
/// ICC profile (APP2) and Adobe's colour transform (APP14), neither of which says who, where or
/// when.
fn is_metadata(marker: u8, body: &[u8]) -> bool {
    match marker {
        0xE2 => !body.starts_with(b"ICC_PROFILE\0"),
        0xEE => !body.starts_with(b"Adobe"),
        0xE0..=0xEF | 0xFE => true,
        _ => false,
    }
}

/// Walks the JPEG marker structure: segments by their lengths, entropy-coded scans byte by byte
/// up to the next marker, until the end-of-image marker (bytes after it, such as the trailers
/// some phones append, are ignored). Reads the size from the first frame header and notes where
/// the metadata segments lie.
fn jpeg_layout(b: &[u8]) -> Result<JpegLayout, MediaError> {
    let mut size = None;
    let mut i = 2; // after SOI
    let mut complete = false;
    let mut metadata = Vec::new();
    'markers: while i < b.len() {
        // Skip anything up to a marker prefix, then fill bytes.
        match b[i..].iter().position(|&x| x == 0xFF) {
            Some(p) => i += p,
            None => break,
        }
        let start = i;
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else { break };
        i += 1;
        match marker {
            0xD9 => {
                complete = true;
                break;
            }
            // Stand-alone markers (and a stuffed zero out of place).
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            break;
        };
        if len < 2 {
            return Err(MediaError::Corrupt(format!(
                "JPEG segment 0xFF{marker:02X} has an invalid length"
            )));
        }
        if i + len > b.len() {
            break;
        }
        if is_metadata(marker, &b[i + 2..i + len]) {
            metadata.push(start..i + len);
        }
        let is_frame_header =
            matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame_header && size.is_none() {
            if len < 8 {
                return Err(MediaError::Corrupt(
                    "the JPEG frame header is too short".into(),
                ));
            }
            let height = u16::from_be_bytes([b[i + 3], b[i + 4]]);
            let width = u16::from_be_bytes([b[i + 5], b[i + 6]]);
            size = Some((u32::from(width), u32::from(height)));
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data: runs until a marker other than a stuffed 0xFF00 or a restart.
            loop {
                match b[i..].iter().position(|&x| x == 0xFF) {
                    Some(p) => i += p,
                    None => break 'markers,
                }
                let mut j = i + 1;
                while j < b.len() && b[j] == 0xFF {
                    j += 1;
                }
                match b.get(j) {
                    None => break 'markers,
                    Some(0x00 | 0xD0..=0xD7) => i = j + 1,
                    Some(_) => {
                        i = j - 1; // the 0xFF before the marker
                        break;
                    }
                }
            }
        }
    }
    let Some((width, height)) = size else {
        return Err(MediaError::Corrupt(
            "the JPEG has no frame header (it is truncated or not a real JPEG)".into(),
        ));
    };
    Ok(JpegLayout {
        width,
        height,
        complete,
        metadata,
        end: i.min(b.len()),
    })
}

fn image_error(err: ImageError, limits: &Limits, (width, height): (u32, u32)) -> MediaError {
    match err {
        ImageError::Limits(_) => MediaError::DimensionsTooLarge {
            width,
            height,
            limit: format!(
                "{} and {} MiB of decoded pixels",
                describe_limits(limits),
                limits.max_alloc_bytes / (1024 * 1024)
            ),
        },
        ImageError::Unsupported(e) => {
            MediaError::Corrupt(format!("it uses an encoding that cannot be decoded: {e}"))
        }
        e => MediaError::Corrupt(e.to_string()),
    }
}

/// Decodes with `image`'s own limits set too, and turns the pixels upright: by the EXIF
/// orientation when `kamadak-exif` read one, else by what the decoder finds.
fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
    header_dimensions: (u32, u32),
    exif_orientation: Option<Orientation>,
) -> Result<(DynamicImage, Orientation), MediaError> {
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    let image_format = match format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| image_error(e, limits, header_dimensions))?;
    let dimensions = decoder.dimensions();
    check_dimensions(dimensions.0, dimensions.1, limits)?;
    if decoder.total_bytes() > limits.max_alloc_bytes {
        return Err(image_error(
            ImageError::Limits(image::error::LimitError::from_kind(
                image::error::LimitErrorKind::InsufficientMemory,
            )),
            limits,
            dimensions,
        ));
    }
    let orientation = match exif_orientation {
        Some(o) => o,
        None => decoder.orientation().unwrap_or(Orientation::NoTransforms),
    };
    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| image_error(e, limits, dimensions))?;
    Ok((orient(image, orientation), orientation))
}

/// `image` with the orientation applied. The quarter turns of 8-bit RGB and grey images, which
/// every portrait phone photo needs, go through [`rotate`]; `image`'s own `rotate90` works
/// pixel by pixel through the generic accessors and takes several times as long on 12 MP.
fn orient(mut image: DynamicImage, orientation: Orientation) -> DynamicImage {
    let (clockwise, flip) = match orientation {
        Orientation::Rotate90 => (true, false),
        Orientation::Rotate270 => (false, false),
        Orientation::Rotate90FlipH => (true, true),
        Orientation::Rotate270FlipH => (false, true),
        _ => {
            image.apply_orientation(orientation);
            return image;
        }
    };
    let mut turned = match &image {
        DynamicImage::ImageRgb8(rgb) => {
            let (width, height) = rgb.dimensions();
            let pixels = rotate::<3>(rgb.as_raw(), width, height, clockwise);
            image::RgbImage::from_raw(height, width, pixels).map(DynamicImage::ImageRgb8)
        }
        DynamicImage::ImageLuma8(grey) => {
            let (width, height) = grey.dimensions();
            let pixels = rotate::<1>(grey.as_raw(), width, height, clockwise);
            image::GrayImage::from_raw(height, width, pixels).map(DynamicImage::ImageLuma8)
        }
        _ => None,
    };
    match turned.take() {
        Some(mut turned) => {
            drop(image);
            if flip {
                turned.apply_orientation(Orientation::FlipHorizontal);
            }
            turned
        }
        None => {
            image.apply_orientation(orientation);
            image
        }
    }
}

/// A quarter turn of a `width` × `height` image of `N`-byte pixels; the result is `height`
/// wide. Walks the source in square tiles so that both sides stay in cache.
fn rotate<const N: usize>(src: &[u8], width: u32, height: u32, clockwise: bool) -> Vec<u8> {
    const TILE: usize = 32;
    let (w, h) = (width as usize, height as usize);
    assert_eq!(src.len(), w * h * N);
    let mut dst = vec![0u8; src.len()];
    // The result is h wide and w tall; it is written row by row within each tile. Clockwise,
    // its pixel (x, y) is the source's (y, h - 1 - x); counter-clockwise, (w - 1 - y, x).
    for tile_y in (0..w).step_by(TILE) {
        for tile_x in (0..h).step_by(TILE) {
            let xs = tile_x..(tile_x + TILE).min(h);
            for y in tile_y..(tile_y + TILE).min(w) {
                let row = &mut dst[(y * h + xs.start) * N..(y * h + xs.end) * N];
                for (pixel, x) in row.chunks_exact_mut(N).zip(xs.clone()) {
                    let from = if clockwise {
                        (h - 1 - x) * w + y
                    } else {
                        x * w + (w - 1 - y)
                    };
                    pixel.copy_from_slice(&src[from * N..from * N + N]);
                }
            }
        }
    }
    dst
}

/// The JPEG without its metadata segments and anything after its end-of-image marker.
fn strip_jpeg(bytes: &[u8], layout: &JpegLayout) -> Vec<u8> {
    let mut out = Vec::with_capacity(layout.end);
    let mut at = 0;
    for range in &layout.metadata {
        out.extend_from_slice(&bytes[at..range.start]);
        at = range.end;
    }
    out.extend_from_slice(&bytes[at..layout.end]);
    out
}

/// The full-size image without metadata, in the upload's format.
fn encode_stripped(
    image: &DynamicImage,
    format: ImageFormat,
    input_len: usize,
) -> Result<Vec<u8>, MediaError> {
    match format {
        ImageFormat::Jpeg => {
            let (pixels, color) = jpeg_pixels(image);
            encode_jpeg(
                &pixels,
                (image.width(), image.height()),
                color,
                STRIPPED_JPEG_QUALITY,
                input_len,
            )
        }
        ImageFormat::Png => {
            let mut out = Vec::with_capacity(input_len);
            image
                .write_with_encoder(PngEncoder::new_with_quality(
                    &mut out,
                    // Default compression saves ~13% but takes ~2.8 s instead of ~0.25 s on a
                    // 12 MP PNG (measured with the images bench).
                    CompressionType::Fast,
                    PngFilter::Adaptive,
                ))
                .map_err(|e| MediaError::Corrupt(format!("re-encoding failed: {e}")))?;
            Ok(out)
        }
    }
}

/// A baseline JPEG with 4:2:0 chroma subsampling (box-averaged, as libjpeg does) and nothing
/// but a JFIF header besides the image, made by `jpeg-encoder` with its AVX2 code (several
/// times faster than `image`'s own encoder on a 12 MP photo).
fn encode_jpeg(
    pixels: &[u8],
    (width, height): (u32, u32),
    color: jpeg_encoder::ColorType,
    quality: u8,
    capacity: usize,
) -> Result<Vec<u8>, MediaError> {
    let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(MediaError::DimensionsTooLarge {
            width,
            height,
            limit: "65535×65535 pixels for a JPEG".into(),
        });
    };
    let mut out = Vec::with_capacity(capacity);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    encoder
        .encode(pixels, w, h, color)
        .map_err(|e| MediaError::Corrupt(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

/// Pixels a JPEG encoder takes: 8-bit grey or RGB, borrowed when the image already is; any
/// alpha flattened onto white.
fn jpeg_pixels(image: &DynamicImage) -> (Cow<'_, [u8]>, jpeg_encoder::ColorType) {
    use jpeg_encoder::ColorType;
    match image {
        DynamicImage::ImageRgb8(rgb) => (Cow::Borrowed(rgb.as_raw()), ColorType::Rgb),
        DynamicImage::ImageLuma8(grey) => (Cow::Borrowed(grey.as_raw()), ColorType::Luma),
        image if image.color().has_alpha() => {
            let rgba = image.to_rgba8();
            let rgb = rgba
                .as_raw()
                .chunks_exact(4)
                .flat_map(|p| {
                    let a = u16::from(p[3]);
                    let over_white =
                        |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
                    [over_white(p[0]), over_white(p[1]), over_white(p[2])]
                })
                .collect();
            (Cow::Owned(rgb), ColorType::Rgb)
        }
        image => (Cow::Owned(image.to_rgb8().into_raw()), ColorType::Rgb),
    }
}

/// `(width, height)` fitted so the longest side is at most `longest`, never upscaled.
fn fit(width: u32, height: u32, longest: u32) -> (u32, u32) {
    if width.max(height) <= longest {
        return (width, height);
    }
    let scale = |short: u32, long: u32| {
        ((u64::from(short) * u64::from(longest) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    if width >= height {
        (longest, scale(height, width))
    } else {
        (scale(width, height), longest)
    }
}

/// One JPEG per [`THUMBNAIL_SIZES`], smallest first. Each is resized from the next larger one
/// (the largest from the full image), with a Catmull-Rom convolution. A size the image does
/// not exceed is `full_size`, the stripped upright JPEG, when there is one: the same picture
/// encoded again would only be worse.
fn thumbnails(
    image: &DynamicImage,
    full_size: Option<&[u8]>,
) -> Result<Vec<(u32, Vec<u8>)>, MediaError> {
    let (pixels, color) = jpeg_pixels(image);
    let pixel_type = match color {
        jpeg_encoder::ColorType::Luma => fir::PixelType::U8,
        _ => fir::PixelType::U8x3,
    };
    let mut resizer = fir::Resizer::new();
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::CatmullRom));
    let internal = |e: &dyn std::fmt::Display| MediaError::Corrupt(format!("resizing failed: {e}"));

    let mut source = (pixels, image.width(), image.height());
    let mut thumbnails = Vec::with_capacity(THUMBNAIL_SIZES.len());
    for &size in THUMBNAIL_SIZES.iter().rev() {
        // Fitted from the full image's size, so rounding does not compound.
        let (width, height) = fit(image.width(), image.height(), size);
        if (width, height) != (source.1, source.2) {
            let src = fir::images::ImageRef::new(source.1, source.2, &source.0, pixel_type)
                .map_err(|e| internal(&e))?;
            let mut dst = fir::images::Image::new(width, height, pixel_type);
            resizer
                .resize(&src, &mut dst, &options)
                .map_err(|e| internal(&e))?;
            source = (Cow::Owned(dst.into_vec()), width, height);
        }
        let jpeg = match full_size {
            Some(full) if (width, height) == (image.width(), image.height()) => full.to_vec(),
            _ => encode_jpeg(&source.0, (width, height), color, THUMBNAIL_JPEG_QUALITY, 0)?,
        };
        thumbnails.push((size, jpeg));
    }
    thumbnails.reverse();
    Ok(thumbnails)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_turns_match_image_crate() {
        let mut seed = 7u32;
        let rgb = image::RgbImage::from_fn(37, 23, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            image::Rgb([(seed >> 8) as u8, (seed >> 16) as u8, (seed >> 24) as u8])
        });
        let grey = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
        for orientation in [
            Orientation::Rotate90,
            Orientation::Rotate270,
            Orientation::Rotate90FlipH,
            Orientation::Rotate270FlipH,
            Orientation::Rotate180,
        ] {
            for image in [DynamicImage::ImageRgb8(rgb.clone()), grey.clone().into()] {
                let mut expected = image.clone();
                expected.apply_orientation(orientation);
                let turned = orient(image, orientation);
                assert_eq!(turned, expected, "{orientation:?}");
            }
        }
    }

    #[test]
    fn fit_keeps_the_aspect_ratio_and_never_upscales() {
        assert_eq!(fit(4000, 3000, 1280), (1280, 960));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(200, 100, 320), (200, 100));
        assert_eq!(fit(1280, 10, 320), (320, 3));
        assert_eq!(fit(100_000, 1, 320), (320, 1));
    }

    #[test]
    fn sniffing_names_other_image_formats() {
        let unsupported = |b: &[u8]| match sniff(b) {
            Err(MediaError::Unsupported { format }) => format,
            other => panic!("{other:?}"),
        };
        assert_eq!(unsupported(b"GIF89a\x01\x00\x01\x00"), "GIF");
        assert_eq!(unsupported(b"RIFF\x10\0\0\0WEBPVP8 "), "WebP");
        assert_eq!(unsupported(b"\0\0\0\x18ftypheic\0\0\0\0"), "HEIC");
        assert_eq!(unsupported(b"II*\0\x08\0\0\0"), "TIFF");
        assert_eq!(
            sniff(b"BMW is a car, not a bitmap"),
            Err(MediaError::NotAnImage)
        );
        assert_eq!(sniff(b"%PDF-1.7"), Err(MediaError::NotAnImage));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0"), Ok(ImageFormat::Jpeg));
    }

    #[test]
    fn the_jpeg_walk_needs_an_end_of_image_marker() {
        // SOI, an EXIF and an ICC segment, a comment, SOF0 for 3×2, SOS, entropy data with a
        // stuffed byte and a restart, EOI, trailer.
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend([0xFF, 0xE1, 0, 8, b'E', b'x', b'i', b'f', 0, 0]);
        jpeg.extend([0xFF, 0xE2, 0, 14]);
        jpeg.extend(b"ICC_PROFILE\0");
        jpeg.extend([0xFF, 0xFF, 0xFE, 0, 4, b'h', b'i']);
        jpeg.extend([0xFF, 0xC0, 0, 11, 8, 0, 2, 0, 3, 1, 1, 0x11, 0]);
        jpeg.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        jpeg.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        let truncated = jpeg.clone();
        jpeg.extend([0xFF, 0xFF, 0xD9, b'S', b'E', b'F', b'T']);
        let end = jpeg.len() - 4;
        let layout = |b: &[u8]| jpeg_layout(b).unwrap();
        let found = layout(&jpeg);
        assert_eq!(
            found,
            JpegLayout {
                width: 3,
                height: 2,
                complete: true,
                // The EXIF segment and the comment with its fill byte; the ICC profile stays.
                metadata: vec![2..12, 28..35],
                end,
            }
        );
        let stripped = strip_jpeg(&jpeg, &found);
        let mut expected = vec![0xFF, 0xD8];
        expected.extend_from_slice(&jpeg[12..28]);
        expected.extend_from_slice(&jpeg[35..end]);
        assert_eq!(stripped, expected);
        assert!(!layout(&truncated).complete);
        assert!(!layout(&jpeg[..jpeg.len() - 5]).complete); // cut between 0xFF and 0xD9
        assert!(matches!(
            jpeg_layout(&jpeg[..6]),
            Err(MediaError::Corrupt(_))
        ));
    }
}
