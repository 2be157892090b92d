//! Tests of the upload pipeline on images generated here: JPEGs and PNGs encoded with `image`,
//! EXIF written with `kamadak-exif` and spliced in, and hand-made malformed files.

use std::io::Cursor;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::exif::experimental::Writer;
use ::exif::{Field, In, Rational, Tag, Value};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use super::*;

/// An RGB test picture: the left half reddish, the right half bluish, with a diagonal pattern
/// and noise so it compresses like a photo.
fn picture(width: u32, height: u32) -> RgbImage {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 24) as u8;
        let pattern = ((x + y) % 64) as u8;
        if x < width / 2 {
            image::Rgb([200 + noise / 2, 20 + pattern / 2 + noise, 30 + noise])
        } else {
            image::Rgb([20 + noise, 40 + pattern / 2 + noise, 200 + noise / 2])
        }
    })
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            picture(width, height).as_raw(),
            width,
            height,
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            picture(width, height).as_raw(),
            width,
            height,
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// A TIFF-structured EXIF block (no "Exif\0\0" prefix): time 2024-05-17 09:41:27 +02:00,
/// GPS 41.4287 N 75.9911 E, the given orientation, a Samsung camera.
fn exif_tiff(orientation: u16) -> Vec<u8> {
    let ascii = |s: &str| Value::Ascii(vec![s.as_bytes().to_vec()]);
    let rationals = |v: &[(u32, u32)]| {
        Value::Rational(
            v.iter()
                .map(|&(num, denom)| Rational { num, denom })
                .collect(),
        )
    };
    let field = |tag, value| Field {
        tag,
        ifd_num: In::PRIMARY,
        value,
    };
    let fields = [
        field(Tag::Make, ascii("samsung")),
        field(Tag::Model, ascii("SM-A515F")),
        field(Tag::Orientation, Value::Short(vec![orientation])),
        field(Tag::DateTimeOriginal, ascii("2024:05:17 09:41:27")),
        field(Tag::OffsetTimeOriginal, ascii("+02:00")),
        field(Tag::DateTime, ascii("2024:05:18 12:00:00")),
        field(Tag::GPSLatitudeRef, ascii("N")),
        // 41° 25' 43.32" = 41.4287°
        field(
            Tag::GPSLatitude,
            rationals(&[(41, 1), (25, 1), (4332, 100)]),
        ),
        field(Tag::GPSLongitudeRef, ascii("E")),
        // 75° 59' 27.96" = 75.9911°
        field(
            Tag::GPSLongitude,
            rationals(&[(75, 1), (59, 1), (2796, 100)]),
        ),
    ];
    let mut writer = Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    tiff.into_inner()
}

/// `jpeg` with an APP1 "Exif" segment inserted right after SOI.
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8]);
    let len = u16::try_from(2 + 6 + tiff.len()).unwrap();
    let mut out = Vec::with_capacity(jpeg.len() + tiff.len() + 10);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::with_capacity(data.len() + 12);
    chunk.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    chunk.extend_from_slice(&crc.finalize().to_be_bytes());
    chunk
}

/// `png` with the given chunks inserted right after IHDR.
fn with_png_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let after_ihdr = 8 + 8 + 13 + 4;
    assert_eq!(&png[12..16], b"IHDR");
    let mut out = png[..after_ihdr].to_vec();
    for chunk in chunks {
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&png[after_ihdr..]);
    out
}

/// The chunk types of a PNG, in order.
fn png_chunk_types(png: &[u8]) -> Vec<String> {
    let mut types = Vec::new();
    let mut i = 8;
    while i + 8 <= png.len() {
        let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        types.push(String::from_utf8_lossy(&png[i + 4..i + 8]).into_owned());
        i += 12 + len;
    }
    types
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn dimensions(encoded: &[u8]) -> (u32, u32) {
    image::load_from_memory(encoded)
        .unwrap()
        .to_rgb8()
        .dimensions()
}

/// The 400×300 JPEG with EXIF orientation 6 that most tests use.
fn photo() -> &'static [u8] {
    static PHOTO: OnceLock<Vec<u8>> = OnceLock::new();
    PHOTO.get_or_init(|| with_exif(&jpeg(400, 300), &exif_tiff(6)))
}

