//! Merging pushed ops into the stored records, and reading the change feed.
//!
//! Layout: `records` fixes each record's scope for life and gives it an internal key in arrival
//! order; `fields` holds one row per (record key, field) register with its value, HLC and the sequence number of its latest change; the
//! tombstone is the register named `$deleted` (a name no client field can take). A pull reads
//! `fields` after a sequence number, so a register that changes again simply moves forward in the
//! feed and a puller always gets its latest value.
//!
//! Sequence numbers come from the one-row `change_counter`, bumped as a push transaction's first
//! write. On PostgreSQL that row lock is held until commit, so writers commit in the order of their
//! numbers and a reader never sees a number while a smaller one is still in flight: the committed
//! numbers are always a prefix, which is what lets a puller's cursor never skip a change. The lock
//! lives in the database, so it holds with several server replicas. SQLite has one writer anyway.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{ConnectionTrait, DbBackend};
use sync_protocol::merge::wins;
use sync_protocol::wire::Versioned;
use sync_protocol::{Change, DeviceId, Hlc, Op, OpId, RejectCode, Scope};

use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};

/// Register name of a record's tombstone.
pub const DELETED_FIELD: &str = "$deleted";

/// Rows per multi-row statement: under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
const CHUNK_ROWS: usize = 1000;
/// Ids per `IN (…)` list.
const CHUNK_IDS: usize = 900;

/// An op that passed the checks that need no database, with its canonical JSON for the op log.
pub struct CheckedOp {
    pub op: Op,
    pub json: String,
}

/// An op refused before it reached the merge; kept in quarantine.
pub struct Quarantined {
    pub op_id: Option<OpId>,
    pub code: RejectCode,
    pub message: String,
    pub body: String,
    /// The field at fault, when one is.
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Applied,
    Duplicate,
    Rejected(RejectCode, String),
}

/// One register from the change feed.
pub struct PullRow {
    pub collection: String,
    pub record_id: String,
    pub scope: String,
    pub field: String,
    pub value: String,
    pub hlc: String,
    pub seq: i64,
}

pub struct PullPage {
    pub rows: Vec<PullRow>,
    /// Whether changes after the last row were left for the next page.
    pub more: bool,
}

struct FieldWrite {
    scope: String,
    value: serde_json::Value,
    hlc: Hlc,
}

impl Storage {
    /// Merges `ops` and quarantines `refused` in one transaction; answers one verdict per op.
    /// Nothing is acknowledged unless this returns `Ok`, i.e. after the commit.
    pub async fn apply_push(
        &self,
        device: DeviceId,
        received_at_ms: i64,
        ops: &[CheckedOp],
        refused: &[Quarantined],
    ) -> Result<Vec<Verdict>, StorageError> {
        let write = self.write().await?;
        let author = Author::Device(device);
        let verdicts = apply_in_tx(
            &write.tx,
            self.backend(),
            &author,
            received_at_ms,
            ops,
            refused,
        )
        .await?;
        write.tx.commit().await?;
        Ok(verdicts)
    }

