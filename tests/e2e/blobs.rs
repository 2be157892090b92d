//! Blob storage: one test body over a local directory and over a real S3-compatible server
//! (moto's server mode, started on a loopback port). Without `moto_server` the S3 test is
//! skipped with a printed reason, unless `JMET_REQUIRE_S3=1` (set by CI) makes that a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use jmet::blobs::{BlobConfig, BlobError, BlobKind, BlobName, BlobStore};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Deterministic bytes that do not compress or repeat.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What every store must do.
async fn exercise(store: &BlobStore) {
    // put / get / exists / delete.
    let photo = Bytes::from_static(b"not really a jpeg");
    let sha = sha256_hex(&photo);
    let original = BlobName::new(BlobKind::Original, &sha).unwrap();
    let thumb = BlobName::new(BlobKind::Thumb320, &sha).unwrap();
    assert!(!store.exists(&original).await.unwrap());
    assert_eq!(store.get(&original).await.unwrap(), None);
    store.put(&original, photo.clone()).await.unwrap();
    assert!(store.exists(&original).await.unwrap());
    assert_eq!(store.get(&original).await.unwrap(), Some(photo.clone()));
    // Same hash, other kind: a different blob.
    assert!(!store.exists(&thumb).await.unwrap());
    assert_eq!(store.get(&thumb).await.unwrap(), None);

    // Overwrite.
    let again = Bytes::from_static(b"replacement bytes");
    store.put(&original, again.clone()).await.unwrap();
    assert_eq!(store.get(&original).await.unwrap(), Some(again));

    // Delete, twice: absent is fine.
    store.delete(&original).await.unwrap();
    assert!(!store.exists(&original).await.unwrap());
    assert_eq!(store.get(&original).await.unwrap(), None);
    store.delete(&original).await.unwrap();
    store.delete(&thumb).await.unwrap();

    // Pieces written out of order are listed in offset order, with their sizes.
    let upload = sha256_hex(b"an upload in progress");
    let other = sha256_hex(b"another upload");
    assert_eq!(store.pieces(&upload).await.unwrap(), vec![]);
    const MIB4: u64 = 4 * 1024 * 1024;
    let sizes = [11_usize, 22, 33, 7];
    for i in [2_usize, 0, 3, 1] {
        let name = BlobName::piece(&upload, i as u64 * MIB4).unwrap();
        store
            .put(&name, Bytes::from(noise(sizes[i], i as u64 + 1)))
            .await
            .unwrap();
    }
    // A piece past 10^18 (a longer name than the padding) still sorts last.
    let far = 10_u64.pow(18) + 5;
    store
        .put(
            &BlobName::piece(&upload, far).unwrap(),
            Bytes::from_static(b"xy"),
        )
        .await
        .unwrap();
    store
        .put(
            &BlobName::piece(&other, 0).unwrap(),
            Bytes::from_static(b"o"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.pieces(&upload).await.unwrap(),
        vec![(0, 11), (MIB4, 22), (2 * MIB4, 33), (3 * MIB4, 7), (far, 2)]
    );
    assert_eq!(
        store
            .get(&BlobName::piece(&upload, MIB4).unwrap())
            .await
            .unwrap(),
        Some(Bytes::from(noise(22, 2)))
    );
    assert_eq!(store.pieces(&other).await.unwrap(), vec![(0, 1)]);

    // delete_pieces removes that upload's pieces only.
    store.delete_pieces(&upload).await.unwrap();
    assert_eq!(store.pieces(&upload).await.unwrap(), vec![]);
    assert_eq!(store.pieces(&other).await.unwrap(), vec![(0, 1)]);
    store.delete_pieces(&upload).await.unwrap();
    store.delete_pieces(&other).await.unwrap();
    assert_eq!(store.pieces(&other).await.unwrap(), vec![]);
    assert!(matches!(
        store.pieces("../etc").await,
        Err(BlobError::InvalidName(_))
    ));

    // A 5 MB blob round-trips byte for byte.
    let big = Bytes::from(noise(5 * 1024 * 1024 + 3, 42));
    let big_sha = sha256_hex(&big);
    let big_name = BlobName::new(BlobKind::Stripped, &big_sha).unwrap();
    store.put(&big_name, big.clone()).await.unwrap();
    let back = store.get(&big_name).await.unwrap().expect("big blob");
    assert_eq!(back.len(), big.len());
    assert_eq!(sha256_hex(&back), big_sha);
    assert!(back == big);
    store.delete(&big_name).await.unwrap();
    assert!(!store.exists(&big_name).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("blobs");
    let store = BlobStore::open(&BlobConfig::Local { dir: dir.clone() }).unwrap();
    assert_eq!(store.describe(), format!("local {}", dir.display()));
    exercise(&store).await;

    // Blobs are files at their names under the directory, and emptied piece folders go away.
    let bytes = Bytes::from_static(b"on disk");
    let sha = sha256_hex(&bytes);
    let name = BlobName::new(BlobKind::Thumb1280, &sha).unwrap();
    store.put(&name, bytes.clone()).await.unwrap();
    let on_disk = std::fs::read(dir.join(name.as_str())).unwrap();
    assert_eq!(on_disk, bytes);
    store
        .put(&BlobName::piece(&sha, 0).unwrap(), bytes.clone())
        .await
        .unwrap();
    assert!(dir.join("pieces").join(&sha).is_dir());
    store.delete_pieces(&sha).await.unwrap();
    assert!(!dir.join("pieces").join(&sha).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let bucket = format!("jmet-test-{}", uuid::Uuid::new_v4().simple());
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{}/{bucket}", moto.url))
        .send()
        .await
        .expect("create bucket");
    assert!(
        created.status().is_success(),
        "creating bucket: {} {:?}",
        created.status(),
        created.text().await
    );

    let config = BlobConfig::S3 {
        bucket: bucket.clone(),
        endpoint: Some(moto.url.clone()),
        region: "us-east-1".into(),
        access_key_id: "test-key".into(),
        secret_access_key: "test-secret".into(),
        allow_http: true,
        prefix: Some("e2e".into()),
    };
    let store = BlobStore::open(&config).unwrap();
    assert_eq!(store.describe(), format!("s3 {bucket}/e2e at {}", moto.url));
    exercise(&store).await;

    // The object lives under the prefix, at the blob's name (looked up with object_store itself:
    // moto answers anonymous reads of private objects with 403).
    let bytes = Bytes::from_static(b"where is it");
    let name = BlobName::new(BlobKind::Original, &sha256_hex(&bytes)).unwrap();
    store.put(&name, bytes.clone()).await.unwrap();
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(&moto.url)
        .with_region("us-east-1")
        .with_access_key_id("other-key")
        .with_secret_access_key("other-secret")
        .with_allow_http(true)
        .build()
        .unwrap();
    let at = object_store::path::Path::from(format!("e2e/{}", name.as_str()));
    let found = object_store::ObjectStoreExt::get(&raw, &at)
        .await
        .expect("object at e2e/<name>")
        .bytes()
        .await
        .unwrap();
    assert_eq!(found, bytes);

    // A store without a prefix sees none of it at the bare name.
    let bare = BlobStore::open(&BlobConfig::S3 {
        bucket: bucket.clone(),
        endpoint: Some(moto.url.clone()),
        region: "us-east-1".into(),
        access_key_id: "test-key".into(),
        secret_access_key: "test-secret".into(),
        allow_http: true,
        prefix: None,
    })
    .unwrap();
    assert!(!bare.exists(&name).await.unwrap());

    // A missing bucket is an error, not "absent".
    let nowhere = BlobStore::open(&BlobConfig::S3 {
        bucket: format!("{bucket}-missing"),
        endpoint: Some(moto.url.clone()),
        region: "us-east-1".into(),
        access_key_id: "test-key".into(),
        secret_access_key: "test-secret".into(),
        allow_http: true,
        prefix: None,
    })
    .unwrap();
    assert!(matches!(
        nowhere.put(&name, bytes).await,
        Err(BlobError::Store(_))
    ));
}

/// A `moto_server` process on a free loopback port, killed on drop.
struct Moto {
    url: String,
    child: Child,
    _log_dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto and waits until it answers; `None` (test skipped) when it is not installed,
    /// unless `JMET_REQUIRE_S3=1`.
    async fn start() -> Option<Moto> {
        if let Err(reason) = moto_installed() {
            unavailable(&reason);
            return None;
        }
        let port = free_port();
        let log_dir = tempfile::tempdir().unwrap();
        let log_path = log_dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn moto_server");
        let mut moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _log_dir: log_dir,
        };
        moto.wait_ready(&log_path).await;
        Some(moto)
    }

    async fn wait_ready(&mut self, log_path: &PathBuf) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto_server exited with {status} before answering:\n{}",
                    std::fs::read_to_string(log_path).unwrap_or_default()
                );
            }
            if http.get(&self.url).send().await.is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "moto_server did not answer at {} within 60 s:\n{}",
                    self.url,
                    std::fs::read_to_string(log_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `moto_server` runs at all (a pyenv shim is on PATH even where moto is missing).
fn moto_installed() -> Result<(), String> {
    match Command::new("moto_server")
        .arg("--help")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`moto_server --help` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run moto_server: {e}")),
    }
}

fn unavailable(reason: &str) {
    if std::env::var("JMET_REQUIRE_S3").is_ok_and(|v| v == "1") {
        panic!(
            "S3 is required (JMET_REQUIRE_S3=1) but {reason}. Install it with: python3 -m pip install 'moto[server]'"
        );
    }
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "\nSKIPPED: S3 blob test not run: {reason}. Install moto (pip install 'moto[server]') to run it.\n"
        )
        .as_bytes(),
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