/// A 4000×3000 JPEG, made once (slow in debug builds).
fn big_photo() -> &'static [u8] {
    static PHOTO: OnceLock<Vec<u8>> = OnceLock::new();
    PHOTO.get_or_init(|| with_exif(&jpeg(4000, 3000), &exif_tiff(1)))
}

#[test]
fn read_exif_finds_time_position_orientation_and_camera() {
    let facts = read_exif(photo());
    assert_eq!(facts.taken_at.as_deref(), Some("2024-05-17T09:41:27+02:00"));
    assert_eq!(facts.taken_at_offset.as_deref(), Some("+02:00"));
    let (lat, lon) = (facts.lat.unwrap(), facts.lon.unwrap());
    assert!((lat - 41.4287).abs() < 1e-4, "lat {lat}");
    assert!((lon - 75.9911).abs() < 1e-4, "lon {lon}");
    assert_eq!(facts.orientation, Some(6));
    assert_eq!(facts.camera.as_deref(), Some("samsung SM-A515F"));
}

#[test]
fn read_exif_of_nothing_is_all_none() {
    for bytes in [
        &b""[..],
        b"hello, this is not a photo",
        &jpeg(16, 16),
        &photo()[..40], // the EXIF segment cut short
    ] {
        assert!(read_exif(bytes).is_empty(), "{:?}", read_exif(bytes));
    }
}

#[test]
fn read_exif_handles_south_west_and_missing_references() {
    let field = |tag, value| Field {
        tag,
        ifd_num: In::PRIMARY,
        value,
    };
    let ascii = |s: &str| Value::Ascii(vec![s.as_bytes().to_vec()]);
    let dms = Value::Rational(vec![
        Rational { num: 12, denom: 1 },
        Rational { num: 30, denom: 1 },
        Rational { num: 0, denom: 1 },
    ]);
    let write = |fields: &[Field]| {
        let mut writer = Writer::new();
        for f in fields {
            writer.push_field(f);
        }
        let mut tiff = Cursor::new(Vec::new());
        writer.write(&mut tiff, true).unwrap();
        with_exif(&jpeg(8, 8), &tiff.into_inner())
    };
    let south_west = write(&[
        field(Tag::GPSLatitudeRef, ascii("S")),
        field(Tag::GPSLatitude, dms.clone()),
        field(Tag::GPSLongitudeRef, ascii("W")),
        field(Tag::GPSLongitude, dms.clone()),
        field(Tag::DateTime, ascii("2023:12:31 23:59:59")),
    ]);
    let facts = read_exif(&south_west);
    assert_eq!(facts.lat, Some(-12.5));
    assert_eq!(facts.lon, Some(-12.5));
    // No DateTimeOriginal: falls back to DateTime; no offset recorded.
    assert_eq!(facts.taken_at.as_deref(), Some("2023-12-31T23:59:59"));
    assert_eq!(facts.taken_at_offset, None);

    let bad = write(&[
        // No latitude reference: the hemisphere is unknown.
        field(Tag::GPSLatitude, dms.clone()),
        field(Tag::GPSLongitudeRef, ascii("E")),
        field(Tag::GPSLongitude, dms),
        field(Tag::DateTimeOriginal, ascii("0000:00:00 00:00:00")),
        field(Tag::Orientation, Value::Short(vec![9])),
    ]);
    let facts = read_exif(&bad);
    assert_eq!((facts.lat, facts.lon), (None, None));
    assert_eq!(facts.taken_at, None);
    assert_eq!(facts.orientation, None);
}

