//! What the open panel and the exports read: the audit chain's head and its daily publication,
//! facilities' latest approved visits, official values, and approved submissions page by page.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::series::{StoredValue, read_values_of};
use super::sql::{self, Sql};
use super::{Storage, StorageError};

/// A position in the audit chain: the newest entry's number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainPosition {
    pub seq: i64,
    pub hash: String,
}

/// One entry of the chain as anyone may see it: no actor and no detail (they name people and
/// devices), only what links it to its neighbours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    pub seq: i64,
    pub at_ms: i64,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedHead {
    /// The UTC day it was published for, `YYYY-MM-DD`.
    pub day: String,
    pub seq: i64,
    pub hash: String,
    pub published_at_ms: i64,
}

/// A facility's approved visits: how many, and the capture time of the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityVisits {
    pub facility: String,
    pub approved: i64,
    pub latest: String,
}

/// An approved submission as stored: its envelope and every field.
#[derive(Debug, Clone)]
pub struct ApprovedSubmission {
    pub collection: String,
    pub record_id: String,
    pub form: String,
    pub facility: String,
    pub captured_at: String,
    /// Every stored field, including the deletion mark `$deleted` when it was ever set.
    pub fields: Map<String, Value>,
}

/// `prev_hash` of the first entry, and the head of an empty chain.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Storage {
    /// The newest entry of the audit chain (seq 0 and the genesis hash when it is empty).
    pub async fn chain_head(&self) -> Result<ChainPosition, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
        Ok(match sql::query_all(&self.db, q).await?.first() {
            Some(row) => ChainPosition {
                seq: row.try_get_by_index(0)?,
                hash: row.try_get_by_index(1)?,
            },
            None => ChainPosition {
                seq: 0,
                hash: GENESIS.to_owned(),
            },
        })
    }

    pub async fn chain_link(&self, seq: i64) -> Result<Option<ChainLink>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT seq, at_ms, prev_hash, hash FROM audit_log WHERE seq = ")
            .bind(seq);
        let Some(row) = sql::query_all(&self.db, q).await?.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(ChainLink {
            seq: row.try_get_by_index(0)?,
            at_ms: row.try_get_by_index(1)?,
            prev_hash: row.try_get_by_index(2)?,
            hash: row.try_get_by_index(3)?,
        }))
    }

    /// Publishes the chain's head for `day` unless that day already has one; returns the day's
    /// publication either way. A published head is never replaced.
    pub async fn publish_head(
        &self,
        day: &str,
        now_ms: i64,
    ) -> Result<PublishedHead, StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend).push("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
        let (seq, hash) = match sql::query_all(&write.tx, q).await?.first() {
            Some(row) => (row.try_get_by_index(0)?, row.try_get_by_index(1)?),
            None => (0_i64, GENESIS.to_owned()),
        };
        let q = Sql::new(backend)
            .push("INSERT INTO published_heads (day, seq, hash, published_at_ms) VALUES (")
            .bind(day)
            .push(", ")
            .bind(seq)
            .push(", ")
            .bind(hash)
            .push(", ")
            .bind(now_ms)
            .push(") ON CONFLICT (day) DO NOTHING");
        sql::execute(&write.tx, q).await?;
        write.tx.commit().await?;
        self.published_heads(Some(day), 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StorageError::Corrupt(format!("no published head for {day}")))
    }

    /// Published heads, newest day first; from `day` backwards when given.
    pub async fn published_heads(
        &self,
        day: Option<&str>,
        limit: u64,
    ) -> Result<Vec<PublishedHead>, StorageError> {
        let mut q = Sql::new(self.backend())
            .push("SELECT day, seq, hash, published_at_ms FROM published_heads");
        if let Some(day) = day {
            q.push_mut(" WHERE day <= ");
            q.bind_mut(day);
        }
        q.push_mut(" ORDER BY day DESC LIMIT ");
        q.bind_mut(limit as i64);
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(PublishedHead {
                day: row.try_get_by_index(0)?,
                seq: row.try_get_by_index(1)?,
                hash: row.try_get_by_index(2)?,
                published_at_ms: row.try_get_by_index(3)?,
            });
        }
        Ok(out)
    }

    /// Each facility of a municipality with approved visits: how many and the latest.
    pub async fn facility_visits(
        &self,
        municipality: &str,
    ) -> Result<Vec<FacilityVisits>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT facility, COUNT(*), MAX(captured_at) FROM submission_status \
                 WHERE scope = ",
            )
            .bind(municipality)
            .push(
                " AND status = 'approved' AND facility <> '' GROUP BY facility ORDER BY facility",
            );
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(FacilityVisits {
                facility: row.try_get_by_index(0)?,
                approved: row.try_get_by_index(1)?,
                latest: row.try_get_by_index(2)?,
            });
        }
        Ok(out)
    }

    /// Every official value of a municipality's indicators, of every period kind, municipality
    /// wide and per facility: (period kind, value).
    pub async fn official_values(
        &self,
        municipality: &str,
    ) -> Result<Vec<(String, StoredValue)>, StorageError> {
        let q = Sql::new(self.backend())
            .push(&format!(
                "SELECT period_kind, {} FROM indicator_values WHERE municipality_code = ",
                super::series::VALUE_COLUMNS
            ))
            .bind(municipality)
            .push(
                " AND official_value IS NOT NULL \
                 ORDER BY indicator_code, facility, period_kind, period",
            );
        read_values_of(&self.db, q).await
    }

    /// The latest official monthly value of each (indicator, facility) pair, found by key:
    /// (indicator, facility, period, value); pairs without one are left out.
    pub async fn latest_official_months(
        &self,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<(String, String, String, f64)>, StorageError> {
        let mut out = Vec::new();
        // One statement for all pairs: a UNION of keyed lookups, each reading from the end of
        // its pair's range of the primary key.
        for chunk in pairs.chunks(100) {
            let mut q = Sql::new(self.backend());
            for (i, (indicator, facility)) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push_mut(" UNION ALL ");
                }
                q.push_mut(
                    "SELECT * FROM (SELECT indicator_code, facility, period, official_value \
                     FROM indicator_values WHERE indicator_code = ",
                );
                q.bind_mut(*indicator);
                q.push_mut(" AND facility = ");
                q.bind_mut(*facility);
                q.push_mut(
                    " AND period_kind = 'month' AND official_value IS NOT NULL \
                     ORDER BY period DESC LIMIT 1) latest",
                );
            }
            if chunk.is_empty() {
                continue;
            }
            for row in sql::query_all(&self.db, q).await? {
                out.push((
                    row.try_get_by_index(0)?,
                    row.try_get_by_index(1)?,
                    row.try_get_by_index(2)?,
                    row.try_get_by_index(3)?,
                ));
            }
        }
        Ok(out)
    }

    /// One page of a municipality's approved submissions in a stable order, after the given
    /// (collection, record id); an export reads page after page so memory stays flat.
    pub async fn approved_page(
        &self,
        municipality: &str,
        after: Option<(&str, &str)>,
        limit: u64,
    ) -> Result<Vec<ApprovedSubmission>, StorageError> {
        let mut q = Sql::new(self.backend()).push(
            "SELECT collection, record_id, form, facility, captured_at FROM submission_status \
             WHERE scope = ",
        );
        q.bind_mut(municipality);
        q.push_mut(" AND status = 'approved'");
        if let Some((collection, id)) = after {
            q.push_mut(" AND (collection > ");
            q.bind_mut(collection);
            q.push_mut(" OR (collection = ");
            q.bind_mut(collection);
            q.push_mut(" AND record_id > ");
            q.bind_mut(id);
            q.push_mut("))");
        }
        q.push_mut(" ORDER BY collection, record_id LIMIT ");
        q.bind_mut(limit as i64);
        let mut page = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            page.push(ApprovedSubmission {
                collection: row.try_get_by_index(0)?,
                record_id: row.try_get_by_index(1)?,
                form: row.try_get_by_index(2)?,
                facility: row.try_get_by_index(3)?,
                captured_at: row.try_get_by_index(4)?,
                fields: Map::new(),
            });
        }
        if page.is_empty() {
            return Ok(page);
        }
        let mut by_collection: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for s in &page {
            by_collection
                .entry(s.collection.as_str())
                .or_default()
                .push(s.record_id.as_str());
        }
        let mut fields: BTreeMap<(String, String), Map<String, Value>> = BTreeMap::new();
        for (collection, ids) in by_collection {
            let mut q = Sql::new(self.backend()).push(
                "SELECT r.record_id, f.field, f.value FROM records r \
                 JOIN fields f ON f.rkey = r.rkey WHERE r.collection = ",
            );
            q.bind_mut(collection);
            q.push_mut(" AND r.record_id IN ");
            q.bind_list(ids.iter().copied());
            for row in sql::query_all(&self.db, q).await? {
                let id: String = row.try_get_by_index(0)?;
                let field: String = row.try_get_by_index(1)?;
                let text: String = row.try_get_by_index(2)?;
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| StorageError::Corrupt(format!("field {field} of {id}: {e}")))?;
                fields
                    .entry((collection.to_owned(), id))
                    .or_default()
                    .insert(field, value);
            }
        }
        for s in &mut page {
            if let Some(f) = fields.remove(&(s.collection.clone(), s.record_id.clone())) {
                s.fields = f;
            }
        }
        Ok(page)
    }
}