    /// Several devices' pushes merged in one transaction (a batch of OpenRosa submissions):
    /// one commit instead of one per submission. The submissions applied are noted as received
    /// (the review queue's arrival time) in the same transaction, and `keep` makes the rows the
    /// caller keeps beside them (OpenRosa's instances) from the verdicts, and the rows of the
    /// photos that came with them (processed, their bytes in the blob store) are stored, so that
    /// a batch costs one commit in all. Answers each push's verdicts.
    pub async fn apply_pushes<F>(
        &self,
        received_at_ms: i64,
        pushes: &[(DeviceId, &[CheckedOp], &[Quarantined])],
        photos: &[(&super::PhotoBlob, &str)],
        keep: F,
    ) -> Result<Vec<Vec<Verdict>>, StorageError>
    where
        F: FnOnce(&[Vec<Verdict>]) -> Vec<super::OpenRosaInstance>,
    {
        let backend = self.backend();
        let write = self.write().await?;
        let authors: Vec<Author> = pushes.iter().map(|(d, _, _)| Author::Device(*d)).collect();
        let batch: Vec<(&Author, &[CheckedOp], &[Quarantined])> = authors
            .iter()
            .zip(pushes)
            .map(|(author, (_, ops, refused))| (author, *ops, *refused))
            .collect();
        let out = apply_batch_in_tx(&write.tx, backend, &batch, received_at_ms).await?;
        let mut received = Vec::new();
        for ((device, ops, _), verdicts) in pushes.iter().zip(&out) {
            for (op, verdict) in ops.iter().zip(verdicts) {
                let collection = op.op.collection.as_str();
                if *verdict == Verdict::Applied
                    && matches!(collection, "visits" | "survey_responses" | "photos")
                {
                    received.push((
                        collection.to_owned(),
                        op.op.record_id.to_string(),
                        op.op.scope.to_string(),
                        *device,
                    ));
                }
            }
        }
        super::evidence::note_received(&write.tx, backend, &received, received_at_ms).await?;
        super::openrosa::keep(&write.tx, backend, &keep(&out), received_at_ms).await?;
        super::evidence::store_photo_rows(&write.tx, backend, photos, received_at_ms).await?;
        write.tx.commit().await?;
        Ok(out)
    }

    /// Registers of `scopes` changed after `after`, in sequence order, at most `max_rows`.
    pub async fn pull(
        &self,
        scopes: &[Scope],
        after: i64,
        max_rows: usize,
    ) -> Result<PullPage, StorageError> {
        if scopes.is_empty() {
            return Ok(PullPage {
                rows: Vec::new(),
                more: false,
            });
        }
        // One statement, so PostgreSQL reads all scopes from one snapshot: with a query per scope a
        // commit landing between them could put a later number in the page and skip an earlier one.
        let mut q = Sql::new(self.backend());
        for (i, scope) in scopes.iter().enumerate() {
            if i > 0 {
                q.push_mut(" UNION ALL ");
            }
            q.push_mut(
                "SELECT * FROM (SELECT r.collection, r.record_id, f.scope, f.field, f.value, \
                 f.hlc, f.seq FROM fields f JOIN records r ON r.rkey = f.rkey WHERE f.scope = ",
            )
            .bind_mut(scope.as_str())
            .push_mut(" AND f.seq > ")
            .bind_mut(after)
            .push_mut(" ORDER BY f.seq LIMIT ")
            .bind_mut(max_rows as i64)
            .push_mut(&format!(") AS s{i}"));
        }
        let rows = sql::query_all(&self.db, q).await?;
        let mut per_scope: HashMap<String, (usize, i64)> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let r = PullRow {
                collection: row.try_get_by_index(0)?,
                record_id: row.try_get_by_index(1)?,
                scope: row.try_get_by_index(2)?,
                field: row.try_get_by_index(3)?,
                value: row.try_get_by_index(4)?,
                hlc: row.try_get_by_index(5)?,
                seq: row.try_get_by_index(6)?,
            };
            let entry = per_scope.entry(r.scope.clone()).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(r.seq);
            out.push(r);
        }
        // A scope that filled its limit may have more rows right after its last one; rows of other
        // scopes beyond that point must wait for the next page or they would be skipped.
        let boundary = per_scope
            .values()
            .filter(|(count, _)| *count >= max_rows)
            .map(|(_, last)| *last)
            .min();
        out.sort_unstable_by_key(|r| r.seq);
        if let Some(boundary) = boundary {
            out.retain(|r| r.seq <= boundary);
        }
        Ok(PullPage {
            rows: out,
            more: boundary.is_some(),
        })
    }

    /// The greatest sequence number handed out so far.
    pub async fn head_seq(&self) -> Result<i64, StorageError> {
        let q = Sql::new(self.backend()).push("SELECT value FROM change_counter WHERE id = 1");
        sql::query_scalar_i64(&self.db, q)
            .await?
            .ok_or_else(|| StorageError::Corrupt("change_counter is empty".into()))
    }

    /// Counts of stored rows, for tests and the benchmark.
    pub async fn count(&self, table: SyncTable) -> Result<i64, StorageError> {
        let q = Sql::new(self.backend()).push(&format!("SELECT COUNT(*) FROM {}", table.name()));
        Ok(sql::query_scalar_i64(&self.db, q).await?.unwrap_or(0))
    }
}