#[test]
fn process_strips_metadata_and_turns_the_photo_upright() {
    let input = photo();
    let out = process(input, &Limits::default()).unwrap();

    // The input has EXIF, the outputs have none at all.
    assert!(contains(input, b"Exif\0\0"));
    assert!(!read_exif(input).is_empty());
    let outputs = [&out.stripped, &out.thumbnails[0].1, &out.thumbnails[1].1];
    for (i, output) in outputs.into_iter().enumerate() {
        assert!(read_exif(output).is_empty(), "output {i}");
        assert!(!contains(output, b"Exif\0\0"), "output {i}");
        assert!(
            !contains(output, &[0xFF, 0xE1]),
            "output {i} has an APP1 segment"
        );
        assert_eq!(&output[..3], [0xFF, 0xD8, 0xFF], "output {i} is not a JPEG");
    }

    // What the EXIF said is kept.
    assert_eq!(out.format, ImageFormat::Jpeg);
    assert_eq!(out.exif, read_exif(input));

    // Orientation 6: the 400×300 sensor image is a 300×400 upright picture.
    assert_eq!((out.width, out.height), (300, 400));
    let stripped = image::load_from_memory(&out.stripped).unwrap().to_rgb8();
    assert_eq!(stripped.dimensions(), (300, 400));
    // Rotated clockwise: the sensor's left (red) half is now the top half.
    let top = stripped.get_pixel(150, 50);
    let bottom = stripped.get_pixel(150, 350);
    assert!(top[0] > 150 && top[2] < 100, "top {top:?}");
    assert!(bottom[2] > 150 && bottom[0] < 100, "bottom {bottom:?}");
    assert_eq!(dimensions(&out.thumbnails[0].1), (240, 320));
    assert_eq!(
        dimensions(&out.thumbnails[1].1),
        (300, 400),
        "never upscaled"
    );
    // Turned, so re-encoded: the upload cannot be made up from the stripped copy.
    assert_eq!(out.removed, None);
}

#[test]
fn an_upright_jpeg_keeps_its_scans_and_loses_its_metadata() {
    let plain = jpeg(400, 300);
    let mut input = with_exif(&plain, &exif_tiff(1));
    input.extend_from_slice(b"SEFHtrailer with a position 41.4287");
    let out = process(&input, &Limits::default()).unwrap();
    assert_eq!(out.exif, read_exif(&input));
    assert_eq!(out.exif.lat.map(|l| (l * 1e4).round()), Some(414287.0));

    // The metadata goes, the picture stays exactly as it was taken.
    for (i, output) in [&out.stripped, &out.thumbnails[1].1]
        .into_iter()
        .enumerate()
    {
        assert!(read_exif(output).is_empty(), "output {i}");
        assert!(!contains(output, b"Exif\0\0"), "output {i}");
        assert!(!contains(output, b"41.4287"), "output {i}");
        assert!(!contains(output, &[0xFF, 0xE1]), "output {i}");
    }
    let sof = plain.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    assert!(out.stripped.ends_with(&plain[sof..]), "scans re-encoded");
    let taken = image::load_from_memory(&plain).unwrap().to_rgb8();
    let kept = image::load_from_memory(&out.stripped).unwrap().to_rgb8();
    assert_eq!(taken, kept);
    // Never upscaled: the large thumbnail is the stripped photo, the small one is made.
    assert_eq!(out.thumbnails[1].1, out.stripped);
    assert_eq!(dimensions(&out.thumbnails[0].1), (320, 240));
    // What was taken out (the EXIF and the trailer) puts the upload back byte for byte.
    let removed = out.removed.as_deref().unwrap();
    assert!(removed.len() < 1024, "{} bytes", removed.len());
    assert_eq!(restore(&out.stripped, removed), Some(input));
}

#[test]
fn thumbnails_have_the_requested_longest_side() {
    let photo = big_photo();
    let started = Instant::now();
    let out = process(photo, &Limits::default()).unwrap();
    eprintln!("4000×3000 processed in {:?}", started.elapsed());
    assert_eq!((out.width, out.height), (4000, 3000));
    assert_eq!(dimensions(&out.stripped), (4000, 3000));
    let sizes: Vec<_> = out.thumbnails.iter().map(|(size, _)| *size).collect();
    assert_eq!(sizes, THUMBNAIL_SIZES);
    assert_eq!(dimensions(&out.thumbnails[0].1), (320, 240));
    assert_eq!(dimensions(&out.thumbnails[1].1), (1280, 960));

    let small = process(&jpeg(200, 100), &Limits::default()).unwrap();
    for (_, thumb) in &small.thumbnails {
        assert_eq!(dimensions(thumb), (200, 100));
    }
    let tall = process(&png(90, 2000), &Limits::default()).unwrap();
    assert_eq!(dimensions(&tall.thumbnails[0].1), (14, 320));
    assert_eq!(dimensions(&tall.thumbnails[1].1), (58, 1280));
}

