//! Form definitions, and what checking a submission against its form needs from the database.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use sync_protocol::form::{FormDef, FormRef};
use sync_protocol::wire::GLOBAL_SCOPE;
use sync_protocol::{Collection, FormId, RecordId, Scope};

use super::reference::{self, ReferenceRecord};
use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};

/// A form version as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FormSummary {
    pub id: FormId,
    pub version: u32,
    pub collection: String,
    pub title_en: String,
    pub year: Option<u16>,
}

/// Facilities and villages of the scopes a push writes, and which of its records exist.
#[derive(Default)]
pub struct SubmissionContext {
    pub forms: HashMap<FormRef, FormDef>,
    /// Facility code → (municipality, kind).
    pub facilities: HashMap<String, (String, String)>,
    /// Village code → municipality.
    pub villages: HashMap<String, String>,
    pub existing: HashSet<(String, String)>,
    /// Form versions closed to new records (`jmet form close`).
    pub closed: HashSet<FormRef>,
    /// What the context was read for; a push that needs more needs another read.
    asked: Asked,
}

#[derive(Default)]
struct Asked {
    forms: HashSet<FormRef>,
    scopes: HashSet<String>,
    records: HashSet<(String, String)>,
}

/// What an OpenRosa request reads before it processes anything (see `openrosa_context`).
pub struct OpenRosaContext {
    /// What checking its ops against their form needs.
    pub check: SubmissionContext,
    /// Its instance and the one it replaces, those that came before.
    pub instances: Vec<super::OpenRosaInstance>,
    /// Its attachments already stored, by SHA-256.
    pub stored_photos: HashSet<String>,
}

impl SubmissionContext {
    /// Whether this context answers everything a check of these needs.
    pub fn covers(
        &self,
        forms: &HashSet<FormRef>,
        scopes: &HashSet<&Scope>,
        records: &HashSet<(&RecordId, &Collection)>,
    ) -> bool {
        forms.iter().all(|f| self.asked.forms.contains(f))
            && scopes
                .iter()
                .all(|s| self.asked.scopes.contains(s.as_str()))
            && records.iter().all(|(id, collection)| {
                self.asked
                    .records
                    .contains(&(id.to_string(), collection.to_string()))
            })
    }
}

/// The columns a row of the form context has beyond its first four: an OpenRosa instance row
/// has thirteen (see `openrosa_context`).
macro_rules! pad {
    () => {
        ", '', '', '', '', '', '', '', '', ''"
    };
}

/// Records of a push that exist already, as tagged rows of the form context (see
/// `openrosa_context`); a list of ids follows.
const EXISTING_RECORDS: &str = concat!(
    "SELECT 'r', record_id, collection, ''",
    pad!(),
    " FROM records WHERE record_id IN "
);

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

impl Storage {
    /// Stores a checked form version and publishes it to every phone. Storing the identical
    /// definition again is a no-op; a different definition under a stored version is refused,
    /// since answers already made against it would change meaning.
    pub async fn import_form(
        &self,
        form: &FormDef,
        actor: &str,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        form.check()
            .map_err(|e| StorageError::Invalid(e.to_string()))?;
        let definition = serde_json::to_string(form).map_err(corrupt)?;
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("SELECT definition FROM forms WHERE form_id = ")
            .bind(form.id.as_str())
            .push(" AND version = ")
            .bind(form.version as i64);
        if let Some(stored) = sql::query_scalar_text(&write.tx, q).await? {
            if stored == definition {
                return Ok(false);
            }
            return Err(StorageError::Conflict(format!(
                "{} is stored with a different definition; publish a new version instead",
                form.form_ref()
            )));
        }
        let q = Sql::new(backend)
            .push("INSERT INTO forms (form_id, version, collection, definition, created_at_ms) VALUES (")
            .bind(form.id.as_str())
            .push(", ")
            .bind(form.version as i64)
            .push(", ")
            .bind(form.collection.as_str())
            .push(", ")
            .bind(definition.as_str())
            .push(", ")
            .bind(now_ms)
            .push(")");
        sql::execute(&write.tx, q).await?;
        let record = ReferenceRecord {
            collection: "forms",
            code: format!("{}@{}", form.id, form.version),
            scope: Scope::parse(GLOBAL_SCOPE).map_err(corrupt)?,
            fields: [
                ("id", serde_json::json!(form.id)),
                ("version", serde_json::json!(form.version)),
                ("definition", serde_json::to_value(form).map_err(corrupt)?),
            ]
            .into(),
        };
        reference::publish(&write.tx, backend, vec![record], now_ms)
            .await
            .map_err(|e| match e {
                super::ImportFailure::Storage(e) => e,
                super::ImportFailure::Invalid(e) => StorageError::Invalid(e.to_string()),
            })?;
        let detail = serde_json::json!({
            "form": form.id, "version": form.version,
            "sha256": hex::encode(Sha256::digest(definition.as_bytes())),
        });
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "form.import",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(true)
    }

