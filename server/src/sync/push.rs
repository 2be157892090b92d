//! `POST /api/v1/sync/push`: check each op, merge what passes, quarantine what does not.

use serde_json::value::RawValue;
use sync_protocol::wire::MAX_OPS_PER_PUSH;
use sync_protocol::{Hlc, Op, OpId, OpResult, PushResponse, RejectCode};

use super::collections::{CollectionAccess, collection_access, writable_names};
use super::{ServerClock, now_ms};
use crate::error::AppError;
use crate::storage::{AuthedDevice, CheckedOp, Quarantined, Storage, Verdict};

/// The parts of the server a push needs.
pub struct PushContext<'a> {
    pub storage: &'a Storage,
    pub clock: &'a ServerClock,
    pub max_clock_skew_ms: u64,
    pub project_indicators: bool,
    /// Recompute the evidence flags of what was merged before answering (the OpenRosa batch
    /// writer leaves it to its projector instead).
    pub derive_evidence: bool,
}

pub async fn push(
    ctx: PushContext<'_>,
    device: &AuthedDevice,
    raw_ops: &[Box<RawValue>],
) -> Result<PushResponse, AppError> {
    push_many(ctx, &[(device, raw_ops)], |_| Vec::new())
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("a push got no answer"))
}

/// Several devices' pushes at once, as one: checked together, merged in one transaction, their
/// evidence and indicators projected once. The OpenRosa path batches concurrent submissions
/// this way; each push is answered as if it had come alone. `keep` is given, per push, why its
/// refused ops were refused (empty when all passed) and makes the OpenRosa instances kept in the
/// same transaction.
pub async fn push_many<F>(
    ctx: PushContext<'_>,
    pushes: &[(&AuthedDevice, &[Box<RawValue>])],
    keep: F,
) -> Result<Vec<PushResponse>, AppError>
where
    F: FnOnce(&[Vec<String>]) -> Vec<crate::storage::OpenRosaInstance>,
{
    let checked = check_pushes(&ctx, pushes).await?;
    let pushes: Vec<(&AuthedDevice, CheckedPush)> = pushes
        .iter()
        .map(|(device, _)| *device)
        .zip(checked)
        .collect();
    merge_checked(ctx, pushes, keep).await
}

/// A push after every check that comes before the merge: each op's answer so far, the ops
/// that passed, their positions in the push, and the refused ones to quarantine.
pub struct CheckedPush {
    now: u64,
    results: Vec<Option<OpResult>>,
    checked: Vec<CheckedOp>,
    positions: Vec<usize>,
    refused: Vec<Quarantined>,
    /// Photos that came with the push (an OpenRosa submission's attachments, processed, their
    /// bytes in the blob store), stored in the merge's transaction.
    photos: Vec<crate::storage::PhotoBlob>,
}

impl CheckedPush {
    /// Stores these photos' rows with the push.
    pub fn with_photos(mut self, photos: Vec<crate::storage::PhotoBlob>) -> Self {
        self.photos = photos;
        self
    }
}

/// Checks pushes against their devices, the clock and their forms, reading the database once
/// for all of them. It writes nothing, so it can run beside a merge in progress; what the merge
/// then finds (an op already applied, a record changed since) it decides itself.
pub async fn check_pushes(
    ctx: &PushContext<'_>,
    pushes: &[(&AuthedDevice, &[Box<RawValue>])],
) -> Result<Vec<CheckedPush>, AppError> {
    check_pushes_with(ctx, pushes, None).await
}

