//! The merge rules. Every register (a field, or a record's tombstone) is last-writer-wins by HLC.
//! Equal readings with different values can only come from a misbehaving node; they are broken by
//! the value's canonical JSON text so that merge stays a join (commutative, associative,
//! idempotent) whatever a client sends. The server applies the same order in SQL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hlc::Hlc;
use crate::ids::{Collection, FieldName, RecordId, Scope};
use crate::wire::{Change, Op, PulledRecord, Versioned};

/// Canonical JSON text of a value: object keys sorted, no whitespace. The server stores and
/// compares exactly this text.
pub fn canonical_json(value: &Value) -> String {
    // serde_json's default map is ordered by key, so this is canonical; serialising a Value cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Whether `incoming` replaces `current` in a last-writer-wins register.
pub fn wins(
    incoming_hlc: Hlc,
    incoming_value: &Value,
    current_hlc: Hlc,
    current_value: &Value,
) -> bool {
    match incoming_hlc.cmp(&current_hlc) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => canonical_json(incoming_value) > canonical_json(current_value),
    }
}

/// Same rule for the tombstone register (`false` < `true`, as their JSON text orders).
pub fn deleted_wins(incoming: &Versioned<bool>, current: &Versioned<bool>) -> bool {
    (incoming.hlc, incoming.value) > (current.hlc, current.value)
}

/// The merged state of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordState {
    pub scope: Scope,
    pub fields: BTreeMap<FieldName, Versioned<Value>>,
    pub deleted: Option<Versioned<bool>>,
}

impl RecordState {
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            fields: BTreeMap::new(),
            deleted: None,
        }
    }

    /// Whether the record is currently deleted. A record never deleted, or undeleted by the
    /// latest tombstone write, is live; field edits alone never change this.
    pub fn is_deleted(&self) -> bool {
        self.deleted.as_ref().is_some_and(|d| d.value)
    }

    /// Merges one field write; returns whether it won.
    pub fn merge_field(&mut self, name: FieldName, incoming: Versioned<Value>) -> bool {
        match self.fields.get_mut(&name) {
            Some(current) if !wins(incoming.hlc, &incoming.value, current.hlc, &current.value) => {
                false
            }
            Some(current) => {
                *current = incoming;
                true
            }
            None => {
                self.fields.insert(name, incoming);
                true
            }
        }
    }

    /// Merges one tombstone write; returns whether it won.
    pub fn merge_deleted(&mut self, incoming: Versioned<bool>) -> bool {
        match &self.deleted {
            Some(current) if !deleted_wins(&incoming, current) => false,
            _ => {
                self.deleted = Some(incoming);
                true
            }
        }
    }

    /// Merges an op into this record (the caller has checked that the scopes agree).
    pub fn apply(&mut self, op: &Op) {
        match &op.change {
            Change::Set(fields) => {
                for (name, value) in fields {
                    self.merge_field(
                        name.clone(),
                        Versioned {
                            value: value.clone(),
                            hlc: op.hlc,
                        },
                    );
                }
            }
            Change::Delete(deleted) => {
                self.merge_deleted(Versioned {
                    value: *deleted,
                    hlc: op.hlc,
                });
            }
        }
    }

    /// Merges another state of the same record.
    pub fn merge(&mut self, other: &RecordState) {
        for (name, value) in &other.fields {
            self.merge_field(name.clone(), value.clone());
        }
        if let Some(deleted) = &other.deleted {
            self.merge_deleted(deleted.clone());
        }
    }
}

/// Key of a record: ids are unique within a collection.
pub type RecordKey = (Collection, RecordId);

/// A set of merged records, as a replica or a test oracle holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Store {
    records: BTreeMap<Collection, BTreeMap<RecordId, RecordState>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {collection}/{record_id} belongs to scope {existing}, not {attempted}")]
pub struct ScopeChanged {
    pub collection: Collection,
    pub record_id: RecordId,
    pub existing: Scope,
    pub attempted: Scope,
}

