//! Blob storage for photo bytes: a local directory by default, S3-compatible storage by
//! configuration, both behind [`BlobStore`] (built on the `object_store` crate).
//!
//! Blobs are content-addressed: every object path is built by [`BlobName`] from a [`BlobKind`]
//! and a SHA-256 in lowercase hex (plus an offset for pieces of an upload in progress), never
//! from a path a client sent. So an object can be overwritten only with the same bytes, and no
//! name can reach outside its store.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// What kind of bytes a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// The upload as received.
    Original,
    /// The copy with metadata (EXIF, GPS, …) stripped.
    Stripped,
    /// What stripping took out of an upright JPEG: with the stripped copy, the upload itself,
    /// which is then not kept whole (see `media::restore`).
    Removed,
    /// A thumbnail at most 320 px on its long side.
    Thumb320,
    /// A preview at most 1280 px on its long side.
    Thumb1280,
}

impl BlobKind {
    /// The top-level folder of this kind's objects.
    pub fn dir(self) -> &'static str {
        match self {
            BlobKind::Original => "original",
            BlobKind::Stripped => "stripped",
            BlobKind::Removed => "removed",
            BlobKind::Thumb320 => "thumb320",
            BlobKind::Thumb1280 => "thumb1280",
        }
    }
}

/// Folder of the pieces of uploads in progress: `pieces/<sha256>/<offset>`.
const PIECES_DIR: &str = "pieces";

/// A validated blob name, i.e. an object path relative to the store's root.
///
/// Built only from a [`BlobKind`] and a 64-character lowercase hex SHA-256
/// (`original/ab/ab12…ef`, `stripped/ab/…`, `thumb320/ab/…`, `thumb1280/ab/…`), or for a piece
/// of an upload from the upload's SHA-256 and the piece's byte offset
/// (`pieces/ab12…ef/000000000004194304`, zero-padded so listings sort by offset).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobName(String);

impl BlobName {
    pub fn new(kind: BlobKind, sha256_hex: &str) -> Result<Self, BlobError> {
        check_sha256(sha256_hex)?;
        Ok(BlobName(format!(
            "{}/{}/{}",
            kind.dir(),
            &sha256_hex[..2],
            sha256_hex
        )))
    }

    /// The piece of the upload of `sha256_hex` that starts at byte `offset`.
    pub fn piece(sha256_hex: &str, offset: u64) -> Result<Self, BlobError> {
        check_sha256(sha256_hex)?;
        Ok(BlobName(format!("{PIECES_DIR}/{sha256_hex}/{offset:018}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn object_path(&self) -> ObjectPath {
        // Only [0-9a-z/] with non-empty segments: always a valid object path as it is.
        ObjectPath::from(self.0.as_str())
    }
}

impl fmt::Display for BlobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_sha256(sha256_hex: &str) -> Result<(), BlobError> {
    let ok = sha256_hex.len() == 64
        && sha256_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BlobError::InvalidName(format!(
            "not a 64-character lowercase hex SHA-256: {:?}",
            sha256_hex.chars().take(80).collect::<String>()
        )))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob name: {0}")]
    InvalidName(String),
    /// The storage backend failed (or is misconfigured); the text is the underlying error's.
    #[error("blob storage: {0}")]
    Store(String),
}

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        BlobError::Store(e.to_string())
    }
}

/// Where blobs live.
#[derive(Clone, PartialEq, Eq)]
pub enum BlobConfig {
    /// A directory on the local file system (created when missing).
    Local { dir: PathBuf },
    /// An S3-compatible bucket (AWS S3, MinIO, moto, …), addressed path-style.
    S3 {
        bucket: String,
        /// e.g. `http://127.0.0.1:9000` for MinIO; `None` for AWS itself.
        endpoint: Option<String>,
        region: String,
        access_key_id: String,
        secret_access_key: String,
        /// Whether a plain `http://` endpoint is allowed.
        allow_http: bool,
        /// A folder inside the bucket under which all blobs are kept.
        prefix: Option<String>,
    },
}

impl fmt::Debug for BlobConfig {
    // By hand, to keep the secret out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobConfig::Local { dir } => f.debug_struct("Local").field("dir", dir).finish(),
            BlobConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key: _,
                allow_http,
                prefix,
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field("allow_http", allow_http)
                .field("prefix", prefix)
                .finish(),
        }
    }
}