/// As [`check_pushes`], with the form context read already where the caller has it.
pub async fn check_pushes_with(
    ctx: &PushContext<'_>,
    pushes: &[(&AuthedDevice, &[Box<RawValue>])],
    prefetched: Option<&crate::storage::SubmissionContext>,
) -> Result<Vec<CheckedPush>, AppError> {
    for (_, raw_ops) in pushes {
        if raw_ops.len() > MAX_OPS_PER_PUSH {
            return Err(AppError::TooManyOps {
                count: raw_ops.len(),
                max: MAX_OPS_PER_PUSH,
            });
        }
    }
    let now = now_ms();
    let mut pending: Vec<CheckedPush> = Vec::with_capacity(pushes.len());
    for (device, raw_ops) in pushes {
        let mut p = CheckedPush {
            now,
            results: vec![None; raw_ops.len()],
            checked: Vec::with_capacity(raw_ops.len()),
            positions: Vec::with_capacity(raw_ops.len()),
            refused: Vec::new(),
            photos: Vec::new(),
        };
        for (i, raw) in raw_ops.iter().enumerate() {
            match check(raw.get(), device, now, ctx.max_clock_skew_ms) {
                Ok(op) => {
                    p.positions.push(i);
                    p.checked.push(op);
                }
                Err(q) => {
                    p.results[i] = Some(OpResult::rejected(
                        q.op_id,
                        q.code.clone(),
                        q.message.clone(),
                    ));
                    p.refused.push(q);
                }
            }
        }
        pending.push(p);
    }

    // Form checks read the database, so they run once for all the ops.
    let all: Vec<&CheckedOp> = pending.iter().flat_map(|p| p.checked.iter()).collect();
    let mut problems = super::submission::check_with(ctx.storage, &all, prefetched)
        .await?
        .into_iter();
    for p in &mut pending {
        let mut passed = Vec::with_capacity(p.checked.len());
        let mut passed_positions = Vec::with_capacity(p.checked.len());
        for (i, op) in p.positions.drain(..).zip(p.checked.drain(..)) {
            match problems.next().flatten() {
                None => {
                    passed.push(op);
                    passed_positions.push(i);
                }
                Some(q) => {
                    p.results[i] = Some(
                        OpResult::rejected(q.op_id, q.code.clone(), q.message.clone())
                            .with_field(q.field.clone()),
                    );
                    p.refused.push(q);
                }
            }
        }
        p.checked = passed;
        p.positions = passed_positions;
    }
    Ok(pending)
}

/// Merges checked pushes in one transaction and answers each; see [`push_many`].
pub async fn merge_checked<F>(
    ctx: PushContext<'_>,
    pushes: Vec<(&AuthedDevice, CheckedPush)>,
    keep: F,
) -> Result<Vec<PushResponse>, AppError>
where
    F: FnOnce(&[Vec<String>]) -> Vec<crate::storage::OpenRosaInstance>,
{
    let now = pushes.iter().map(|(_, p)| p.now).fold(now_ms(), u64::max);
    let (devices, mut pending): (Vec<&AuthedDevice>, Vec<CheckedPush>) = pushes.into_iter().unzip();
    let batch: Vec<_> = devices
        .iter()
        .zip(&pending)
        .map(|(device, p)| (device.device_id, p.checked.as_slice(), p.refused.as_slice()))
        .collect();
    let actors: Vec<String> = devices
        .iter()
        .map(|d| format!("device:{}", d.device_id))
        .collect();
    let photos: Vec<(&crate::storage::PhotoBlob, &str)> = pending
        .iter()
        .zip(&actors)
        .flat_map(|(p, actor)| p.photos.iter().map(move |blob| (blob, actor.as_str())))
        .collect();
    let verdicts = ctx
        .storage
        .apply_pushes(now as i64, &batch, &photos, |verdicts| {
            let refusals: Vec<Vec<String>> = pending
                .iter()
                .zip(verdicts)
                .map(|(p, verdicts)| {
                    let before = p.results.iter().flatten().filter_map(refusal);
                    let now = verdicts.iter().filter_map(|v| match v {
                        Verdict::Rejected(_, message) => Some(message.clone()),
                        _ => None,
                    });
                    before.chain(now).collect()
                })
                .collect();
            keep(&refusals)
        })
        .await?;

    let mut touched = Vec::new();
    for (p, verdicts) in pending.iter_mut().zip(verdicts) {
        for ((i, op), verdict) in p.positions.iter().zip(&p.checked).zip(verdicts) {
            let op_id = op.op.op_id;
            if verdict == Verdict::Applied {
                touched.push((
                    op.op.collection.to_string(),
                    op.op.record_id.to_string(),
                    op.op.scope.to_string(),
                ));
            }
            p.results[*i] = Some(match verdict {
                Verdict::Applied => {
                    ctx.clock.observe(op.op.hlc, now);
                    OpResult::applied(op_id)
                }
                Verdict::Duplicate => OpResult::duplicate(op_id),
                Verdict::Rejected(code, message) => OpResult::rejected(Some(op_id), code, message),
            });
        }
    }
    // Evidence is a projection of what just committed: its failure must not turn an ack into an
    // error (the ops are merged); `jmet flags rebuild` recomputes it.
    if ctx.derive_evidence
        && let Err(e) = crate::evidence::flags::after_push(ctx.storage, &touched, now as i64).await
    {
        tracing::warn!(error = %e, "evidence projection failed after a push; run `jmet flags rebuild`");
    }
    if ctx.project_indicators {
        let scopes: std::collections::BTreeSet<String> =
            touched.iter().map(|(_, _, scope)| scope.clone()).collect();
        let scopes: Vec<String> = scopes.into_iter().collect();
        if let Err(e) = crate::series::project::catch_up(ctx.storage, &scopes).await {
            tracing::warn!(error = %e, "indicator projection failed after a push; it catches up with the next push to the scope or at start");
        }
    }
    pending
        .into_iter()
        .map(|p| {
            let results = p
                .results
                .into_iter()
                .map(|r| r.ok_or_else(|| AppError::internal("an op got no verdict")))
                .collect::<Result<_, _>>()?;
            Ok(PushResponse {
                results,
                server_hlc: ctx.clock.tick(now),
            })
        })
        .collect()
}

