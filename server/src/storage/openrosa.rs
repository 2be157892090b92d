//! What the OpenRosa path keeps beside the records it makes: each instance as received, and
//! which form versions are closed.

use sync_protocol::FormId;

use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};

/// An instance the server has received, by its `meta/instanceID`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRosaInstance {
    pub instance_id: String,
    pub form_id: String,
    pub form_version: u32,
    pub collection: String,
    pub record_id: String,
    pub device_id: String,
    pub deprecated_id: Option<String>,
    pub xml_sha256: String,
    pub xml: String,
    /// The last part of a split submission has arrived.
    pub complete: bool,
    /// `applied`, or why the record was refused (it is then in quarantine).
    pub outcome: String,
    pub received_at_ms: i64,
}

impl Storage {
    pub async fn openrosa_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<OpenRosaInstance>, StorageError> {
        let q = Sql::new(self.backend())
            .push(&format!(
                "SELECT {INSTANCE_AS_TEXT} FROM openrosa_submissions WHERE instance_id = "
            ))
            .bind(instance_id);
        match sql::query_all(&self.db, q).await?.first() {
            Some(row) => Ok(Some(instance_from_text(row, 0)?)),
            None => Ok(None),
        }
    }

    /// Closes a form version to new submissions (through any path); answers whether it was open.
    pub async fn close_form(
        &self,
        id: &FormId,
        version: u32,
        actor: &str,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("UPDATE forms SET closed_at_ms = ")
            .bind(now_ms)
            .push(" WHERE form_id = ")
            .bind(id.as_str())
            .push(" AND version = ")
            .bind(i64::from(version))
            .push(" AND closed_at_ms IS NULL");
        let changed = sql::execute(&write.tx, q).await? > 0;
        if changed {
            let detail = serde_json::json!({"form": id, "version": version}).to_string();
            audit::record(&write.tx, backend, now_ms, actor, "form.close", detail).await?;
        }
        write.tx.commit().await?;
        Ok(changed)
    }

    /// The form versions closed to new submissions.
    pub async fn closed_forms(&self) -> Result<Vec<(String, u32)>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT form_id, version FROM forms WHERE closed_at_ms IS NOT NULL");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push((
                row.try_get_by_index(0)?,
                u32::try_from(row.try_get_by_index::<i32>(1)?).unwrap_or_default(),
            ));
        }
        Ok(out)
    }
}

/// An instance's columns of `openrosa_submissions`, all as text, so that they fit a union of
/// text columns (`openrosa_context`); read back by [`instance_from_text`].
pub(super) const INSTANCE_AS_TEXT: &str = "instance_id, form_id, CAST(form_version AS TEXT), \
     collection, record_id, device_id, COALESCE(deprecated_id, ''), xml_sha256, xml, \
     CAST(complete AS TEXT), outcome, CAST(received_at_ms AS TEXT)";

/// An instance from a row whose twelve columns from `at` on are [`INSTANCE_AS_TEXT`] (an empty
/// `deprecated_id` is none).
pub(super) fn instance_from_text(
    row: &sea_orm::QueryResult,
    at: usize,
) -> Result<OpenRosaInstance, StorageError> {
    let text = |i: usize| row.try_get_by_index::<String>(at + i);
    let number = |i: usize| -> Result<i64, StorageError> {
        text(i)?.trim().parse().map_err(|_| {
            StorageError::Corrupt("an OpenRosa instance has a number that is not one".into())
        })
    };
    let deprecated_id = text(6)?;
    Ok(OpenRosaInstance {
        instance_id: text(0)?,
        form_id: text(1)?,
        form_version: u32::try_from(number(2)?).unwrap_or_default(),
        collection: text(3)?,
        record_id: text(4)?,
        device_id: text(5)?,
        deprecated_id: (!deprecated_id.is_empty()).then_some(deprecated_id),
        xml_sha256: text(7)?,
        xml: text(8)?,
        complete: number(9)? != 0,
        outcome: text(10)?,
        received_at_ms: number(11)?,
    })
}

/// Keeps instances as received, or notes on those kept before that more of them arrived; an
/// instance twice in one batch (a retry racing its first try) is kept once, as the later says.
pub(crate) async fn keep(
    tx: &impl sea_orm::ConnectionTrait,
    backend: sea_orm::DbBackend,
    instances: &[OpenRosaInstance],
    now_ms: i64,
) -> Result<(), StorageError> {
    // The last word per instance, in first-arrival order: one row each, since one statement
    // may not touch a row twice.
    let mut order: Vec<&str> = Vec::new();
    let mut last: std::collections::HashMap<&str, &OpenRosaInstance> =
        std::collections::HashMap::new();
    for i in instances {
        if last.insert(i.instance_id.as_str(), i).is_none() {
            order.push(i.instance_id.as_str());
        }
    }
    let mut new = Vec::with_capacity(order.len());
    for id in order {
        let i = last[id];
        // The first arrival's fields and the last one's outcome; one kept before keeps its own.
        let first = instances.iter().find(|f| f.instance_id == id).unwrap_or(i);
        new.push(OpenRosaInstance {
            complete: i.complete,
            outcome: i.outcome.clone(),
            ..first.clone()
        });
    }
    // Thirteen values a row.
    for chunk in new.chunks(500) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO openrosa_submissions (instance_id, form_id, form_version, collection, \
             record_id, device_id, deprecated_id, xml_sha256, xml, complete, outcome, \
             received_at_ms, updated_at_ms) VALUES ",
        );
        for (n, i) in chunk.iter().enumerate() {
            if n > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(i.instance_id.as_str()),
                i.form_id.as_str().into(),
                i64::from(i.form_version).into(),
                i.collection.as_str().into(),
                i.record_id.as_str().into(),
                i.device_id.as_str().into(),
                i.deprecated_id.clone().into(),
                i.xml_sha256.as_str().into(),
                i.xml.as_str().into(),
                i32::from(i.complete).into(),
                i.outcome.as_str().into(),
                i.received_at_ms.into(),
                now_ms.into(),
            ]);
        }
        q.push_mut(
            " ON CONFLICT (instance_id) DO UPDATE SET complete = excluded.complete, \
             outcome = excluded.outcome, updated_at_ms = excluded.updated_at_ms",
        );
        sql::execute(tx, q).await?;
    }
    Ok(())
}