/// Who wrote a set of ops: a device over the sync API, or the server itself (reference data).
pub(crate) enum Author {
    Device(DeviceId),
    Server,
    /// The server writing on a person's behalf (a review decision): the audit names them.
    ServerFor(String),
}

impl Author {
    fn id(&self) -> String {
        match self {
            Self::Device(device) => device.to_string(),
            Self::Server | Self::ServerFor(_) => "server".to_owned(),
        }
    }

    fn actor(&self) -> String {
        match self {
            Self::Device(device) => format!("device:{device}"),
            Self::Server => "server".to_owned(),
            Self::ServerFor(actor) => actor.clone(),
        }
    }
}

/// Merges `ops` and quarantines `refused` inside the caller's write transaction.
pub(crate) async fn apply_in_tx(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    author: &Author,
    received_at_ms: i64,
    ops: &[CheckedOp],
    refused: &[Quarantined],
) -> Result<Vec<Verdict>, StorageError> {
    let mut out = apply_batch_in_tx(tx, backend, &[(author, ops, refused)], received_at_ms).await?;
    Ok(out.pop().unwrap_or_default())
}

/// Several authors' pushes merged as if applied one after another, in a fixed number of
/// statements whatever their count: each statement of the merge costs about as much for one row
/// as for a hundred, so a batch of submissions pays for the merge once. Each push keeps its own
/// audit entry and its ops' place under it. Answers each push's verdicts.
pub(crate) async fn apply_batch_in_tx(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    pushes: &[(&Author, &[CheckedOp], &[Quarantined])],
    received_at_ms: i64,
) -> Result<Vec<Vec<Verdict>>, StorageError> {
    let all: Vec<&CheckedOp> = pushes.iter().flat_map(|(_, ops, _)| ops.iter()).collect();
    let registers: usize = all
        .iter()
        .map(|c| match &c.op.change {
            Change::Set(fields) => fields.len(),
            Change::Delete(_) => 1,
        })
        .sum();
    let mut next_seq = if registers > 0 {
        allocate_seqs(tx, backend, registers).await?
    } else {
        0
    };

    let mut applied_before = existing_op_ids(tx, backend, &all).await?;
    let mut known = existing_records(tx, backend, &all).await?;
    let mut staged = Staged::default();
    let mut plans = Vec::with_capacity(pushes.len());
    for (_, ops, _) in pushes {
        let plan = plan(ops, &applied_before, &known, &mut staged);
        // A later push of the batch sees these as stored, as it would one push later.
        applied_before.extend(plan.applied.iter().map(|c| c.op.op_id.to_string()));
        plans.push(plan);
    }

    insert_records(tx, backend, &staged.new_records, next_seq, &mut known).await?;
    let written = upsert_fields(tx, backend, &staged.writes, &known, &mut next_seq).await?;
    debug_assert!(written <= registers);

    let mut entries = Vec::new();
    for ((author, _, refused), plan) in pushes.iter().zip(&plans) {
        if plan.applied.is_empty() {
            continue;
        }
        let ids: Vec<String> = plan
            .applied
            .iter()
            .map(|c| c.op.op_id.to_string())
            .collect();
        let jsons = plan.applied.iter().map(|c| c.json.as_str());
        let digest = audit::ops_digest(ids.iter().map(String::as_str).zip(jsons));
        let detail = serde_json::json!({
            "applied": plan.applied.len(),
            "rejected": refused.len() + plan.late_refusals.len(),
            "digest": digest,
        });
        entries.push((author.actor(), detail.to_string()));
    }
    let audit_seqs = audit::record_many(tx, backend, received_at_ms, "push", &entries).await?;
    let mut log = Vec::new();
    let mut quarantined = Vec::new();
    let mut audit_seqs = audit_seqs.into_iter();
    for ((author, _, refused), plan) in pushes.iter().zip(&plans) {
        let author_id = author.id();
        if !plan.applied.is_empty() {
            let audit_seq = audit_seqs
                .next()
                .ok_or_else(|| StorageError::Corrupt("an audit entry went missing".into()))?;
            for (pos, checked) in plan.applied.iter().enumerate() {
                log.push((author_id.clone(), audit_seq, pos as i64, *checked));
            }
        }
        for entry in refused.iter().chain(plan.late_refusals.iter()) {
            quarantined.push((author_id.clone(), entry));
        }
    }
    insert_op_log(tx, backend, received_at_ms, &log).await?;
    insert_quarantine(tx, backend, received_at_ms, &quarantined).await?;
    Ok(plans.into_iter().map(|p| p.verdicts).collect())
}