impl BlobConfig {
    /// The blob store named by the environment, else the folder `blobs` in `data_dir`.
    ///
    /// S3-compatible storage is used when `JMET_S3_BUCKET` is set (and not empty):
    ///
    /// | variable | meaning |
    /// | --- | --- |
    /// | `JMET_S3_BUCKET` | the bucket (required for S3) |
    /// | `JMET_S3_ENDPOINT` | the service's URL, e.g. `http://127.0.0.1:9000` for MinIO; unset for AWS |
    /// | `JMET_S3_REGION` | the region; default `us-east-1` |
    /// | `JMET_S3_ACCESS_KEY_ID` | the access key (required for S3) |
    /// | `JMET_S3_SECRET_ACCESS_KEY` | its secret (required for S3) |
    /// | `JMET_S3_ALLOW_HTTP` | `true` to allow a plain `http://` endpoint; default `false` |
    /// | `JMET_S3_PREFIX` | a folder inside the bucket to keep the blobs under; default none |
    ///
    /// Requests are path-style (`<endpoint>/<bucket>/<key>`), which MinIO, moto and AWS accept.
    /// Empty values count as unset.
    pub fn from_env_or_local(data_dir: &Path) -> Result<BlobConfig, String> {
        Self::from_vars(data_dir, |name| std::env::var(name).ok())
    }

    fn from_vars(
        data_dir: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<BlobConfig, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(bucket) = var("JMET_S3_BUCKET") else {
            return Ok(BlobConfig::Local {
                dir: data_dir.join("blobs"),
            });
        };
        let required = |name: &str| {
            var(name).ok_or_else(|| format!("{name} must be set when JMET_S3_BUCKET is set"))
        };
        let allow_http = match var("JMET_S3_ALLOW_HTTP") {
            None => false,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "JMET_S3_ALLOW_HTTP must be true or false, not {v:?}"
                    ));
                }
            },
        };
        Ok(BlobConfig::S3 {
            bucket: bucket.trim().to_owned(),
            endpoint: var("JMET_S3_ENDPOINT").map(|e| e.trim().to_owned()),
            region: var("JMET_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: required("JMET_S3_ACCESS_KEY_ID")?,
            secret_access_key: required("JMET_S3_SECRET_ACCESS_KEY")?,
            allow_http,
            prefix: var("JMET_S3_PREFIX"),
        })
    }
}

/// Photo bytes behind one interface, local or S3. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore")
            .field("store", &self.description)
            .finish()
    }
}

