//! A client-side replica: what a phone keeps between syncs. Pure, like the rest of the crate: the
//! caller does the HTTP and passes the wall time in, so the same code runs on a phone, in a
//! simulator and in property tests.
//!
//! The replica holds `base`, the state the server has confirmed (pulled records and own ops the
//! server acknowledged), and `pending`, own ops not acknowledged yet. What the member sees is
//! `base` merged with every pending op; merge is a join, so the order does not matter. A pending
//! op leaves `pending` only when the server answered it: applied or duplicate (it moves into
//! `base`) or rejected for good (it moves into `rejected`, for the app to show). Nothing is
//! dropped silently.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hlc::{Clock, Hlc};
use crate::ids::{Collection, DeviceId, FieldName, OpId, RecordId, Scope};
use crate::merge::{RecordState, ScopeChanged, Store};
use crate::wire::{
    Change, MAX_CLOCK_SKEW_MS, MAX_FIELDS_PER_OP, MAX_OPS_PER_PUSH, Op, OpShapeError, OpStatus,
    PullResponse, PushRequest, PushResponse, RejectCode,
};

/// An own op the server refused for good, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedOp {
    pub op: Op,
    pub code: RejectCode,
    pub message: String,
}

/// What one push answer did to the replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Ops the server applied now.
    pub applied: usize,
    /// Ops the server had applied before (a retried batch).
    pub duplicate: usize,
    /// Ops refused for good, now in [`Replica::rejected`]. Clock-skew refusals are not counted
    /// here: those ops stay pending, re-stamped.
    pub rejected: usize,
    /// Pending ops given a new HLC after the server reported clock skew. Send them again.
    pub restamped: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplicaError {
    #[error("the push answer has {received} results for {sent} ops")]
    ResultCount { sent: usize, received: usize },
    #[error("push result {index} is for op {received:?}, but op {expected} was sent there")]
    ResultMismatch {
        index: usize,
        expected: OpId,
        received: Option<OpId>,
    },
    #[error(transparent)]
    ScopeChanged(#[from] ScopeChanged),
    #[error(transparent)]
    InvalidOp(#[from] OpShapeError),
}

/// A device's copy of the records it syncs. Serialize it to persist it between app runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    node: DeviceId,
    clock: Clock,
    base: Store,
    pending: Vec<Op>,
    cursor: Option<String>,
    rejected: Vec<RejectedOp>,
}

impl Replica {
    /// An empty replica for a device. Its clock readings carry the device id as node id, which
    /// the server requires.
    pub fn new(node: DeviceId) -> Self {
        Self {
            node,
            clock: Clock::new(node.0),
            base: Store::default(),
            pending: Vec::new(),
            cursor: None,
            rejected: Vec::new(),
        }
    }

    pub fn node(&self) -> DeviceId {
        self.node
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The merged view of one record: confirmed state plus pending own ops.
    pub fn record(&self, collection: &Collection, record_id: &RecordId) -> Option<RecordState> {
        let mut state = self.base.get(collection, record_id).cloned();
        for op in &self.pending {
            if &op.collection != collection || &op.record_id != record_id {
                continue;
            }
            let state = state.get_or_insert_with(|| RecordState::new(op.scope.clone()));
            // A pending op whose scope disagrees with the record's will be refused by the server
            // (`scope_changed`); it is not part of the view.
            if state.scope == op.scope {
                state.apply(op);
            }
        }
        state
    }

    /// The merged view of every record.
    pub fn records(&self) -> Store {
        let mut view = self.base.clone();
        for op in &self.pending {
            // See `record`: an op with a conflicting scope is not part of the view.
            let _ = view.apply_op(op);
        }
        view
    }

    /// State confirmed by the server, without pending ops.
    pub fn confirmed(&self) -> &Store {
        &self.base
    }

    /// Own ops not acknowledged yet, in creation order.
    pub fn pending(&self) -> &[Op] {
        &self.pending
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Own ops the server refused for good, oldest first.
    pub fn rejected(&self) -> &[RejectedOp] {
        &self.rejected
    }

    /// Hands the refused ops to the app (to show them to the member) and forgets them.
    pub fn take_rejected(&mut self) -> Vec<RejectedOp> {
        std::mem::take(&mut self.rejected)
    }

    /// The pull cursor: the position in the server's change feed up to which `base` is complete.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The cursor to send on the next pull (`None`: pull from the start). Same as [`Self::cursor`].
    pub fn pull_cursor(&self) -> Option<&str> {
        self.cursor()
    }

    /// Sets fields of a record (creating it if new). Returns the op id.
    pub fn set(
        &mut self,
        wall_ms: u64,
        collection: Collection,
        record_id: RecordId,
        scope: Scope,
        fields: BTreeMap<FieldName, Value>,
    ) -> Result<OpId, ReplicaError> {
        self.local(wall_ms, collection, record_id, scope, Change::Set(fields))
    }

    /// Deletes a record (a tombstone). Later edits do not revive it; only [`Self::undelete`] does.
    pub fn delete(
        &mut self,
        wall_ms: u64,
        collection: Collection,
        record_id: RecordId,
        scope: Scope,
    ) -> Result<OpId, ReplicaError> {
        self.local(wall_ms, collection, record_id, scope, Change::Delete(true))
    }

    /// Undeletes a record.
    pub fn undelete(
        &mut self,
        wall_ms: u64,
        collection: Collection,
        record_id: RecordId,
        scope: Scope,
    ) -> Result<OpId, ReplicaError> {
        self.local(wall_ms, collection, record_id, scope, Change::Delete(false))
    }

    fn local(
        &mut self,
        wall_ms: u64,
        collection: Collection,
        record_id: RecordId,
        scope: Scope,
        change: Change,
    ) -> Result<OpId, ReplicaError> {
        change.check()?;
        let current = self.record(&collection, &record_id);
        if let Some(existing) = current.map(|r| r.scope).filter(|s| s != &scope) {
            let attempted = scope;
            return Err(ScopeChanged {
                collection,
                record_id,
                existing,
                attempted,
            }
            .into());
        }
        let op_id = OpId::generate();
        let hlc = self.clock.tick(wall_ms);
        self.pending.push(Op {
            op_id,
            collection,
            record_id,
            scope,
            hlc,
            change,
        });
        Ok(op_id)
    }

    /// The next batch to push: the first `max_ops` pending ops (at least 1, at most
    /// [`MAX_OPS_PER_PUSH`]); `None` when nothing is pending. Keep the request until its answer
    /// arrives; if the answer is lost, send the same request again.
    pub fn push_request(&self, max_ops: usize) -> Option<PushRequest> {
        if self.pending.is_empty() {
            return None;
        }
        let n = max_ops.clamp(1, MAX_OPS_PER_PUSH).min(self.pending.len());
        Some(PushRequest {
            ops: self.pending[..n].to_vec(),
        })
    }

    /// Takes in the answer to `sent`. A malformed answer (wrong number of results, or a result
    /// for another op id than the one at its position) changes nothing: send `sent` again.
    pub fn handle_push_response(
        &mut self,
        wall_ms: u64,
        sent: &PushRequest,
        resp: &PushResponse,
    ) -> Result<PushOutcome, ReplicaError> {
        if resp.results.len() != sent.ops.len() {
            return Err(ReplicaError::ResultCount {
                sent: sent.ops.len(),
                received: resp.results.len(),
            });
        }
        for (index, (op, result)) in sent.ops.iter().zip(&resp.results).enumerate() {
            if result.op_id != Some(op.op_id) {
                return Err(ReplicaError::ResultMismatch {
                    index,
                    expected: op.op_id,
                    received: result.op_id,
                });
            }
        }
        let accepted = sent
            .ops
            .iter()
            .zip(&resp.results)
            .filter(|(_, r)| r.status != OpStatus::Rejected);
        let accepted = accepted.map(|(op, _)| (&op.collection, op.record_id, &op.scope));
        Self::check_scopes(&self.base, accepted)?;

        let mut outcome = PushOutcome::default();
        let mut skewed = BTreeSet::new();
        for (op, result) in sent.ops.iter().zip(&resp.results) {
            match (result.status, &result.code) {
                (OpStatus::Applied | OpStatus::Duplicate, _) => {
                    if result.status == OpStatus::Applied {
                        outcome.applied += 1;
                    } else {
                        outcome.duplicate += 1;
                    }
                    self.take_pending(op.op_id);
                    // What the server holds is the op as sent (a pending copy could have been
                    // re-stamped since). Scopes were checked above.
                    let _ = self.base.apply_op(op);
                }
                (OpStatus::Rejected, Some(RejectCode::ClockSkew)) => {
                    // Only if the pending op is still the one sent: answering the same batch
                    // twice must not re-stamp twice.
                    if self
                        .pending
                        .iter()
                        .any(|p| p.op_id == op.op_id && p.hlc == op.hlc)
                    {
                        skewed.insert(op.op_id);
                    }
                }
                (OpStatus::Rejected, code) => {
                    if self.take_pending(op.op_id).is_some() {
                        outcome.rejected += 1;
                        self.rejected.push(RejectedOp {
                            op: op.clone(),
                            code: code
                                .clone()
                                .unwrap_or_else(|| RejectCode::Other(String::new())),
                            message: result
                                .message
                                .clone()
                                .unwrap_or_else(|| "the server gave no reason".to_owned()),
                        });
                    }
                }
            }
        }
        self.clock.observe(resp.server_hlc, wall_ms);
        if !skewed.is_empty() {
            outcome.restamped = self.correct_skew(wall_ms, resp.server_hlc, &skewed);
        }
        Ok(outcome)
    }

    /// The server refused ops as too far ahead of its clock: learn the offset from its reading,
    /// rewind the clock to the latest plausible reading and re-stamp every pending op ahead of
    /// the server's bound (and every op refused for skew), in pending order, keeping op ids.
    fn correct_skew(&mut self, wall_ms: u64, server_hlc: Hlc, skewed: &BTreeSet<OpId>) -> usize {
        let server_ms = server_hlc.ms();
        self.clock.set_offset_ms(server_ms as i64 - wall_ms as i64);
        let bound = server_ms.saturating_add(MAX_CLOCK_SKEW_MS);
        let restamp = |op: &Op| op.hlc.ms() > bound || skewed.contains(&op.op_id);

        let base_readings = self.base.iter().flat_map(|(_, _, state)| {
            state
                .fields
                .values()
                .map(|v| v.hlc)
                .chain(state.deleted.as_ref().map(|d| d.hlc))
        });
        let pending_readings = self
            .pending
            .iter()
            .filter(|op| !restamp(op))
            .map(|op| op.hlc);
        let target = base_readings
            .chain(pending_readings)
            .filter(|hlc| hlc.ms() <= bound)
            .fold(server_hlc, Hlc::max);
        self.clock.rewind(target);

        let mut restamped = 0;
        for op in &mut self.pending {
            if restamp(op) {
                op.hlc = self.clock.tick(wall_ms);
                restamped += 1;
            }
        }
        restamped
    }

    fn take_pending(&mut self, op_id: OpId) -> Option<Op> {
        let index = self.pending.iter().position(|p| p.op_id == op_id)?;
        Some(self.pending.remove(index))
    }

    /// Checks that records keep the scope `base` (or an earlier item) gives them.
    fn check_scopes<'a>(
        base: &Store,
        items: impl IntoIterator<Item = (&'a Collection, RecordId, &'a Scope)>,
    ) -> Result<(), ScopeChanged> {
        let mut seen: BTreeMap<(&Collection, RecordId), &Scope> = BTreeMap::new();
        for (collection, record_id, scope) in items {
            let existing = seen
                .get(&(collection, record_id))
                .copied()
                .or_else(|| base.get(collection, &record_id).map(|s| &s.scope));
            match existing {
                Some(existing) if existing != scope => {
                    return Err(ScopeChanged {
                        collection: collection.clone(),
                        record_id,
                        existing: existing.clone(),
                        attempted: scope.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert((collection, record_id), scope);
                }
            }
        }
        Ok(())
    }

    /// Applies one pull page, then moves the cursor past it. A record that would change scope is
    /// a protocol violation: the page is refused whole and the cursor stays.
    ///
    /// Own ops acknowledged while the replica had no cursor are tied to no server state a cursor
    /// names: had the server lost them since (restored from a backup), no `cursor_reset` would
    /// tell. So the first page of a pull from scratch queues them again, as
    /// [`Self::handle_reset`] does. (Pull before the first push and there are none.)
    pub fn apply_pull(&mut self, wall_ms: u64, resp: &PullResponse) -> Result<(), ReplicaError> {
        let from_scratch = self.cursor.is_none();
        let empty = Store::default();
        let base = if from_scratch { &empty } else { &self.base };
        let records = resp
            .records
            .iter()
            .map(|r| (&r.collection, r.record_id, &r.scope));
        Self::check_scopes(base, records)?;
        if from_scratch && !self.base.is_empty() {
            self.handle_reset();
        }
        for record in &resp.records {
            // Scopes were checked above.
            let _ = self.base.apply_pulled(record);
            for field in record.fields.values() {
                self.clock.observe(field.hlc, wall_ms);
            }
            if let Some(deleted) = &record.deleted {
                self.clock.observe(deleted.hlc, wall_ms);
            }
        }
        self.cursor = Some(resp.cursor.clone());
        Ok(())
    }

    /// The server answered a pull with `410 cursor_reset`: it lost (part of) its history. Every
    /// own write in `base` is queued again with its original reading (one op per record and
    /// reading, one per tombstone) so whatever the server lost of ours comes back; then `base`
    /// and the cursor are cleared so the next pull starts from scratch. Pending ops stay.
    pub fn handle_reset(&mut self) {
        let mut requeued = Vec::new();
        for (collection, record_id, state) in self.base.iter() {
            let mut by_hlc: BTreeMap<Hlc, BTreeMap<FieldName, Value>> = BTreeMap::new();
            for (name, field) in &state.fields {
                if field.hlc.node() == self.node.0 {
                    by_hlc
                        .entry(field.hlc)
                        .or_default()
                        .insert(name.clone(), field.value.clone());
                }
            }
            let op = |hlc: Hlc, change: Change| Op {
                op_id: OpId::generate(),
                collection: collection.clone(),
                record_id: *record_id,
                scope: state.scope.clone(),
                hlc,
                change,
            };
            for (hlc, fields) in by_hlc {
                let mut fields = fields.into_iter().peekable();
                while fields.peek().is_some() {
                    let chunk = fields.by_ref().take(MAX_FIELDS_PER_OP).collect();
                    requeued.push(op(hlc, Change::Set(chunk)));
                }
            }
            if let Some(deleted) = state
                .deleted
                .as_ref()
                .filter(|d| d.hlc.node() == self.node.0)
            {
                requeued.push(op(deleted.hlc, Change::Delete(deleted.value)));
            }
        }
        // They were made before anything still pending: keep creation order.
        requeued.sort_by_key(|op| op.hlc);
        requeued.append(&mut self.pending);
        self.pending = requeued;
        self.base.clear();
        self.cursor = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{OpResult, PulledRecord, Versioned};
    use serde_json::json;
    use uuid::Uuid;

    const NOW: u64 = 1_764_016_260_123;
    const YEAR: u64 = 365 * 24 * 3600 * 1000;

    fn device(n: u8) -> DeviceId {
        DeviceId(Uuid::from_bytes([n; 16]))
    }

    fn visits() -> Collection {
        Collection::parse("visits").unwrap()
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    fn rec(n: u8) -> RecordId {
        RecordId(Uuid::from_bytes([n; 16]))
    }

    fn fields(pairs: &[(&str, Value)]) -> BTreeMap<FieldName, Value> {
        pairs
            .iter()
            .map(|(k, v)| (FieldName::parse(*k).unwrap(), v.clone()))
            .collect()
    }

    fn server_hlc(ms: u64) -> Hlc {
        Hlc::new(ms, 0, Uuid::from_bytes([0xee; 16])).unwrap()
    }

    fn answer(sent: &PushRequest, f: impl Fn(&Op) -> OpResult, ms: u64) -> PushResponse {
        PushResponse {
            results: sent.ops.iter().map(f).collect(),
            server_hlc: server_hlc(ms),
        }
    }

    fn value(r: &Replica, id: RecordId, field: &str) -> Option<Value> {
        let state = r.record(&visits(), &id)?;
        state
            .fields
            .get(&FieldName::parse(field).unwrap())
            .map(|v| v.value.clone())
    }

    #[test]
    fn pending_edits_are_visible_and_move_to_base_when_applied() {
        let mut r = Replica::new(device(1));
        r.set(
            NOW,
            visits(),
            rec(1),
            scope("m1"),
            fields(&[("a", json!(1))]),
        )
        .unwrap();
        r.set(
            NOW,
            visits(),
            rec(1),
            scope("m1"),
            fields(&[("a", json!(2))]),
        )
        .unwrap();
        assert_eq!(value(&r, rec(1), "a"), Some(json!(2)));
        assert_eq!(r.pending_len(), 2);

        let sent = r.push_request(1).unwrap();
        assert_eq!(sent.ops.len(), 1);
        let out = r
            .handle_push_response(
                NOW,
                &sent,
                &answer(&sent, |o| OpResult::applied(o.op_id), NOW),
            )
            .unwrap();
        assert_eq!(
            out,
            PushOutcome {
                applied: 1,
                ..Default::default()
            }
        );
        assert_eq!(r.pending_len(), 1);
        assert_eq!(value(&r, rec(1), "a"), Some(json!(2)));
        assert_eq!(r.confirmed().len(), 1);
    }

    #[test]
    fn a_malformed_answer_changes_nothing() {
        let mut r = Replica::new(device(1));
        r.set(
            NOW,
            visits(),
            rec(1),
            scope("m1"),
            fields(&[("a", json!(1))]),
        )
        .unwrap();
        r.delete(NOW, visits(), rec(1), scope("m1")).unwrap();
        let sent = r.push_request(10).unwrap();
        let before = r.clone();
        let mut short = answer(&sent, |o| OpResult::applied(o.op_id), NOW);
        short.results.pop();
        assert!(matches!(
            r.handle_push_response(NOW, &sent, &short),
            Err(ReplicaError::ResultCount {
                sent: 2,
                received: 1
            })
        ));
        let mut swapped = answer(&sent, |o| OpResult::applied(o.op_id), NOW);
        swapped.results.swap(0, 1);
        assert!(matches!(
            r.handle_push_response(NOW, &sent, &swapped),
            Err(ReplicaError::ResultMismatch { index: 0, .. })
        ));
        assert_eq!(r, before);
    }

    #[test]
    fn refused_ops_are_kept_for_the_member() {
        let mut r = Replica::new(device(1));
        let id = r
            .set(
                NOW,
                visits(),
                rec(1),
                scope("m1"),
                fields(&[("a", json!(1))]),
            )
            .unwrap();
        let sent = r.push_request(10).unwrap();
        let resp = answer(
            &sent,
            |o| OpResult::rejected(Some(o.op_id), RejectCode::ScopeNotGranted, "not yours"),
            NOW,
        );
        let out = r.handle_push_response(NOW, &sent, &resp).unwrap();
        assert_eq!(out.rejected, 1);
        assert_eq!(r.pending_len(), 0);
        assert_eq!(r.rejected()[0].op.op_id, id);
        assert_eq!(r.rejected()[0].code, RejectCode::ScopeNotGranted);
        assert_eq!(r.record(&visits(), &rec(1)), None);
        // The same answer again does not duplicate the entry.
        r.handle_push_response(NOW, &sent, &resp).unwrap();
        assert_eq!(r.rejected().len(), 1);
    }

    #[test]
    fn a_phone_a_year_ahead_restamps_and_keeps_its_op_ids() {
        let mut r = Replica::new(device(1));
        let wall = NOW + YEAR;
        let a = r
            .set(
                wall,
                visits(),
                rec(1),
                scope("m1"),
                fields(&[("a", json!(1))]),
            )
            .unwrap();
        let b = r
            .set(
                wall,
                visits(),
                rec(2),
                scope("m1"),
                fields(&[("b", json!(1))]),
            )
            .unwrap();
        let sent = r.push_request(1).unwrap();
        let resp = answer(
            &sent,
            |o| OpResult::rejected(Some(o.op_id), RejectCode::ClockSkew, "ahead"),
            NOW,
        );
        let out = r.handle_push_response(wall, &sent, &resp).unwrap();
        assert_eq!(out.restamped, 2, "the op not yet sent is re-stamped too");
        let ids: Vec<_> = r.pending().iter().map(|o| o.op_id).collect();
        assert_eq!(ids, [a, b]);
        for op in r.pending() {
            assert!(
                op.hlc.ms() >= NOW && op.hlc.ms() <= NOW + MAX_CLOCK_SKEW_MS,
                "{op:?}"
            );
        }
        assert!(r.pending()[0].hlc < r.pending()[1].hlc);
        assert_eq!(r.clock().offset_ms(), -(YEAR as i64));
        // New edits are stamped with corrected time.
        r.set(
            wall + 1000,
            visits(),
            rec(3),
            scope("m1"),
            fields(&[("c", json!(1))]),
        )
        .unwrap();
        assert_eq!(r.pending()[2].hlc.ms(), NOW + 1000);
        // Answering the same skew twice does not re-stamp again.
        let again = r.handle_push_response(wall, &sent, &resp).unwrap();
        assert_eq!(again.restamped, 0);
    }

    #[test]
    fn pull_merges_observes_and_moves_the_cursor() {
        let mut r = Replica::new(device(1));
        let other = Hlc::new(NOW + 60_000, 3, Uuid::from_bytes([2; 16])).unwrap();
        let page = PullResponse {
            records: vec![PulledRecord {
                collection: visits(),
                record_id: rec(1),
                scope: scope("m1"),
                fields: [(
                    FieldName::parse("a").unwrap(),
                    Versioned {
                        value: json!("x"),
                        hlc: other,
                    },
                )]
                .into(),
                deleted: None,
            }],
            cursor: "c1".into(),
            more: false,
        };
        r.apply_pull(NOW, &page).unwrap();
        assert_eq!(r.cursor(), Some("c1"));
        assert_eq!(value(&r, rec(1), "a"), Some(json!("x")));
        r.set(
            NOW,
            visits(),
            rec(1),
            scope("m1"),
            fields(&[("a", json!("y"))]),
        )
        .unwrap();
        assert_eq!(
            value(&r, rec(1), "a"),
            Some(json!("y")),
            "a local edit after a pull wins"
        );

        // A page that moves a record to another scope is refused whole.
        let mut bad = page.clone();
        bad.cursor = "c2".into();
        bad.records.insert(
            0,
            PulledRecord {
                record_id: rec(9),
                ..page.records[0].clone()
            },
        );
        bad.records[1].scope = scope("m2");
        let before = r.clone();
        assert!(matches!(
            r.apply_pull(NOW, &bad),
            Err(ReplicaError::ScopeChanged(_))
        ));
        assert_eq!(r, before);
        assert!(matches!(
            r.set(NOW, visits(), rec(1), scope("m2"), BTreeMap::new()),
            Err(ReplicaError::ScopeChanged(_))
        ));
    }

    #[test]
    fn reset_requeues_own_writes_with_their_readings() {
        let mut r = Replica::new(device(1));
        r.set(
            NOW,
            visits(),
            rec(1),
            scope("m1"),
            fields(&[("a", json!(1)), ("b", json!(2))]),
        )
        .unwrap();
        r.delete(NOW, visits(), rec(2), scope("m1")).unwrap();
        let sent = r.push_request(10).unwrap();
        r.handle_push_response(
            NOW,
            &sent,
            &answer(&sent, |o| OpResult::applied(o.op_id), NOW),
        )
        .unwrap();
        // Another device's write, pulled.
        let other = Hlc::new(NOW + 5, 0, Uuid::from_bytes([2; 16])).unwrap();
        let page = PullResponse {
            records: vec![PulledRecord {
                collection: visits(),
                record_id: rec(1),
                scope: scope("m1"),
                fields: [(
                    FieldName::parse("c").unwrap(),
                    Versioned {
                        value: json!(3),
                        hlc: other,
                    },
                )]
                .into(),
                deleted: None,
            }],
            cursor: "c1".into(),
            more: false,
        };
        r.apply_pull(NOW, &page).unwrap();
        let still = r
            .set(
                NOW,
                visits(),
                rec(3),
                scope("m1"),
                fields(&[("d", json!(4))]),
            )
            .unwrap();

        r.handle_reset();
        assert_eq!(r.cursor(), None);
        assert!(r.confirmed().is_empty());
        let pending = r.pending();
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[0].hlc, sent.ops[0].hlc);
        assert_eq!(
            pending[0].change,
            Change::Set(fields(&[("a", json!(1)), ("b", json!(2))]))
        );
        assert_eq!(pending[1].hlc, sent.ops[1].hlc);
        assert_eq!(pending[1].change, Change::Delete(true));
        assert_eq!(pending[2].op_id, still);
        assert!(
            pending
                .iter()
                .all(|op| !sent.ops.iter().any(|s| s.op_id == op.op_id))
        );
    }

    #[test]
    fn ops_acknowledged_before_the_first_pull_are_queued_again_by_it() {
        let mut r = Replica::new(device(1));
        r.set(
            NOW,
            visits(),
            rec(1),
            scope("m1"),
            fields(&[("a", json!(1))]),
        )
        .unwrap();
        let sent = r.push_request(10).unwrap();
        let applied = answer(&sent, |o| OpResult::applied(o.op_id), NOW);
        r.handle_push_response(NOW, &sent, &applied).unwrap();
        assert_eq!(r.pending_len(), 0);
        // The server was restored from a backup without that op: the first pull cannot say so.
        let empty = PullResponse {
            records: vec![],
            cursor: "c1".into(),
            more: false,
        };
        r.apply_pull(NOW, &empty).unwrap();
        assert_eq!(r.pending_len(), 1);
        assert_eq!(r.pending()[0].hlc, sent.ops[0].hlc);
        assert_ne!(r.pending()[0].op_id, sent.ops[0].op_id);
        assert_eq!(value(&r, rec(1), "a"), Some(json!(1)));
        // With a cursor, a later pull changes nothing of the kind.
        r.apply_pull(
            NOW,
            &PullResponse {
                cursor: "c2".into(),
                ..empty
            },
        )
        .unwrap();
        assert_eq!(r.pending_len(), 1);
    }

    #[test]
    fn persists_as_json() {
        let mut r = Replica::new(device(1));
        r.set(
            NOW,
            visits(),
            rec(1),
            scope("m1"),
            fields(&[("a", json!({"lat": 42.1}))]),
        )
        .unwrap();
        let sent = r.push_request(10).unwrap();
        r.handle_push_response(
            NOW,
            &sent,
            &answer(&sent, |o| OpResult::applied(o.op_id), NOW),
        )
        .unwrap();
        r.undelete(NOW, visits(), rec(1), scope("m1")).unwrap();
        let text = serde_json::to_string(&r).unwrap();
        let back: Replica = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn oversized_edits_are_refused_locally() {
        let mut r = Replica::new(device(1));
        let many: BTreeMap<_, _> = (0..=MAX_FIELDS_PER_OP)
            .map(|i| (FieldName::parse(format!("f{i}")).unwrap(), json!(i)))
            .collect();
        assert!(matches!(
            r.set(NOW, visits(), rec(1), scope("m1"), many),
            Err(ReplicaError::InvalidOp(OpShapeError::TooManyFields(_)))
        ));
        assert_eq!(r.pending_len(), 0);
    }
}