/// Why a refused op was refused, with the field at fault.
fn refusal(result: &OpResult) -> Option<String> {
    (result.status == sync_protocol::OpStatus::Rejected).then(|| {
        let field = result
            .field
            .as_ref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        format!("{}{field}", result.message.clone().unwrap_or_default())
    })
}

/// Every check that needs no database, in the order a client would want to hear about them.
fn check(
    raw: &str,
    device: &AuthedDevice,
    now_ms: u64,
    max_skew_ms: u64,
) -> Result<CheckedOp, Quarantined> {
    let op: Op = serde_json::from_str(raw).map_err(|e| shape_refusal(raw, e))?;
    let refuse = |code: RejectCode, message: String| Quarantined {
        op_id: Some(op.op_id),
        code,
        message,
        body: raw.to_owned(),
        field: None,
    };
    // Clock checks come first: a phone whose clock is wrong learns it from any op it sends.
    if op.hlc.node() != device.device_id.0 {
        return Err(refuse(
            RejectCode::HlcNodeMismatch,
            format!("the hlc node must be this device's id {}", device.device_id),
        ));
    }
    let limit = now_ms.saturating_add(max_skew_ms);
    if op.hlc.ms() > limit {
        let ahead_s = (op.hlc.ms() - now_ms) / 1000;
        return Err(refuse(
            RejectCode::ClockSkew,
            format!(
                "the hlc is {ahead_s} s ahead of the server's clock (at most {} s allowed); \
                 correct the clock by server_hlc, re-stamp and push again",
                max_skew_ms / 1000
            ),
        ));
    }
    match collection_access(&op.collection) {
        Some(CollectionAccess::DeviceWritable) => {}
        Some(CollectionAccess::ReadOnly) => {
            return Err(refuse(
                RejectCode::ReadOnlyCollection,
                format!(
                    "collection {} is reference data; devices only pull it",
                    op.collection
                ),
            ));
        }
        None => {
            return Err(refuse(
                RejectCode::UnknownCollection,
                format!(
                    "there is no collection {}; devices write {}",
                    op.collection,
                    writable_names()
                ),
            ));
        }
    }
    if !device.may_access(&op.scope) {
        return Err(refuse(
            RejectCode::ScopeNotGranted,
            format!("this device may not write scope {}", op.scope),
        ));
    }
    // Serialising an `Op` cannot fail: every part is a string, number, bool or map of JSON.
    let json = serde_json::to_string(&op).unwrap_or_default();
    Ok(CheckedOp { op, json })
}

fn shape_refusal(raw: &str, error: serde_json::Error) -> Quarantined {
    let value: Option<serde_json::Value> = serde_json::from_str(raw).ok();
    let field = |name: &str| {
        value
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
    };
    let op_id = field("op_id").and_then(|s| s.parse::<OpId>().ok());
    let (code, message) = match field("hlc").map(str::parse::<Hlc>) {
        Some(Err(hlc_error)) => (RejectCode::BadHlc, format!("hlc: {hlc_error}")),
        _ => (RejectCode::MalformedOp, error.to_string()),
    };
    Quarantined {
        op_id,
        code,
        message,
        body: raw.to_owned(),
        field: None,
    }
}
