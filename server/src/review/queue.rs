//! What a reviewer asks of the queue: which submissions, in which order, which page.

use sync_protocol::review::ReviewStatus;

/// Submissions per page of the queue.
pub const PAGE_SIZE: u64 = 50;

/// Which statuses to list. "To review" is what waits on a supervisor: never judged, or changed
/// since it was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    ToReview,
    All,
    Only(ReviewStatus),
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "to_review" => Some(Self::ToReview),
            "all" => Some(Self::All),
            other => ReviewStatus::parse(other).map(Self::Only),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToReview => "to_review",
            Self::All => "all",
            Self::Only(s) => s.as_str(),
        }
    }

    /// The statuses listed; empty means every one.
    pub fn statuses(self) -> Vec<ReviewStatus> {
        match self {
            Self::ToReview => vec![ReviewStatus::Received, ReviewStatus::EditedAfterReview],
            Self::All => Vec::new(),
            Self::Only(s) => vec![s],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagFilter {
    Any,
    /// Without a single flag: what bulk approval may take.
    Unflagged,
    Flagged,
    Kind(String),
}

impl FlagFilter {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" => Some(Self::Any),
            "none" => Some(Self::Unflagged),
            "any" => Some(Self::Flagged),
            kind if crate::evidence::gps::FlagKind::parse(kind).is_some() => {
                Some(Self::Kind(kind.to_owned()))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Any => "",
            Self::Unflagged => "none",
            Self::Flagged => "any",
            Self::Kind(k) => k,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Longest waiting first.
    Oldest,
    Newest,
    /// Most flags first, then longest waiting.
    Flags,
}

impl Sort {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "oldest" => Some(Self::Oldest),
            "newest" => Some(Self::Newest),
            "flags" => Some(Self::Flags),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oldest => "oldest",
            Self::Newest => "newest",
            Self::Flags => "flags",
        }
    }
}

/// A queue request, already checked.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    /// The municipalities the reviewer may see; `None` for everywhere.
    pub visible: Option<Vec<String>>,
    pub municipality: Option<String>,
    pub form: Option<String>,
    pub facility: Option<String>,
    pub member: Option<String>,
    pub status: StatusFilter,
    pub flag: FlagFilter,
    /// Capture days, inclusive, `YYYY-MM-DD`.
    pub from: Option<String>,
    pub to: Option<String>,
    pub sort: Sort,
    pub page: u64,
}

/// One line of the queue.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueRow {
    pub collection: String,
    pub id: String,
    pub municipality: String,
    pub form: String,
    pub facility: String,
    pub captured_at: String,
    pub status: String,
    pub version: String,
    pub received_at_ms: i64,
    pub member_id: String,
    pub member_name: Option<String>,
    pub flags: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    /// Per status, everything the other filters match.
    pub counts: std::collections::BTreeMap<String, i64>,
    /// How many match every filter, the status too.
    pub total: i64,
    pub page: u64,
    pub pages: u64,
}
