//! Request and response bodies of protocol v1, exactly as they travel as JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::hlc::Hlc;
use crate::ids::{Collection, FieldName, OpId, RecordId, Scope};

/// Most ops the server takes in one push.
pub const MAX_OPS_PER_PUSH: usize = 1000;
/// The scope of reference data every device pulls (forms); no device writes it.
pub const GLOBAL_SCOPE: &str = "global";
/// Most fields one op may set.
pub const MAX_FIELDS_PER_OP: usize = 256;
/// Largest JSON encoding of one field value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Deepest nesting of arrays and objects inside one field value.
pub const MAX_VALUE_DEPTH: usize = 16;
/// Records per pull page when the client names no limit, and the most it may ask for.
pub const DEFAULT_PULL_LIMIT: usize = 500;
pub const MAX_PULL_LIMIT: usize = 5000;
/// How far ahead of the server's wall clock an op's HLC may be before the server answers
/// `clock_skew` (5 minutes).
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// What an op does to its record.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Sets these fields; each one merges on its own.
    Set(BTreeMap<FieldName, Value>),
    /// `true` deletes the record (a tombstone); `false` undeletes it.
    Delete(bool),
}

/// One change to one record, made on a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawOp", into = "RawOp")]
pub struct Op {
    pub op_id: OpId,
    pub collection: Collection,
    pub record_id: RecordId,
    pub scope: Scope,
    pub hlc: Hlc,
    pub change: Change,
}

/// The JSON shape of an op; `Op` is this after its one-of rule is checked.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    op_id: OpId,
    collection: Collection,
    record_id: RecordId,
    scope: Scope,
    hlc: Hlc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    set: Option<BTreeMap<FieldName, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delete: Option<bool>,
}

impl TryFrom<RawOp> for Op {
    type Error = OpShapeError;

    fn try_from(raw: RawOp) -> Result<Self, Self::Error> {
        let change = match (raw.set, raw.delete) {
            (Some(fields), None) => {
                check_fields(&fields)?;
                Change::Set(fields)
            }
            (None, Some(deleted)) => Change::Delete(deleted),
            (Some(_), Some(_)) => return Err(OpShapeError::BothSetAndDelete),
            (None, None) => return Err(OpShapeError::NeitherSetNorDelete),
        };
        Ok(Op {
            op_id: raw.op_id,
            collection: raw.collection,
            record_id: raw.record_id,
            scope: raw.scope,
            hlc: raw.hlc,
            change,
        })
    }
}