/// Tables whose size tests and tools may ask for.
#[derive(Debug, Clone, Copy)]
pub enum SyncTable {
    Records,
    Fields,
    OpLog,
    Quarantine,
}

impl SyncTable {
    fn name(self) -> &'static str {
        match self {
            Self::Records => "records",
            Self::Fields => "fields",
            Self::OpLog => "op_log",
            Self::Quarantine => "quarantine",
        }
    }
}

fn quarantine_entry(checked: &CheckedOp, code: &RejectCode, message: &str) -> Quarantined {
    Quarantined {
        op_id: Some(checked.op.op_id),
        code: code.clone(),
        message: message.to_owned(),
        body: checked.json.clone(),
        field: None,
    }
}

/// What a batch writes, gathered push by push.
#[derive(Default)]
struct Staged {
    new_records: Vec<(RecordKey, String)>,
    /// Their scopes, for the pushes that follow.
    new_scopes: HashMap<RecordKey, String>,
    /// The winning write per register among the applied ops.
    writes: BTreeMap<(RecordKey, String), FieldWrite>,
}

/// What a push does, decided from the ops and what is stored before anything is written.
struct Plan<'a> {
    /// One per op, in order.
    verdicts: Vec<Verdict>,
    applied: Vec<&'a CheckedOp>,
    /// Ops refused for what only the stored state could tell.
    late_refusals: Vec<Quarantined>,
}

fn plan<'a>(
    ops: &'a [CheckedOp],
    applied_before: &HashSet<String>,
    known: &HashMap<RecordKey, (i64, String)>,
    staged: &mut Staged,
) -> Plan<'a> {
    let mut plan = Plan {
        verdicts: Vec::with_capacity(ops.len()),
        applied: Vec::new(),
        late_refusals: Vec::new(),
    };
    let mut seen: HashMap<OpId, (&str, usize)> = HashMap::new();
    for checked in ops {
        let op = &checked.op;
        if let Some(&(json, first)) = seen.get(&op.op_id) {
            let verdict = if json != checked.json {
                Verdict::Rejected(
                    RejectCode::ConflictingOpId,
                    format!(
                        "op id {} appears earlier in this push with different content",
                        op.op_id
                    ),
                )
            } else if plan.verdicts[first] == Verdict::Applied {
                Verdict::Duplicate
            } else {
                plan.verdicts[first].clone()
            };
            if let Verdict::Rejected(code, message) = &verdict {
                plan.late_refusals
                    .push(quarantine_entry(checked, code, message));
            }
            plan.verdicts.push(verdict);
            continue;
        }
        seen.insert(op.op_id, (&checked.json, plan.verdicts.len()));
        if applied_before.contains(&op.op_id.to_string()) {
            plan.verdicts.push(Verdict::Duplicate);
            continue;
        }
        let key = (op.record_id.to_string(), op.collection.to_string());
        let stored_scope = known
            .get(&key)
            .map(|(_, scope)| scope)
            .or_else(|| staged.new_scopes.get(&key));
        match stored_scope {
            Some(scope) if scope != op.scope.as_str() => {
                let message = format!(
                    "record {}/{} belongs to scope {scope}; a record's scope never changes",
                    op.collection, op.record_id
                );
                plan.late_refusals.push(quarantine_entry(
                    checked,
                    &RejectCode::ScopeChanged,
                    &message,
                ));
                plan.verdicts
                    .push(Verdict::Rejected(RejectCode::ScopeChanged, message));
                continue;
            }
            Some(_) => {}
            None => {
                staged.new_scopes.insert(key.clone(), op.scope.to_string());
                staged.new_records.push((key.clone(), op.scope.to_string()));
            }
        }
        stage_writes(&mut staged.writes, key, op);
        plan.applied.push(checked);
        plan.verdicts.push(Verdict::Applied);
    }
    plan
}

