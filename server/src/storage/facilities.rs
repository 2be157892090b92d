//! Facilities: importing a checked file in one transaction, and reading them back.

use sha2::{Digest, Sha256};

use super::reference::{self, ReferenceRecord};
use super::sql::{self, Sql};
use super::territories::{ImportFailure, territory_levels};
use super::{Storage, StorageError, audit};
use crate::facility::Facility;
use crate::territory::ImportError;

/// A facility as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredFacility {
    pub code: String,
    pub municipality: String,
    pub kind: String,
    pub name_ky: String,
    pub name_ru: String,
    pub name_en: String,
    pub lat: f64,
    pub lon: f64,
    pub delegated: bool,
}

impl Storage {
    /// Imports (inserts or updates) every facility of a file, or none: each must name a stored
    /// municipality. `source` is the file's text, for the audit.
    pub async fn import_facilities(
        &self,
        facilities: &[Facility],
        source: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<usize, ImportFailure> {
        let backend = self.backend();
        let write = self.write().await?;
        let levels = territory_levels(&write.tx, backend).await?;
        for f in facilities {
            match levels.get(f.municipality.as_str()).map(String::as_str) {
                Some("municipality") => {}
                found => {
                    let problem = match found {
                        None => format!("municipality {} is not stored", f.municipality),
                        Some(level) => {
                            format!("{} is a {level}, not a municipality", f.municipality)
                        }
                    };
                    return Err(ImportError {
                        at: format!("line {}", f.line),
                        problem,
                    }
                    .into());
                }
            }
        }
        for f in facilities {
            let q = Sql::new(backend)
                .push(
                    "INSERT INTO facilities (code, municipality_code, kind, name_ky, name_ru, \
                     name_en, lat, lon, delegated, updated_at_ms) VALUES (",
                )
                .bind(f.code.as_str())
                .push(", ")
                .bind(f.municipality.as_str())
                .push(", ")
                .bind(f.kind)
                .push(", ")
                .bind(f.name_ky.as_str())
                .push(", ")
                .bind(f.name_ru.as_str())
                .push(", ")
                .bind(f.name_en.as_str())
                .push(", ")
                .bind(f.lat)
                .push(", ")
                .bind(f.lon)
                .push(", ")
                .bind(i32::from(f.delegated))
                .push(", ")
                .bind(now_ms)
                .push(
                    ") ON CONFLICT (code) DO UPDATE SET municipality_code = excluded.municipality_code, \
                     kind = excluded.kind, name_ky = excluded.name_ky, name_ru = excluded.name_ru, \
                     name_en = excluded.name_en, lat = excluded.lat, lon = excluded.lon, \
                     delegated = excluded.delegated, updated_at_ms = excluded.updated_at_ms",
                );
            sql::execute(&write.tx, q).await?;
        }
        // Phones get the facilities of their municipality through the change feed.
        let published = facilities
            .iter()
            .map(|f| ReferenceRecord {
                collection: "facilities",
                code: f.code.to_string(),
                scope: f.municipality.clone(),
                fields: [
                    ("code", serde_json::json!(f.code)),
                    ("municipality", serde_json::json!(f.municipality)),
                    ("kind", serde_json::json!(f.kind)),
                    ("name_ky", serde_json::json!(f.name_ky)),
                    ("name_ru", serde_json::json!(f.name_ru)),
                    ("name_en", serde_json::json!(f.name_en)),
                    ("location", serde_json::json!({"lat": f.lat, "lon": f.lon})),
                    ("delegated", serde_json::json!(f.delegated)),
                ]
                .into(),
            })
            .collect();
        reference::publish(&write.tx, backend, published, now_ms).await?;
        let detail = serde_json::json!({
            "facilities": facilities.len(),
            "sha256": hex::encode(Sha256::digest(source.as_bytes())),
        });
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "facility.import",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(facilities.len())
    }

    /// Every stored facility, by code.
    pub async fn facilities(&self) -> Result<Vec<StoredFacility>, StorageError> {
        self.facilities_where(None).await
    }

    /// The facilities of one municipality, by code.
    pub async fn facilities_of(
        &self,
        municipality: &str,
    ) -> Result<Vec<StoredFacility>, StorageError> {
        self.facilities_where(Some(municipality)).await
    }

    async fn facilities_where(
        &self,
        municipality: Option<&str>,
    ) -> Result<Vec<StoredFacility>, StorageError> {
        let mut q = Sql::new(self.backend()).push(
            "SELECT code, municipality_code, kind, name_ky, name_ru, name_en, lat, lon, delegated \
             FROM facilities",
        );
        if let Some(m) = municipality {
            q.push_mut(" WHERE municipality_code = ");
            q.bind_mut(m);
        }
        q.push_mut(" ORDER BY code");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(StoredFacility {
                code: row.try_get_by_index(0)?,
                municipality: row.try_get_by_index(1)?,
                kind: row.try_get_by_index(2)?,
                name_ky: row.try_get_by_index(3)?,
                name_ru: row.try_get_by_index(4)?,
                name_en: row.try_get_by_index(5)?,
                lat: row.try_get_by_index(6)?,
                lon: row.try_get_by_index(7)?,
                delegated: row.try_get_by_index::<i32>(8)? != 0,
            });
        }
        Ok(out)
    }
}
