//! Property tests of the sync semantics.
//!
//! 1. Merge laws: applying ops in any order with any duplication gives the same `Store`, and
//!    merging stores (state-based) equals applying the union of their ops.
//! 2. Replica convergence: several replicas sync through an in-memory reference server under
//!    random schedules (lost answers and retries, paged pulls, server resets that lose history,
//!    a phone a year ahead and one a day behind); after draining, every replica shows the
//!    server's state and no own edit was lost.
//!
//! The case count follows `PROPTEST_CASES` (default 256).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Value, json};
use sync_protocol::wire::{MAX_CLOCK_SKEW_MS, MAX_OPS_PER_PUSH};
use sync_protocol::{
    Change, Clock, Collection, DeviceId, FieldName, Hlc, Op, OpId, OpResult, OpStatus,
    PullResponse, PulledRecord, PushRequest, PushResponse, RecordId, RejectCode, Replica, Scope,
    Store,
};
use uuid::Uuid;

/// Proptest's defaults, which read `PROPTEST_CASES` (256 when unset); a failing case is saved
/// beside this file as `convergence.proptest-regressions`.
fn config() -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

const FIELDS: [&str; 3] = ["status", "gps", "note"];

fn field(i: usize) -> FieldName {
    FieldName::parse(FIELDS[i]).unwrap()
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..4).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
        Just(json!({"lat": 42.87, "lon": 74.59, "accuracy_m": 8.0})),
        Just(Value::Null),
    ]
}

// ---------------------------------------------------------------------------------------------
// 1. Merge laws
// ---------------------------------------------------------------------------------------------

/// Records shared by the merge-law tests: (collection, id, scope), fixed for life.
fn law_record(i: usize) -> (Collection, RecordId, Scope) {
    let (collection, scope) = if i < 2 {
        ("visits", "m1")
    } else {
        ("comments", "m2")
    };
    (
        Collection::parse(collection).unwrap(),
        RecordId(Uuid::from_u128(0x100 + i as u128)),
        Scope::parse(scope).unwrap(),
    )
}

fn arb_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => prop::collection::btree_map(0..FIELDS.len(), arb_value(), 0..=3)
            .prop_map(|m| Change::Set(m.into_iter().map(|(i, v)| (field(i), v)).collect())),
        1 => Just(Change::Delete(true)),
        1 => Just(Change::Delete(false)),
    ]
}

/// Ops from 4 nodes over 3 records, with readings from a tiny range so that concurrent edits of
/// one field, deletes racing edits and even equal readings (a misbehaving node) are common.
fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    let op = (0usize..3, 0u64..6, 0u32..2, 0u128..4, arb_change());
    prop::collection::vec(op, 1..40).prop_map(|ops| {
        ops.into_iter()
            .enumerate()
            .map(|(i, (record, ms, counter, node, change))| {
                let (collection, record_id, scope) = law_record(record);
                Op {
                    op_id: OpId(Uuid::from_u128(i as u128)),
                    collection,
                    record_id,
                    scope,
                    hlc: Hlc::new(ms, counter, Uuid::from_u128(node)).unwrap(),
                    change,
                }
            })
            .collect()
    })
}

fn apply_all<'a>(ops: impl IntoIterator<Item = &'a Op>) -> Store {
    let mut store = Store::default();
    for op in ops {
        store.apply_op(op).unwrap();
    }
    store
}

fn merged(a: &Store, b: &Store) -> Store {
    let mut out = a.clone();
    out.merge(b).unwrap();
    out
}

