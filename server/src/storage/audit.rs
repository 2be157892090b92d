//! The append-only audit chain and its verification.
//!
//! Entry hash = SHA-256 over the previous entry's hash and this entry's fields. A push's entry
//! also commits to the exact ops it applied (a digest over their op log rows in order), and the
//! merged records must equal a replay of the op log, so `verify` detects an altered or deleted
//! entry, op or record, and names the first one.

use sea_orm::{ConnectionTrait, DbBackend};
use sha2::{Digest, Sha256};
use sync_protocol::{Op, Store};

use super::sql::{self, Sql};
use super::sync::DELETED_FIELD;
use super::{Storage, StorageError};

/// `prev_hash` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry about to be written.
struct NewEntry<'a> {
    pub at_ms: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub detail: String,
}

fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev_hash,
        &seq.to_string(),
        &at_ms.to_string(),
        actor,
        action,
        detail,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// Digest of a push's applied ops, in the order they were applied.
pub(crate) fn ops_digest<'a>(ops: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = Sha256::new();
    for (op_id, json) in ops {
        h.update(op_id.as_bytes());
        h.update([0u8]);
        h.update(json.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// Appends an entry inside the caller's write transaction and returns its sequence number.
async fn append(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    entry: NewEntry<'_>,
) -> Result<i64, StorageError> {
    let seqs = append_many(tx, backend, &[entry]).await?;
    seqs.first()
        .copied()
        .ok_or_else(|| StorageError::Corrupt("an audit entry went missing".into()))
}

/// Appends entries in order, in one statement, and returns their sequence numbers. It first
/// takes the lock that orders entries (SQLite's write lock is already held; on PostgreSQL the
/// change counter row), so entries are appended one writer at a time and the chain never forks.
async fn append_many(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    entries: &[NewEntry<'_>],
) -> Result<Vec<i64>, StorageError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    lock_chain(tx, backend).await?;
    let q = Sql::new(backend).push("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    let (mut seq, mut prev_hash) = match sql::query_all(tx, q).await?.first() {
        Some(row) => (
            row.try_get_by_index::<i64>(0)?,
            row.try_get_by_index::<String>(1)?,
        ),
        None => (0, GENESIS.to_owned()),
    };
    let mut seqs = Vec::with_capacity(entries.len());
    // Seven values a row: far inside both databases' limits on bound parameters.
    for chunk in entries.chunks(1000) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO audit_log (seq, at_ms, actor, action, detail, prev_hash, hash) VALUES ",
        );
        for (i, entry) in chunk.iter().enumerate() {
            seq += 1;
            let hash = entry_hash(
                &prev_hash,
                seq,
                entry.at_ms,
                entry.actor,
                entry.action,
                &entry.detail,
            );
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(seq),
                entry.at_ms.into(),
                entry.actor.into(),
                entry.action.into(),
                entry.detail.as_str().into(),
                prev_hash.as_str().into(),
                hash.as_str().into(),
            ]);
            prev_hash = hash;
            seqs.push(seq);
        }
        sql::execute(tx, q).await?;
    }
    Ok(seqs)
}

/// Appends an entry: who (`actor`), what (`action`) and its `detail` text (JSON).
pub(crate) async fn record(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    at_ms: i64,
    actor: &str,
    action: &str,
    detail: String,
) -> Result<i64, StorageError> {
    append(
        tx,
        backend,
        NewEntry {
            at_ms,
            actor,
            action,
            detail,
        },
    )
    .await
}

/// Appends one entry per (actor, detail), all with the same time and action; answers their
/// sequence numbers in order.
pub(crate) async fn record_many(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    at_ms: i64,
    action: &str,
    entries: &[(String, String)],
) -> Result<Vec<i64>, StorageError> {
    let entries: Vec<NewEntry<'_>> = entries
        .iter()
        .map(|(actor, detail)| NewEntry {
            at_ms,
            actor,
            action,
            detail: detail.clone(),
        })
        .collect();
    append_many(tx, backend, &entries).await
}

