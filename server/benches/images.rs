//! Photo pipeline benchmark: `cargo bench -p jmet-server --bench images`.
//!
//! Generates `JMET_BENCH_PHOTOS` (default 20) synthetic 12-megapixel phone photos (4000×3000
//! JPEGs, quality 92, with gradients, texture and sensor-like noise so they compress like real
//! photos, and an EXIF block with time, GPS and make/model; every other one has orientation 6,
//! as portrait shots from a phone do), then runs `jmet::media::process` on each, one after the
//! other on this one thread, and prints photos per second, mean / p50 / max milliseconds per
//! photo, the average input size, and the process's resident memory: the baseline before the
//! run and the peak (VmHWM) during it. The peak is reset through `/proc/self/clear_refs` after
//! the photos are generated, so it measures processing alone. The thread's CPU time is printed
//! too, since on a busy machine the wall time includes waiting for a core. Last, one
//! 12-megapixel PNG is processed, for comparison.

use std::io::Cursor;
use std::time::{Duration, Instant};

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};
use jmet::media::{Limits, process};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;

fn main() {
    let count: usize = std::env::var("JMET_BENCH_PHOTOS")
        .ok()
        .map(|v| v.parse().expect("JMET_BENCH_PHOTOS must be a number"))
        .unwrap_or(20);
    assert!(count > 0, "JMET_BENCH_PHOTOS must be at least 1");

    let started = Instant::now();
    let photos: Vec<Vec<u8>> = (0..count).map(|i| photo(i as u64)).collect();
    let average_input = photos.iter().map(Vec::len).sum::<usize>() / count;
    println!(
        "generated {count} photos of {WIDTH}×{HEIGHT} in {:.1} s, average {:.2} MB each",
        started.elapsed().as_secs_f64(),
        average_input as f64 / 1e6
    );

    // Forget the generation's peak: from here VmHWM is the peak of the processing run.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let baseline_rss = status_kib("VmRSS");
    let baseline_hwm = status_kib("VmHWM");

    let limits = Limits::default();
    let mut times = Vec::with_capacity(count);
    let mut by_orientation: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut output_bytes = [0usize; 3];
    let cpu_before = thread_cpu();
    let run = Instant::now();
    for (i, photo) in photos.iter().enumerate() {
        let t = Instant::now();
        let out = process(photo, &limits).expect("a generated photo is valid");
        let elapsed = t.elapsed();
        times.push(elapsed);
        by_orientation[i % 2].push(elapsed);
        let upright = if i % 2 == 0 {
            (WIDTH, HEIGHT)
        } else {
            (HEIGHT, WIDTH)
        };
        assert_eq!((out.width, out.height), upright);
        assert!(out.exif.lat.is_some() && out.exif.taken_at.is_some());
        output_bytes[0] += out.stripped.len();
        output_bytes[1] += out.thumbnails[0].1.len();
        output_bytes[2] += out.thumbnails[1].1.len();
    }
    let total = run.elapsed();
    let cpu = thread_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let peak_hwm = status_kib("VmHWM");

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = |v: &[Duration]| v.iter().map(|d| ms(*d)).sum::<f64>() / v.len().max(1) as f64;
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "processed {count} photos on one thread in {:.2} s: {:.2} photos/s",
        total.as_secs_f64(),
        count as f64 / total.as_secs_f64()
    );
    if let Some(cpu) = cpu {
        println!(
            "CPU time of this thread: {:.2} s, {:.0} ms per photo ({:.0}% of the wall time; the rest is other processes' turn on a busy machine)",
            cpu.as_secs_f64(),
            ms(cpu) / count as f64,
            100.0 * cpu.as_secs_f64() / total.as_secs_f64()
        );
    }
    println!(
        "per photo (wall): mean {:.0} ms, p50 {:.0} ms, min {:.0} ms, max {:.0} ms",
        mean(&times),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1])
    );
    println!(
        "by orientation: 1 (landscape) mean {:.0} ms over {}; 6 (rotated) mean {:.0} ms over {}",
        mean(&by_orientation[0]),
        by_orientation[0].len(),
        mean(&by_orientation[1]),
        by_orientation[1].len()
    );
    println!(
        "average sizes: input {:.2} MB, stripped {:.2} MB, thumbnail 320 {:.1} kB, thumbnail 1280 {:.1} kB",
        average_input as f64 / 1e6,
        output_bytes[0] as f64 / count as f64 / 1e6,
        output_bytes[1] as f64 / count as f64 / 1e3,
        output_bytes[2] as f64 / count as f64 / 1e3
    );
    let mib = |kib: Option<u64>| match kib {
        Some(kib) => format!("{:.0} MiB", kib as f64 / 1024.0),
        None => "unknown".to_owned(),
    };
    println!(
        "resident memory: baseline {} (VmRSS with the {} input photos loaded; VmHWM {}), peak during the run {} (VmHWM{})",
        mib(baseline_rss),
        count,
        mib(baseline_hwm),
        mib(peak_hwm),
        if reset {
            ", reset after generation"
        } else {
            ", could not be reset: includes the generation"
        }
    );
    if let (Some(base), Some(peak)) = (baseline_rss, peak_hwm) {
        println!(
            "peak above baseline: {:.0} MiB",
            peak.saturating_sub(base) as f64 / 1024.0
        );
    }

    // For comparison, one 12 MP PNG (a screenshot-sized upload is far smaller).
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&texture(99), WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .unwrap();
    let t = Instant::now();
    let out = process(&png, &limits).expect("a generated PNG is valid");
    println!(
        "one {WIDTH}×{HEIGHT} PNG of {:.1} MB: {:.0} ms, stripped PNG {:.1} MB",
        png.len() as f64 / 1e6,
        ms(t.elapsed()),
        out.stripped.len() as f64 / 1e6
    );
}

