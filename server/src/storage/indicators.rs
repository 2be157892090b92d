//! SEDP indicators and the JMET's M&E plan: the indicators chosen for monitoring, a draft until
//! the council approves it at a session. Only an approved plan's indicators are official, and
//! only those reach the phones, through the change feed.

use sha2::{Digest, Sha256};
use sync_protocol::Scope;

use super::reference::{self, ReferenceRecord};
use super::sql::{self, Sql};
use super::teams::check_date;
use super::territories::{ImportFailure, territory_levels};
use super::{Storage, StorageError, audit};
use crate::indicator::Indicator;
use crate::territory::ImportError;

/// A municipality's M&E plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MePlan {
    pub municipality: String,
    pub status: String,
    pub approved_on: Option<String>,
    pub decision: Option<String>,
    pub indicators: Vec<String>,
}

impl Storage {
    /// Imports (inserts or updates) every indicator of a file, or none.
    pub async fn import_indicators(
        &self,
        indicators: &[Indicator],
        source: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<usize, ImportFailure> {
        self.store_indicators(indicators, source, actor, now_ms)
            .await?;
        // Rules may have changed: the values of these municipalities are derived afresh.
        let municipalities: std::collections::BTreeSet<&str> =
            indicators.iter().map(|i| i.municipality.as_str()).collect();
        for m in municipalities {
            self.rebuild_scope(m).await?;
        }
        Ok(indicators.len())
    }

    async fn store_indicators(
        &self,
        indicators: &[Indicator],
        source: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), ImportFailure> {
        let backend = self.backend();
        let write = self.write().await?;
        let levels = territory_levels(&write.tx, backend).await?;
        for i in indicators {
            if levels.get(i.municipality.as_str()).map(String::as_str) != Some("municipality") {
                let problem = format!("{} is not a stored municipality", i.municipality);
                return Err(ImportError {
                    at: format!("line {}", i.line),
                    problem,
                }
                .into());
            }
        }
        for i in indicators {
            let targets = serde_json::to_string(&i.targets)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let q = Sql::new(backend)
                .push(
                    "INSERT INTO indicators (code, municipality_code, name_ky, name_ru, name_en, level, kind, unit, \
                     baseline, targets, measured_by, delegated, rule, updated_at_ms) VALUES (",
                )
                .bind(i.code.as_str()).push(", ")
                .bind(i.municipality.as_str()).push(", ")
                .bind(i.name_ky.as_str()).push(", ")
                .bind(i.name_ru.as_str()).push(", ")
                .bind(i.name_en.as_str()).push(", ")
                .bind(i.level).push(", ")
                .bind(i.kind).push(", ")
                .bind(i.unit.as_str()).push(", ")
                .bind(i.baseline).push(", ")
                .bind(targets).push(", ")
                .bind(i.measured_by).push(", ")
                .bind(i32::from(i.delegated)).push(", ")
                .bind(i.rule.to_string()).push(", ")
                .bind(now_ms)
                .push(
                    ") ON CONFLICT (code) DO UPDATE SET municipality_code = excluded.municipality_code, \
                     name_ky = excluded.name_ky, name_ru = excluded.name_ru, name_en = excluded.name_en, \
                     level = excluded.level, kind = excluded.kind, unit = excluded.unit, \
                     baseline = excluded.baseline, targets = excluded.targets, \
                     measured_by = excluded.measured_by, delegated = excluded.delegated, \
                     rule = excluded.rule, updated_at_ms = excluded.updated_at_ms",
                );
            sql::execute(&write.tx, q).await?;
        }
        // Ratios may name indicators of this file or ones stored before it.
        for i in indicators {
            if let Ok(crate::series::Rule::Ratio {
                numerator,
                denominator,
                ..
            }) = crate::series::Rule::parse(&i.rule)
            {
                let q = Sql::new(backend)
                    .push("SELECT code FROM indicators WHERE municipality_code = ")
                    .bind(i.municipality.as_str());
                let mut codes = std::collections::HashSet::new();
                for row in sql::query_all(&write.tx, q).await? {
                    codes.insert(row.try_get_by_index::<String>(0)?);
                }
                for operand in [numerator, denominator] {
                    if super::series::resolve_operand(&operand, i.municipality.as_str(), |c| {
                        codes.contains(c)
                    })
                    .is_none()
                    {
                        return Err(ImportError {
                            at: format!("line {}", i.line),
                            problem: format!(
                                "rule: {operand} is not an indicator of {}",
                                i.municipality
                            ),
                        }
                        .into());
                    }
                }
            }
        }
        let detail = serde_json::json!({"indicators": indicators.len(), "sha256": hex::encode(Sha256::digest(source.as_bytes()))});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "indicator.import",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// Sets the indicators of a municipality's M&E plan; the plan is a draft again until approved.
    pub async fn set_plan(
        &self,
        municipality: &Scope,
        codes: &[String],
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("SELECT code FROM indicators WHERE municipality_code = ")
            .bind(municipality.as_str());
        let mut own = std::collections::HashSet::new();
        for row in sql::query_all(&write.tx, q).await? {
            own.insert(row.try_get_by_index::<String>(0)?);
        }
        if let Some(stray) = codes.iter().find(|c| !own.contains(*c)) {
            return Err(StorageError::Invalid(format!(
                "{stray} is not an indicator of {municipality}"
            )));
        }
        let q = Sql::new(backend)
            .push("INSERT INTO me_plans (municipality_code, status) VALUES (")
            .bind(municipality.as_str())
            .push(", 'draft') ON CONFLICT (municipality_code) DO UPDATE SET status = 'draft', approved_on = NULL, decision = NULL");
        sql::execute(&write.tx, q).await?;
        let q = Sql::new(backend)
            .push("DELETE FROM me_plan_indicators WHERE municipality_code = ")
            .bind(municipality.as_str());
        sql::execute(&write.tx, q).await?;
        for code in codes {
            let q = Sql::new(backend)
                .push("INSERT INTO me_plan_indicators (municipality_code, indicator_code) VALUES (")
                .bind(municipality.as_str())
                .push(", ")
                .bind(code.as_str())
                .push(") ON CONFLICT DO NOTHING");
            sql::execute(&write.tx, q).await?;
        }
        let detail = serde_json::json!({"municipality": municipality, "indicators": codes});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "plan.set",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// The council approves the plan at a session: its indicators become official and reach the
    /// municipality's phones.
    pub async fn approve_plan(
        &self,
        municipality: &Scope,
        session_date: &str,
        decision: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), ImportFailure> {
        check_date(session_date)?;
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("UPDATE me_plans SET status = 'approved', approved_on = ")
            .bind(session_date)
            .push(", decision = ")
            .bind(decision)
            .push(" WHERE municipality_code = ")
            .bind(municipality.as_str());
        if sql::execute(&write.tx, q).await? == 0 {
            return Err(StorageError::NotFound(format!("an M&E plan of {municipality}")).into());
        }
        let q = Sql::new(backend)
            .push(
                "SELECT i.code, i.name_ky, i.name_ru, i.name_en, i.level, i.kind, i.unit, i.baseline, i.targets, \
                 i.measured_by, i.delegated, i.rule FROM me_plan_indicators p JOIN indicators i ON i.code = p.indicator_code \
                 WHERE p.municipality_code = ",
            )
            .bind(municipality.as_str())
            .push(" ORDER BY i.code");
        let mut published = Vec::new();
        for row in sql::query_all(&write.tx, q).await? {
            let code: String = row.try_get_by_index(0)?;
            let json = |text: String| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))
            };
            published.push(ReferenceRecord {
                collection: "indicators",
                code: code.clone(),
                scope: municipality.clone(),
                fields: [
                    ("code", serde_json::json!(code)),
                    (
                        "name_ky",
                        serde_json::json!(row.try_get_by_index::<String>(1)?),
                    ),
                    (
                        "name_ru",
                        serde_json::json!(row.try_get_by_index::<String>(2)?),
                    ),
                    (
                        "name_en",
                        serde_json::json!(row.try_get_by_index::<String>(3)?),
                    ),
                    (
                        "level",
                        serde_json::json!(row.try_get_by_index::<String>(4)?),
                    ),
                    (
                        "kind",
                        serde_json::json!(row.try_get_by_index::<String>(5)?),
                    ),
                    (
                        "unit",
                        serde_json::json!(row.try_get_by_index::<String>(6)?),
                    ),
                    (
                        "baseline",
                        serde_json::json!(row.try_get_by_index::<Option<f64>>(7)?),
                    ),
                    ("targets", json(row.try_get_by_index(8)?)?),
                    (
                        "measured_by",
                        serde_json::json!(row.try_get_by_index::<String>(9)?),
                    ),
                    (
                        "delegated",
                        serde_json::json!(row.try_get_by_index::<i32>(10)? != 0),
                    ),
                    ("rule", json(row.try_get_by_index(11)?)?),
                    ("plan_approved_on", serde_json::json!(session_date)),
                    ("plan_decision", serde_json::json!(decision)),
                ]
                .into(),
            });
        }
        reference::publish(&write.tx, backend, published, now_ms).await?;
        let detail = serde_json::json!({"municipality": municipality, "session_date": session_date, "decision": decision});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "plan.approve",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// A municipality's plan, if it has one.
    pub async fn plan(&self, municipality: &Scope) -> Result<Option<MePlan>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT status, approved_on, decision FROM me_plans WHERE municipality_code = ")
            .bind(municipality.as_str());
        let rows = sql::query_all(&self.db, q).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let q = Sql::new(self.backend())
            .push("SELECT indicator_code FROM me_plan_indicators WHERE municipality_code = ")
            .bind(municipality.as_str())
            .push(" ORDER BY indicator_code");
        let mut indicators = Vec::new();
        for r in sql::query_all(&self.db, q).await? {
            indicators.push(r.try_get_by_index(0)?);
        }
        Ok(Some(MePlan {
            municipality: municipality.to_string(),
            status: row.try_get_by_index(0)?,
            approved_on: row.try_get_by_index(1)?,
            decision: row.try_get_by_index(2)?,
            indicators,
        }))
    }
}