    pub async fn forms(&self) -> Result<Vec<FormSummary>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT form_id, version FROM forms ORDER BY form_id, version");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            let id: String = row.try_get_by_index(0)?;
            // INTEGER: 32 bits on PostgreSQL.
            let version = u32::try_from(row.try_get_by_index::<i32>(1)?).map_err(corrupt)?;
            let id = FormId::parse(id).map_err(corrupt)?;
            let Some(form) = self.cached_form(&id, version).await? else {
                continue;
            };
            out.push(FormSummary {
                id: form.id.clone(),
                version: form.version,
                collection: form.collection.to_string(),
                title_en: form.title.en.clone(),
                year: form.year,
            });
        }
        Ok(out)
    }

    pub async fn form(&self, id: &FormId, version: u32) -> Result<Option<FormDef>, StorageError> {
        Ok(self
            .cached_form(id, version)
            .await?
            .map(|f| FormDef::clone(&f)))
    }

    /// A form version, parsed once per process.
    async fn cached_form(
        &self,
        id: &FormId,
        version: u32,
    ) -> Result<Option<std::sync::Arc<FormDef>>, StorageError> {
        let key = (id.to_string(), version);
        if let Ok(cache) = self.form_cache.read()
            && let Some(form) = cache.get(&key)
        {
            return Ok(Some(form.clone()));
        }
        let q = Sql::new(self.backend())
            .push("SELECT definition FROM forms WHERE form_id = ")
            .bind(id.as_str())
            .push(" AND version = ")
            .bind(version as i64);
        let Some(text) = sql::query_scalar_text(&self.db, q).await? else {
            return Ok(None);
        };
        let form = std::sync::Arc::new(serde_json::from_str::<FormDef>(&text).map_err(corrupt)?);
        if let Ok(mut cache) = self.form_cache.write() {
            cache.insert(key, form.clone());
        }
        Ok(Some(form))
    }

    /// Everything checking these submissions against their forms needs, in a few reads.
    pub async fn submission_context(
        &self,
        forms: &HashSet<FormRef>,
        scopes: &HashSet<&Scope>,
        records: &HashSet<(&RecordId, &Collection)>,
    ) -> Result<SubmissionContext, StorageError> {
        Ok(self
            .openrosa_context(&[], &[], forms, scopes, records)
            .await?
            .check)
    }

    /// The form context of a submission, with the OpenRosa instances of these ids and which of
    /// these photos are stored, in one read: an OpenRosa request learns at once whether its
    /// instance came before, whether its form is closed, which municipality its facility is
    /// in, which attachments it must process, and what the check of its ops needs.
    pub async fn openrosa_context(
        &self,
        instance_ids: &[&str],
        photos: &[&str],
        forms: &HashSet<FormRef>,
        scopes: &HashSet<&Scope>,
        records: &HashSet<(&RecordId, &Collection)>,
    ) -> Result<OpenRosaContext, StorageError> {
        let mut ctx = SubmissionContext::default();
        for form in forms {
            if let Some(def) = self.form(&form.id, form.version).await? {
                ctx.forms.insert(form.clone(), def);
            }
        }
        ctx.asked = Asked {
            forms: forms.clone(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            records: records
                .iter()
                .map(|(id, c)| (id.to_string(), c.to_string()))
                .collect(),
        };
        // One statement for the rest, whatever a push holds: what it reads is small, and each
        // statement costs a round trip to the database (on the OpenRosa path, per request).
        // Rows are tagged by kind: c closed form, f facility, v village, r existing record,
        // i OpenRosa instance, p stored photo; every row has the instance's thirteen text
        // columns.
        let ids: Vec<String> = records.iter().map(|(id, _)| id.to_string()).collect();
        let mut chunks = ids.chunks(900);
        let mut q = Sql::new(self.backend());
        let mut parts = 0;
        let mut union = |q: &mut Sql| {
            if parts > 0 {
                q.push_mut(" UNION ALL ");
            }
            parts += 1;
        };
        if !instance_ids.is_empty() {
            union(&mut q);
            q.push_mut(&format!(
                "SELECT 'i', {} FROM openrosa_submissions WHERE instance_id IN ",
                super::openrosa::INSTANCE_AS_TEXT
            ));
            q.bind_list(instance_ids.iter().copied());
        }
        if !photos.is_empty() {
            union(&mut q);
            q.push_mut(concat!(
                "SELECT 'p', sha256, '', ''",
                pad!(),
                " FROM photo_blobs WHERE sha256 IN "
            ));
            q.bind_list(photos.iter().copied());
        }
        if !forms.is_empty() {
            union(&mut q);
            q.push_mut(concat!(
                "SELECT 'c', form_id, CAST(version AS TEXT), ''",
                pad!(),
                " FROM forms WHERE closed_at_ms IS NOT NULL"
            ));
        }
        if !scopes.is_empty() {
            let codes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            union(&mut q);
            q.push_mut(concat!(
                "SELECT 'f', code, municipality_code, kind",
                pad!(),
                " FROM facilities WHERE municipality_code IN "
            ));
            q.bind_list(codes.iter().copied());
            union(&mut q);
            q.push_mut(concat!(
                "SELECT 'v', code, parent_code, ''",
                pad!(),
                " FROM territories WHERE level = 'village' AND parent_code IN "
            ));
            q.bind_list(codes.iter().copied());
        }
        if let Some(chunk) = chunks.next() {
            union(&mut q);
            q.push_mut(EXISTING_RECORDS);
            q.bind_list(chunk.iter().map(String::as_str));
        }
        let mut rows = if parts > 0 {
            sql::query_all(&self.db, q).await?
        } else {
            Vec::new()
        };
        for chunk in chunks {
            let mut q = Sql::new(self.backend()).push(EXISTING_RECORDS);
            q.bind_list(chunk.iter().map(String::as_str));
            rows.extend(sql::query_all(&self.db, q).await?);
        }
        let mut instances = Vec::new();
        let mut stored_photos = HashSet::new();
        for row in rows {
            let kind: String = row.try_get_by_index(0)?;
            if kind == "i" {
                instances.push(super::openrosa::instance_from_text(&row, 1)?);
                continue;
            }
            if kind == "p" {
                stored_photos.insert(row.try_get_by_index::<String>(1)?);
                continue;
            }
            let (a, b, c): (String, String, String) = (
                row.try_get_by_index(1)?,
                row.try_get_by_index(2)?,
                row.try_get_by_index(3)?,
            );
            match kind.as_str() {
                "c" => {
                    if let (Ok(id), Ok(version)) = (FormId::parse(a), b.parse::<u32>()) {
                        ctx.closed.insert(FormRef { id, version });
                    }
                }
                "f" => {
                    ctx.facilities.insert(a, (b, c));
                }
                "v" => {
                    ctx.villages.insert(a, b);
                }
                _ => {
                    ctx.existing.insert((a, b));
                }
            }
        }
        Ok(OpenRosaContext {
            check: ctx,
            instances,
            stored_photos,
        })
    }
}
