//! An upright JPEG is kept as its stripped copy and what stripping took out of it, not twice.
//!
//! Stripping an upright JPEG only drops its metadata segments and any trailer after the image
//! (see [`super::process`]); the scans stay byte for byte. So the upload is the stripped copy
//! with those pieces put back where they were, and storing the pieces (a few kilobytes) instead
//! of the whole upload halves what each photo costs on disk and to write.
//!
//! The pieces are stored as `MAGIC`, then for each piece in order its offset in the upload (8
//! bytes, big-endian), its length (4 bytes, big-endian) and its bytes.

use std::ops::Range;

const MAGIC: &[u8] = b"jmet-removed-1\n";

/// The pieces of `upload` at `ranges` (ascending, not overlapping), in the stored form.
pub fn removed(upload: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
    let size: usize = ranges.iter().map(|r| r.len() + 12).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + size);
    out.extend_from_slice(MAGIC);
    for range in ranges.iter().filter(|r| !r.is_empty()) {
        out.extend_from_slice(&(range.start as u64).to_be_bytes());
        out.extend_from_slice(&(range.len() as u32).to_be_bytes());
        out.extend_from_slice(&upload[range.clone()]);
    }
    out
}

/// The upload from its stripped copy and the pieces taken out of it; `None` if `removed` is not
/// in the stored form or does not fit `stripped`.
pub fn restore(stripped: &[u8], removed: &[u8]) -> Option<Vec<u8>> {
    let mut rest = removed.strip_prefix(MAGIC)?;
    let mut out = Vec::with_capacity(stripped.len() + rest.len());
    let mut taken = 0;
    while !rest.is_empty() {
        let offset = usize::try_from(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?)).ok()?;
        let len = u32::from_be_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
        let piece = rest.get(12..12 + len)?;
        rest = &rest[12 + len..];
        let before = offset.checked_sub(out.len())?;
        out.extend_from_slice(stripped.get(taken..taken + before)?);
        taken += before;
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(&stripped[taken..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pieces_go_back_where_they_were() {
        let upload = b"SOI<exif>scan<comment>more scanEOI<trailer>".to_vec();
        let ranges = [3..9, 13..22, 34..43];
        let stripped: Vec<u8> = upload
            .iter()
            .enumerate()
            .filter(|(i, _)| !ranges.iter().any(|r| r.contains(i)))
            .map(|(_, b)| *b)
            .collect();
        assert_eq!(stripped, b"SOIscanmore scanEOI");
        let pieces = removed(&upload, &ranges);
        assert_eq!(restore(&stripped, &pieces), Some(upload.clone()));
        assert_eq!(
            restore(&stripped, &removed(&stripped, &[])),
            Some(stripped.clone())
        );
        // Damaged or foreign pieces are refused, not guessed at.
        assert_eq!(restore(&stripped, &pieces[..pieces.len() - 1]), None);
        assert_eq!(restore(&stripped, b"not pieces"), None);
        assert_eq!(restore(&stripped[..2], &pieces), None);
    }
}