/// A record as the client names it: (record id, collection).
type RecordKey = (String, String);

/// Keeps, per register, the winning write among this push's ops.
fn stage_writes(writes: &mut BTreeMap<(RecordKey, String), FieldWrite>, key: RecordKey, op: &Op) {
    let mut stage = |field: &str, value: serde_json::Value| {
        let incoming = FieldWrite {
            scope: op.scope.to_string(),
            value,
            hlc: op.hlc,
        };
        match writes.entry((key.clone(), field.to_owned())) {
            std::collections::btree_map::Entry::Occupied(mut current) => {
                let current = current.get_mut();
                if wins(incoming.hlc, &incoming.value, current.hlc, &current.value) {
                    *current = incoming;
                }
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(incoming);
            }
        }
    };
    match &op.change {
        Change::Set(fields) => {
            for (name, value) in fields {
                stage(name.as_str(), value.clone());
            }
        }
        Change::Delete(deleted) => stage(DELETED_FIELD, serde_json::Value::Bool(*deleted)),
    }
}

/// Reserves `count` sequence numbers and returns the first. On PostgreSQL this also takes the row
/// lock that orders concurrent writers until commit.
async fn allocate_seqs(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    count: usize,
) -> Result<i64, StorageError> {
    let q = Sql::new(backend)
        .push("UPDATE change_counter SET value = value + ")
        .bind(count as i64)
        .push(" WHERE id = 1 RETURNING value");
    let last = sql::query_scalar_i64(tx, q)
        .await?
        .ok_or_else(|| StorageError::Corrupt("change_counter is empty".into()))?;
    Ok(last - count as i64 + 1)
}

async fn existing_op_ids(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    ops: &[&CheckedOp],
) -> Result<HashSet<String>, StorageError> {
    let ids: Vec<String> = ops.iter().map(|c| c.op.op_id.to_string()).collect();
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK_IDS) {
        let mut q = Sql::new(backend).push("SELECT op_id FROM op_log WHERE op_id IN ");
        q.bind_list(chunk.iter().cloned());
        for row in sql::query_all(tx, q).await? {
            found.insert(row.try_get_by_index::<String>(0)?);
        }
    }
    Ok(found)
}

/// The stored records among those `ops` name: their internal key and scope.
async fn existing_records(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    ops: &[&CheckedOp],
) -> Result<HashMap<RecordKey, (i64, String)>, StorageError> {
    let ids: Vec<String> = ops
        .iter()
        .map(|c| c.op.record_id.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut found = HashMap::new();
    for chunk in ids.chunks(CHUNK_IDS) {
        let mut q = Sql::new(backend)
            .push("SELECT record_id, collection, rkey, scope FROM records WHERE record_id IN ");
        q.bind_list(chunk.iter().cloned());
        for row in sql::query_all(tx, q).await? {
            let key = (
                row.try_get_by_index::<String>(0)?,
                row.try_get_by_index::<String>(1)?,
            );
            found.insert(
                key,
                (
                    row.try_get_by_index::<i64>(2)?,
                    row.try_get_by_index::<String>(3)?,
                ),
            );
        }
    }
    Ok(found)
}

/// Inserts new records and adds their internal keys to `known`.
async fn insert_records(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    records: &[(RecordKey, String)],
    created_seq: i64,
    known: &mut HashMap<RecordKey, (i64, String)>,
) -> Result<(), StorageError> {
    for chunk in records.chunks(CHUNK_ROWS) {
        let mut q = Sql::new(backend)
            .push("INSERT INTO records (record_id, collection, scope, created_seq) VALUES ");
        for (i, ((record_id, collection), scope)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(record_id.as_str()),
                collection.as_str().into(),
                scope.as_str().into(),
                created_seq.into(),
            ]);
        }
        q.push_mut(" RETURNING record_id, collection, rkey, scope");
        for row in sql::query_all(tx, q).await? {
            let key = (
                row.try_get_by_index::<String>(0)?,
                row.try_get_by_index::<String>(1)?,
            );
            known.insert(
                key,
                (
                    row.try_get_by_index::<i64>(2)?,
                    row.try_get_by_index::<String>(3)?,
                ),
            );
        }
    }
    Ok(())
}

