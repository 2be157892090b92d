//! Resumable photo upload addressed by SHA-256. The phone asks how much the server has, sends the
//! rest in pieces (`Content-Range`), and the server checks the hash of the whole before it
//! decodes, processes and keeps the photo. Pieces live in the blob store, so any server replica
//! can take the next piece. The same photo twice is stored once.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::blobs::{BlobError, BlobKind, BlobName, BlobStore};
use crate::media::{self, Limits, MediaError};
use crate::storage::{PhotoBlob, Storage, StorageError};

/// The evidence services a request may need.
pub struct Evidence {
    pub blobs: BlobStore,
    pub limits: Limits,
    /// Decoding a 12-megapixel photo takes ~100 MB for a moment: a few at a time bound memory.
    pub processing: Semaphore,
}

impl Evidence {
    pub fn new(blobs: BlobStore, limits: Limits, concurrent_processing: usize) -> Self {
        Self {
            blobs,
            limits,
            processing: Semaphore::new(concurrent_processing.max(1)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0:?} is not a SHA-256 in lowercase hex (64 characters)")]
    BadHash(String),
    #[error("{0}")]
    BadRange(String),
    #[error("the photo is {total} bytes, above the limit of {limit}")]
    TooLarge { total: u64, limit: u64 },
    #[error("the server has {received} bytes of this photo; send the piece starting there")]
    OffsetMismatch { received: u64 },
    #[error("this upload was started with a total of {expected} bytes, not {got}")]
    TotalMismatch { expected: u64, got: u64 },
    #[error(
        "the bytes received hash to {got}, not {expected}: nothing was kept; check the photo and upload it again"
    )]
    HashMismatch { expected: String, got: String },
    #[error("{0}")]
    Image(#[from] MediaError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
}

/// Where an upload stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UploadStatus {
    pub sha256: String,
    /// Bytes the server holds; send from here.
    pub received: u64,
    /// The photo's size, once known.
    pub size: Option<u64>,
    /// Processed and kept: nothing more to send.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoBlob>,
}

pub fn check_hash(sha256: &str) -> Result<(), UploadError> {
    if sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(())
    } else {
        Err(UploadError::BadHash(sha256.chars().take(80).collect()))
    }
}

/// `bytes START-END/TOTAL` (END inclusive), as HTTP writes it.
pub fn parse_content_range(header: &str) -> Result<(u64, u64, u64), UploadError> {
    let bad = || {
        UploadError::BadRange(format!(
            "Content-Range must be `bytes START-END/TOTAL` (END inclusive), not {header:?}"
        ))
    };
    let rest = header.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (span, total) = rest.split_once('/').ok_or_else(bad)?;
    let (start, end) = span.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (start, end, total) = (number(start)?, number(end)?, number(total)?);
    if start > end || end >= total {
        return Err(bad());
    }
    Ok((start, end, total))
}

pub async fn status(storage: &Storage, sha256: &str) -> Result<UploadStatus, UploadError> {
    check_hash(sha256)?;
    if let Some(photo) = storage.photo_blob(sha256).await? {
        return Ok(UploadStatus {
            sha256: sha256.to_owned(),
            received: photo.bytes as u64,
            size: Some(photo.bytes as u64),
            complete: true,
            photo: Some(photo),
        });
    }
    let state = storage.upload_state(sha256).await?;
    Ok(UploadStatus {
        sha256: sha256.to_owned(),
        received: state.map_or(0, |s| s.received_bytes as u64),
        size: state.map(|s| s.total_bytes as u64),
        complete: false,
        photo: None,
    })
}

/// Takes one piece; when it completes the photo, checks, processes and keeps it.
pub async fn put_piece(
    storage: &Storage,
    evidence: &Evidence,
    actor: &str,
    sha256: &str,
    range: (u64, u64, u64),
    body: Bytes,
    now_ms: i64,
) -> Result<UploadStatus, UploadError> {
    check_hash(sha256)?;
    let (start, end, total) = range;
    let limit = evidence.limits.max_input_bytes as u64;
    if total > limit {
        return Err(UploadError::TooLarge { total, limit });
    }
    if body.len() as u64 != end - start + 1 {
        return Err(UploadError::BadRange(format!(
            "Content-Range announces {} bytes, the body has {}",
            end - start + 1,
            body.len()
        )));
    }
    let done = status(storage, sha256).await?;
    if done.complete {
        // Stored before (by this phone or another): the same photo is kept once.
        return Ok(done);
    }
    let state = storage
        .begin_upload(sha256, total as i64, actor, now_ms)
        .await?;
    if state.total_bytes as u64 != total {
        return Err(UploadError::TotalMismatch {
            expected: state.total_bytes as u64,
            got: total,
        });
    }
    let received = state.received_bytes as u64;
    if start != received {
        return Err(UploadError::OffsetMismatch { received });
    }
    evidence
        .blobs
        .put(&BlobName::piece(sha256, start)?, body)
        .await?;
    if !storage
        .advance_upload(sha256, start as i64, end as i64 + 1, now_ms)
        .await?
    {
        // Another request carried this piece first; tell the phone where things stand.
        let now = status(storage, sha256).await?;
        return Err(UploadError::OffsetMismatch {
            received: now.received,
        });
    }
    if end + 1 < total {
        return status(storage, sha256).await;
    }
    finish(storage, evidence, actor, sha256, total, now_ms).await
}