impl Store {
    pub fn get(&self, collection: &Collection, record_id: &RecordId) -> Option<&RecordState> {
        self.records.get(collection)?.get(record_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Collection, &RecordId, &RecordState)> {
        self.records
            .iter()
            .flat_map(|(c, records)| records.iter().map(move |(id, state)| (c, id, state)))
    }

    pub fn len(&self) -> usize {
        self.records.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }

    fn entry(
        &mut self,
        collection: &Collection,
        record_id: RecordId,
        scope: &Scope,
    ) -> Result<&mut RecordState, ScopeChanged> {
        let state = self
            .records
            .entry(collection.clone())
            .or_default()
            .entry(record_id)
            .or_insert_with(|| RecordState::new(scope.clone()));
        if &state.scope != scope {
            return Err(ScopeChanged {
                collection: collection.clone(),
                record_id,
                existing: state.scope.clone(),
                attempted: scope.clone(),
            });
        }
        Ok(state)
    }

    /// Merges an op; an op that would move a record to another scope changes nothing.
    pub fn apply_op(&mut self, op: &Op) -> Result<(), ScopeChanged> {
        self.entry(&op.collection, op.record_id, &op.scope)?
            .apply(op);
        Ok(())
    }

    /// Merges a record from a pull page.
    pub fn apply_pulled(&mut self, record: &PulledRecord) -> Result<(), ScopeChanged> {
        let state = self.entry(&record.collection, record.record_id, &record.scope)?;
        for (name, value) in &record.fields {
            state.merge_field(name.clone(), value.clone());
        }
        if let Some(deleted) = &record.deleted {
            state.merge_deleted(deleted.clone());
        }
        Ok(())
    }

    /// Merges every record of another store (state-based merge: the same result as applying the
    /// union of both stores' ops). Stops at the first record whose scope differs; records merged
    /// before it stay merged.
    pub fn merge(&mut self, other: &Store) -> Result<(), ScopeChanged> {
        for (collection, record_id, state) in other.iter() {
            self.merge_record(collection, *record_id, state)?;
        }
        Ok(())
    }

    /// Merges a whole record state.
    pub fn merge_record(
        &mut self,
        collection: &Collection,
        record_id: RecordId,
        other: &RecordState,
    ) -> Result<(), ScopeChanged> {
        self.entry(collection, record_id, &other.scope)?
            .merge(other);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OpId;
    use serde_json::json;
    use uuid::Uuid;

    fn hlc(ms: u64, node: u8) -> Hlc {
        Hlc::new(ms, 0, Uuid::from_bytes([node; 16])).unwrap()
    }

    fn op(ms: u64, node: u8, change: Change) -> Op {
        Op {
            op_id: OpId::generate(),
            collection: Collection::parse("visits").unwrap(),
            record_id: RecordId(Uuid::from_bytes([7; 16])),
            scope: Scope::parse("m1").unwrap(),
            hlc: hlc(ms, node),
            change,
        }
    }

    fn set(field: &str, value: Value) -> Change {
        Change::Set([(FieldName::parse(field).unwrap(), value)].into())
    }

    #[test]
    fn later_edit_wins_whatever_the_arrival_order() {
        let a = op(10, 1, set("x", json!("old")));
        let b = op(20, 2, set("x", json!("new")));
        let mut s1 = Store::default();
        s1.apply_op(&a).unwrap();
        s1.apply_op(&b).unwrap();
        let mut s2 = Store::default();
        s2.apply_op(&b).unwrap();
        s2.apply_op(&a).unwrap();
        assert_eq!(s1, s2);
        let state = s1.iter().next().unwrap().2;
        assert_eq!(state.fields.values().next().unwrap().value, json!("new"));
    }

    #[test]
    fn edits_after_a_delete_do_not_revive_but_an_undelete_does() {
        let mut store = Store::default();
        store.apply_op(&op(10, 1, set("x", json!(1)))).unwrap();
        store.apply_op(&op(20, 1, Change::Delete(true))).unwrap();
        store.apply_op(&op(30, 2, set("x", json!(2)))).unwrap();
        let state = store.iter().next().unwrap().2.clone();
        assert!(state.is_deleted());
        assert_eq!(state.fields.values().next().unwrap().value, json!(2));
        store.apply_op(&op(15, 2, Change::Delete(false))).unwrap();
        assert!(
            store.iter().next().unwrap().2.is_deleted(),
            "an older undelete loses"
        );
        store.apply_op(&op(40, 2, Change::Delete(false))).unwrap();
        assert!(!store.iter().next().unwrap().2.is_deleted());
    }

    #[test]
    fn equal_readings_break_ties_by_value() {
        let a = op(10, 1, set("x", json!("a")));
        let b = op(10, 1, set("x", json!("b")));
        let mut s1 = Store::default();
        s1.apply_op(&a).unwrap();
        s1.apply_op(&b).unwrap();
        let mut s2 = Store::default();
        s2.apply_op(&b).unwrap();
        s2.apply_op(&a).unwrap();
        assert_eq!(s1, s2);
    }

    #[test]
    fn a_record_keeps_its_scope() {
        let mut store = Store::default();
        store.apply_op(&op(10, 1, set("x", json!(1)))).unwrap();
        let mut moved = op(20, 1, set("x", json!(2)));
        moved.scope = Scope::parse("m2").unwrap();
        assert!(store.apply_op(&moved).is_err());
        let state = store.iter().next().unwrap().2;
        assert_eq!(state.fields.values().next().unwrap().value, json!(1));
    }
}
