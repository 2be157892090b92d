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
        let review_id = RecordId(uuid::Uuid::now_v7());
        let mut fields: BTreeMap<&'static str, Value> = BTreeMap::new();
        fields.insert("submission_collection", review.collection.clone().into());
        fields.insert("submission", review.submission.clone().into());
        fields.insert("decision", review.decision.as_str().into());
        fields.insert("judged_version", review.judged_version.clone().into());
        fields.insert("comment", review.comment.clone().into());
        fields.insert("reviewer", actor.into());
        let write = self.write().await?;
        let verdicts = write_as_server(
            &write.tx,
            self.backend(),
            &Author::ServerFor(actor.to_owned()),
            vec![ServerRecord {
                collection: REVIEWS,
                record_id: review_id,
                scope: review.scope.clone(),
                fields,
            }],
            now_ms,
        )
        .await?;
        if let Some(Verdict::Rejected(_, message)) = verdicts.first() {
            return Err(StorageError::Invalid(message.clone()));
        }
        write.tx.commit().await?;
        Ok(review_id)
    }
}
