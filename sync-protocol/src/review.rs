//! Review of submissions as part of the merged state.
//!
//! A review decision is a record of its own in the `reviews` collection (so two supervisors, or a
//! supervisor and an offline member, never conflict on it) that names the submission and the
//! version of it that was judged. A submission's status is derived, never stored as truth: from
//! its merged fields and its merged reviews. Every replica that holds the same merged state
//! derives the same status, so status converges with the data.

use std::collections::BTreeMap;

use fingerprint::fingerprint;
use serde::{Deserialize, Serialize};

use crate::Hlc;

/// The collection review decisions live in.
pub const REVIEWS: &str = "reviews";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    /// Sent back to the member with a comment.
    HasIssues,
    Rejected,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Approved, Decision::HasIssues, Decision::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::HasIssues => "has_issues",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Received,
    HasIssues,
    Approved,
    Rejected,
    /// Judged once, then changed: the decision no longer covers what is stored.
    EditedAfterReview,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 5] = [
        ReviewStatus::Received,
        ReviewStatus::HasIssues,
        ReviewStatus::Approved,
        ReviewStatus::Rejected,
        ReviewStatus::EditedAfterReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::HasIssues => "has_issues",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::EditedAfterReview => "edited_after_review",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Counted in official figures.
    pub fn is_official(self) -> bool {
        self == Self::Approved
    }

    /// Counted in provisional figures: everything a reviewer has not thrown out.
    pub fn is_counted(self) -> bool {
        self != Self::Rejected
    }
}

/// One merged review record, reduced to what the status rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFacts {
    /// The HLC of the review's `decision` register: later decisions supersede earlier ones.
    pub decided: Hlc,
    pub decision: Decision,
    /// The submission version the reviewer saw.
    pub judged_version: String,
}

/// The version of a submission: a fingerprint of which write won each of its registers. Any
/// winning write changes it, even one whose HLC is older than another field's (an offline edit
/// of one answer), which a "greatest HLC" version would miss.
pub fn version<'a>(registers: impl IntoIterator<Item = (&'a str, &'a Hlc)>) -> String {
    let sorted: BTreeMap<&str, &Hlc> = registers.into_iter().collect();
    let mut text = String::with_capacity(sorted.len() * 48);
    for (field, hlc) in sorted {
        text.push_str(field);
        text.push('=');
        text.push_str(&hlc.to_string());
        text.push('\n');
    }
    fingerprint(text.as_bytes())
}

/// The status rule. Deleted review records are left out by the caller.
pub fn status<'a>(
    current_version: &str,
    reviews: impl IntoIterator<Item = &'a ReviewFacts>,
) -> ReviewStatus {
    let Some(latest) = reviews.into_iter().max_by_key(|r| r.decided) else {
        return ReviewStatus::Received;
    };
    if latest.judged_version != current_version {
        return ReviewStatus::EditedAfterReview;
    }
    match latest.decision {
        Decision::Approved => ReviewStatus::Approved,
        Decision::HasIssues => ReviewStatus::HasIssues,
        Decision::Rejected => ReviewStatus::Rejected,
    }
}

/// A 128-bit FNV-1a digest as hex: stable across platforms and languages, cheap to write in any
/// client, and only needs to tell versions of one record apart (no adversary gains by a
/// collision: the reviewer's own server computes both sides).
mod fingerprint {
    pub fn fingerprint(bytes: &[u8]) -> String {
        const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
        const PRIME: u128 = 0x0000000001000000000000000000013B;
        let mut hash = OFFSET;
        for b in bytes {
            hash ^= u128::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
        format!("{hash:032x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn hlc(ms: u64) -> Hlc {
        Hlc::new(ms, 0, Uuid::from_u128(7)).unwrap()
    }

    #[test]
    fn fnv_matches_the_published_vector() {
        // FNV-1a 128 of the empty string is its offset basis; of "a" it is the published
        // d228cb696f1a8caf78912b704e4a8964.
        assert_eq!(
            fingerprint::fingerprint(b""),
            "6c62272e07bb014262b821756295c58d"
        );
        assert_eq!(
            fingerprint::fingerprint(b"a"),
            "d228cb696f1a8caf78912b704e4a8964"
        );
    }

    #[test]
    fn an_older_winning_write_still_changes_the_version() {
        let (a5, a7, b10) = (hlc(5), hlc(7), hlc(10));
        let before = version([("a", &a5), ("b", &b10)]);
        let after = version([("a", &a7), ("b", &b10)]);
        assert_ne!(before, after);
        assert_eq!(before, version([("b", &b10), ("a", &a5)]));
    }

    #[test]
    fn the_latest_decision_on_the_current_version_rules() {
        let v1 = "v1".to_owned();
        let approve = ReviewFacts {
            decided: hlc(10),
            decision: Decision::Approved,
            judged_version: v1.clone(),
        };
        let send_back = ReviewFacts {
            decided: hlc(5),
            decision: Decision::HasIssues,
            judged_version: v1.clone(),
        };
        assert_eq!(status("v1", []), ReviewStatus::Received);
        assert_eq!(status("v1", [&send_back, &approve]), ReviewStatus::Approved);
        assert_eq!(status("v1", [&approve, &send_back]), ReviewStatus::Approved);
        assert_eq!(
            status("v2", [&approve, &send_back]),
            ReviewStatus::EditedAfterReview
        );
    }
}