#[test]
fn grey_and_cmyk_jpegs_become_grey_and_rgb_copies() {
    // Wider than the small thumbnail, which is then made from the decoded pixels.
    let picture = picture(700, 400);
    let encode = |pixels: &[u8], color: jpeg_encoder::ColorType| {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(pixels, 700, 400, color)
            .unwrap();
        out
    };
    let grey = image::DynamicImage::ImageRgb8(picture.clone()).to_luma8();
    let out = process(
        &encode(grey.as_raw(), jpeg_encoder::ColorType::Luma),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((out.width, out.height), (700, 400));
    let thumb = image::load_from_memory(&out.thumbnails[0].1).unwrap();
    assert_eq!(thumb.color(), image::ColorType::L8);
    assert_eq!((thumb.width(), thumb.height()), (320, 183));

    // A print-shop CMYK JPEG (Adobe marker): decoded to RGB, the left half still red.
    let cmyk: Vec<u8> = picture
        .pixels()
        .flat_map(|p| {
            let k = 255 - p.0.iter().copied().max().unwrap();
            let ink = |c: u8| 255 - c - k;
            [ink(p[0]), ink(p[1]), ink(p[2]), k]
        })
        .collect();
    let out = process(
        &encode(&cmyk, jpeg_encoder::ColorType::Cmyk),
        &Limits::default(),
    )
    .unwrap();
    let thumb = image::load_from_memory(&out.thumbnails[0].1)
        .unwrap()
        .to_rgb8();
    assert_eq!(thumb.dimensions(), (320, 183));
    let left = thumb.get_pixel(40, 90);
    let right = thumb.get_pixel(280, 90);
    assert!(
        left[0] > left[2] + 60 && right[2] > right[0] + 60,
        "{left:?} {right:?}"
    );
}

#[test]
fn bad_input_is_refused_with_the_right_error() {
    let limits = Limits::default();
    assert_eq!(process(b"", &limits).unwrap_err(), MediaError::Empty);
    assert_eq!(
        process(b"hello, this is not a photo", &limits).unwrap_err(),
        MediaError::NotAnImage
    );
    assert_eq!(
        process(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", &limits)
            .unwrap_err(),
        MediaError::Unsupported {
            format: "GIF".into()
        }
    );
    let small = Limits {
        max_input_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(
        process(photo(), &small).unwrap_err(),
        MediaError::TooLarge {
            bytes: photo().len(),
            limit: 1000
        }
    );
}

#[test]
fn a_truncated_jpeg_is_corrupt() {
    let whole = photo();
    for cut in [whole.len() / 2, whole.len() - 2, 700] {
        let err = process(&whole[..cut], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, MediaError::Corrupt(_)),
            "cut at {cut}: {err:?}"
        );
        assert_eq!(err.code(), "corrupt_image");
    }
    // Cut inside the headers, before the frame header.
    let err = process(&whole[..30], &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt(_)), "{err:?}");
    // Bytes after the end-of-image marker (phone trailers) are fine, and dropped.
    let mut trailer = whole.to_vec();
    trailer.extend_from_slice(b"SEFHtrailer data");
    let out = process(&trailer, &Limits::default()).unwrap();
    assert!(!contains(&out.stripped, b"SEFH"));
}

#[test]
fn a_truncated_png_is_corrupt() {
    let whole = png(300, 200);
    let err = process(&whole[..whole.len() / 2], &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt(_)), "{err:?}");
}

/// A PNG claiming `width` × `height` RGB pixels, with a valid IHDR and a one-byte image.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, adaptive, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    // zlib stream of a single zero byte.
    out.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    ));
    out.extend(png_chunk(b"IEND", b""));
    out
}