/// The last piece arrived: assemble, verify, process, keep; or keep nothing.
async fn finish(
    storage: &Storage,
    evidence: &Evidence,
    actor: &str,
    sha256: &str,
    total: u64,
    now_ms: i64,
) -> Result<UploadStatus, UploadError> {
    let outcome = match assemble(evidence, sha256, total).await {
        Ok(whole) => process(evidence, whole).await,
        Err(e) => Err(e),
    };
    let (original, processed) = match outcome {
        Ok(done) => done,
        Err(e) => {
            evidence.blobs.delete_pieces(sha256).await?;
            storage.drop_upload(sha256).await?;
            return Err(e);
        }
    };
    keep(
        storage, evidence, actor, sha256, original, processed, now_ms,
    )
    .await?;
    evidence.blobs.delete_pieces(sha256).await?;
    let visits = storage.visits_with_photo(sha256).await?;
    super::flags::recompute(storage, &visits, now_ms).await?;
    status(storage, sha256).await
}

/// The SHA-256 of a photo's bytes, as photos are named.
pub fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A whole photo at once (an OpenRosa attachment arrives whole, and the caller knows it is not
/// stored yet): checked, processed and its copies written, without the resumable upload's
/// pieces. Answers the row to store with the submission, in the same commit: until then the
/// copies are there but the photo is not, and the same bytes sent again are processed again.
pub async fn prepare_whole(
    evidence: &Evidence,
    sha256: &str,
    bytes: Bytes,
) -> Result<PhotoBlob, UploadError> {
    let limit = evidence.limits.max_input_bytes as u64;
    if bytes.len() as u64 > limit {
        return Err(UploadError::TooLarge {
            total: bytes.len() as u64,
            limit,
        });
    }
    let (original, processed) = process(evidence, bytes).await?;
    write_copies(evidence, sha256, original, processed).await
}

/// The blob a thumbnail of this size is kept as.
fn thumbnail_kind(size: u32) -> BlobKind {
    if size <= 320 {
        BlobKind::Thumb320
    } else {
        BlobKind::Thumb1280
    }
}

/// The bytes of one copy of a kept photo. A thumbnail that was not written because it is the
/// stripped copy itself (see [`write_copies`]) is read from there.
pub async fn read_copy(
    blobs: &BlobStore,
    photo: &PhotoBlob,
    kind: BlobKind,
) -> Result<Option<Bytes>, BlobError> {
    let name = BlobName::new(kind, &photo.sha256)?;
    let size: i64 = match kind {
        BlobKind::Thumb320 => 320,
        BlobKind::Thumb1280 => 1280,
        BlobKind::Original => return read_original(blobs, photo).await,
        _ => return blobs.get(&name).await,
    };
    match blobs.get(&name).await? {
        Some(bytes) => Ok(Some(bytes)),
        None if photo.format == "jpeg" && photo.width.max(photo.height) <= size => {
            blobs
                .get(&BlobName::new(BlobKind::Stripped, &photo.sha256)?)
                .await
        }
        None => Ok(None),
    }
}

/// The upload as received: kept whole, or as its stripped copy and what stripping took out.
async fn read_original(blobs: &BlobStore, photo: &PhotoBlob) -> Result<Option<Bytes>, BlobError> {
    let whole = BlobName::new(BlobKind::Original, &photo.sha256)?;
    if let Some(bytes) = blobs.get(&whole).await? {
        return Ok(Some(bytes));
    }
    let removed = BlobName::new(BlobKind::Removed, &photo.sha256)?;
    let stripped = BlobName::new(BlobKind::Stripped, &photo.sha256)?;
    let (Some(removed), Some(stripped)) = (blobs.get(&removed).await?, blobs.get(&stripped).await?)
    else {
        return Ok(None);
    };
    // Checked against its name, as an upload is: a damaged copy is an error, not a photo.
    match media::restore(&stripped, &removed) {
        Some(upload) if hash(&upload) == photo.sha256 => Ok(Some(upload.into())),
        _ => Err(BlobError::Store(format!(
            "the stored copies of photo {} do not make up the upload",
            photo.sha256
        ))),
    }
}

/// Writes a processed photo's copies and then its row: the row is what says the photo is
/// here, so it comes only once every copy is durable.
async fn keep(
    storage: &Storage,
    evidence: &Evidence,
    actor: &str,
    sha256: &str,
    original: Bytes,
    processed: media::Processed,
    now_ms: i64,
) -> Result<(), UploadError> {
    let photo = write_copies(evidence, sha256, original, processed).await?;
    storage.store_photo_blob(&photo, actor, now_ms).await?;
    Ok(())
}

/// Writes a processed photo's copies side by side (each is a file written and synced on its
/// own) and answers the row that, stored, says they are there. A thumbnail that is the
/// stripped copy itself (an upright JPEG no larger than its size) is not written twice; it is
/// served from the stripped copy (see [`read_copy`]).
async fn write_copies(
    evidence: &Evidence,
    sha256: &str,
    original: Bytes,
    processed: media::Processed,
) -> Result<PhotoBlob, UploadError> {
    let blobs = &evidence.blobs;
    let total = original.len();
    let stripped = Bytes::from(processed.stripped);
    let mut copies = vec![(BlobKind::Stripped, stripped.clone())];
    // The upload itself only when the stripped copy and the pieces would not make it up again
    // (they always should; this keeps a surprise from losing an original).
    match processed.removed {
        Some(removed)
            if media::restore(&stripped, &removed).is_some_and(|u| u == original.as_ref()) =>
        {
            copies.push((BlobKind::Removed, removed.into()));
        }
        _ => copies.push((BlobKind::Original, original)),
    }
    for (size, bytes) in processed.thumbnails {
        if bytes == stripped {
            continue;
        }
        copies.push((thumbnail_kind(size), bytes.into()));
    }
    let names = copies
        .iter()
        .map(|(kind, _)| BlobName::new(*kind, sha256))
        .collect::<Result<Vec<_>, _>>()?;
    futures_util::future::try_join_all(
        names
            .iter()
            .zip(copies)
            .map(|(name, (_, bytes))| blobs.put(name, bytes)),
    )
    .await?;
    Ok(PhotoBlob {
        sha256: sha256.to_owned(),
        bytes: total as i64,
        format: processed.format.as_str().to_owned(),
        width: processed.width.into(),
        height: processed.height.into(),
        exif: serde_json::to_value(&processed.exif)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?,
    })
}

/// Forgets uploads no phone continued for `max_age_ms`: their pieces and their row. A phone that
/// comes back later starts that photo again from byte 0.
pub async fn prune(
    storage: &Storage,
    blobs: &BlobStore,
    max_age_ms: i64,
    now_ms: i64,
) -> Result<usize, UploadError> {
    let stale = storage.stale_uploads(now_ms - max_age_ms).await?;
    for sha256 in &stale {
        blobs.delete_pieces(sha256).await?;
        storage.drop_upload(sha256).await?;
    }
    Ok(stale.len())
}

async fn assemble(evidence: &Evidence, sha256: &str, total: u64) -> Result<Bytes, UploadError> {
    let mut whole = Vec::with_capacity(total as usize);
    for (offset, size) in evidence.blobs.pieces(sha256).await? {
        if offset != whole.len() as u64 {
            return Err(UploadError::BadRange(format!(
                "the pieces stored do not join up at byte {}",
                whole.len()
            )));
        }
        let piece = evidence
            .blobs
            .get(&BlobName::piece(sha256, offset)?)
            .await?
            .ok_or_else(|| BlobError::Store(format!("piece at {offset} vanished")))?;
        if piece.len() as u64 != size {
            return Err(UploadError::BadRange(format!(
                "the piece at {offset} changed size"
            )));
        }
        whole.extend_from_slice(&piece);
    }
    let got = hash(&whole);
    if got != sha256 || whole.len() as u64 != total {
        return Err(UploadError::HashMismatch {
            expected: sha256.to_owned(),
            got,
        });
    }
    Ok(Bytes::from(whole))
}

/// Decodes and processes a photo off the async runtime, a few at a time.
async fn process(
    evidence: &Evidence,
    whole: Bytes,
) -> Result<(Bytes, media::Processed), UploadError> {
    let _permit = evidence
        .processing
        .acquire()
        .await
        .map_err(|e| StorageError::Config(e.to_string()))?;
    let limits = evidence.limits.clone();
    let input = whole.clone();
    let processed = tokio::task::spawn_blocking(move || media::process(&input, &limits))
        .await
        .map_err(|e| StorageError::Config(format!("image processing stopped: {e}")))??;
    Ok((whole, processed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_is_read_strictly() {
        assert_eq!(parse_content_range("bytes 0-99/400").unwrap(), (0, 99, 400));
        assert_eq!(
            parse_content_range("bytes 300-399/400").unwrap(),
            (300, 399, 400)
        );
        for bad in [
            "bytes 5-4/10",
            "bytes 0-10/10",
            "0-9/10",
            "bytes 0-9/*",
            "bytes -1-9/10",
            "bytes a-b/c",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad}");
        }
        assert!(check_hash(&"a".repeat(64)).is_ok());
        for bad in [
            "A".repeat(64),
            "a".repeat(63),
            "../".repeat(21) + "a",
            "g".repeat(64),
        ] {
            assert!(check_hash(&bad).is_err(), "{bad}");
        }
    }
}
