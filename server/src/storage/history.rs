//! What a reviewer reads about one submission besides its merged fields: every change as it
//! arrived (who, when, what), the decisions on it, and the comments of the team and reviewers.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;
use sync_protocol::review::{Decision, REVIEWS};
use sync_protocol::{Change, Op, RecordId, Scope};

use super::reference::{ServerRecord, write_as_server};
use super::series::merged;
use super::sql::{self, Sql};
use super::sync::{Author, Verdict};
use super::{Storage, StorageError};
use crate::sync::comments::AUTHOR_FIELD;

/// One op that changed the record, as it was logged.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub received_at_ms: i64,
    /// When the author made it (the HLC's wall time).
    pub made_at_ms: u64,
    /// `device:<id>` or the signed-in person the server wrote for.
    pub actor: String,
    /// Fields set (in name order) or `$deleted` with `true`/`false`.
    pub changes: Vec<(String, Value)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewEntry {
    pub review_id: String,
    pub decided_at_ms: u64,
    pub decision: Decision,
    pub judged_version: String,
    pub comment: String,
    pub reviewer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommentEntry {
    pub comment_id: String,
    pub written_at_ms: u64,
    /// A reviewer's name, or `device:<id>` for a member's phone.
    pub author: String,
    pub text: String,
}

impl Storage {
    pub async fn record_history(
        &self,
        collection: &str,
        record_id: &str,
    ) -> Result<Vec<HistoryEntry>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT o.received_at_ms, a.actor, o.op FROM op_log o \
                 JOIN audit_log a ON a.seq = o.audit_seq WHERE o.record_id = ",
            )
            .bind(record_id)
            .push(" AND o.collection = ")
            .bind(collection)
            .push(" ORDER BY o.audit_seq, o.audit_pos");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            let op: Op = serde_json::from_str(&row.try_get_by_index::<String>(2)?)
                .map_err(|e| StorageError::Corrupt(format!("a logged op does not parse: {e}")))?;
            let changes = match op.change {
                Change::Set(fields) => fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                Change::Delete(d) => vec![("$deleted".to_owned(), Value::Bool(d))],
            };
            out.push(HistoryEntry {
                received_at_ms: row.try_get_by_index(0)?,
                made_at_ms: op.hlc.ms(),
                actor: row.try_get_by_index(1)?,
                changes,
            });
        }
        Ok(out)
    }

    /// Decisions on a submission, oldest first.
    pub async fn reviews_of(
        &self,
        collection: &str,
        record_id: &str,
    ) -> Result<Vec<ReviewEntry>, StorageError> {
        let backend = self.backend();
        let q = Sql::new(backend)
            .push("SELECT review_id FROM review_links WHERE submission_id = ")
            .bind(record_id)
            .push(" AND collection = ")
            .bind(collection);
        let ids: Vec<String> = sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        let reviews = merged(&self.db, backend, REVIEWS, &ids).await?;
        let mut out: Vec<ReviewEntry> = reviews
            .into_iter()
            .filter(|(_, r)| !r.deleted)
            .filter_map(|(id, r)| {
                Some(ReviewEntry {
                    review_id: id,
                    decided_at_ms: r.register("decision")?.ms(),
                    decision: Decision::parse(r.text("decision")?)?,
                    judged_version: r.text("judged_version")?.to_owned(),
                    comment: r.text("comment").unwrap_or_default().to_owned(),
                    reviewer: r.text("reviewer").unwrap_or_default().to_owned(),
                })
            })
            .collect();
        out.sort_by(|a, b| (a.decided_at_ms, &a.review_id).cmp(&(b.decided_at_ms, &b.review_id)));
        Ok(out)
    }

    /// Comments on a submission, oldest first.
    pub async fn comments_of(
        &self,
        scope: &str,
        collection: &str,
        record_id: &str,
    ) -> Result<Vec<CommentEntry>, StorageError> {
        let backend = self.backend();
        let q = Sql::new(backend)
            .push(
                "SELECT r.record_id FROM records r JOIN fields f ON f.rkey = r.rkey \
                 AND f.field = 'submission' WHERE r.collection = 'comments' AND r.scope = ",
            )
            .bind(scope)
            .push(" AND f.value = ")
            .bind(Value::String(record_id.to_owned()).to_string());
        let ids: Vec<String> = sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        let comments = merged(&self.db, backend, "comments", &ids).await?;
        let mut out = Vec::new();
        for (id, c) in comments {
            if c.deleted || c.text("submission_collection") != Some(collection) {
                continue;
            }
            let author = match c.text(AUTHOR_FIELD) {
                Some(a) => a.to_owned(),
                None => self.first_writer(&id).await?.unwrap_or_default(),
            };
            out.push(CommentEntry {
                written_at_ms: c.register("text").map_or(0, |h| h.ms()),
                text: c.text("text").unwrap_or_default().to_owned(),
                comment_id: id,
                author,
            });
        }
        out.sort_by(|a, b| (a.written_at_ms, &a.comment_id).cmp(&(b.written_at_ms, &b.comment_id)));
        Ok(out)
    }

    async fn first_writer(&self, record_id: &str) -> Result<Option<String>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT a.actor FROM op_log o JOIN audit_log a ON a.seq = o.audit_seq \
                 WHERE o.record_id = ",
            )
            .bind(record_id)
            .push(" ORDER BY o.audit_seq, o.audit_pos LIMIT 1");
        sql::query_scalar_text(&self.db, q).await
    }

    /// A reviewer's comment, written into the feed so the team's phones pull it.
    pub async fn add_comment(
        &self,
        scope: &Scope,
        collection: &str,
        record_id: &str,
        text: &str,
        author: &str,
        now_ms: i64,
    ) -> Result<RecordId, StorageError> {
        let comment_id = RecordId(uuid::Uuid::now_v7());
        let mut fields: BTreeMap<&'static str, Value> = BTreeMap::new();
        fields.insert("submission_collection", collection.into());
        fields.insert("submission", record_id.into());
        fields.insert("text", text.into());
        fields.insert(AUTHOR_FIELD, author.into());
        let write = self.write().await?;
        let verdicts = write_as_server(
            &write.tx,
            self.backend(),
            &Author::ServerFor(author.to_owned()),
            vec![ServerRecord {
                collection: "comments",
                record_id: comment_id,
                scope: scope.clone(),
                fields,
            }],
            now_ms,
        )
        .await?;
        if let Some(Verdict::Rejected(_, message)) = verdicts.first() {
            return Err(StorageError::Invalid(message.clone()));
        }
        write.tx.commit().await?;
        Ok(comment_id)
    }

    /// The member each device belongs to, by name: `device:<id>` → name.
    pub async fn device_member_names(
        &self,
        actors: &[String],
    ) -> Result<HashMap<String, String>, StorageError> {
        let ids: Vec<&str> = actors
            .iter()
            .filter_map(|a| a.strip_prefix("device:"))
            .collect();
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut q = Sql::new(self.backend()).push(
            "SELECT d.device_id, m.name FROM devices d JOIN members m ON m.member_id = d.member_id \
             WHERE d.device_id IN ",
        );
        q.bind_list(ids.iter().copied());
        for row in sql::query_all(&self.db, q).await? {
            let device: String = row.try_get_by_index(0)?;
            out.insert(format!("device:{device}"), row.try_get_by_index(1)?);
        }
        Ok(out)
    }
}
