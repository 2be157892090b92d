//! What the recommendations' status is read from: the recommendation records of a municipality,
//! every op that set a vote (with the device that sent it), which member each device belongs
//! to, and the council's decision log.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};

/// A recommendation record with the device that first delivered it.
#[derive(Debug, Clone)]
pub struct RecommendationRecord {
    pub record_id: String,
    pub fields: Map<String, Value>,
    pub creator_device: Option<String>,
}

/// One op on a vote record: who sent it, its clock, and what it set.
#[derive(Debug, Clone)]
pub struct VoteOp {
    pub record_id: String,
    pub device_id: String,
    pub op: sync_protocol::Op,
}

/// A device of a member of one of the municipality's teams.
#[derive(Debug, Clone)]
pub struct DeviceMember {
    pub device_id: String,
    pub member_id: String,
    pub team_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CouncilDecision {
    pub decision_id: String,
    pub municipality: String,
    pub session_on: String,
    pub instrument: String,
    pub decision: String,
    pub status: String,
    pub indicators: Vec<String>,
    pub recommendations: Vec<String>,
    pub recorded_at_ms: i64,
}

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

impl Storage {
    pub async fn recommendation_records(
        &self,
        municipality: &str,
    ) -> Result<Vec<RecommendationRecord>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT r.record_id, f.field, f.value FROM records r JOIN fields f ON f.rkey = r.rkey \
                 WHERE r.collection = 'recommendations' AND r.scope = ",
            )
            .bind(municipality)
            .push(" ORDER BY r.rkey");
        let mut by_id: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for row in sql::query_all(&self.db, q).await? {
            let id: String = row.try_get_by_index(0)?;
            let field: String = row.try_get_by_index(1)?;
            let text: String = row.try_get_by_index(2)?;
            by_id
                .entry(id)
                .or_default()
                .insert(field, serde_json::from_str(&text).map_err(corrupt)?);
        }
        let q = Sql::new(self.backend())
            .push(
                "SELECT o.record_id, o.device_id FROM op_log o JOIN records r \
                 ON r.record_id = o.record_id AND r.collection = o.collection \
                 WHERE o.collection = 'recommendations' AND r.scope = ",
            )
            .bind(municipality)
            .push(" ORDER BY o.received_at_ms, o.audit_seq, o.audit_pos");
        let mut creators: BTreeMap<String, String> = BTreeMap::new();
        for row in sql::query_all(&self.db, q).await? {
            let id: String = row.try_get_by_index(0)?;
            let device: String = row.try_get_by_index(1)?;
            creators.entry(id).or_insert(device);
        }
        Ok(by_id
            .into_iter()
            .map(|(record_id, fields)| RecommendationRecord {
                creator_device: creators.get(&record_id).cloned(),
                record_id,
                fields,
            })
            .collect())
    }

    /// Every op on the municipality's vote records, oldest first.
    pub async fn vote_ops(&self, municipality: &str) -> Result<Vec<VoteOp>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT o.record_id, o.device_id, o.op FROM op_log o JOIN records r \
                 ON r.record_id = o.record_id AND r.collection = o.collection \
                 WHERE o.collection = 'votes' AND r.scope = ",
            )
            .bind(municipality)
            .push(" ORDER BY o.received_at_ms, o.audit_seq, o.audit_pos");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            let text: String = row.try_get_by_index(2)?;
            out.push(VoteOp {
                record_id: row.try_get_by_index(0)?,
                device_id: row.try_get_by_index(1)?,
                op: serde_json::from_str(&text).map_err(corrupt)?,
            });
        }
        Ok(out)
    }

    /// Every device of every member of the municipality's teams.
    pub async fn device_members(
        &self,
        municipality: &str,
    ) -> Result<Vec<DeviceMember>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT d.device_id, m.member_id, m.team_id FROM devices d \
                 JOIN members m ON m.member_id = d.member_id \
                 JOIN teams t ON t.team_id = m.team_id WHERE t.municipality_code = ",
            )
            .bind(municipality);
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(DeviceMember {
                device_id: row.try_get_by_index(0)?,
                member_id: row.try_get_by_index(1)?,
                team_id: row.try_get_by_index(2)?,
            });
        }
        Ok(out)
    }

    pub async fn add_council_decision(
        &self,
        d: &CouncilDecision,
        actor: &str,
    ) -> Result<(), StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let indicators = serde_json::to_string(&d.indicators).map_err(corrupt)?;
        let recommendations = serde_json::to_string(&d.recommendations).map_err(corrupt)?;
        let q = Sql::new(backend)
            .push(
                "INSERT INTO council_decisions (decision_id, municipality_code, session_on, \
                 instrument, decision, status, indicators, recommendations, recorded_by, \
                 recorded_at_ms) VALUES (",
            )
            .bind(d.decision_id.as_str())
            .push(", ")
            .bind(d.municipality.as_str())
            .push(", ")
            .bind(d.session_on.as_str())
            .push(", ")
            .bind(d.instrument.as_str())
            .push(", ")
            .bind(d.decision.as_str())
            .push(", ")
            .bind(d.status.as_str())
            .push(", ")
            .bind(indicators)
            .push(", ")
            .bind(recommendations)
            .push(", ")
            .bind(actor)
            .push(", ")
            .bind(d.recorded_at_ms)
            .push(")");
        sql::execute(&write.tx, q).await?;
        let detail = serde_json::to_string(d).map_err(corrupt)?;
        audit::record(
            &write.tx,
            backend,
            d.recorded_at_ms,
            actor,
            "council.decision",
            detail,
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// The municipality's council decisions, newest session first.
    pub async fn council_decisions(
        &self,
        municipality: &str,
    ) -> Result<Vec<CouncilDecision>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT decision_id, municipality_code, session_on, instrument, decision, status, \
                 indicators, recommendations, recorded_at_ms FROM council_decisions \
                 WHERE municipality_code = ",
            )
            .bind(municipality)
            .push(" ORDER BY session_on DESC, recorded_at_ms DESC");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            let indicators: String = row.try_get_by_index(6)?;
            let recommendations: String = row.try_get_by_index(7)?;
            out.push(CouncilDecision {
                decision_id: row.try_get_by_index(0)?,
                municipality: row.try_get_by_index(1)?,
                session_on: row.try_get_by_index(2)?,
                instrument: row.try_get_by_index(3)?,
                decision: row.try_get_by_index(4)?,
                status: row.try_get_by_index(5)?,
                indicators: serde_json::from_str(&indicators).map_err(corrupt)?,
                recommendations: serde_json::from_str(&recommendations).map_err(corrupt)?,
                recorded_at_ms: row.try_get_by_index(8)?,
            });
        }
        Ok(out)
    }
}