/// Writes each staged register unless the stored one wins; returns how many numbers it used.
async fn upsert_fields(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    writes: &BTreeMap<(RecordKey, String), FieldWrite>,
    known: &HashMap<RecordKey, (i64, String)>,
    next_seq: &mut i64,
) -> Result<usize, StorageError> {
    let mut rows = Vec::with_capacity(writes.len());
    for ((record, field), write) in writes {
        let (rkey, _) = known
            .get(record)
            .ok_or_else(|| StorageError::Corrupt(format!("record {record:?} has no key")))?;
        rows.push((*rkey, field.as_str(), write));
    }
    // In key order, so new records' rows append to the index in one sweep.
    rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for chunk in rows.chunks(CHUNK_ROWS) {
        let mut q = Sql::new(backend)
            .push("INSERT INTO fields (rkey, field, scope, value, hlc, seq) VALUES ");
        for (i, (rkey, field, write)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(*rkey),
                (*field).into(),
                write.scope.as_str().into(),
                sync_protocol::canonical_json(&write.value).into(),
                write.hlc.to_string().into(),
                (*next_seq).into(),
            ]);
            *next_seq += 1;
        }
        // The merge rule of `sync_protocol::merge::wins`, in SQL: a greater HLC wins, and equal
        // HLCs are broken by the canonical JSON text.
        q.push_mut(
            " ON CONFLICT (rkey, field) DO UPDATE SET \
             value = excluded.value, hlc = excluded.hlc, seq = excluded.seq \
             WHERE excluded.hlc > fields.hlc \
             OR (excluded.hlc = fields.hlc AND excluded.value > fields.value)",
        );
        sql::execute(tx, q).await?;
    }
    Ok(rows.len())
}

/// Op log rows: (author id, audit entry, place under it, op).
type LogRow<'a> = (String, i64, i64, &'a CheckedOp);

async fn insert_op_log(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    received_at_ms: i64,
    rows: &[LogRow<'_>],
) -> Result<(), StorageError> {
    for chunk in rows.chunks(CHUNK_ROWS) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO op_log (op_id, device_id, received_at_ms, op, audit_seq, audit_pos, \
             record_id, collection) VALUES ",
        );
        for (i, (author, audit_seq, pos, checked)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(checked.op.op_id.to_string()),
                author.as_str().into(),
                received_at_ms.into(),
                checked.json.as_str().into(),
                (*audit_seq).into(),
                (*pos).into(),
                checked.op.record_id.to_string().into(),
                checked.op.collection.as_str().into(),
            ]);
        }
        sql::execute(tx, q).await?;
    }
    Ok(())
}

async fn insert_quarantine(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    received_at_ms: i64,
    entries: &[(String, &Quarantined)],
) -> Result<(), StorageError> {
    for chunk in entries.chunks(CHUNK_ROWS) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO quarantine (op_id, device_id, received_at_ms, code, message, body) VALUES ",
        );
        for (i, (author, entry)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(entry.op_id.map(|id| id.to_string())),
                author.as_str().into(),
                received_at_ms.into(),
                entry.code.as_str().into(),
                entry.message.as_str().into(),
                entry.body.as_str().into(),
            ]);
        }
        sql::execute(tx, q).await?;
    }
    Ok(())
}

/// Decodes a stored tombstone register.
pub fn deleted_register(value: &str, hlc: Hlc) -> Option<Versioned<bool>> {
    match value {
        "true" => Some(Versioned { value: true, hlc }),
        "false" => Some(Versioned { value: false, hlc }),
        _ => None,
    }
}