impl From<Op> for RawOp {
    fn from(op: Op) -> Self {
        let (set, delete) = match op.change {
            Change::Set(fields) => (Some(fields), None),
            Change::Delete(deleted) => (None, Some(deleted)),
        };
        RawOp {
            op_id: op.op_id,
            collection: op.collection,
            record_id: op.record_id,
            scope: op.scope,
            hlc: op.hlc,
            set,
            delete,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpShapeError {
    #[error("an op has either \"set\" or \"delete\", not both")]
    BothSetAndDelete,
    #[error("an op needs \"set\" (an object of fields) or \"delete\" (true or false)")]
    NeitherSetNorDelete,
    #[error("an op may set at most {MAX_FIELDS_PER_OP} fields, this one sets {0}")]
    TooManyFields(usize),
    #[error("field {0}: the value is larger than {MAX_VALUE_BYTES} bytes")]
    ValueTooLarge(String),
    #[error("field {0}: the value nests deeper than {MAX_VALUE_DEPTH} levels")]
    ValueTooDeep(String),
}

impl Change {
    /// Checks the limits the wire format puts on a change (fields per op, size and depth of each
    /// value). An op that fails this cannot be sent, nor read back from storage.
    pub fn check(&self) -> Result<(), OpShapeError> {
        match self {
            Change::Set(fields) => check_fields(fields),
            Change::Delete(_) => Ok(()),
        }
    }
}

fn check_fields(fields: &BTreeMap<FieldName, Value>) -> Result<(), OpShapeError> {
    if fields.len() > MAX_FIELDS_PER_OP {
        return Err(OpShapeError::TooManyFields(fields.len()));
    }
    for (name, value) in fields {
        check_value(name, value)?;
    }
    Ok(())
}

fn check_value(name: &FieldName, value: &Value) -> Result<(), OpShapeError> {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if depth(value) > MAX_VALUE_DEPTH {
        return Err(OpShapeError::ValueTooDeep(name.to_string()));
    }
    if encoded_len(value) > MAX_VALUE_BYTES {
        return Err(OpShapeError::ValueTooLarge(name.to_string()));
    }
    Ok(())
}

fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing into a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// `POST /api/v1/sync/push` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub ops: Vec<Op>,
}

/// The answer to one op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Merged and durably stored now.
    Applied,
    /// Merged and stored by an earlier push with the same op id.
    Duplicate,
    /// Not merged; kept in the server's quarantine with the reason.
    Rejected,
}

/// Why an op was rejected. Unknown codes from a newer server parse as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// The op is not valid JSON of the op shape (see the message).
    MalformedOp,
    /// The `hlc` is not in the text form.
    BadHlc,
    /// The `hlc` is too far ahead of the server's clock: re-stamp after `server_hlc`, retry.
    ClockSkew,
    /// The `hlc` node is not the pushing device's id.
    HlcNodeMismatch,
    /// The device may not write this scope.
    ScopeNotGranted,
    /// The record already exists in another scope; a record's scope never changes.
    ScopeChanged,
    /// The server knows no collection of that name.
    UnknownCollection,
    /// The collection is reference data that devices only read.
    ReadOnlyCollection,
    /// The same op id appears earlier in the same push with different content.
    ConflictingOpId,
    /// The op names a form (`form`, `form_version`) the server does not know.
    UnknownForm,
    /// A field breaks its form's definition; `field` in the result names it.
    InvalidField,
    Other(String),
}

impl RejectCode {
    pub fn as_str(&self) -> &str {
        match self {
            Self::MalformedOp => "malformed_op",
            Self::BadHlc => "bad_hlc",
            Self::ClockSkew => "clock_skew",
            Self::HlcNodeMismatch => "hlc_node_mismatch",
            Self::ScopeNotGranted => "scope_not_granted",
            Self::ScopeChanged => "scope_changed",
            Self::UnknownCollection => "unknown_collection",
            Self::ReadOnlyCollection => "read_only_collection",
            Self::ConflictingOpId => "conflicting_op_id",
            Self::UnknownForm => "unknown_form",
            Self::InvalidField => "invalid_field",
            Self::Other(code) => code,
        }
    }

    pub fn from_code(code: &str) -> Self {
        match code {
            "malformed_op" => Self::MalformedOp,
            "bad_hlc" => Self::BadHlc,
            "clock_skew" => Self::ClockSkew,
            "hlc_node_mismatch" => Self::HlcNodeMismatch,
            "scope_not_granted" => Self::ScopeNotGranted,
            "scope_changed" => Self::ScopeChanged,
            "unknown_collection" => Self::UnknownCollection,
            "read_only_collection" => Self::ReadOnlyCollection,
            "conflicting_op_id" => Self::ConflictingOpId,
            "unknown_form" => Self::UnknownForm,
            "invalid_field" => Self::InvalidField,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RejectCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RejectCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_code(&String::deserialize(d)?))
    }
}