/// An SEDP indicator as the API shows it: the fields phones get, and whether the M&E plan holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IndicatorView {
    pub code: String,
    pub name_ky: String,
    pub name_ru: String,
    pub name_en: String,
    pub level: String,
    pub kind: String,
    pub unit: String,
    pub baseline: Option<f64>,
    pub targets: serde_json::Value,
    pub measured_by: String,
    pub delegated: bool,
    pub rule: serde_json::Value,
    pub in_me_plan: bool,
}

impl Storage {
    /// Every SEDP indicator of a municipality.
    pub async fn indicators_in(
        &self,
        municipality: &Scope,
    ) -> Result<Vec<IndicatorView>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT i.code, i.name_ky, i.name_ru, i.name_en, i.level, i.kind, i.unit, i.baseline, \
                 i.targets, i.measured_by, i.delegated, i.rule, p.indicator_code FROM indicators i \
                 LEFT JOIN me_plan_indicators p ON p.indicator_code = i.code AND p.municipality_code = i.municipality_code \
                 WHERE i.municipality_code = ",
            )
            .bind(municipality.as_str())
            .push(" ORDER BY i.code");
        let json = |text: String| {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| StorageError::Corrupt(e.to_string()))
        };
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(IndicatorView {
                code: row.try_get_by_index(0)?,
                name_ky: row.try_get_by_index(1)?,
                name_ru: row.try_get_by_index(2)?,
                name_en: row.try_get_by_index(3)?,
                level: row.try_get_by_index(4)?,
                kind: row.try_get_by_index(5)?,
                unit: row.try_get_by_index(6)?,
                baseline: row.try_get_by_index(7)?,
                targets: json(row.try_get_by_index(8)?)?,
                measured_by: row.try_get_by_index(9)?,
                delegated: row.try_get_by_index::<i32>(10)? != 0,
                rule: json(row.try_get_by_index(11)?)?,
                in_me_plan: row.try_get_by_index::<Option<String>>(12)?.is_some(),
            });
        }
        Ok(out)
    }
}
