//! Review decisions: records in the `reviews` collection, written by the server on a reviewer's
//! behalf through the merge path, so they reach the team's phones like any other change.

use std::collections::BTreeMap;

use serde_json::Value;
use sync_protocol::review::{Decision, REVIEWS};
use sync_protocol::{RecordId, Scope};

use super::reference::{ServerRecord, write_as_server};
use super::sync::{Author, Verdict};
use super::{Storage, StorageError};

/// A decision to record.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub collection: String,
    pub submission: String,
    pub scope: Scope,
    pub decision: Decision,
    pub judged_version: String,
    pub comment: String,
}

impl Storage {
    pub async fn record_review(
        &self,
        review: &NewReview,
        actor: &str,
        now_ms: i64,
    ) -> Result<RecordId, StorageError> {
        let ids = self
            .record_reviews(std::slice::from_ref(review), actor, now_ms)
            .await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| StorageError::Corrupt("a review got no id".into()))
    }

    /// Records several decisions in one transaction (bulk approval, the demo).
    pub async fn record_reviews(
        &self,
        reviews: &[NewReview],
        actor: &str,
        now_ms: i64,
    ) -> Result<Vec<RecordId>, StorageError> {
        let mut ids = Vec::with_capacity(reviews.len());
        let mut records = Vec::with_capacity(reviews.len());
        for review in reviews {
            let review_id = RecordId(uuid::Uuid::now_v7());
            let mut fields: BTreeMap<&'static str, Value> = BTreeMap::new();
            fields.insert("submission_collection", review.collection.clone().into());
            fields.insert("submission", review.submission.clone().into());
            fields.insert("decision", review.decision.as_str().into());
            fields.insert("judged_version", review.judged_version.clone().into());
            fields.insert("comment", review.comment.clone().into());
            fields.insert("reviewer", actor.into());
            ids.push(review_id);
            records.push(ServerRecord {
                collection: REVIEWS,
                record_id: review_id,
                scope: review.scope.clone(),
                fields,
            });
        }
        let write = self.write().await?;
        let verdicts = write_as_server(
            &write.tx,
            self.backend(),
            &Author::ServerFor(actor.to_owned()),
            records,
            now_ms,
        )
        .await?;
        if let Some(Verdict::Rejected(_, message)) =
            verdicts.iter().find(|v| matches!(v, Verdict::Rejected(..)))
        {
            return Err(StorageError::Invalid(message.clone()));
        }
        write.tx.commit().await?;
        Ok(ids)
    }

    /// The submissions of a scope with the version each is at: (collection, id, version).
    pub async fn submission_versions(
        &self,
        scope: &str,
    ) -> Result<Vec<(String, String, String)>, StorageError> {
        let q = super::sql::Sql::new(self.backend())
            .push("SELECT collection, record_id, version FROM submission_status WHERE scope = ")
            .bind(scope)
            .push(" ORDER BY collection, record_id");
        let mut out = Vec::new();
        for row in super::sql::query_all(&self.db, q).await? {
            out.push((
                row.try_get_by_index(0)?,
                row.try_get_by_index(1)?,
                row.try_get_by_index(2)?,
            ));
        }
        Ok(out)
    }
}