/// Takes the lock that orders audit entries. Re-taking it in a push, which already holds the
/// counter row, costs nothing.
async fn lock_chain(tx: &impl ConnectionTrait, backend: DbBackend) -> Result<(), StorageError> {
    if backend == DbBackend::Postgres {
        let q = Sql::new(backend).push("UPDATE change_counter SET value = value WHERE id = 1");
        sql::execute(tx, q).await?;
    }
    Ok(())
}

/// The outcome of `verify_audit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditReport {
    Intact {
        entries: i64,
        ops: i64,
        records: usize,
    },
    Broken {
        at: String,
        problem: String,
    },
}

impl Storage {
    /// Checks the whole chain, the ops each push entry commits to, and that the stored records
    /// equal a replay of the op log. Names the first thing that does not hold.
    pub async fn verify_audit(&self) -> Result<AuditReport, StorageError> {
        let backend = self.backend();
        let broken = |at: String, problem: &str| {
            Ok(AuditReport::Broken {
                at,
                problem: problem.to_owned(),
            })
        };
        let q = Sql::new(backend).push(
            "SELECT seq, at_ms, actor, action, detail, prev_hash, hash FROM audit_log ORDER BY seq",
        );
        let entries = sql::query_all(&self.db, q).await?;
        let mut expected_prev = GENESIS.to_owned();
        let mut replay = Store::default();
        let mut ops_seen: i64 = 0;
        let mut created = std::collections::HashSet::new();
        let mut revoked = std::collections::HashSet::new();
        for (i, row) in entries.iter().enumerate() {
            let seq: i64 = row.try_get_by_index(0)?;
            let at_ms: i64 = row.try_get_by_index(1)?;
            let actor: String = row.try_get_by_index(2)?;
            let action: String = row.try_get_by_index(3)?;
            let detail: String = row.try_get_by_index(4)?;
            let prev_hash: String = row.try_get_by_index(5)?;
            let hash: String = row.try_get_by_index(6)?;
            let at = format!("audit entry {seq} ({action} by {actor})");
            if seq != i as i64 + 1 {
                return broken(
                    format!("audit entry {}", i + 1),
                    "is missing: the chain has a gap there",
                );
            }
            if prev_hash != expected_prev {
                return broken(
                    at,
                    "does not follow the entry before it (previous hash differs)",
                );
            }
            if entry_hash(&prev_hash, seq, at_ms, &actor, &action, &detail) != hash {
                return broken(at, "was altered: its hash does not match its content");
            }
            expected_prev = hash;
            let device_of = |detail: &str| {
                serde_json::from_str::<serde_json::Value>(detail).ok()?["device_id"]
                    .as_str()
                    .map(str::to_owned)
            };
            match action.as_str() {
                "device.create" => created.extend(device_of(&detail)),
                "device.revoke" => revoked.extend(device_of(&detail)),
                _ => {}
            }
            if action == "push" {
                let q = Sql::new(backend)
                    .push("SELECT op_id, op FROM op_log WHERE audit_seq = ")
                    .bind(seq)
                    .push(" ORDER BY audit_pos");
                let rows = sql::query_all(&self.db, q).await?;
                let mut ops = Vec::with_capacity(rows.len());
                for r in &rows {
                    ops.push((
                        r.try_get_by_index::<String>(0)?,
                        r.try_get_by_index::<String>(1)?,
                    ));
                }
                let digest = ops_digest(ops.iter().map(|(id, json)| (id.as_str(), json.as_str())));
                let committed: serde_json::Value =
                    serde_json::from_str(&detail).unwrap_or_default();
                if committed["digest"].as_str() != Some(digest.as_str())
                    || committed["applied"].as_u64() != Some(ops.len() as u64)
                {
                    return broken(at, "its ops in the op log were altered, added or deleted");
                }
                for (op_id, json) in &ops {
                    let Ok(op) = serde_json::from_str::<Op>(json) else {
                        return broken(format!("op {op_id} of {at}"), "is not a valid op");
                    };
                    // A record whose scope changed was refused at push time; replaying cannot
                    // meet one unless the op log was edited, which the digest already caught.
                    let _ = replay.apply_op(&op);
                }
                ops_seen += ops.len() as i64;
            }
        }
        let q = Sql::new(backend).push("SELECT COUNT(*) FROM op_log");
        let op_rows = sql::query_scalar_i64(&self.db, q).await?.unwrap_or(0);
        if op_rows != ops_seen {
            return broken(
                "op log".to_owned(),
                &format!("holds {op_rows} ops but the chain commits to {ops_seen}"),
            );
        }
        // Every device and every revocation must have its entry: this catches a deleted tail.
        let q = Sql::new(backend)
            .push("SELECT device_id, revoked_at_ms FROM devices ORDER BY device_id");
        for row in sql::query_all(&self.db, q).await? {
            let device_id: String = row.try_get_by_index(0)?;
            let revoked_at: Option<i64> = row.try_get_by_index(1)?;
            if !created.contains(&device_id) {
                return broken(
                    format!("device {device_id}"),
                    "exists but no audit entry created it",
                );
            }
            if revoked_at.is_some() != revoked.contains(&device_id) {
                return broken(
                    format!("device {device_id}"),
                    "revocation does not match the audit log",
                );
            }
        }
        let stored = self.stored_records().await?;
        let mut stored_iter = stored.iter();
        for (collection, record_id, state) in replay.iter() {
            match stored.get(collection, record_id) {
                Some(s) if s == state => {}
                _ => {
                    return broken(
                        format!("record {collection}/{record_id}"),
                        "differs from what the audited ops make of it",
                    );
                }
            }
        }
        if stored.len() != replay.len() {
            let extra = stored_iter
                .find(|(c, id, _)| replay.get(c, id).is_none())
                .map(|(c, id, _)| format!("record {c}/{id}"))
                .unwrap_or_else(|| "records".to_owned());
            return broken(extra, "is stored but no audited op made it");
        }
        Ok(AuditReport::Intact {
            entries: entries.len() as i64,
            ops: ops_seen,
            records: stored.len(),
        })
    }