#[test]
fn huge_dimensions_are_refused_from_the_header() {
    let bomb = png_claiming(100_000, 100_000);
    let started = Instant::now();
    let err = process(&bomb, &Limits::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    match &err {
        MediaError::DimensionsTooLarge { width, height, .. } => {
            assert_eq!((*width, *height), (100_000, 100_000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "image_dimensions_too_large");
    assert!(err.to_string().contains("100000×100000"), "{err}");

    // Within width and height but above the pixel count: 10000 × 6000 = 60 MP.
    let err = process(&png_claiming(10_000, 6_000), &Limits::default()).unwrap_err();
    assert!(
        matches!(err, MediaError::DimensionsTooLarge { .. }),
        "{err:?}"
    );

    // A JPEG frame header is checked the same way.
    let mut jpeg = jpeg(64, 48);
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let err = process(&jpeg, &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        MediaError::DimensionsTooLarge {
            width: 65_535,
            height: 65_535,
            limit: "12000×12000 pixels and 50 megapixels".into()
        }
    );

    // The allocation limit applies too: 100 × 100 RGB is 30 000 bytes decoded.
    let tight = Limits {
        max_alloc_bytes: 10_000,
        ..Limits::default()
    };
    let err = process(&png(100, 100), &tight).unwrap_err();
    assert!(
        matches!(err, MediaError::DimensionsTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn a_png_stays_a_png_without_its_metadata() {
    let text = png_chunk(b"tEXt", b"Comment\0visit to the school at 41.4287N");
    let exif = png_chunk(b"eXIf", &exif_tiff(6));
    let input = with_png_chunks(&png(400, 300), &[text, exif]);
    assert!(png_chunk_types(&input).contains(&"eXIf".to_owned()));
    let facts = read_exif(&input);
    assert!((facts.lat.unwrap() - 41.4287).abs() < 1e-4);

    let out = process(&input, &Limits::default()).unwrap();
    assert_eq!(out.format, ImageFormat::Png);
    assert_eq!(out.format.mime(), "image/png");
    assert!(out.stripped.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(png_chunk_types(&out.stripped), ["IHDR", "IDAT", "IEND"]);
    assert!(!contains(&out.stripped, b"41.4287"));
    assert!(read_exif(&out.stripped).is_empty());
    // The eXIf orientation was applied to the pixels.
    assert_eq!((out.width, out.height), (300, 400));
    assert_eq!(dimensions(&out.stripped), (300, 400));
    for (_, thumb) in &out.thumbnails {
        assert_eq!(&thumb[..3], [0xFF, 0xD8, 0xFF], "thumbnails are JPEG");
        assert!(read_exif(thumb).is_empty());
    }
}

#[test]
fn transparency_is_flattened_onto_white_in_thumbnails() {
    let mut out = Vec::new();
    let clear = image::RgbaImage::from_pixel(40, 20, image::Rgba([0, 0, 0, 0]));
    PngEncoder::new(&mut out)
        .write_image(clear.as_raw(), 40, 20, ExtendedColorType::Rgba8)
        .unwrap();
    let processed = process(&out, &Limits::default()).unwrap();
    // The stripped PNG keeps its alpha channel.
    let stripped = image::load_from_memory(&processed.stripped).unwrap();
    assert!(stripped.color().has_alpha());
    let thumb = image::load_from_memory(&processed.thumbnails[0].1)
        .unwrap()
        .to_rgb8();
    assert!(
        thumb.pixels().all(|p| p.0.iter().all(|&c| c > 245)),
        "{:?}",
        thumb.get_pixel(0, 0)
    );
}

#[test]
fn errors_have_codes_and_messages() {
    let cases = [
        (MediaError::Empty, "empty_image"),
        (
            MediaError::TooLarge {
                bytes: 40_000_000,
                limit: 33_554_432,
            },
            "image_too_large",
        ),
        (MediaError::NotAnImage, "not_an_image"),
        (
            MediaError::Unsupported {
                format: "HEIC".into(),
            },
            "unsupported_image_format",
        ),
        (
            MediaError::DimensionsTooLarge {
                width: 1,
                height: 2,
                limit: "x".into(),
            },
            "image_dimensions_too_large",
        ),
        (MediaError::Corrupt("truncated".into()), "corrupt_image"),
    ];
    for (err, code) in cases {
        assert_eq!(err.code(), code);
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        MediaError::Unsupported {
            format: "HEIC".into()
        }
        .to_string(),
        "HEIC images are not accepted: send a JPEG or PNG photo"
    );
    assert_eq!(
        serde_json::to_string(&ImageFormat::Jpeg).unwrap(),
        "\"jpeg\""
    );
}