impl BlobStore {
    /// Opens the store; a local directory is created when missing. Makes no network request.
    pub fn open(config: &BlobConfig) -> Result<Self, BlobError> {
        match config {
            BlobConfig::Local { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    BlobError::Store(format!("cannot create {}: {e}", dir.display()))
                })?;
                let store = LocalFileSystem::new_with_prefix(dir)?
                    // Photos are kept until deleted: written files must survive a crash.
                    .with_fsync(true)
                    // Removes the folders that `delete_pieces` empties.
                    .with_automatic_cleanup(true);
                Ok(BlobStore {
                    store: Arc::new(store),
                    description: format!("local {}", dir.display()),
                })
            }
            BlobConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
                prefix,
            } => {
                if let Some(e) = endpoint
                    && e.starts_with("http://")
                    && !allow_http
                {
                    return Err(BlobError::Store(format!(
                        "S3 endpoint {e} is plain HTTP but HTTP is not allowed (JMET_S3_ALLOW_HTTP=true allows it)"
                    )));
                }
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(*allow_http)
                    .with_virtual_hosted_style_request(false);
                if let Some(e) = endpoint {
                    builder = builder.with_endpoint(e);
                }
                let s3 = builder.build()?;
                let at = endpoint.as_deref().unwrap_or("AWS");
                let prefix = prefix
                    .as_deref()
                    .map(|p| p.trim_matches('/'))
                    .filter(|p| !p.is_empty());
                match prefix {
                    None => Ok(BlobStore {
                        store: Arc::new(s3),
                        description: format!("s3 {bucket} at {at}"),
                    }),
                    Some(p) => {
                        let path = ObjectPath::parse(p).map_err(|e| {
                            BlobError::Store(format!("invalid S3 prefix {p:?}: {e}"))
                        })?;
                        Ok(BlobStore {
                            store: Arc::new(PrefixStore::new(s3, path)),
                            description: format!("s3 {bucket}/{p} at {at}"),
                        })
                    }
                }
            }
        }
    }

    /// Stores `bytes` under `name`, replacing what was there (names are content-addressed).
    pub async fn put(&self, name: &BlobName, bytes: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&name.object_path(), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// The bytes under `name`, or `None` if there are none.
    pub async fn get(&self, name: &BlobName) -> Result<Option<Bytes>, BlobError> {
        match self.store.get(&name.object_path()).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exists(&self, name: &BlobName) -> Result<bool, BlobError> {
        match self.store.head(&name.object_path()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the blob; deleting one that is not there is no error.
    pub async fn delete(&self, name: &BlobName) -> Result<(), BlobError> {
        match self.store.delete(&name.object_path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The pieces stored for the upload of `sha256_hex`, in offset order: `(offset, size)`.
    pub async fn pieces(&self, sha256_hex: &str) -> Result<Vec<(u64, u64)>, BlobError> {
        let mut pieces: Vec<(u64, u64)> = self
            .piece_objects(sha256_hex)
            .await?
            .into_iter()
            .filter_map(|meta| {
                let offset = parse_offset(meta.location.filename()?)?;
                Some((offset, meta.size))
            })
            .collect();
        // Listing order is the backend's (a local directory has none): sort by number.
        pieces.sort_unstable();
        Ok(pieces)
    }

    /// Deletes every piece of the upload of `sha256_hex`.
    pub async fn delete_pieces(&self, sha256_hex: &str) -> Result<(), BlobError> {
        for meta in self.piece_objects(sha256_hex).await? {
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn piece_objects(
        &self,
        sha256_hex: &str,
    ) -> Result<Vec<object_store::ObjectMeta>, BlobError> {
        check_sha256(sha256_hex)?;
        let folder = ObjectPath::from(format!("{PIECES_DIR}/{sha256_hex}"));
        match self.store.list_with_delimiter(Some(&folder)).await {
            Ok(listing) => Ok(listing.objects),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// A short description for logs: `local /path` or `s3 bucket at endpoint`.
    pub fn describe(&self) -> String {
        self.description.clone()
    }
}

/// A piece's offset from its file name: digits only (skips anything else found there).
fn parse_offset(file_name: &str) -> Option<u64> {
    if file_name.is_empty() || !file_name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    file_name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SHA: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56abcd";

    #[test]
    fn names_are_built_from_kind_and_hash() {
        assert_eq!(
            BlobName::new(BlobKind::Original, SHA).unwrap().as_str(),
            format!("original/ab/{SHA}")
        );
        assert_eq!(
            BlobName::new(BlobKind::Stripped, SHA).unwrap().as_str(),
            format!("stripped/ab/{SHA}")
        );
        assert_eq!(
            BlobName::new(BlobKind::Thumb320, SHA).unwrap().as_str(),
            format!("thumb320/ab/{SHA}")
        );
        assert_eq!(
            BlobName::new(BlobKind::Thumb1280, SHA).unwrap().as_str(),
            format!("thumb1280/ab/{SHA}")
        );
        assert_eq!(
            BlobName::piece(SHA, 4_194_304).unwrap().as_str(),
            format!("pieces/{SHA}/000000000004194304")
        );
        assert_eq!(
            BlobName::piece(SHA, 0).unwrap().as_str(),
            format!("pieces/{SHA}/000000000000000000")
        );
        // The largest offsets still give a name that parses back.
        let big = BlobName::piece(SHA, u64::MAX).unwrap();
        assert_eq!(
            parse_offset(big.as_str().rsplit('/').next().unwrap()),
            Some(u64::MAX)
        );
        assert_eq!(
            BlobName::new(BlobKind::Original, SHA)
                .unwrap()
                .object_path()
                .as_ref(),
            format!("original/ab/{SHA}")
        );
    }

    #[test]
    fn names_reject_anything_but_lowercase_sha256_hex() {
        let bad = [
            String::new(),
            SHA[..63].to_owned(),
            format!("{SHA}0"),
            SHA.to_uppercase(),
            format!("A{}", &SHA[1..]),
            format!("g{}", &SHA[1..]),
            format!("../{}", &SHA[3..]),
            format!("{}/..", &SHA[..61]),
            format!("{}/x", &SHA[..62]),
            format!(" {}", &SHA[1..]),
            format!("{}\0", &SHA[..63]),
            // 64 bytes but not 64 ASCII characters.
            format!("é{}", &SHA[2..]),
            "../../../../etc/passwd".to_owned(),
        ];
        for s in &bad {
            for kind in [
                BlobKind::Original,
                BlobKind::Stripped,
                BlobKind::Thumb320,
                BlobKind::Thumb1280,
            ] {
                assert!(
                    matches!(BlobName::new(kind, s), Err(BlobError::InvalidName(_))),
                    "{s:?} accepted"
                );
            }
            assert!(
                matches!(BlobName::piece(s, 0), Err(BlobError::InvalidName(_))),
                "{s:?} accepted as piece"
            );
        }
    }

    #[test]
    fn offsets_parse_from_digits_only() {
        assert_eq!(parse_offset("000000000004194304"), Some(4_194_304));
        assert_eq!(parse_offset(""), None);
        assert_eq!(parse_offset("+1"), None);
        assert_eq!(parse_offset("12#1"), None);
        assert_eq!(parse_offset("99999999999999999999"), None);
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn config_is_local_without_a_bucket() {
        let dir = Path::new("/data");
        let local = BlobConfig::Local {
            dir: PathBuf::from("/data/blobs"),
        };
        assert_eq!(BlobConfig::from_vars(dir, vars(&[])).unwrap(), local);
        assert_eq!(
            BlobConfig::from_vars(dir, vars(&[("JMET_S3_BUCKET", "")])).unwrap(),
            local
        );
    }

    #[test]
    fn config_is_s3_with_a_bucket() {
        let dir = Path::new("/data");
        let config = BlobConfig::from_vars(
            dir,
            vars(&[
                ("JMET_S3_BUCKET", "photos"),
                ("JMET_S3_ENDPOINT", "http://127.0.0.1:9000"),
                ("JMET_S3_ACCESS_KEY_ID", "key"),
                ("JMET_S3_SECRET_ACCESS_KEY", "secret"),
                ("JMET_S3_ALLOW_HTTP", "true"),
                ("JMET_S3_PREFIX", "jmet"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config,
            BlobConfig::S3 {
                bucket: "photos".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: "us-east-1".into(),
                access_key_id: "key".into(),
                secret_access_key: "secret".into(),
                allow_http: true,
                prefix: Some("jmet".into()),
            }
        );
        assert!(!format!("{config:?}").contains("secret\""));
        let store = BlobStore::open(&config).unwrap();
        assert_eq!(store.describe(), "s3 photos/jmet at http://127.0.0.1:9000");

        let missing_secret = BlobConfig::from_vars(
            dir,
            vars(&[("JMET_S3_BUCKET", "b"), ("JMET_S3_ACCESS_KEY_ID", "k")]),
        );
        assert!(
            missing_secret
                .unwrap_err()
                .contains("JMET_S3_SECRET_ACCESS_KEY")
        );
        let bad_bool = BlobConfig::from_vars(
            dir,
            vars(&[
                ("JMET_S3_BUCKET", "b"),
                ("JMET_S3_ACCESS_KEY_ID", "k"),
                ("JMET_S3_SECRET_ACCESS_KEY", "s"),
                ("JMET_S3_ALLOW_HTTP", "maybe"),
            ]),
        );
        assert!(bad_bool.unwrap_err().contains("JMET_S3_ALLOW_HTTP"));
    }

    #[test]
    fn plain_http_endpoint_needs_allow_http() {
        let config = BlobConfig::S3 {
            bucket: "b".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            allow_http: false,
            prefix: None,
        };
        let err = BlobStore::open(&config).unwrap_err();
        assert!(err.to_string().contains("JMET_S3_ALLOW_HTTP"), "{err}");
    }

    #[test]
    fn local_store_is_created_and_described() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let store = BlobStore::open(&BlobConfig::Local { dir: dir.clone() }).unwrap();
        assert!(dir.is_dir());
        assert_eq!(store.describe(), format!("local {}", dir.display()));
    }
}
