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
}

pub async fn push(
    ctx: PushContext<'_>,
    device: &AuthedDevice,
    raw_ops: &[Box<RawValue>],
) -> Result<PushResponse, AppError> {
    if raw_ops.len() > MAX_OPS_PER_PUSH {
        return Err(AppError::TooManyOps {
            count: raw_ops.len(),
            max: MAX_OPS_PER_PUSH,
        });
    }
    let now = now_ms();
    let mut results: Vec<Option<OpResult>> = vec![None; raw_ops.len()];
    let mut checked = Vec::with_capacity(raw_ops.len());
    let mut positions = Vec::with_capacity(raw_ops.len());
    let mut refused = Vec::new();
    for (i, raw) in raw_ops.iter().enumerate() {
        match check(raw.get(), device, now, ctx.max_clock_skew_ms) {
            Ok(op) => {
                positions.push(i);
                checked.push(op);
            }
            Err(q) => {
                results[i] = Some(OpResult::rejected(
                    q.op_id,
                    q.code.clone(),
                    q.message.clone(),
                ));
                refused.push(q);
            }
        }
    }

    // Form checks read the database, so they run once for the whole batch.
    let problems = super::submission::check(ctx.storage, &checked).await?;
    let mut passed = Vec::with_capacity(checked.len());
    let mut passed_positions = Vec::with_capacity(checked.len());
    for ((i, op), problem) in positions.into_iter().zip(checked).zip(problems) {
        match problem {
            None => {
                passed.push(op);
                passed_positions.push(i);
            }
            Some(q) => {
                results[i] = Some(
                    OpResult::rejected(q.op_id, q.code.clone(), q.message.clone())
                        .with_field(q.field.clone()),
                );
                refused.push(q);
            }
        }
    }
    let (checked, positions) = (passed, passed_positions);

    let verdicts = ctx
        .storage
        .apply_push(device.device_id, now as i64, &checked, &refused)
        .await?;

    let mut results_applied = Vec::with_capacity(checked.len());
    for ((i, op), verdict) in positions.into_iter().zip(&checked).zip(verdicts) {
        results_applied.push(verdict == Verdict::Applied);
        let op_id = op.op.op_id;
        results[i] = Some(match verdict {
            Verdict::Applied => {
                ctx.clock.observe(op.op.hlc, now);
                OpResult::applied(op_id)
            }
            Verdict::Duplicate => OpResult::duplicate(op_id),
            Verdict::Rejected(code, message) => OpResult::rejected(Some(op_id), code, message),
        });
    }
    // Evidence is a projection of what just committed: its failure must not turn an ack into an
    // error (the ops are merged); `jmet flags rebuild` recomputes it.
    let touched: Vec<_> = checked
        .iter()
        .zip(&results_applied)
        .filter(|(_, applied)| **applied)
        .map(|(op, _)| {
            (
                op.op.collection.to_string(),
                op.op.record_id.to_string(),
                op.op.scope.to_string(),
            )
        })
        .collect();
    if let Err(e) =
        crate::evidence::flags::after_push(ctx.storage, &touched, device.device_id, now as i64)
            .await
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
    let results = results
        .into_iter()
        .map(|r| r.ok_or_else(|| AppError::internal("an op got no verdict")))
        .collect::<Result<_, _>>()?;
    Ok(PushResponse {
        results,
        server_hlc: ctx.clock.tick(now),
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
