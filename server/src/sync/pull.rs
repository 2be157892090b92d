//! `GET /api/v1/sync/pull`: the changes of a device's scopes after its cursor.

use std::collections::{BTreeMap, HashMap};
use sync_protocol::wire::GLOBAL_SCOPE;

use serde_json::value::RawValue;
use sync_protocol::wire::{DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, Versioned};
use sync_protocol::{Collection, FieldName, Hlc, PullResponse, PulledRecord, RecordId, Scope};

use super::Cursor;
use crate::error::AppError;
use crate::storage::{AuthedDevice, PullRow, Storage, deleted_register};

pub type PullOutcome = PullResponse<Box<RawValue>>;

/// Rows fetched per record asked for: records usually change a few fields at a time.
const ROWS_PER_RECORD: usize = 10;
/// Most registers in one page, whatever the limit: bounds the memory a page takes (about a MB of
/// JSON) on a server that answers many phones at once. A capped page says `more: true`.
const MAX_ROWS_PER_PAGE: usize = 10_000;

pub async fn pull(
    storage: &Storage,
    device: &AuthedDevice,
    cursor: Option<&str>,
    limit: Option<&str>,
) -> Result<PullOutcome, AppError> {
    let limit = parse_limit(limit)?;
    // An empty cursor is the same as none: some HTTP clients always send the parameter.
    let after = match cursor.filter(|c| !c.is_empty()) {
        None => Cursor::START,
        Some(text) => {
            let cursor = Cursor::decode(text, storage.epoch()).ok_or_else(|| {
                AppError::CursorReset("this cursor is not from this server's database".into())
            })?;
            if cursor.seq > storage.head_seq().await? {
                return Err(AppError::CursorReset(
                    "this cursor is ahead of the server's data (was it restored from a backup?)"
                        .into(),
                ));
            }
            cursor
        }
    };
    let max_rows = (limit * ROWS_PER_RECORD).min(MAX_ROWS_PER_PAGE);
    // Every device also reads the global scope: forms, the same for all municipalities.
    let mut scopes = device.scopes.clone();
    let global =
        sync_protocol::Scope::parse(GLOBAL_SCOPE).map_err(|e| AppError::internal(e.to_string()))?;
    if !scopes.contains(&global) {
        scopes.push(global);
    }
    let page = storage.pull(&scopes, after.seq, max_rows).await?;

    let mut records: Vec<PulledRecord<Box<RawValue>>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut last_seq = after.seq;
    let mut more = page.more;
    for row in page.rows {
        let key = (row.collection.clone(), row.record_id.clone());
        let slot = match index.get(&key) {
            Some(&slot) => slot,
            None if records.len() == limit => {
                more = true;
                break;
            }
            None => {
                records.push(new_record(&row)?);
                index.insert(key, records.len() - 1);
                records.len() - 1
            }
        };
        last_seq = row.seq;
        add_register(&mut records[slot], row)?;
    }
    Ok(PullResponse {
        records,
        cursor: Cursor { seq: last_seq }.encode(storage.epoch()),
        more,
    })
}

fn parse_limit(limit: Option<&str>) -> Result<usize, AppError> {
    let Some(text) = limit else {
        return Ok(DEFAULT_PULL_LIMIT);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_PULL_LIMIT).contains(&n) => Ok(n),
        _ => Err(AppError::InvalidLimit(format!(
            "limit must be a whole number from 1 to {MAX_PULL_LIMIT}, not {text:?}"
        ))),
    }
}

fn corrupt(what: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("stored change feed row is invalid: {what}"))
}

fn new_record(row: &PullRow) -> Result<PulledRecord<Box<RawValue>>, AppError> {
    Ok(PulledRecord {
        collection: Collection::parse(row.collection.as_str()).map_err(corrupt)?,
        record_id: row.record_id.parse::<RecordId>().map_err(corrupt)?,
        scope: Scope::parse(row.scope.as_str()).map_err(corrupt)?,
        fields: BTreeMap::new(),
        deleted: None,
    })
}

fn add_register(record: &mut PulledRecord<Box<RawValue>>, row: PullRow) -> Result<(), AppError> {
    let hlc: Hlc = row.hlc.parse().map_err(corrupt)?;
    if row.field == crate::storage::DELETED_FIELD {
        record.deleted =
            Some(deleted_register(&row.value, hlc).ok_or_else(|| corrupt(&row.value))?);
    } else {
        let name = FieldName::parse(row.field).map_err(corrupt)?;
        let value = RawValue::from_string(row.value).map_err(corrupt)?;
        record.fields.insert(name, Versioned { value, hlc });
    }
    Ok(())
}