proptest! {
    #![proptest_config(config())]

    /// Commutative, associative, idempotent: any order and any duplication of deliveries.
    #[test]
    fn any_order_and_duplication_of_ops_gives_the_same_store(
        (ops, schedule) in arb_ops().prop_flat_map(|ops| {
            let n = ops.len();
            let schedule = prop::collection::vec(0..n, 0..=n)
                .prop_map(move |extra| (0..n).chain(extra).collect::<Vec<_>>())
                .prop_shuffle();
            (Just(ops), schedule)
        })
    ) {
        let reference = apply_all(&ops);
        let shuffled = apply_all(schedule.iter().map(|&i| &ops[i]));
        prop_assert_eq!(&shuffled, &reference);
        let twice = apply_all(ops.iter().flat_map(|op| [op, op]));
        prop_assert_eq!(&twice, &reference);

        // Deletion is the tombstone register alone: the greatest (hlc, value) delete write wins,
        // field edits never revive a record.
        for record in 0..3 {
            let (collection, record_id, _) = law_record(record);
            let expected = ops
                .iter()
                .filter(|op| op.record_id == record_id)
                .filter_map(|op| match op.change {
                    Change::Delete(d) => Some((op.hlc, d)),
                    Change::Set(_) => None,
                })
                .max()
                .is_some_and(|(_, d)| d);
            let deleted = reference.get(&collection, &record_id).is_some_and(|s| s.is_deleted());
            prop_assert_eq!(deleted, expected);
        }
    }

    /// State-based merge is a join and agrees with applying the union of the ops.
    #[test]
    fn merging_stores_equals_applying_the_union_of_their_ops(
        (ops, groups) in arb_ops().prop_flat_map(|ops| {
            let n = ops.len();
            (Just(ops), prop::collection::vec(1u8..8, n))
        })
    ) {
        // Each op goes to a non-empty subset of three stores (so some ops reach several).
        let part = |bit: u8| apply_all(ops.iter().zip(&groups).filter(|(_, g)| *g & bit != 0).map(|(op, _)| op));
        let (a, b, c) = (part(1), part(2), part(4));
        let all = apply_all(&ops);

        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(&merged(&a, &a), &a);
        prop_assert_eq!(&merged(&merged(&a, &b), &c), &all);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Replica convergence through a reference server
// ---------------------------------------------------------------------------------------------

const START_MS: u64 = 1_764_016_260_000;
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// Wall clock error of each device: a year ahead, a day behind, right, 90 s ahead.
const DEVICE_SKEW_MS: [i64; 4] = [YEAR_MS, -DAY_MS, 0, 90_000];
const YEAR_AHEAD: usize = 0;

/// Shared records: (collection, scope) of record i.
const RECORDS: [(&str, &str); 5] = [
    ("visits", "m1"),
    ("visits", "m1"),
    ("visits", "m2"),
    ("comments", "m1"),
    ("comments", "m2"),
];
/// Devices may not write it: every write there is rejected (`read_only_collection`).
const READ_ONLY: &str = "facilities";

fn record(i: usize) -> (Collection, RecordId, Scope) {
    let (collection, scope) = RECORDS[i];
    (
        Collection::parse(collection).unwrap(),
        RecordId(Uuid::from_u128(0x200 + i as u128)),
        Scope::parse(scope).unwrap(),
    )
}

fn device_id(i: usize) -> DeviceId {
    DeviceId(Uuid::from_u128(0x1000 + i as u128))
}

/// A register of a record: a field, or the tombstone (`None`).
type Register = (Collection, RecordId, Option<FieldName>);

/// The server's pull answer when it cannot serve the cursor (HTTP 410 `cursor_reset`).
#[derive(Debug)]
struct CursorReset;

/// In-memory stand-in for the server: a merged store, a change feed numbered by a sequence with
/// per-register tracking (each register appears once, at the number of its latest change),
/// dedup by op id, the clock-skew bound, and resets that may lose the newest history.
struct RefServer {
    clock: Clock,
    epoch: u64,
    seq: u64,
    store: Store,
    latest: BTreeMap<Register, u64>,
    feed: BTreeMap<u64, Register>,
    applied: BTreeMap<OpId, Op>,
    /// Applied ops in order: what a backup holds.
    history: Vec<Op>,
    quarantine: Vec<(Op, RejectCode)>,
}

impl RefServer {
    fn new() -> Self {
        Self {
            clock: Clock::new(Uuid::from_u128(0xffff)),
            epoch: 1,
            seq: 0,
            store: Store::default(),
            latest: BTreeMap::new(),
            feed: BTreeMap::new(),
            applied: BTreeMap::new(),
            history: Vec::new(),
            quarantine: Vec::new(),
        }
    }

    fn push(&mut self, device: DeviceId, req: &PushRequest, wall_ms: u64) -> PushResponse {
        let mut results = Vec::new();
        for op in &req.ops {
            let result = match self.applied.get(&op.op_id) {
                Some(prev) if prev == op => OpResult::duplicate(op.op_id),
                Some(_) => {
                    OpResult::rejected(Some(op.op_id), RejectCode::ConflictingOpId, "reused op id")
                }
                None if op.hlc.node() != device.0 => {
                    OpResult::rejected(Some(op.op_id), RejectCode::HlcNodeMismatch, "not your node")
                }
                None if op.hlc.ms() > wall_ms + MAX_CLOCK_SKEW_MS => {
                    OpResult::rejected(Some(op.op_id), RejectCode::ClockSkew, "hlc too far ahead")
                }
                None if op.collection.as_str() == READ_ONLY => {
                    OpResult::rejected(Some(op.op_id), RejectCode::ReadOnlyCollection, "read only")
                }
                None => match self.apply(op) {
                    Ok(()) => {
                        self.clock.observe(op.hlc, wall_ms);
                        self.applied.insert(op.op_id, op.clone());
                        self.history.push(op.clone());
                        OpResult::applied(op.op_id)
                    }
                    Err(()) => {
                        OpResult::rejected(Some(op.op_id), RejectCode::ScopeChanged, "scope")
                    }
                },
            };
            if result.status == OpStatus::Rejected {
                self.quarantine
                    .push((op.clone(), result.code.clone().unwrap()));
            }
            results.push(result);
        }
        PushResponse {
            results,
            server_hlc: self.clock.tick(wall_ms),
        }
    }

    /// Merges an op, giving every register it changes a new sequence number.
    fn apply(&mut self, op: &Op) -> Result<(), ()> {
        let registers: Vec<Option<FieldName>> = match &op.change {
            Change::Set(fields) => fields.keys().cloned().map(Some).collect(),
            Change::Delete(_) => vec![None],
        };
        let read = |store: &Store, reg: &Option<FieldName>| {
            let state = store.get(&op.collection, &op.record_id)?;
            match reg {
                Some(name) => state.fields.get(name).map(|v| (v.hlc, v.value.clone())),
                None => state
                    .deleted
                    .as_ref()
                    .map(|d| (d.hlc, Value::Bool(d.value))),
            }
        };
        let before: Vec<_> = registers.iter().map(|r| read(&self.store, r)).collect();
        self.store.apply_op(op).map_err(|_| ())?;
        for (reg, before) in registers.into_iter().zip(before) {
            if read(&self.store, &reg) != before {
                self.seq += 1;
                let key = (op.collection.clone(), op.record_id, reg);
                if let Some(old) = self.latest.insert(key.clone(), self.seq) {
                    self.feed.remove(&old);
                }
                self.feed.insert(self.seq, key);
            }
        }
        Ok(())
    }

    fn pull(&self, cursor: Option<&str>, limit: usize) -> Result<PullResponse, CursorReset> {
        let after = match cursor {
            None => 0,
            Some(text) => {
                let (epoch, seq) = text.split_once(':').ok_or(CursorReset)?;
                let (epoch, seq): (u64, u64) = (
                    epoch.parse().map_err(|_| CursorReset)?,
                    seq.parse().map_err(|_| CursorReset)?,
                );
                if epoch != self.epoch || seq > self.seq {
                    return Err(CursorReset);
                }
                seq
            }
        };
        let mut records: Vec<PulledRecord> = Vec::new();
        let mut index: BTreeMap<(Collection, RecordId), usize> = BTreeMap::new();
        let mut last = self.seq;
        let mut more = false;
        for (&seq, (collection, record_id, reg)) in self.feed.range(after + 1..) {
            let key = (collection.clone(), *record_id);
            if !index.contains_key(&key) && records.len() == limit {
                more = true;
                break;
            }
            let state = self.store.get(collection, record_id).unwrap();
            let i = *index.entry(key).or_insert_with(|| {
                records.push(PulledRecord {
                    collection: collection.clone(),
                    record_id: *record_id,
                    scope: state.scope.clone(),
                    fields: BTreeMap::new(),
                    deleted: None,
                });
                records.len() - 1
            });
            match reg {
                Some(name) => {
                    records[i]
                        .fields
                        .insert(name.clone(), state.fields[name].clone());
                }
                None => records[i].deleted = state.deleted.clone(),
            }
            last = seq;
        }
        if !more {
            last = self.seq;
        }
        Ok(PullResponse {
            records,
            cursor: format!("{}:{last}", self.epoch),
            more,
        })
    }

    /// Restores from a backup that lacks the newest `lose` applied ops; every cursor is void.
    fn reset(&mut self, lose: usize) {
        let keep = self.history.len().saturating_sub(lose);
        let history: Vec<Op> = self.history[..keep].to_vec();
        let (clock, epoch, quarantine) = (
            self.clock.clone(),
            self.epoch + 1,
            std::mem::take(&mut self.quarantine),
        );
        *self = Self {
            clock,
            epoch,
            quarantine,
            ..Self::new()
        };
        for op in history {
            self.apply(&op).unwrap();
            self.applied.insert(op.op_id, op.clone());
            self.history.push(op);
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Set(BTreeMap<usize, Value>),
    Delete,
    Undelete,
    /// A write the server refuses.
    ReadOnly,
}

#[derive(Debug, Clone)]
enum Action {
    Edit {
        device: usize,
        record: usize,
        edit: Edit,
    },
    Push {
        device: usize,
        max_ops: usize,
        lose_answer: bool,
    },
    Pull {
        device: usize,
        limit: usize,
    },
    Reset {
        lose: usize,
    },
    Wait {
        ms: u64,
    },
}

fn arb_action() -> impl Strategy<Value = Action> {
    let devices = DEVICE_SKEW_MS.len();
    let edit = prop_oneof![
        6 => prop::collection::btree_map(0..FIELDS.len(), arb_value(), 1..=3).prop_map(Edit::Set),
        2 => Just(Edit::Delete),
        2 => Just(Edit::Undelete),
        1 => Just(Edit::ReadOnly),
    ];
    prop_oneof![
        10 => (0..devices, 0..RECORDS.len(), edit)
            .prop_map(|(device, record, edit)| Action::Edit { device, record, edit }),
        6 => (0..devices, 1usize..5, prop::bool::weighted(0.25))
            .prop_map(|(device, max_ops, lose_answer)| Action::Push { device, max_ops, lose_answer }),
        5 => (0..devices, 1usize..4).prop_map(|(device, limit)| Action::Pull { device, limit }),
        3 => (0u64..=600_000).prop_map(|ms| Action::Wait { ms }),
        1 => (0usize..4).prop_map(|lose| Action::Reset { lose }),
    ]
}

/// A phone: its replica, its wrong wall clock, and what the test knows about its ops.
struct Device {
    id: DeviceId,
    replica: Replica,
    skew_ms: i64,
    /// A batch whose answer was lost: the next push sends it again.
    in_flight: Option<PushRequest>,
    created: Vec<OpId>,
    /// Op versions the server acknowledged (applied or duplicate).
    acked: Vec<Op>,
}

struct World {
    now_ms: u64,
    server: RefServer,
    devices: Vec<Device>,
}

impl World {
    fn new() -> Self {
        let devices = DEVICE_SKEW_MS
            .iter()
            .enumerate()
            .map(|(i, &skew_ms)| Device {
                id: device_id(i),
                replica: Replica::new(device_id(i)),
                skew_ms,
                in_flight: None,
                created: Vec::new(),
                acked: Vec::new(),
            })
            .collect();
        Self {
            now_ms: START_MS,
            server: RefServer::new(),
            devices,
        }
    }

    fn wall(&self, device: usize) -> u64 {
        self.now_ms
            .saturating_add_signed(self.devices[device].skew_ms)
    }

    fn edit(&mut self, device: usize, record_index: usize, edit: &Edit) {
        let wall = self.wall(device);
        let (collection, record_id, scope) = record(record_index);
        let replica = &mut self.devices[device].replica;
        let op_id = match edit {
            Edit::Set(fields) => {
                let fields = fields.iter().map(|(&i, v)| (field(i), v.clone())).collect();
                replica.set(wall, collection, record_id, scope, fields)
            }
            Edit::Delete => replica.delete(wall, collection, record_id, scope),
            Edit::Undelete => replica.undelete(wall, collection, record_id, scope),
            Edit::ReadOnly => {
                let fields = [(field(0), json!("x"))].into();
                replica.set(
                    wall,
                    Collection::parse(READ_ONLY).unwrap(),
                    record_id,
                    scope,
                    fields,
                )
            }
        }
        .unwrap();
        self.devices[device].created.push(op_id);
    }

    /// One push round trip; returns whether anything was sent.
    fn push(&mut self, device: usize, max_ops: usize, lose_answer: bool) -> bool {
        let wall = self.wall(device);
        let dev = &mut self.devices[device];
        let Some(req) = dev
            .in_flight
            .take()
            .or_else(|| dev.replica.push_request(max_ops))
        else {
            return false;
        };
        let resp = self.server.push(dev.id, &req, self.now_ms);
        if lose_answer {
            dev.in_flight = Some(req);
            return true;
        }
        dev.replica.handle_push_response(wall, &req, &resp).unwrap();
        for (op, result) in req.ops.iter().zip(&resp.results) {
            if result.status != OpStatus::Rejected {
                dev.acked.push(op.clone());
            }
        }
        true
    }

    /// One pull page; returns whether more waits.
    fn pull(&mut self, device: usize, limit: usize) -> bool {
        let wall = self.wall(device);
        let replica = &mut self.devices[device].replica;
        match self.server.pull(replica.pull_cursor(), limit) {
            Ok(page) => {
                replica.apply_pull(wall, &page).unwrap();
                page.more
            }
            Err(CursorReset) => {
                replica.handle_reset();
                true
            }
        }
    }

    fn run(&mut self, action: &Action) {
        match *action {
            Action::Edit {
                device,
                record,
                ref edit,
            } => self.edit(device, record, edit),
            Action::Push {
                device,
                max_ops,
                lose_answer,
            } => {
                self.push(device, max_ops, lose_answer);
            }
            Action::Pull { device, limit } => {
                self.pull(device, limit);
            }
            Action::Reset { lose } => self.server.reset(lose),
            Action::Wait { ms } => self.now_ms += ms,
        }
    }

    /// Pushes everything, then pulls everything, for every device, until no device has
    /// anything pending (a pull that meets a reset queues own writes again).
    fn drain(&mut self) -> Result<(), TestCaseError> {
        for _round in 0..6 {
            for device in 0..self.devices.len() {
                let mut trips = 0;
                while self.push(device, MAX_OPS_PER_PUSH, false) {
                    trips += 1;
                    prop_assert!(trips < 20, "device {} cannot get its ops accepted", device);
                }
            }
            for device in 0..self.devices.len() {
                let mut pages = 0;
                while self.pull(device, 3) {
                    pages += 1;
                    prop_assert!(pages < 1000, "device {} pulls forever", device);
                }
            }
            if self.devices.iter().all(|d| d.replica.pending_len() == 0) {
                return Ok(());
            }
        }
        prop_assert!(false, "devices still have pending ops after draining");
        Ok(())
    }
}

fn readings(store: &Store) -> impl Iterator<Item = Hlc> + '_ {
    store.iter().flat_map(|(_, _, state)| {
        state
            .fields
            .values()
            .map(|v| v.hlc)
            .chain(state.deleted.as_ref().map(|d| d.hlc))
    })
}

/// The register a value of `op` landed in, as the server holds it now.
fn server_register(store: &Store, op: &Op, reg: Option<&FieldName>) -> Option<Hlc> {
    let state = store.get(&op.collection, &op.record_id)?;
    match reg {
        Some(name) => state.fields.get(name).map(|v| v.hlc),
        None => state.deleted.as_ref().map(|d| d.hlc),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn replicas_converge_to_the_server_state(schedule in prop::collection::vec(arb_action(), 0..80)) {
        let mut world = World::new();
        for action in &schedule {
            world.run(action);
        }
        world.drain()?;

        let server_state = &world.server.store;
        for (i, device) in world.devices.iter().enumerate() {
            let view = device.replica.records();
            prop_assert_eq!(&view, server_state, "device {} differs from the server", i);

            // No own edit lost: every op was acknowledged or is shown as rejected.
            let acked: BTreeSet<OpId> = device.acked.iter().map(|op| op.op_id).collect();
            let rejected: BTreeSet<OpId> =
                device.replica.rejected().iter().map(|r| r.op.op_id).collect();
            for op_id in &device.created {
                prop_assert!(
                    acked.contains(op_id) || rejected.contains(op_id),
                    "device {}: op {} neither acknowledged nor rejected", i, op_id
                );
            }
            for r in device.replica.rejected() {
                prop_assert_eq!(r.op.collection.as_str(), READ_ONLY);
            }
            // ... and every acknowledged write survives in the server's state or lost to a later
            // one, even across resets that lost history.
            for op in &device.acked {
                let registers: Vec<Option<&FieldName>> = match &op.change {
                    Change::Set(fields) => fields.keys().map(Some).collect(),
                    Change::Delete(_) => vec![None],
                };
                for reg in registers {
                    let held = server_register(server_state, op, reg);
                    prop_assert!(
                        held.is_some_and(|h| h >= op.hlc),
                        "device {}: acknowledged write {:?} of {:?} lost (server holds {:?})",
                        i, reg, op, held
                    );
                }
            }
        }

        // Nothing the server holds, and no reading of the phone a year ahead, is ahead of the
        // server's clock by more than the skew bound.
        let bound = world.now_ms + MAX_CLOCK_SKEW_MS;
        for hlc in readings(server_state) {
            prop_assert!(hlc.ms() <= bound, "server holds {:?}, now is {}", hlc, world.now_ms);
        }
        let ahead = &world.devices[YEAR_AHEAD];
        for op in &ahead.acked {
            prop_assert!(op.hlc.ms() <= bound, "a year-ahead reading was accepted: {:?}", op);
        }
        for r in ahead.replica.rejected() {
            prop_assert!(r.op.hlc.ms() <= bound, "a year-ahead reading was kept: {:?}", r);
        }
        // A phone learns its offset from its first push (a clock_skew answer); one that never
        // pushed still runs on its wrong wall clock, but has made no reading with it.
        if !ahead.created.is_empty() {
            let clock = ahead.replica.clock();
            prop_assert!(clock.last().ms() <= bound, "clock still ahead: {:?}", clock);
        }
    }
}

/// The phone a year ahead edits a field; a minute later a phone with a correct clock edits the
/// same field. The later edit wins everywhere: the skewed reading was re-stamped, not kept.
#[test]
fn a_phone_a_year_ahead_cannot_win_later_conflicts() {
    let mut world = World::new();
    let edit = |v: i64| Edit::Set([(0, json!(v))].into());
    world.edit(YEAR_AHEAD, 0, &edit(1));
    world.drain().unwrap();
    world.now_ms += 60_000;
    world.edit(2, 0, &edit(2));
    world.drain().unwrap();
    let (collection, record_id, _) = record(0);
    for device in &world.devices {
        let state = device.replica.record(&collection, &record_id).unwrap();
        assert_eq!(state.fields[&field(0)].value, json!(2));
    }
}
