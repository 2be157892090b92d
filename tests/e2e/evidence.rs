//! Evidence end to end: a 4 MB photo uploaded in pieces over a link that drops, bad images,
//! metadata stripped from what non-reviewers see, and the GPS checks with real coordinates.

use std::io::Cursor;

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value as ExifValue};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sync_protocol::{OpStatus, PushRequest, RecordId};

use crate::harness::{Backend, OpMaker, TestDevice, TestServer};
use crate::on_both;
use crate::world::{self, A};

on_both!(
    a_photo_arrives_in_pieces_across_disconnects_and_is_stored_once,
    a_wrong_hash_is_refused_and_nothing_is_kept,
    bad_images_get_clear_errors_and_the_server_keeps_serving,
    copies_for_others_carry_no_exif_and_originals_only_reach_reviewers,
    a_thumbnail_no_smaller_than_the_photo_is_its_stripped_copy,
    gps_checks_flag_with_the_measured_distance,
);

/// Where the photo was taken, by its EXIF.
pub struct Shot {
    pub lat: f64,
    pub lon: f64,
    /// `YYYY:MM:DD HH:MM:SS`, camera local time.
    pub time: &'static str,
}

fn dms(value: f64) -> Vec<Rational> {
    // Whole hundredths of a second first, so 41.15 does not become 41° 8' 60".
    let total = (value * 360_000.0).round() as u32;
    vec![
        Rational {
            num: total / 360_000,
            denom: 1,
        },
        Rational {
            num: total % 360_000 / 6000,
            denom: 1,
        },
        Rational {
            num: total % 6000,
            denom: 100,
        },
    ]
}

/// A JPEG of noise (it compresses like a photo) with an EXIF segment.
pub fn photo(width: u32, height: u32, quality: u8, shot: &Shot) -> Vec<u8> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let pixels = RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed % 90) as u8;
        image::Rgb([n + (x % 160) as u8, n + (y % 160) as u8, 120 + n])
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality)
        .write_image(pixels.as_raw(), width, height, ExtendedColorType::Rgb8)
        .unwrap();
    let ascii = |s: &str| ExifValue::Ascii(vec![s.as_bytes().to_vec()]);
    let field = |tag, value| Field {
        tag,
        ifd_num: In::PRIMARY,
        value,
    };
    let fields = [
        field(Tag::Make, ascii("samsung")),
        field(Tag::DateTimeOriginal, ascii(shot.time)),
        field(Tag::GPSLatitudeRef, ascii("N")),
        field(Tag::GPSLatitude, ExifValue::Rational(dms(shot.lat))),
        field(Tag::GPSLongitudeRef, ascii("E")),
        field(Tag::GPSLongitude, ExifValue::Rational(dms(shot.lon))),
    ];
    let mut writer = Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(2 + 6 + tiff.len()).unwrap().to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

