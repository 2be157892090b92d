//! Supervisor review: the queue, one submission's whole story, decisions and comments. The HTTP
//! API and the console's pages both act through these functions; authorisation stays with them.

pub mod detail;
pub mod queue;

use sync_protocol::Scope;
use sync_protocol::review::{Decision, ReviewStatus};

use crate::storage::{NewReview, Storage, StorageError};
use crate::sync::comments::TEXT_MAX_CHARS;

/// The two collections that are reviewed.
pub const SUBMISSIONS: [&str; 2] = ["visits", "survey_responses"];

pub fn collection(name: &str) -> Option<&'static str> {
    SUBMISSIONS.into_iter().find(|c| *c == name)
}

/// Whether `id` can be a record id (a lowercase UUID): anything else names no submission, and
/// is answered so before it reaches a query (PostgreSQL refuses a NUL byte in text outright).
pub fn is_record_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.to_string() == id)
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no submission {0}")]
    NotFound(String),
    #[error("{0} was deleted by its team")]
    Deleted(String),
    #[error("{what} changed since version {judged}; it is now {current}: look again")]
    Stale {
        what: String,
        judged: String,
        current: String,
    },
    #[error("sending a submission back needs a comment saying what to fix")]
    CommentNeeded,
    #[error("a comment must have 1 to {TEXT_MAX_CHARS} characters")]
    BadComment,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A decision recorded, and where the submission stands after it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decided {
    pub review: String,
    pub status: ReviewStatus,
    pub version: String,
}

/// What a reviewer decided about which submission, on the version they saw (the current one
/// when `None`).
pub struct Judgement<'a> {
    pub collection: &'static str,
    pub id: &'a str,
    pub decision: Decision,
    pub version: Option<String>,
    pub comment: &'a str,
}

/// Records a decision. A stale version is refused: the reviewer must look at what is stored now.
pub async fn decide(
    storage: &Storage,
    judgement: Judgement<'_>,
    actor: &str,
    now_ms: i64,
) -> Result<Decided, ReviewError> {
    let Judgement {
        collection,
        id,
        decision,
        version,
        comment,
    } = judgement;
    let comment = comment.trim();
    if decision == Decision::HasIssues && comment.is_empty() {
        return Err(ReviewError::CommentNeeded);
    }
    if comment.chars().count() > TEXT_MAX_CHARS {
        return Err(ReviewError::BadComment);
    }
    let what = format!("{collection}/{id}");
    let state = storage
        .submission_state(collection, id)
        .await?
        .ok_or_else(|| ReviewError::NotFound(what.clone()))?;
    if state.deleted {
        return Err(ReviewError::Deleted(what));
    }
    let judged = version.unwrap_or_else(|| state.version.clone());
    if judged != state.version {
        return Err(ReviewError::Stale {
            what,
            judged,
            current: state.version,
        });
    }
    let scope = Scope::parse(&state.scope).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let review = storage
        .record_review(
            &NewReview {
                collection: collection.to_owned(),
                submission: id.to_owned(),
                scope: scope.clone(),
                decision,
                judged_version: judged,
                comment: comment.to_owned(),
            },
            actor,
            now_ms,
        )
        .await?;
    crate::series::project::catch_up(storage, &[scope.to_string()]).await?;
    let now = storage
        .submission_state(collection, id)
        .await?
        .ok_or_else(|| ReviewError::NotFound(format!("{collection}/{id}")))?;
    Ok(Decided {
        review: review.to_string(),
        status: now.status,
        version: now.version,
    })
}

/// A reviewer's comment, which the team's phones pull.
pub async fn comment(
    storage: &Storage,
    scope: &Scope,
    collection: &'static str,
    id: &str,
    text: &str,
    actor: &str,
    now_ms: i64,
) -> Result<String, ReviewError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > TEXT_MAX_CHARS {
        return Err(ReviewError::BadComment);
    }
    Ok(storage
        .add_comment(scope, collection, id, text, actor, now_ms)
        .await?
        .to_string())
}

/// One submission a bulk approval was asked to take.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct BulkItem {
    pub collection: String,
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BulkOutcome {
    pub approved: Vec<String>,
    /// Each left alone, with why.
    pub skipped: Vec<(String, String)>,
}

/// Approves, in one transaction, those of `items` that are waiting for review, carry no flag,
/// are still at the version the reviewer saw and lie where `may_review` allows. The rest are
/// skipped with a reason: bulk approval never decides on anything a reviewer should look at.
pub async fn bulk_approve(
    storage: &Storage,
    items: &[BulkItem],
    may_review: impl Fn(&Scope) -> bool,
    actor: &str,
    now_ms: i64,
) -> Result<BulkOutcome, ReviewError> {
    let mut outcome = BulkOutcome::default();
    let mut reviews = Vec::new();
    let mut scopes = std::collections::BTreeSet::new();
    for item in items {
        let what = format!("{}/{}", item.collection, item.id);
        let Some(collection) = collection(&item.collection).filter(|_| is_record_id(&item.id))
        else {
            outcome.skipped.push((what, "not a submission".into()));
            continue;
        };
        let row = storage.queue_row(collection, &item.id).await?;
        let scope = row
            .as_ref()
            .and_then(|r| Scope::parse(&r.municipality).ok());
        let (Some(row), Some(scope)) = (row, scope.filter(|s| may_review(s))) else {
            outcome
                .skipped
                .push((what, "no such submission to review".into()));
            continue;
        };
        let waiting = matches!(
            ReviewStatus::parse(&row.status),
            Some(ReviewStatus::Received | ReviewStatus::EditedAfterReview)
        );
        let why = if !waiting {
            Some(format!("already {}", row.status))
        } else if row.flags > 0 {
            Some(format!("{} flag(s): review it on its own", row.flags))
        } else if row.version != item.version {
            Some("changed since it was listed: look again".into())
        } else {
            None
        };
        if let Some(why) = why {
            outcome.skipped.push((what, why));
            continue;
        }
        scopes.insert(scope.to_string());
        reviews.push(NewReview {
            collection: collection.to_owned(),
            submission: item.id.clone(),
            scope,
            decision: Decision::Approved,
            judged_version: row.version,
            comment: String::new(),
        });
        outcome.approved.push(what);
    }
    if !reviews.is_empty() {
        storage.record_reviews(&reviews, actor, now_ms).await?;
        let scopes: Vec<String> = scopes.into_iter().collect();
        crate::series::project::catch_up(storage, &scopes).await?;
    }
    Ok(outcome)
}
