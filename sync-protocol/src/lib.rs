//! The JMET sync protocol: wire types, the hybrid logical clock, the merge rules and a client
//! replica. No I/O: a phone app, a simulator and the server all link this crate and agree by
//! construction. The protocol itself is described in `PROTOCOL.md` beside this crate.

pub mod form;
pub mod hlc;
pub mod ids;
pub mod merge;
pub mod replica;
pub mod review;
pub mod wire;

pub use form::{
    Choice, FieldError, FieldProblem, FormDef, FormDefError, FormRef, Labels, Question,
    QuestionKind, envelope_fields,
};
pub use hlc::{Clock, Hlc, HlcError};
pub use ids::{Collection, DeviceId, FieldName, FormId, NameError, OpId, RecordId, Scope};
pub use merge::{RecordKey, RecordState, ScopeChanged, Store, canonical_json};
pub use replica::{PushOutcome, RejectedOp, Replica, ReplicaError};
pub use wire::{
    Change, ErrorBody, Op, OpResult, OpShapeError, OpStatus, PullResponse, PulledRecord,
    PushRequest, PushResponse, RejectCode, Versioned,
};
