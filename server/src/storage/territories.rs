//! Territories: importing a checked file in one transaction, and reading them back.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::reference::{self, ReferenceRecord};
use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};
use crate::territory::{ImportError, Level, Territory};

/// A territory as stored, for listings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredTerritory {
    pub code: String,
    pub level: String,
    pub parent: Option<String>,
    pub name_ky: String,
    pub name_ru: String,
    pub name_en: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error(transparent)]
    Invalid(#[from] ImportError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sea_orm::DbErr> for ImportFailure {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Storage(e.into())
    }
}

impl Storage {
    /// Imports (inserts or updates) every territory of a file, or none of them: a parent must be
    /// in the file or already stored, one level up. `source` is the file's text, for the audit.
    pub async fn import_territories(
        &self,
        territories: &[Territory],
        source: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<usize, ImportFailure> {
        let backend = self.backend();
        let write = self.write().await?;
        let mut levels = territory_levels(&write.tx, backend).await?;
        for t in territories {
            levels.insert(t.code.to_string(), t.level.as_str().to_owned());
        }
        for (index, t) in territories.iter().enumerate() {
            let (Some(parent), Some(wanted)) = (&t.parent, t.level.parent()) else {
                continue;
            };
            let found = levels.get(parent.as_str()).map(String::as_str);
            if found != Some(wanted.as_str()) {
                let problem = match found {
                    None => format!("parent {parent} is neither in the file nor stored"),
                    Some(other) => {
                        format!("parent {parent} is a {other}, not a {}", wanted.as_str())
                    }
                };
                let at = format!("feature {} (code {})", index + 1, t.code);
                return Err(ImportError { at, problem }.into());
            }
        }
        // Parents before children, so every reference points at a row already written.
        let mut ordered: Vec<&Territory> = territories.iter().collect();
        ordered.sort_by_key(|t| t.level);
        for t in ordered {
            let q = Sql::new(backend)
                .push(
                    "INSERT INTO territories \
                     (code, level, parent_code, name_ky, name_ru, name_en, geometry, updated_at_ms) VALUES (",
                )
                .bind(t.code.as_str())
                .push(", ")
                .bind(t.level.as_str())
                .push(", ")
                .bind(t.parent.as_ref().map(|p| p.to_string()))
                .push(", ")
                .bind(t.name_ky.as_str())
                .push(", ")
                .bind(t.name_ru.as_str())
                .push(", ")
                .bind(t.name_en.as_str())
                .push(", ")
                .bind(t.geometry.as_str())
                .push(", ")
                .bind(now_ms)
                .push(
                    ") ON CONFLICT (code) DO UPDATE SET level = excluded.level, \
                     parent_code = excluded.parent_code, name_ky = excluded.name_ky, \
                     name_ru = excluded.name_ru, name_en = excluded.name_en, \
                     geometry = excluded.geometry, updated_at_ms = excluded.updated_at_ms",
                );
            sql::execute(&write.tx, q).await?;
        }
        // Phones get their municipality and its villages through the change feed.
        let mut published = Vec::new();
        for t in territories {
            let scope = match (t.level, &t.parent) {
                (Level::Municipality, _) => t.code.clone(),
                (Level::Village, Some(parent)) => parent.clone(),
                _ => continue,
            };
            let geometry: serde_json::Value = serde_json::from_str(&t.geometry)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            published.push(ReferenceRecord {
                collection: "territories",
                code: t.code.to_string(),
                scope,
                fields: [
                    ("code", serde_json::json!(t.code)),
                    ("level", serde_json::json!(t.level.as_str())),
                    ("parent", serde_json::json!(t.parent)),
                    ("name_ky", serde_json::json!(t.name_ky)),
                    ("name_ru", serde_json::json!(t.name_ru)),
                    ("name_en", serde_json::json!(t.name_en)),
                    ("geometry", geometry),
                ]
                .into(),
            });
        }
        reference::publish(&write.tx, backend, published, now_ms).await?;
        let detail = serde_json::json!({
            "territories": territories.len(),
            "sha256": hex::encode(Sha256::digest(source.as_bytes())),
        });
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "territory.import",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(territories.len())
    }

    /// A territory and the ones above it, nearest first: what a page about one place needs,
    /// without reading every territory.
    pub async fn territory_line(&self, code: &str) -> Result<Vec<StoredTerritory>, StorageError> {
        let mut out: Vec<StoredTerritory> = Vec::new();
        let mut next = Some(code.to_owned());
        while let Some(code) = next.take() {
            if out.len() > 5 || out.iter().any(|t| t.code == code) {
                break;
            }
            let q = Sql::new(self.backend())
                .push(
                    "SELECT code, level, parent_code, name_ky, name_ru, name_en FROM territories \
                     WHERE code = ",
                )
                .bind(code.as_str());
            let Some(row) = sql::query_all(&self.db, q).await?.into_iter().next() else {
                break;
            };
            let t = StoredTerritory {
                code: row.try_get_by_index(0)?,
                level: row.try_get_by_index(1)?,
                parent: row.try_get_by_index(2)?,
                name_ky: row.try_get_by_index(3)?,
                name_ru: row.try_get_by_index(4)?,
                name_en: row.try_get_by_index(5)?,
            };
            next = t.parent.clone();
            out.push(t);
        }
        Ok(out)
    }

    /// Every stored territory, by level then code.
    pub async fn territories(&self) -> Result<Vec<StoredTerritory>, StorageError> {
        let q = Sql::new(self.backend()).push(
            "SELECT code, level, parent_code, name_ky, name_ru, name_en FROM territories ORDER BY code",
        );
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(StoredTerritory {
                code: row.try_get_by_index(0)?,
                level: row.try_get_by_index(1)?,
                parent: row.try_get_by_index(2)?,
                name_ky: row.try_get_by_index(3)?,
                name_ru: row.try_get_by_index(4)?,
                name_en: row.try_get_by_index(5)?,
            });
        }
        out.sort_by_key(|t| (Level::parse(&t.level), t.code.clone()));
        Ok(out)
    }
}

/// The level of every stored territory, by code.
pub(crate) async fn territory_levels(
    tx: &impl sea_orm::ConnectionTrait,
    backend: sea_orm::DbBackend,
) -> Result<HashMap<String, String>, StorageError> {
    let q = Sql::new(backend).push("SELECT code, level FROM territories");
    let mut levels = HashMap::new();
    for row in sql::query_all(tx, q).await? {
        levels.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    Ok(levels)
}