    /// Every stored record, as merged state.
    async fn stored_records(&self) -> Result<Store, StorageError> {
        let q = Sql::new(self.backend()).push(
            "SELECT r.collection, r.record_id, r.scope, f.field, f.value, f.hlc \
             FROM fields f JOIN records r ON r.rkey = f.rkey",
        );
        let mut store = Store::default();
        let corrupt = |e: &dyn std::fmt::Display| StorageError::Corrupt(e.to_string());
        for row in sql::query_all(&self.db, q).await? {
            let collection: String = row.try_get_by_index(0)?;
            let record_id: String = row.try_get_by_index(1)?;
            let scope: String = row.try_get_by_index(2)?;
            let field: String = row.try_get_by_index(3)?;
            let value: String = row.try_get_by_index(4)?;
            let hlc: String = row.try_get_by_index(5)?;
            let hlc = hlc.parse().map_err(|e| corrupt(&e))?;
            let mut record = sync_protocol::PulledRecord {
                collection: collection.parse().map_err(|e| corrupt(&e))?,
                record_id: record_id.parse().map_err(|e| corrupt(&e))?,
                scope: scope.parse().map_err(|e| corrupt(&e))?,
                fields: Default::default(),
                deleted: None,
            };
            if field == DELETED_FIELD {
                record.deleted = Some(sync_protocol::Versioned {
                    value: value == "true",
                    hlc,
                });
            } else {
                let value = serde_json::from_str(&value).map_err(|e| corrupt(&e))?;
                let name = field.parse().map_err(|e| corrupt(&e))?;
                record
                    .fields
                    .insert(name, sync_protocol::Versioned { value, hlc });
            }
            store.apply_pulled(&record).map_err(|e| corrupt(&e))?;
        }
        Ok(store)
    }
}