pub const AT_THE_WELL: Shot = Shot {
    lat: 41.15,
    lon: 74.65,
    time: "2025:05:04 10:15:00",
};

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn status(phone: &TestDevice, sha256: &str) -> Value {
    let r = phone
        .http
        .get(format!("{}/api/v1/uploads/{sha256}", phone.url))
        .bearer_auth(&phone.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

pub async fn put(
    phone: &TestDevice,
    sha256: &str,
    bytes: &[u8],
    start: usize,
    end: usize,
) -> reqwest::Response {
    phone
        .http
        .put(format!("{}/api/v1/uploads/{sha256}", phone.url))
        .bearer_auth(&phone.token)
        .header("content-type", "application/octet-stream")
        .header(
            "content-range",
            format!("bytes {start}-{}/{}", end - 1, bytes.len()),
        )
        .body(bytes[start..end].to_vec())
        .send()
        .await
        .unwrap()
}

/// A piece whose connection drops halfway: the request announces the whole piece, sends half of
/// it, and the socket closes, as when a 2G link goes.
async fn put_dropping(phone: &TestDevice, sha256: &str, bytes: &[u8], start: usize, end: usize) {
    use tokio::io::AsyncWriteExt;
    let address = phone.url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PUT /api/v1/uploads/{sha256} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Range: bytes {start}-{}/{}\r\nContent-Length: {}\r\n\r\n",
        phone.token,
        end - 1,
        bytes.len(),
        end - start
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
        .write_all(&bytes[start..start + (end - start) / 2])
        .await
        .unwrap();
    socket.flush().await.unwrap();
    drop(socket);
    // Let the server notice the drop before the phone asks again.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// Uploads kept: whole, or (an upright JPEG) as what stripping took out beside the stripped copy.
fn stored_originals(server: &TestServer) -> usize {
    let dir = server.blob_dir.path();
    walk(&dir.join("original")) + walk(&dir.join("removed"))
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

async fn a_photo_arrives_in_pieces_across_disconnects_and_is_stored_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let phone = &w.phone_a;
    let bytes = photo(2400, 1800, 98, &AT_THE_WELL);
    assert!(
        bytes.len() > 4_000_000,
        "a 4 MB photo: {} bytes",
        bytes.len()
    );
    let hash = sha(&bytes);
    assert_eq!(status(phone, &hash).await["received"], 0);

    let piece = 512 * 1024;
    let mut drops = 0;
    let mut lost_answers = 0;
    let mut turn = 0;
    loop {
        // As a phone does after every failure: ask where the server is, go on from there.
        let at = status(phone, &hash).await;
        if at["complete"] == true {
            break;
        }
        let start = at["received"].as_u64().unwrap() as usize;
        let end = (start + piece).min(bytes.len());
        turn += 1;
        if turn % 3 == 1 && end < bytes.len() {
            put_dropping(phone, &hash, &bytes, start, end).await;
            drops += 1;
            assert_eq!(
                status(phone, &hash).await["received"].as_u64().unwrap() as usize,
                start,
                "nothing of a dropped piece counts"
            );
            continue;
        }
        let answer = put(phone, &hash, &bytes, start, end).await;
        if turn % 4 == 0 {
            // The piece arrived but its answer was lost: the phone learns it from the status.
            lost_answers += 1;
            continue;
        }
        let expected = if end == bytes.len() { 201 } else { 200 };
        assert_eq!(answer.status(), expected, "{:?}", answer.text().await);
    }
    assert!(
        drops >= 3 && lost_answers >= 1,
        "{drops} drops, {lost_answers} lost answers"
    );
    // Sending a piece again at a stale offset is answered with where the server is.
    let stale = put(phone, &hash, &bytes, 0, piece).await;
    assert!(
        matches!(stale.status().as_u16(), 200 | 201),
        "complete photos answer complete"
    );

    let blob = server.storage.photo_blob(&hash).await.unwrap().unwrap();
    let stored =
        jmet::evidence::upload::read_copy(&server.blobs, &blob, jmet::blobs::BlobKind::Original)
            .await
            .unwrap()
            .unwrap();
    assert!(stored.as_ref() == bytes.as_slice(), "the exact bytes");
    // An upright JPEG is kept as its stripped copy and what stripping took out, not twice.
    let kept = |kind: &str| walk(&server.blob_dir.path().join(kind));
    assert_eq!((kept("original"), kept("removed")), (0, 1));
    assert!(
        server.blobs.pieces(&hash).await.unwrap().is_empty(),
        "no pieces left over"
    );

    // The same photo from another phone: stored once.
    let other = server.device(&[A]).await;
    let again = put(&other, &hash, &bytes, 0, bytes.len()).await;
    assert!(matches!(again.status().as_u16(), 200 | 201));
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["complete"], true);
    assert_eq!(stored_originals(&server), 1);

    // A piece that skips ahead is refused with the right offset.
    let fresh = photo(300, 200, 80, &AT_THE_WELL);
    let fresh_hash = sha(&fresh);
    let skip = put(phone, &fresh_hash, &fresh, 100, fresh.len()).await;
    assert_eq!(skip.status(), 409);
    assert_eq!(skip.headers()["upload-offset"], "0");
    let body: Value = skip.json().await.unwrap();
    assert_eq!(body["code"], "upload_offset");
    server.stop().await;
}

async fn a_wrong_hash_is_refused_and_nothing_is_kept(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let phone = &w.phone_a;
    let bytes = photo(800, 600, 90, &AT_THE_WELL);
    let claimed = sha(b"some other photo");
    let half = bytes.len() / 2;
    assert_eq!(put(phone, &claimed, &bytes, 0, half).await.status(), 200);
    let last = put(phone, &claimed, &bytes, half, bytes.len()).await;
    assert_eq!(last.status(), 422);
    let body: Value = last.json().await.unwrap();
    assert_eq!(body["code"], "hash_mismatch");
    assert!(
        body["message"].as_str().unwrap().contains(&sha(&bytes)),
        "{body}"
    );
    assert!(server.blobs.pieces(&claimed).await.unwrap().is_empty());
    assert_eq!(server.storage.upload_state(&claimed).await.unwrap(), None);
    assert_eq!(server.storage.photo_blob(&claimed).await.unwrap(), None);
    assert_eq!(stored_originals(&server), 0);
    assert_eq!(
        status(phone, &claimed).await["received"],
        0,
        "it may start again"
    );

    // An upload nobody continues is pruned, pieces and all.
    let abandoned = sha(&bytes);
    assert_eq!(put(phone, &abandoned, &bytes, 0, half).await.status(), 200);
    assert_eq!(server.blobs.pieces(&abandoned).await.unwrap().len(), 1);
    let later = jmet::sync::now_ms() as i64 + 1000;
    let pruned = jmet::evidence::upload::prune(&server.storage, &server.blobs, 500, later)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(server.blobs.pieces(&abandoned).await.unwrap().is_empty());
    assert_eq!(status(phone, &abandoned).await["received"], 0);
    server.stop().await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A PNG whose header claims `width` × `height` pixels, with a tiny body.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut crc = 0xFFFF_FFFFu32;
        for &b in kind.iter().chain(data) {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        c.extend_from_slice(&(!crc).to_be_bytes());
        c
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

async fn bad_images_get_clear_errors_and_the_server_keeps_serving(backend: Backend) {
    let settings = jmet::Settings {
        body_limit: 2 * 1024 * 1024,
        ..jmet::Settings::default()
    };
    let server = TestServer::start_with(backend, settings).await;
    let w = world::build(&server).await;
    let phone = &w.phone_a;
    let good = photo(640, 480, 90, &AT_THE_WELL);
    let truncated = good[..good.len() / 2].to_vec();
    let bomb = png_claiming(100_000, 100_000);
    let text = b"hello, this is not a photo, whatever its name says".to_vec();
    let before = rss_kib();
    for (what, bytes, code) in [
        ("a truncated JPEG", truncated, "corrupt_image"),
        (
            "a PNG claiming 100000 x 100000 pixels",
            bomb,
            "image_dimensions_too_large",
        ),
        ("a text file named .jpg", text, "not_an_image"),
    ] {
        let r = put(phone, &sha(&bytes), &bytes, 0, bytes.len()).await;
        assert_eq!(r.status(), 422, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], code, "{what}: {body}");
        assert!(
            body["message"].as_str().unwrap().len() > 20,
            "{what}: {body}"
        );
        assert_eq!(
            server.storage.photo_blob(&sha(&bytes)).await.unwrap(),
            None,
            "{what}"
        );
        assert!(
            server.blobs.pieces(&sha(&bytes)).await.unwrap().is_empty(),
            "{what}"
        );
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 200,
        "memory stayed bounded: grew {grown_mib} MiB"
    );

    // An empty body: there is no byte range to name.
    let empty = phone
        .http
        .put(format!("{}/api/v1/uploads/{}", phone.url, sha(b"")))
        .bearer_auth(&phone.token)
        .header("content-range", "bytes 0-0/0")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["code"], "bad_content_range");
    // No Content-Range at all.
    let bare = phone
        .http
        .put(format!("{}/api/v1/uploads/{}", phone.url, sha(b"x")))
        .bearer_auth(&phone.token)
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 400);
    // A photo announced beyond the limit, and a piece beyond the body limit.
    let huge = phone
        .http
        .put(format!("{}/api/v1/uploads/{}", phone.url, sha(b"huge")))
        .bearer_auth(&phone.token)
        .header("content-range", format!("bytes 0-9/{}", 1u64 << 40))
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let body: Value = huge.json().await.unwrap();
    assert_eq!(body["code"], "photo_too_large");
    let big = vec![0xFFu8; 3 * 1024 * 1024];
    let r = put(phone, &sha(&big), &big, 0, big.len()).await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large");
    // A path trick instead of a hash.
    let r = phone
        .http
        .get(format!(
            "{}/api/v1/uploads/..%2F..%2Fetc%2Fpasswd",
            phone.url
        ))
        .bearer_auth(&phone.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // And the server still serves: the good photo goes through.
    let r = put(phone, &sha(&good), &good, 0, good.len()).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let health = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;
}

/// Pushes a water visit with `gps`, and a photo record of `sha256` for it; answers their ids.
pub async fn visit_with_photo(
    phone: &TestDevice,
    gps: Value,
    sha256: Option<&str>,
) -> (RecordId, RecordId) {
    let mut ops = OpMaker::for_device(phone);
    let visit = RecordId::generate();
    let photo = RecordId::generate();
    let mut request = vec![ops.set(
        "visits",
        visit,
        A,
        json!({"form": "water_visit", "form_version": 1, "facility": "A-WATER",
               "captured_at": "2025-05-04T10:20:00+06:00", "gps": gps,
               "supply_hours": 12, "water_clear": true, "households_served_share": 70}),
    )];
    if let Some(sha256) = sha256 {
        request.push(ops.set(
            "photos",
            photo,
            A,
            json!({"visit": visit.to_string(), "sha256": sha256, "caption": "the tap"}),
        ));
    }
    let answer = phone.push(&PushRequest { ops: request }).await;
    for r in &answer.results {
        assert_eq!(r.status, OpStatus::Applied, "{r:?}");
    }
    (visit, photo)
}

async fn evidence(server: &TestServer, token: &str, visit: RecordId) -> Value {
    let (status, body) = world::call(
        server,
        Some(token),
        Method::GET,
        &format!("/api/v1/visits/{visit}/evidence"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn copies_for_others_carry_no_exif_and_originals_only_reach_reviewers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let phone = &w.phone_a;
    let bytes = photo(1600, 1200, 90, &AT_THE_WELL);
    let hash = sha(&bytes);
    // The record comes first, through sync: the photo is pending, not an error.
    let (visit, _) = visit_with_photo(
        phone,
        json!({"lat": 41.15, "lon": 74.65, "acc": 5}),
        Some(&hash),
    )
    .await;
    let supervisor = w.tokens["supervisor"].clone();
    let seen = evidence(&server, &supervisor, visit).await;
    assert_eq!(seen["photos"][0]["status"], "pending");
    let pending = server
        .http
        .get(format!("{}/api/v1/photos/{hash}/thumb320", server.url))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), 202);

    assert_eq!(
        put(phone, &hash, &bytes, 0, bytes.len()).await.status(),
        201
    );
    let seen = evidence(&server, &supervisor, visit).await;
    assert_eq!(seen["photos"][0]["status"], "ready");
    assert_eq!(
        seen["photos"][0]["exif"]["lat"]
            .as_f64()
            .map(|l| (l * 1e4).round()),
        Some(411_500.0)
    );

    let get = |token: String, variant: &'static str| {
        let url = format!("{}/api/v1/photos/{hash}/{variant}", server.url);
        let http = server.http.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    for variant in ["thumb320", "thumb1280", "stripped"] {
        let r = get(w.tokens["deputy"].clone(), variant).await;
        assert_eq!(r.status(), 200, "{variant}");
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let etag = r.headers()["etag"].clone();
        let body = r.bytes().await.unwrap();
        assert!(
            jmet::media::read_exif(&body).is_empty(),
            "{variant} has no EXIF"
        );
        assert!(
            !body.windows(6).any(|w| w == b"Exif\0\0"),
            "{variant}: no EXIF segment at all"
        );
        let decoded = image::load_from_memory(&body).unwrap();
        match variant {
            "thumb320" => assert_eq!(decoded.width().max(decoded.height()), 320),
            "thumb1280" => assert_eq!(decoded.width().max(decoded.height()), 1280),
            _ => assert_eq!((decoded.width(), decoded.height()), (1600, 1200)),
        }
        let cached = server
            .http
            .get(format!("{}/api/v1/photos/{hash}/{variant}", server.url))
            .bearer_auth(&w.tokens["deputy"])
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304);
    }
    // The original keeps its EXIF, and reaches supervisors and admins only.
    let r = get(supervisor.clone(), "original").await;
    assert_eq!(r.status(), 200);
    let original = r.bytes().await.unwrap();
    assert!(original.as_ref() == bytes.as_slice());
    let facts = jmet::media::read_exif(&original);
    assert!((facts.lat.unwrap() - 41.15).abs() < 1e-4);
    for role in ["ao_staff", "deputy", "state_body", "member"] {
        let r = get(w.tokens[role].clone(), "original").await;
        assert!(
            matches!(r.status().as_u16(), 403 | 404),
            "{role}: {}",
            r.status()
        );
    }
    assert_eq!(
        get(w.tokens["admin"].clone(), "original").await.status(),
        200
    );
    // Another municipality's supervisor sees nothing of it.
    world::create_user(
        &server,
        "supervisor.b",
        jmet::access::Role::Supervisor,
        &["KG-N-AT-02"],
    )
    .await;
    let other = server
        .storage
        .create_api_token(
            server
                .storage
                .users()
                .await
                .unwrap()
                .iter()
                .find(|u| u.login == "supervisor.b")
                .unwrap()
                .user_id,
            "t",
            "test",
            1,
        )
        .await
        .unwrap();
    assert_eq!(get(other.token.clone(), "thumb320").await.status(), 404);
    let (status, _) = world::call(
        &server,
        Some(&other.token),
        Method::GET,
        &format!("/api/v1/visits/{visit}/evidence"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        server
            .http
            .get(format!("{}/api/v1/photos/{hash}/thumb320", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    server.stop().await;
}

/// A photo smaller than a thumbnail size is not kept a second time as that thumbnail: the
/// thumbnail is its stripped copy, served from there; the smaller thumbnail is made as usual.
async fn a_thumbnail_no_smaller_than_the_photo_is_its_stripped_copy(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let phone = &w.phone_a;
    let bytes = photo(800, 600, 90, &AT_THE_WELL);
    let hash = sha(&bytes);
    visit_with_photo(
        phone,
        json!({"lat": 41.15, "lon": 74.65, "acc": 5}),
        Some(&hash),
    )
    .await;
    assert_eq!(
        put(phone, &hash, &bytes, 0, bytes.len()).await.status(),
        201
    );
    let get = |variant: &'static str| {
        let url = format!("{}/api/v1/photos/{hash}/{variant}", server.url);
        let http = server.http.clone();
        let token = w.tokens["supervisor"].clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200, "{variant}");
            assert_eq!(r.headers()["content-type"], "image/jpeg", "{variant}");
            r.bytes().await.unwrap()
        }
    };
    let stripped = get("stripped").await;
    let large = get("thumb1280").await;
    let small = get("thumb320").await;
    assert_eq!(
        large, stripped,
        "the 1280 thumbnail of an 800 px photo is the photo"
    );
    assert!(jmet::media::read_exif(&large).is_empty());
    let decoded = image::load_from_memory(&small).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (320, 240));
    let kept = |kind: &str| walk(&server.blob_dir.path().join(kind));
    assert_eq!(kept("thumb1280"), 0, "no second copy of the stripped photo");
    assert_eq!(
        (kept("stripped"), kept("thumb320"), kept("removed")),
        (1, 1, 1)
    );
    assert_eq!(
        kept("original"),
        0,
        "the upload is the stripped copy and what was removed"
    );
    let original = get("original").await;
    assert_eq!(sha(&original), hash, "and is served byte for byte");
}

async fn gps_checks_flag_with_the_measured_distance(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let phone = &w.phone_a;
    let token = w.tokens["supervisor"].clone();
    let kinds = |e: &Value| -> Vec<String> {
        e["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    // At the well (the facility is at 41.15 N, 74.65 E), inside the municipality: no flag.
    let (at_well, _) = visit_with_photo(
        phone,
        json!({"lat": 41.1502, "lon": 74.6501, "acc": 6}),
        None,
    )
    .await;
    assert_eq!(
        kinds(&evidence(&server, &token, at_well).await),
        Vec::<String>::new()
    );

    // 3 km north of the well, still inside the municipality.
    let (north, _) = visit_with_photo(
        phone,
        json!({"lat": 41.17698, "lon": 74.65, "acc": 6}),
        None,
    )
    .await;
    let e = evidence(&server, &token, north).await;
    assert_eq!(kinds(&e), ["far_from_facility"]);
    let measured = e["flags"][0]["measured"].as_f64().unwrap();
    assert!((measured - 3000.0).abs() < 15.0, "{measured} m");
    assert_eq!(e["flags"][0]["threshold"], 500.0);

    // Outside the boundary (its southern edge is at 41.1 N): 2.2 km south of it.
    let (outside, _) =
        visit_with_photo(phone, json!({"lat": 41.08, "lon": 74.65, "acc": 6}), None).await;
    let e = evidence(&server, &token, outside).await;
    let flags = e["flags"].as_array().unwrap();
    let boundary = flags
        .iter()
        .find(|f| f["kind"] == "outside_boundary")
        .expect("boundary flag");
    let m = boundary["measured"].as_f64().unwrap();
    assert!((m - 2224.0).abs() < 20.0, "{m} m outside");
    assert!(flags.iter().any(|f| f["kind"] == "far_from_facility"));

    // A photo whose EXIF puts it 5 km east of where the visit was reported, and a poor fix.
    let far_shot = Shot {
        lat: 41.15,
        lon: 74.70963,
        time: "2025:05:04 10:10:00",
    };
    let bytes = photo(400, 300, 85, &far_shot);
    let hash = sha(&bytes);
    let (visit, photo_id) = visit_with_photo(
        phone,
        json!({"lat": 41.15, "lon": 74.65, "acc": 80}),
        Some(&hash),
    )
    .await;
    assert_eq!(
        kinds(&evidence(&server, &token, visit).await),
        ["low_accuracy"],
        "bytes not here yet"
    );
    assert_eq!(
        put(phone, &hash, &bytes, 0, bytes.len()).await.status(),
        201
    );
    let e = evidence(&server, &token, visit).await;
    let mismatch = e["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "photo_position_mismatch")
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!(mismatch["subject"], photo_id.to_string());
    let m = mismatch["measured"].as_f64().unwrap();
    assert!((m - 5000.0).abs() < 25.0, "{m} m");
    let low = e["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "low_accuracy")
        .unwrap();
    assert_eq!(low["measured"], 80.0);

    // Thresholds are per facility kind: a generous one for water points clears the distance flag.
    let (status, body) = world::call(
        &server,
        Some(&w.tokens["admin"]),
        Method::PUT,
        "/api/v1/gps-thresholds/water_point",
        Some(("application/json", json!({"max_distance_m": 5000, "max_accuracy_m": 50, "max_photo_distance_m": 500, "max_photo_age_s": 86400}).to_string())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        kinds(&evidence(&server, &token, north).await),
        Vec::<String>::new()
    );
    // Flags never block: every visit above is merged and pulled by the team.
    let mut store = sync_protocol::Store::default();
    phone.pull_all(&mut store, None, 1000).await;
    assert_eq!(
        store
            .iter()
            .filter(|(c, _, _)| c.as_str() == "visits")
            .count(),
        5,
        "the four above and the world's own"
    );
    server.stop().await;
}
