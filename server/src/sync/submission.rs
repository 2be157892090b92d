//! Checking visits and survey responses against their forms before they merge: the form and
//! version must be known, every field must fit its question, and the facility or village named
//! must belong to the record's municipality. What fails is rejected with the field and the
//! reason, and kept in quarantine like every other refusal.

use std::collections::HashSet;

use sync_protocol::form::{FormRef, envelope_fields};
use sync_protocol::{Change, RejectCode};

use crate::storage::{CheckedOp, Quarantined, Storage, StorageError, SubmissionContext};

/// One answer per op: `None` when it passes. `prefetched` is a context the caller read already
/// (an OpenRosa request reads it with its instance): it is used when it covers the ops, and
/// read again when it does not.
pub async fn check_with(
    storage: &Storage,
    ops: &[&CheckedOp],
    prefetched: Option<&SubmissionContext>,
) -> Result<Vec<Option<Quarantined>>, StorageError> {
    let mut forms = HashSet::new();
    let mut scopes = HashSet::new();
    let mut records = HashSet::new();
    for checked in ops {
        let op = &checked.op;
        if let Change::Set(_) = &op.change
            && matches!(
                op.collection.as_str(),
                "photos" | "comments" | "recommendations" | "votes"
            )
        {
            records.insert((&op.record_id, &op.collection));
        }
        if let Change::Set(fields) = &op.change
            && !envelope_fields(op.collection.as_str()).is_empty()
        {
            if let Ok(form) = FormRef::from_set(&as_map(fields)) {
                forms.insert(form);
            }
            scopes.insert(&op.scope);
            records.insert((&op.record_id, &op.collection));
        }
    }
    if records.is_empty() {
        return Ok(ops.iter().map(|_| None).collect());
    }
    let read;
    let ctx = match prefetched {
        Some(ctx) if ctx.covers(&forms, &scopes, &records) => ctx,
        _ => {
            read = storage
                .submission_context(&forms, &scopes, &records)
                .await?;
            &read
        }
    };
    let mut created_in_batch = HashSet::new();
    Ok(ops
        .iter()
        .map(|checked| {
            let (code, field, message) = check_one(checked, ctx, &mut created_in_batch)?;
            Some(Quarantined {
                op_id: Some(checked.op.op_id),
                code,
                message,
                body: checked.json.clone(),
                field,
            })
        })
        .collect())
}

type Problem = (RejectCode, Option<String>, String);

fn as_map(
    fields: &std::collections::BTreeMap<sync_protocol::FieldName, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn check_one(
    checked: &CheckedOp,
    ctx: &SubmissionContext,
    created_in_batch: &mut HashSet<(String, String)>,
) -> Option<Problem> {
    let op = &checked.op;
    let Change::Set(fields) = &op.change else {
        return None;
    };
    let collection = op.collection.as_str();
    let set = as_map(fields);
    let fixed_shape = match collection {
        "photos" => Some(super::photos::check as fn(&_, bool) -> _),
        "comments" => Some(super::comments::check as fn(&_, bool) -> _),
        "recommendations" => {
            Some(super::recommendations::check_recommendation as fn(&_, bool) -> _)
        }
        "votes" => Some(super::recommendations::check_vote as fn(&_, bool) -> _),
        _ => None,
    };
    if let Some(check) = fixed_shape {
        let key = (op.record_id.to_string(), collection.to_owned());
        let creating = !ctx.existing.contains(&key) && !created_in_batch.contains(&key);
        if let Some((field, message)) = check(&set, creating) {
            return Some((RejectCode::InvalidField, Some(field), message));
        }
        created_in_batch.insert(key);
        return None;
    }
    if envelope_fields(collection).is_empty() {
        return None;
    }
    let invalid = |field: &str, message: String| {
        Some((RejectCode::InvalidField, Some(field.to_owned()), message))
    };
    let form_ref = match FormRef::from_set(&set) {
        Ok(r) => r,
        Err(e) => return invalid(&e.field, e.message()),
    };
    let Some(form) = ctx.forms.get(&form_ref) else {
        return Some((
            RejectCode::UnknownForm,
            Some("form_version".into()),
            format!(
                "this server does not know {form_ref}; update the forms (pull) and answer a version it has"
            ),
        ));
    };
    if form.collection != op.collection {
        return invalid(
            "form",
            format!(
                "{form_ref} is a form for {}, not {collection}",
                form.collection
            ),
        );
    }
    let key = (op.record_id.to_string(), collection.to_owned());
    let creating = !ctx.existing.contains(&key) && !created_in_batch.contains(&key);
    // A closed version takes no new records; those made before it closed can still be corrected.
    if creating && ctx.closed.contains(&form_ref) {
        return Some((
            RejectCode::Other("form_closed".into()),
            Some("form_version".into()),
            format!("{form_ref} is closed to new submissions; answer the current version"),
        ));
    }
    if let Err(e) = form.validate(&set, creating) {
        return invalid(&e.field, e.message());
    }
    if let Some(code) = set.get("facility").and_then(|v| v.as_str()) {
        match ctx.facilities.get(code) {
            Some((municipality, _)) if municipality != op.scope.as_str() => {
                return invalid(
                    "facility",
                    format!("facility {code} is not in municipality {}", op.scope),
                );
            }
            None => {
                return invalid(
                    "facility",
                    format!("there is no facility {code} in municipality {}", op.scope),
                );
            }
            Some((_, kind))
                if !form.facility_kinds.is_empty() && !form.facility_kinds.contains(kind) =>
            {
                return invalid(
                    "facility",
                    format!(
                        "{form_ref} is for {}; facility {code} is a {kind}",
                        form.facility_kinds.join(", ")
                    ),
                );
            }
            Some(_) => {}
        }
    }
    if let Some(code) = set.get("village").and_then(|v| v.as_str())
        && ctx.villages.get(code).map(String::as_str) != Some(op.scope.as_str())
    {
        return invalid(
            "village",
            format!("there is no village {code} in municipality {}", op.scope),
        );
    }
    created_in_batch.insert(key);
    None
}
