//! Reference data (a municipality's territory and villages, its facilities) reaches devices
//! through the same change feed as their own records: the server writes it as ops of its own
//! into read-only collections, scoped by municipality, so phones pull it with everything else.

use std::collections::BTreeMap;

use serde_json::Value;
use sync_protocol::{Change, Clock, Collection, FieldName, Hlc, Op, OpId, RecordId, Scope};
use uuid::Uuid;

use super::sql::{self, Sql};
use super::sync::{Author, CheckedOp, Verdict, apply_in_tx};
use super::{StorageError, territories::ImportFailure};
use crate::territory::ImportError;
use sea_orm::{ConnectionTrait, DbBackend};

/// Namespace of the record ids of reference data: the id of `facilities/F-01` is the same in
/// every import, so a re-import updates the record phones already have.
const REFERENCE_NAMESPACE: Uuid = Uuid::from_u128(0x6a1e_3c55_2f0e_4d8b_9b1c_7d2e_5f40_a9c3);

/// One reference record to publish.
pub(crate) struct ReferenceRecord {
    pub collection: &'static str,
    pub code: String,
    pub scope: Scope,
    pub fields: BTreeMap<&'static str, Value>,
}

pub(crate) fn record_id(collection: &str, code: &str) -> RecordId {
    RecordId(Uuid::new_v5(
        &REFERENCE_NAMESPACE,
        format!("{collection}/{code}").as_bytes(),
    ))
}

/// Writes the records through the merge path inside the caller's transaction, stamped by the
/// server's clock, which is kept in `server_meta` so it only moves forward across processes.
pub(crate) async fn publish(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    records: Vec<ReferenceRecord>,
    now_ms: i64,
) -> Result<(), ImportFailure> {
    let written = records
        .iter()
        .map(|r| ServerRecord {
            collection: r.collection,
            record_id: record_id(r.collection, &r.code),
            scope: r.scope.clone(),
            fields: r.fields.clone(),
        })
        .collect();
    let verdicts = write_as_server(tx, backend, &Author::Server, written, now_ms).await?;
    for (record, verdict) in records.iter().zip(verdicts) {
        if let Verdict::Rejected(_, message) = verdict {
            let at = format!("{} {}", record.collection, record.code);
            return Err(ImportError {
                at,
                problem: message,
            }
            .into());
        }
    }
    Ok(())
}

/// A record the server writes into the change feed.
pub(crate) struct ServerRecord {
    pub collection: &'static str,
    pub record_id: RecordId,
    pub scope: Scope,
    pub fields: BTreeMap<&'static str, Value>,
}

/// Merges server-written records with HLCs from the server's own clock.
pub(crate) async fn write_as_server(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    author: &Author,
    records: Vec<ServerRecord>,
    now_ms: i64,
) -> Result<Vec<Verdict>, StorageError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let q = Sql::new(backend).push("SELECT value FROM server_meta WHERE key = 'server_hlc'");
    let last: Option<Hlc> = sql::query_scalar_text(tx, q)
        .await?
        .and_then(|t| t.parse().ok());
    let mut clock = Clock::new(last.map_or_else(Uuid::new_v4, |h| h.node()));
    if let Some(last) = last {
        clock.observe(last, now_ms as u64);
    }
    let mut ops = Vec::with_capacity(records.len());
    for r in records {
        let fields = r
            .fields
            .iter()
            .map(|(k, v)| {
                FieldName::parse(*k)
                    .map(|name| (name, v.clone()))
                    .map_err(|e| StorageError::Corrupt(e.to_string()))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let op = Op {
            op_id: OpId::generate(),
            collection: Collection::parse(r.collection)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?,
            record_id: r.record_id,
            scope: r.scope,
            hlc: clock.tick(now_ms as u64),
            change: Change::Set(fields),
        };
        let json = serde_json::to_string(&op).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        ops.push(CheckedOp { op, json });
    }
    let verdicts = apply_in_tx(tx, backend, author, now_ms, &ops, &[]).await?;
    let text = clock.last().to_string();
    let q = Sql::new(backend)
        .push("INSERT INTO server_meta (key, value) VALUES ('server_hlc', ")
        .bind(text)
        .push(") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    sql::execute(tx, q).await?;
    Ok(verdicts)
}