/// One entry of a push answer, in the order the ops were sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    /// `null` only when the op was too malformed to carry a readable op id.
    pub op_id: Option<OpId>,
    pub status: OpStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<RejectCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// With `invalid_field`: the field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl OpResult {
    pub fn applied(op_id: OpId) -> Self {
        Self {
            op_id: Some(op_id),
            status: OpStatus::Applied,
            code: None,
            message: None,
            field: None,
        }
    }

    pub fn duplicate(op_id: OpId) -> Self {
        Self {
            op_id: Some(op_id),
            status: OpStatus::Duplicate,
            code: None,
            message: None,
            field: None,
        }
    }

    pub fn rejected(op_id: Option<OpId>, code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            op_id,
            status: OpStatus::Rejected,
            code: Some(code),
            message: Some(message.into()),
            field: None,
        }
    }

    /// Names the field at fault, for `invalid_field`.
    pub fn with_field(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }
}

/// `POST /api/v1/sync/push` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<OpResult>,
    /// The server's clock after this push; clients observe it and learn their clock's offset.
    pub server_hlc: Hlc,
}

/// A value with the clock reading that wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub value: T,
    pub hlc: Hlc,
}

/// One record in a pull page: the fields that changed after the cursor, with their readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulledRecord<V = Value> {
    pub collection: Collection,
    pub record_id: RecordId,
    pub scope: Scope,
    pub fields: BTreeMap<FieldName, Versioned<V>>,
    /// The record's tombstone register, when it changed after the cursor.
    pub deleted: Option<Versioned<bool>>,
}

/// `GET /api/v1/sync/pull` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse<V = Value> {
    pub records: Vec<PulledRecord<V>>,
    /// Opaque; send it as `cursor` on the next pull. Store it only after applying `records`.
    pub cursor: String,
    /// `true` when more changes wait after `cursor`: pull again at once.
    pub more: bool,
}

/// Body of every error that concerns a request as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// `code` of the answer to a pull whose cursor the server can no longer serve (HTTP 410).
pub const RESET_CODE: &str = "cursor_reset";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op_json(extra: Value) -> Value {
        let mut op = json!({
            "op_id": "6f1c1b1e-8d6a-4f7e-9a57-0a1b2c3d4e5f",
            "collection": "visits",
            "record_id": "1b0e2f7c-54aa-4b1d-8f0e-9a8b7c6d5e4f",
            "scope": "KG-NAR-01",
            "hlc": "001764016260123-00000-0c8e5a1e-4b1f-4c1a-9d0e-2f4b6c8d0a11",
        });
        op.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        op
    }

    #[test]
    fn set_and_delete_round_trip() {
        for extra in [
            json!({"set": {"a": 1, "b": {"lat": 42.1, "lon": 75.2}}}),
            json!({"delete": true}),
            json!({"delete": false}),
        ] {
            let value = op_json(extra);
            let op: Op = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&op).unwrap(), value);
        }
    }

    #[test]
    fn shape_errors_are_named() {
        let both = op_json(json!({"set": {}, "delete": true}));
        let err = serde_json::from_value::<Op>(both).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
        let neither = op_json(json!({}));
        assert!(serde_json::from_value::<Op>(neither).is_err());
        let unknown = op_json(json!({"set": {}, "sets": {}}));
        let err = serde_json::from_value::<Op>(unknown)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
        let deep = (0..20).fold(json!(1), |v, _| json!([v]));
        assert!(serde_json::from_value::<Op>(op_json(json!({"set": {"x": deep}}))).is_err());
        let big = json!("x".repeat(MAX_VALUE_BYTES));
        assert!(serde_json::from_value::<Op>(op_json(json!({"set": {"x": big}}))).is_err());
    }

    #[test]
    fn unknown_reject_codes_survive() {
        let code: RejectCode = serde_json::from_value(json!("photo_too_blurry")).unwrap();
        assert_eq!(code, RejectCode::Other("photo_too_blurry".into()));
        let known: RejectCode = serde_json::from_value(json!("invalid_field")).unwrap();
        assert_eq!(known, RejectCode::InvalidField);
        assert_eq!(
            serde_json::to_value(RejectCode::ClockSkew).unwrap(),
            json!("clock_skew")
        );
    }
}