/// Time this thread has run on a CPU (`/proc/thread-self/schedstat`).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        stat.split_whitespace().next()?.parse().ok()?,
    ))
}

/// A field of /proc/self/status, in KiB.
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// One synthetic phone photo: a JPEG with an EXIF APP1 segment right after SOI.
fn photo(seed: u64) -> Vec<u8> {
    let pixels = texture(seed);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 92)
        .write_image(&pixels, WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .unwrap();
    drop(pixels);
    let tiff = exif_block(if seed % 2 == 1 { 6 } else { 1 });
    let mut out = Vec::with_capacity(jpeg.len() + tiff.len() + 10);
    out.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// RGB pixels: a sky-to-ground gradient, a few soft shapes, fine texture and per-pixel noise.
fn texture(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let phase = (seed % 7) as f32;
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let fy = y as f32 / h as f32;
        for x in 0..w {
            let fx = x as f32 / w as f32;
            // Broad structure.
            let sky = fy < 0.4 + 0.05 * (fx * 9.0 + phase).sin();
            let (mut r, mut g, mut b) = if sky {
                (120.0 + 60.0 * fy, 160.0 + 40.0 * fy, 230.0 - 30.0 * fy)
            } else {
                (110.0 - 40.0 * fy, 120.0 + 20.0 * fx, 70.0 + 30.0 * fy)
            };
            // A building-like block with windows.
            if (0.2..0.55).contains(&fx) && (0.25..0.8).contains(&fy) {
                let window = (x / 60) % 3 == 0 && (y / 80) % 2 == 0;
                (r, g, b) = if window {
                    (60.0, 70.0, 90.0)
                } else {
                    (200.0, 180.0, 150.0)
                };
            }
            // Texture (grass, bricks, leaves) and sensor noise.
            let n = noise();
            let texture = ((x as f32 * 0.37 + phase).sin() * (y as f32 * 0.23).cos()) * 18.0;
            // Mostly luminance grain, a little chroma noise, as phone sensors give.
            let luma = (n & 15) as f32 - 7.5;
            let chroma = |shift: u32| ((n >> shift) & 3) as f32 - 1.5;
            pixels.push((r + texture + luma + chroma(8)).clamp(0.0, 255.0) as u8);
            pixels.push((g + texture + luma + chroma(16)).clamp(0.0, 255.0) as u8);
            pixels.push((b + texture * 0.5 + luma + chroma(24)).clamp(0.0, 255.0) as u8);
        }
    }
    pixels
}

/// TIFF-structured EXIF: time with offset, GPS, make/model, the given orientation.
fn exif_block(orientation: u16) -> Vec<u8> {
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
        field(Tag::GPSLatitudeRef, ascii("N")),
        field(
            Tag::GPSLatitude,
            rationals(&[(41, 1), (25, 1), (4332, 100)]),
        ),
        field(Tag::GPSLongitudeRef, ascii("E")),
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
