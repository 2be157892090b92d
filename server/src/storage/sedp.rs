//! Storing and reading a municipality's SEDP document.

use sha2::{Digest, Sha256};
use sync_protocol::Scope;

use super::sql::{self, Sql};
use super::territories::{ImportFailure, territory_levels};
use super::{Storage, StorageError, audit};
use crate::sedp::Sedp;
use crate::territory::ImportError;

impl Storage {
    /// Replaces the municipality's SEDP; every indicator an action names must be one of the
    /// municipality's SEDP indicators (import those first).
    pub async fn import_sedp(
        &self,
        sedp: &Sedp,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), ImportFailure> {
        let backend = self.backend();
        let write = self.write().await?;
        let levels = territory_levels(&write.tx, backend).await?;
        let m = sedp.municipality.as_str();
        if levels.get(m).map(String::as_str) != Some("municipality") {
            return Err(ImportError {
                at: "municipality".into(),
                problem: format!("{m} is not a stored municipality"),
            }
            .into());
        }
        let q = Sql::new(backend)
            .push("SELECT code FROM indicators WHERE municipality_code = ")
            .bind(m);
        let known: std::collections::HashSet<String> = sql::query_all(&write.tx, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        for (at, code) in sedp.indicator_links() {
            if !known.contains(code) {
                return Err(ImportError {
                    at,
                    problem: format!("{code} is not an SEDP indicator of {m}"),
                }
                .into());
            }
        }
        let document =
            serde_json::to_string(sedp).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let q = Sql::new(backend)
            .push("INSERT INTO sedps (municipality_code, from_year, to_year, document, updated_at_ms) VALUES (")
            .bind(m)
            .push(", ")
            .bind(i32::from(sedp.from_year))
            .push(", ")
            .bind(i32::from(sedp.to_year))
            .push(", ")
            .bind(document.as_str())
            .push(", ")
            .bind(now_ms)
            .push(
                ") ON CONFLICT (municipality_code) DO UPDATE SET from_year = excluded.from_year, \
                 to_year = excluded.to_year, document = excluded.document, updated_at_ms = excluded.updated_at_ms",
            );
        sql::execute(&write.tx, q).await?;
        let detail = serde_json::json!({
            "municipality": m, "from_year": sedp.from_year, "to_year": sedp.to_year,
            "goals": sedp.goals.len(),
            "sha256": hex::encode(Sha256::digest(document.as_bytes())),
        });
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "sedp.import",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    pub async fn sedp(&self, municipality: &Scope) -> Result<Option<Sedp>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT document FROM sedps WHERE municipality_code = ")
            .bind(municipality.as_str());
        sql::query_scalar_text(&self.db, q)
            .await?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| StorageError::Corrupt(e.to_string()))
            })
            .transpose()
    }
}
