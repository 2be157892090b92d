//! The indicator projection: each submission's derived review status, the facts it contributes
//! to indicators, and indicator values per period, kept up to date from the change feed.
//!
//! Why a checkpointed projection of the feed rather than work inside the merge transaction: the
//! push path stays exactly as fast as the merge itself (the projector runs right after the ack's
//! commit, in its own transaction), and a projector that fails or a server that dies in between
//! loses nothing: each scope's checkpoint moves in the same transaction as the values it covers,
//! so the next run (after the next push, or at start) picks up where the last one committed.
//! Work per run is bounded by what changed: the submissions touched, then only the values
//! (indicator × facility × period) whose facts moved, each recomputed from its facts, so an
//! incremental run and a full rebuild cannot disagree about how a value is computed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Map, Value};
use sync_protocol::Hlc;
use sync_protocol::review::{self, Decision, ReviewFacts, ReviewStatus};

use super::sql::{self, Sql};
use super::values::{self, Changes, NewValue};
use super::{DELETED_FIELD, Storage, StorageError, audit};
use crate::series::acc::Acc;
use crate::series::facts::{self, Fact, GroupKey};
use crate::series::rule::{Func, Rule};
use crate::series::{Period, PeriodKind};

const PROJECTION: &str = "indicators";
const SUBMISSIONS: [&str; 2] = ["visits", "survey_responses"];
const CHUNK: usize = 400;

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

/// A merged record with the HLC of each register (its version is made from them).
#[derive(Debug, Default)]
pub(super) struct Merged {
    pub scope: String,
    pub fields: Map<String, Value>,
    hlcs: Vec<(String, Hlc)>,
    pub deleted: bool,
}

impl Merged {
    pub(super) fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }

    fn version(&self) -> String {
        review::version(self.hlcs.iter().map(|(f, h)| (f.as_str(), h)))
    }

    pub(super) fn register(&self, field: &str) -> Option<Hlc> {
        self.hlcs.iter().find(|(f, _)| f == field).map(|(_, h)| *h)
    }
}

pub(super) async fn merged(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    collection: &str,
    ids: &[String],
) -> Result<HashMap<String, Merged>, StorageError> {
    let mut out: HashMap<String, Merged> = HashMap::new();
    // Two single-table lookups by key rather than a join: each has one sensible plan, where a
    // join of two fast-growing tables invited a hash join over all of `fields`.
    for chunk in ids.chunks(CHUNK) {
        let mut q = Sql::new(backend)
            .push("SELECT rkey, record_id, scope FROM records WHERE collection = ");
        q.bind_mut(collection);
        q.push_mut(" AND record_id IN ");
        q.bind_list(chunk.iter().map(String::as_str));
        let mut by_key: HashMap<i64, String> = HashMap::new();
        for row in sql::query_all(tx, q).await? {
            let id: String = row.try_get_by_index(1)?;
            by_key.insert(row.try_get_by_index(0)?, id.clone());
            out.entry(id).or_default().scope = row.try_get_by_index(2)?;
        }
        if by_key.is_empty() {
            continue;
        }
        let mut q =
            Sql::new(backend).push("SELECT rkey, field, value, hlc FROM fields WHERE rkey IN ");
        q.bind_list(by_key.keys().copied());
        for row in sql::query_all(tx, q).await? {
            let rkey: i64 = row.try_get_by_index(0)?;
            let Some(record) = by_key.get(&rkey).and_then(|id| out.get_mut(id)) else {
                continue;
            };
            let field: String = row.try_get_by_index(1)?;
            let value: Value =
                serde_json::from_str(&row.try_get_by_index::<String>(2)?).map_err(corrupt)?;
            let hlc: Hlc = row
                .try_get_by_index::<String>(3)?
                .parse()
                .map_err(corrupt)?;
            if field == DELETED_FIELD {
                record.deleted = value == Value::Bool(true);
            } else {
                record.fields.insert(field.clone(), value);
            }
            record.hlcs.push((field, hlc));
        }
    }
    Ok(out)
}

/// The indicators of these municipalities with their rules, by municipality; a rule the parser
/// no longer accepts is skipped (it was checked on import) rather than stopping every other
/// indicator. Every municipality asked for has an entry.
pub(super) async fn rules_of(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    municipalities: &[&str],
) -> Result<ScopeRules, StorageError> {
    let mut out: ScopeRules = municipalities
        .iter()
        .map(|m| ((*m).to_owned(), BTreeMap::new()))
        .collect();
    for chunk in municipalities.chunks(CHUNK) {
        let mut q = Sql::new(backend).push(
            "SELECT municipality_code, code, rule FROM indicators WHERE municipality_code IN ",
        );
        q.bind_list(chunk.iter().copied());
        for row in sql::query_all(tx, q).await? {
            let municipality: String = row.try_get_by_index(0)?;
            let code: String = row.try_get_by_index(1)?;
            let text: String = row.try_get_by_index(2)?;
            let parsed = serde_json::from_str(&text)
                .map_err(|e| e.to_string())
                .and_then(|v| Rule::parse(&v));
            match parsed {
                Ok(rule) => {
                    out.entry(municipality).or_default().insert(code, rule);
                }
                Err(e) => tracing::warn!(indicator = %code, error = %e, "indicator rule skipped"),
            }
        }
    }
    Ok(out)
}

/// Each municipality's indicators and their rules.
pub(super) type ScopeRules = BTreeMap<String, BTreeMap<String, Rule>>;

/// Resolves a ratio's operand: a full code, or a suffix within the municipality.
pub fn resolve_operand(
    operand: &str,
    municipality: &str,
    known: impl Fn(&str) -> bool,
) -> Option<String> {
    if known(operand) {
        return Some(operand.to_owned());
    }
    let long = format!("{municipality}-{operand}");
    known(&long).then_some(long)
}

pub(crate) async fn lock_scope(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    scope: &str,
) -> Result<(), StorageError> {
    // Two replicas projecting one scope at once could each write values from a different
    // snapshot; on PostgreSQL they take turns per scope (SQLite has one writer anyway).
    if backend == DbBackend::Postgres {
        let q = Sql::new(backend)
            .push("SELECT pg_advisory_xact_lock(hashtext(")
            .bind(format!("projection:{scope}"))
            .push("))::text");
        sql::query_all(tx, q).await?;
        // Every query of the projector looks up a few hundred rows by key in tables of millions.
        // While a table grows fast its statistics lag, and the planner then took sequential
        // scans for these lookups (measured: 10-30 ms a statement instead of 1-3); here they
        // are never right.
        sql::execute(tx, Sql::new(backend).push("SET LOCAL enable_seqscan = off")).await?;
    }
    Ok(())
}

async fn set_checkpoints(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    seqs: &BTreeMap<&str, i64>,
) -> Result<(), StorageError> {
    let seqs: Vec<(&&str, &i64)> = seqs.iter().collect();
    for chunk in seqs.chunks(CHUNK) {
        let mut q = Sql::new(backend)
            .push("INSERT INTO projection_checkpoints (projection, scope, seq) VALUES ");
        for (i, (scope, seq)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(PROJECTION),
                (**scope).into(),
                (**seq).into(),
            ]);
        }
        q.push_mut(" ON CONFLICT (projection, scope) DO UPDATE SET seq = excluded.seq");
        sql::execute(tx, q).await?;
    }
    Ok(())
}

/// What one projector run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionRun {
    pub submissions: usize,
    pub values: usize,
}

impl Storage {
    /// Brings the projection of one scope up to date with the change feed.
    pub async fn project_scope(&self, scope: &str) -> Result<ProjectionRun, StorageError> {
        self.project_scopes(&[scope.to_owned()]).await
    }

    /// Brings the projection of these scopes up to date with the change feed, in one
    /// transaction. Each statement reads or writes for all the scopes at once, so a run over a
    /// hundred municipalities costs little more than over one: under a stream of submissions
    /// spread over the country, a run's cost follows what changed, not where.
    pub async fn project_scopes(&self, scopes: &[String]) -> Result<ProjectionRun, StorageError> {
        let scopes: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
        if scopes.is_empty() {
            return Ok(ProjectionRun::default());
        }
        let backend = self.backend();
        let write = self.write().await?;
        let tx = &write.tx;
        // In one order, so that two replicas locking overlapping sets cannot deadlock.
        for scope in &scopes {
            lock_scope(tx, backend, scope).await?;
        }
        let list: Vec<&str> = scopes.iter().copied().collect();
        let mut checkpoints: HashMap<String, i64> = HashMap::new();
        for chunk in list.chunks(CHUNK) {
            let mut q = Sql::new(backend)
                .push("SELECT scope, seq FROM projection_checkpoints WHERE projection = ")
                .bind(PROJECTION)
                .push(" AND scope IN ");
            q.bind_list(chunk.iter().copied());
            for row in sql::query_all(tx, q).await? {
                checkpoints.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
            }
        }
        // Per scope from its own checkpoint, by the (scope, seq) index; one statement for many.
        let mut last: BTreeMap<&str, i64> = BTreeMap::new();
        let mut rkeys: BTreeSet<i64> = BTreeSet::new();
        for chunk in list.chunks(100) {
            let mut q = Sql::new(backend);
            for (i, scope) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push_mut(" UNION ALL ");
                }
                let from = checkpoints.get(*scope).copied().unwrap_or(0);
                last.insert(scope, from);
                q.push_mut("SELECT rkey, seq, scope FROM fields WHERE scope = ")
                    .bind_mut(*scope)
                    .push_mut(" AND seq > ")
                    .bind_mut(from);
            }
            for row in sql::query_all(tx, q).await? {
                let scope: String = row.try_get_by_index(2)?;
                let seq: i64 = row.try_get_by_index(1)?;
                if let Some(l) = last.get_mut(scope.as_str()) {
                    *l = (*l).max(seq);
                }
                rkeys.insert(row.try_get_by_index(0)?);
            }
        }
        let mut changed: BTreeSet<(String, String)> = BTreeSet::new();
        let rkeys: Vec<i64> = rkeys.into_iter().collect();
        for chunk in rkeys.chunks(CHUNK) {
            let mut q =
                Sql::new(backend).push("SELECT collection, record_id FROM records WHERE rkey IN ");
            q.bind_list(chunk.iter().copied());
            for row in sql::query_all(tx, q).await? {
                changed.insert((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
            }
        }
        if changed.is_empty() {
            return Ok(ProjectionRun::default());
        }
        let reviews: Vec<String> = changed
            .iter()
            .filter(|(c, _)| c == review::REVIEWS)
            .map(|(_, id)| id.clone())
            .collect();
        let mut submissions: BTreeSet<(String, String)> = changed
            .into_iter()
            .filter(|(c, _)| SUBMISSIONS.contains(&c.as_str()))
            .collect();
        submissions.extend(link_reviews(tx, backend, &reviews).await?);
        let rules = rules_of(tx, backend, &list).await?;
        let mut changes = Changes::default();
        for chunk in submissions
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .chunks(CHUNK)
        {
            let chunk: BTreeSet<_> = chunk.iter().cloned().collect();
            refresh(tx, backend, &rules, &chunk, &mut changes).await?;
        }
        let values =
            recompute_scopes(tx, backend, &rules, &changes.values(), Some(&changes)).await?;
        set_checkpoints(tx, backend, &last).await?;
        write.tx.commit().await?;
        Ok(ProjectionRun {
            submissions: submissions.len(),
            values,
        })
    }

    /// Scopes that have submissions or reviews, or indicators: the projection's whole domain.
    pub async fn projected_scopes(&self) -> Result<Vec<String>, StorageError> {
        let q = Sql::new(self.backend()).push(
            "SELECT DISTINCT scope FROM records WHERE collection IN \
             ('visits', 'survey_responses', 'reviews') \
             UNION SELECT DISTINCT municipality_code FROM indicators ORDER BY 1",
        );
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(row.try_get_by_index(0)?);
        }
        Ok(out)
    }

    /// Forgets and recomputes everything the projection holds for one scope from the merged
    /// records and LSG entries.
    pub async fn rebuild_scope(&self, scope: &str) -> Result<ProjectionRun, StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let tx = &write.tx;
        lock_scope(tx, backend, scope).await?;
        // Pushes hold the counter row until they commit, so what it reads here is covered by
        // the records read below; anything later is the next run's.
        let q = Sql::new(backend).push("SELECT value FROM change_counter WHERE id = 1");
        let head = sql::query_scalar_i64(tx, q).await?.unwrap_or(0);
        for table in ["indicator_facts", "indicator_values"] {
            let q = Sql::new(backend)
                .push(&format!("DELETE FROM {table} WHERE municipality_code = "))
                .bind(scope);
            sql::execute(tx, q).await?;
        }
        let q = Sql::new(backend)
            .push("DELETE FROM submission_status WHERE scope = ")
            .bind(scope);
        sql::execute(tx, q).await?;
        let q = Sql::new(backend)
            .push("SELECT collection, record_id FROM records WHERE scope = ")
            .bind(scope)
            .push(" AND collection IN ('visits', 'survey_responses', 'reviews')");
        let mut submissions = BTreeSet::new();
        let mut reviews = Vec::new();
        for row in sql::query_all(tx, q).await? {
            let (collection, id): (String, String) =
                (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
            if collection == review::REVIEWS {
                reviews.push(id);
            } else {
                submissions.insert((collection, id));
            }
        }
        for chunk in reviews.chunks(CHUNK) {
            let mut q = Sql::new(backend).push("DELETE FROM review_links WHERE review_id IN ");
            q.bind_list(chunk.iter().map(String::as_str));
            sql::execute(tx, q).await?;
        }
        link_reviews(tx, backend, &reviews).await?;
        let rules = rules_of(tx, backend, &[scope]).await?;
        let mut changes = Changes::default();
        let all: Vec<_> = submissions.iter().cloned().collect();
        for chunk in all.chunks(CHUNK) {
            let chunk: BTreeSet<_> = chunk.iter().cloned().collect();
            refresh(tx, backend, &rules, &chunk, &mut changes).await?;
        }
        let mut groups = changes.values();
        for (code, period, value) in entries_of(tx, backend, scope).await? {
            let fact = facts::of_entry(&code, scope, period, value);
            insert_facts(tx, backend, std::slice::from_ref(&fact)).await?;
            facts::groups(&fact, &mut groups);
        }
        // From the facts alone: what a rebuild is for.
        let values = recompute_scopes(tx, backend, &rules, &groups, None).await?;
        set_checkpoints(tx, backend, &BTreeMap::from([(scope, head)])).await?;
        write.tx.commit().await?;
        Ok(ProjectionRun {
            submissions: submissions.len(),
            values,
        })
    }

    /// Enters (or corrects) the value LSG staff measured for a period.
    pub async fn put_lsg_entry(
        &self,
        entry: &LsgEntry,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.change_lsg_entry(
            entry.indicator.as_str(),
            entry.period,
            Some(entry),
            actor,
            now_ms,
        )
        .await
    }

    pub async fn delete_lsg_entry(
        &self,
        indicator: &str,
        period: Period,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.change_lsg_entry(indicator, period, None, actor, now_ms)
            .await
    }

    async fn change_lsg_entry(
        &self,
        indicator: &str,
        period: Period,
        entry: Option<&LsgEntry>,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let tx = &write.tx;
        let q = Sql::new(backend)
            .push("SELECT municipality_code, rule FROM indicators WHERE code = ")
            .bind(indicator);
        let row = sql::query_all(tx, q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StorageError::NotFound(format!("indicator {indicator}")))?;
        let municipality: String = row.try_get_by_index(0)?;
        let rule_text: String = row.try_get_by_index(1)?;
        let rule = serde_json::from_str(&rule_text)
            .map_err(|e| e.to_string())
            .and_then(|v| Rule::parse(&v));
        if !matches!(rule, Ok(Rule::LsgEntry { .. })) {
            return Err(StorageError::Invalid(format!(
                "{indicator} is not entered by the LSG: its values are derived by its rule"
            )));
        }
        lock_scope(tx, backend, &municipality).await?;
        let source = format!("lsg/{period}");
        let mut groups = BTreeSet::new();
        // Entry sources name a period, shared by every indicator: look at this one's only.
        let q = Sql::new(backend)
            .push(&format!(
                "SELECT {PLACE_COLUMNS} FROM indicator_facts WHERE indicator_code = "
            ))
            .bind(indicator)
            .push(" AND source = ")
            .bind(source.as_str());
        groups_of_query(tx, q, &mut groups).await?;
        let q = Sql::new(backend)
            .push("DELETE FROM indicator_facts WHERE indicator_code = ")
            .bind(indicator)
            .push(" AND source = ")
            .bind(source.as_str());
        sql::execute(tx, q).await?;
        let q = Sql::new(backend)
            .push("DELETE FROM lsg_entries WHERE indicator_code = ")
            .bind(indicator)
            .push(" AND period = ")
            .bind(period.to_string());
        let removed = sql::execute(tx, q).await?;
        let detail = match entry {
            Some(e) => {
                let q = Sql::new(backend)
                    .push(
                        "INSERT INTO lsg_entries (indicator_code, period, value, note, \
                         entered_by, entered_at_ms) VALUES (",
                    )
                    .bind(indicator)
                    .push(", ")
                    .bind(period.to_string())
                    .push(", ")
                    .bind(e.value)
                    .push(", ")
                    .bind(e.note.as_str())
                    .push(", ")
                    .bind(actor)
                    .push(", ")
                    .bind(now_ms)
                    .push(")");
                sql::execute(tx, q).await?;
                let fact = facts::of_entry(indicator, &municipality, period, e.value);
                insert_facts(tx, backend, std::slice::from_ref(&fact)).await?;
                facts::groups(&fact, &mut groups);
                serde_json::json!({"indicator": indicator, "period": period.to_string(), "value": e.value})
            }
            None if removed == 0 => {
                return Err(StorageError::NotFound(format!(
                    "no value of {indicator} entered for {period}"
                )));
            }
            None => {
                serde_json::json!({"indicator": indicator, "period": period.to_string(), "deleted": true})
            }
        };
        let rules = rules_of(tx, backend, &[municipality.as_str()]).await?;
        recompute_scopes(tx, backend, &rules, &groups, None).await?;
        audit::record(
            tx,
            backend,
            now_ms,
            actor,
            "indicator.entry",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// The values of one indicator (for one facility, or '' for the municipality) of a kind.
    pub async fn indicator_values(
        &self,
        indicator: &str,
        facility: &str,
        kind: PeriodKind,
    ) -> Result<Vec<StoredValue>, StorageError> {
        let q = Sql::new(self.backend())
            .push(&format!(
                "SELECT {VALUE_COLUMNS} FROM indicator_values WHERE indicator_code = "
            ))
            .bind(indicator)
            .push(" AND facility = ")
            .bind(facility)
            .push(" AND period_kind = ")
            .bind(kind.name())
            .push(" ORDER BY period");
        self.read_values_with_evidence(q).await
    }

    /// Fills in the evidence ids of values read without them.
    pub async fn fill_evidence(&self, values: &mut [StoredValue]) -> Result<(), StorageError> {
        values::fill_evidence(&self.db, self.backend(), values).await
    }

    /// Values with their evidence, both read in one transaction so that they agree.
    async fn read_values_with_evidence(&self, q: Sql) -> Result<Vec<StoredValue>, StorageError> {
        use sea_orm::TransactionTrait;
        let tx = self.db.begin().await?;
        let mut values = read_values(&tx, q).await?;
        values::fill_evidence(&tx, self.backend(), &mut values).await?;
        tx.commit().await?;
        Ok(values)
    }

    /// Every municipality-wide value of a municipality's indicators of one period kind, without
    /// evidence ids (see [`Storage::fill_evidence`]). A yearly value
    /// rests on hundreds of submissions, and reading their ids only to drop them costs more
    /// than the rest of the value.
    pub async fn municipality_values_without_evidence(
        &self,
        municipality: &str,
        kind: PeriodKind,
    ) -> Result<Vec<StoredValue>, StorageError> {
        let q = Sql::new(self.backend())
            .push(&format!(
                "SELECT {VALUE_COLUMNS} FROM indicator_values WHERE municipality_code = "
            ))
            .bind(municipality)
            .push(" AND period_kind = ")
            .bind(kind.name())
            .push(" AND facility = '' ORDER BY indicator_code, period");
        read_values(&self.db, q).await
    }

    /// Every stored value, in a stable order: what the property test compares.
    pub async fn all_indicator_values(&self) -> Result<Vec<StoredValue>, StorageError> {
        let q = Sql::new(self.backend()).push(&format!(
            "SELECT {VALUE_COLUMNS} FROM indicator_values ORDER BY indicator_code, facility, period"
        ));
        self.read_values_with_evidence(q).await
    }

    /// The derived review status of submissions.
    pub async fn submission_statuses(
        &self,
        scope: &str,
    ) -> Result<Vec<(String, String, ReviewStatus)>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT collection, record_id, status FROM submission_status WHERE scope = ")
            .bind(scope)
            .push(" ORDER BY collection, record_id");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            let status: String = row.try_get_by_index(2)?;
            out.push((
                row.try_get_by_index(0)?,
                row.try_get_by_index(1)?,
                ReviewStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
            ));
        }
        Ok(out)
    }

    /// One submission's status and version (what a reviewer judges), if it exists.
    pub async fn submission_state(
        &self,
        collection: &str,
        record_id: &str,
    ) -> Result<Option<SubmissionState>, StorageError> {
        let all = merged(
            &self.db,
            self.backend(),
            collection,
            &[record_id.to_owned()],
        )
        .await?;
        let Some(record) = all.get(record_id) else {
            return Ok(None);
        };
        let q = Sql::new(self.backend())
            .push("SELECT status FROM submission_status WHERE collection = ")
            .bind(collection)
            .push(" AND record_id = ")
            .bind(record_id);
        let status = sql::query_scalar_text(&self.db, q)
            .await?
            .and_then(|s| ReviewStatus::parse(&s))
            .unwrap_or(ReviewStatus::Received);
        Ok(Some(SubmissionState {
            scope: record.scope.clone(),
            version: record.version(),
            status,
            deleted: record.deleted,
            facility: record.text("facility").map(str::to_owned),
        }))
    }

    /// The values the LSG entered for a municipality's indicators.
    pub async fn lsg_entries(&self, municipality: &str) -> Result<Vec<LsgEntryView>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT e.indicator_code, e.period, e.value, e.note, e.entered_by, e.entered_at_ms \
                 FROM lsg_entries e JOIN indicators i ON i.code = e.indicator_code \
                 WHERE i.municipality_code = ",
            )
            .bind(municipality)
            .push(" ORDER BY e.indicator_code, e.period");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(LsgEntryView {
                indicator: row.try_get_by_index(0)?,
                period: row.try_get_by_index(1)?,
                value: row.try_get_by_index(2)?,
                note: row.try_get_by_index(3)?,
                entered_by: row.try_get_by_index(4)?,
                entered_at_ms: row.try_get_by_index(5)?,
            });
        }
        Ok(out)
    }
}

/// A value the LSG enters.
#[derive(Debug, Clone)]
pub struct LsgEntry {
    pub indicator: String,
    pub period: Period,
    pub value: f64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LsgEntryView {
    pub indicator: String,
    pub period: String,
    pub value: f64,
    pub note: String,
    pub entered_by: String,
    pub entered_at_ms: i64,
}

/// Survey counts as the database grouped them; the form version and the capture's year are
/// those of the responses counted (either may be missing).
#[derive(Debug, Default)]
pub struct SurveyTally {
    /// (form version, year captured, responses).
    pub respondents: Vec<(Option<u32>, Option<i32>, u64)>,
    pub answers: Vec<TalliedAnswer>,
}

/// (form version, year captured, question, answer, responses that gave it).
pub type TalliedAnswer = (Option<u32>, Option<i32>, String, Value, u64);

/// A `form_version` field's stored JSON text, as a version.
fn tally_version(text: Option<String>) -> Option<u32> {
    text.and_then(|t| t.trim().parse::<u32>().ok())
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionState {
    pub scope: String,
    pub version: String,
    pub status: ReviewStatus,
    pub deleted: bool,
    pub facility: Option<String>,
}

/// One side of a value: official (approved submissions) or provisional (all not rejected).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValueBasis {
    pub value: f64,
    /// How many submissions (or entries) it rests on.
    pub n: i64,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredValue {
    pub indicator: String,
    pub facility: String,
    pub period: String,
    pub official: Option<ValueBasis>,
    pub provisional: Option<ValueBasis>,
}

/// A value's columns; its evidence is read from its facts (see [`values::fill_evidence`]).
pub(super) const VALUE_COLUMNS: &str = "indicator_code, facility, period, official_value, official_n, \
    provisional_value, provisional_n";

async fn read_values(
    conn: &impl ConnectionTrait,
    q: Sql,
) -> Result<Vec<StoredValue>, StorageError> {
    let mut out = Vec::new();
    for row in sql::query_all(conn, q).await? {
        out.push(value_at(&row, 0)?);
    }
    Ok(out)
}

/// Rows of a first text column (the period kind) followed by `VALUE_COLUMNS`.
pub(super) async fn read_values_of(
    conn: &impl ConnectionTrait,
    q: Sql,
) -> Result<Vec<(String, StoredValue)>, StorageError> {
    let mut out = Vec::new();
    for row in sql::query_all(conn, q).await? {
        out.push((row.try_get_by_index(0)?, value_at(&row, 1)?));
    }
    Ok(out)
}

/// A value from `VALUE_COLUMNS` starting at column `at`, without its evidence.
fn value_at(row: &sea_orm::QueryResult, at: usize) -> Result<StoredValue, StorageError> {
    let basis = |at: usize| -> Result<Option<ValueBasis>, StorageError> {
        let value: Option<f64> = row.try_get_by_index(at)?;
        let n: i64 = row.try_get_by_index(at + 1)?;
        Ok(value.map(|value| ValueBasis {
            value,
            n,
            evidence: Vec::new(),
        }))
    };
    Ok(StoredValue {
        indicator: row.try_get_by_index(at)?,
        facility: row.try_get_by_index(at + 1)?,
        period: row.try_get_by_index(at + 2)?,
        official: basis(at + 3)?,
        provisional: basis(at + 5)?,
    })
}

async fn entries_of(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    municipality: &str,
) -> Result<Vec<(String, Period, f64)>, StorageError> {
    let q = Sql::new(backend)
        .push(
            "SELECT e.indicator_code, e.period, e.value FROM lsg_entries e \
             JOIN indicators i ON i.code = e.indicator_code WHERE i.municipality_code = ",
        )
        .bind(municipality);
    let mut out = Vec::new();
    for row in sql::query_all(tx, q).await? {
        let period: String = row.try_get_by_index(1)?;
        out.push((
            row.try_get_by_index(0)?,
            period.parse().map_err(corrupt)?,
            row.try_get_by_index(2)?,
        ));
    }
    Ok(out)
}

/// Records which submission each review judges; answers the submissions to look at again.
async fn link_reviews(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    review_ids: &[String],
) -> Result<BTreeSet<(String, String)>, StorageError> {
    let mut out = BTreeSet::new();
    if review_ids.is_empty() {
        return Ok(out);
    }
    for chunk in review_ids.chunks(CHUNK) {
        let mut q = Sql::new(backend)
            .push("SELECT collection, submission_id FROM review_links WHERE review_id IN ");
        q.bind_list(chunk.iter().map(String::as_str));
        for row in sql::query_all(tx, q).await? {
            out.insert((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
        }
    }
    let reviews = merged(tx, backend, review::REVIEWS, review_ids).await?;
    for (id, r) in &reviews {
        let (Some(collection), Some(submission)) =
            (r.text("submission_collection"), r.text("submission"))
        else {
            continue;
        };
        let q = Sql::new(backend)
            .push("INSERT INTO review_links (review_id, collection, submission_id) VALUES (")
            .bind(id.as_str())
            .push(", ")
            .bind(collection)
            .push(", ")
            .bind(submission)
            .push(
                ") ON CONFLICT (review_id) DO UPDATE SET collection = excluded.collection, \
                 submission_id = excluded.submission_id",
            );
        sql::execute(tx, q).await?;
        out.insert((collection.to_owned(), submission.to_owned()));
    }
    Ok(out)
}

/// Each submission's status from its merged state and its merged reviews.
async fn statuses(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    collection: &str,
    submissions: &HashMap<String, Merged>,
) -> Result<HashMap<String, ReviewStatus>, StorageError> {
    let ids: Vec<String> = submissions.keys().cloned().collect();
    let mut links: Vec<(String, String)> = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = Sql::new(backend)
            .push("SELECT review_id, submission_id FROM review_links WHERE collection = ");
        q.bind_mut(collection);
        q.push_mut(" AND submission_id IN ");
        q.bind_list(chunk.iter().map(String::as_str));
        for row in sql::query_all(tx, q).await? {
            links.push((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
        }
    }
    let review_ids: Vec<String> = links.iter().map(|(r, _)| r.clone()).collect();
    let reviews = merged(tx, backend, review::REVIEWS, &review_ids).await?;
    let mut facts: HashMap<&str, Vec<ReviewFacts>> = HashMap::new();
    for (review_id, submission) in &links {
        let Some(r) = reviews.get(review_id).filter(|r| !r.deleted) else {
            continue;
        };
        let (Some(decision), Some(judged), Some(decided)) = (
            r.text("decision").and_then(Decision::parse),
            r.text("judged_version"),
            r.register("decision"),
        ) else {
            continue;
        };
        facts.entry(submission).or_default().push(ReviewFacts {
            decided,
            decision,
            judged_version: judged.to_owned(),
        });
    }
    Ok(submissions
        .iter()
        .map(|(id, s)| {
            let judged = facts.get(id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            (id.clone(), review::status(&s.version(), judged))
        })
        .collect())
}

/// Recomputes the status and facts of these submissions; collects the values that may move.
async fn refresh(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    rules: &ScopeRules,
    submissions: &BTreeSet<(String, String)>,
    changes: &mut Changes,
) -> Result<(), StorageError> {
    let aggregates: HashMap<&str, Vec<(String, Rule)>> = rules
        .iter()
        .map(|(scope, rules)| {
            let of_scope = rules
                .iter()
                .filter(|(_, r)| matches!(r, Rule::Aggregate { .. }))
                .map(|(c, r)| (c.clone(), r.clone()))
                .collect();
            (scope.as_str(), of_scope)
        })
        .collect();
    for collection in SUBMISSIONS {
        let ids: Vec<String> = submissions
            .iter()
            .filter(|(c, _)| c == collection)
            .map(|(_, id)| id.clone())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let records = merged(tx, backend, collection, &ids).await?;
        let status = statuses(tx, backend, collection, &records).await?;
        let sources: Vec<String> = ids.iter().map(|id| format!("{collection}/{id}")).collect();
        for fact in facts_of_sources(tx, backend, &sources).await? {
            changes.take_out(fact);
        }
        for chunk in sources.chunks(CHUNK) {
            let mut q = Sql::new(backend).push("DELETE FROM indicator_facts WHERE source IN ");
            q.bind_list(chunk.iter().map(String::as_str));
            sql::execute(tx, q).await?;
        }
        for chunk in ids.chunks(CHUNK) {
            let mut q = Sql::new(backend).push("DELETE FROM submission_status WHERE collection = ");
            q.bind_mut(collection);
            q.push_mut(" AND record_id IN ");
            q.bind_list(chunk.iter().map(String::as_str));
            sql::execute(tx, q).await?;
        }
        let queue = queue_facts(tx, backend, collection, &ids).await?;
        let mut new_facts = Vec::new();
        let mut rows = Vec::new();
        for id in &ids {
            // A record of a scope outside this run is that scope's to project.
            let Some((record, aggregates)) = records
                .get(id)
                .filter(|r| !r.deleted)
                .and_then(|r| Some((r, aggregates.get(r.scope.as_str())?)))
            else {
                continue;
            };
            let scope = record.scope.as_str();
            let status = status[id];
            rows.push([
                sea_orm::Value::from(collection),
                id.as_str().into(),
                scope.into(),
                record.text("form").unwrap_or_default().into(),
                record.text("facility").unwrap_or_default().into(),
                record
                    .text("captured_at")
                    .and_then(facts::local_time)
                    .unwrap_or_default()
                    .into(),
                status.as_str().into(),
                record.version().into(),
                queue.get(id).map_or(0, |q| q.received_at_ms).into(),
                queue
                    .get(id)
                    .map_or_else(String::new, |q| q.member_id.clone())
                    .into(),
                queue.get(id).map_or(0, |q| q.flags).into(),
                queue.get(id).map_or(0, |q| q.flag_kinds).into(),
            ]);
            new_facts.extend(facts::of_submission(
                collection,
                id,
                scope,
                &record.fields,
                status,
                aggregates,
            ));
        }
        for chunk in rows.chunks(100) {
            let mut q = Sql::new(backend).push(
                "INSERT INTO submission_status (collection, record_id, scope, form, facility, \
                 captured_at, status, version, received_at_ms, member_id, flags, flag_kinds) VALUES ",
            );
            for (i, row) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push_mut(", ");
                }
                q.bind_list(row.iter().cloned());
            }
            sql::execute(tx, q).await?;
        }
        insert_facts(tx, backend, &new_facts).await?;
        for fact in new_facts {
            changes.put_in(fact);
        }
    }
    Ok(())
}

/// What the review queue sorts and filters by, besides the merged fields.
#[derive(Default)]
struct QueueFacts {
    received_at_ms: i64,
    member_id: String,
    flags: i64,
    flag_kinds: i64,
}

async fn queue_facts(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    collection: &str,
    ids: &[String],
) -> Result<HashMap<String, QueueFacts>, StorageError> {
    let mut out: HashMap<String, QueueFacts> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = Sql::new(backend).push(
            "SELECT s.record_id, s.first_received_ms, COALESCE(d.member_id, '') FROM submissions s \
             LEFT JOIN devices d ON d.device_id = s.device_id WHERE s.collection = ",
        );
        q.bind_mut(collection);
        q.push_mut(" AND s.record_id IN ");
        q.bind_list(chunk.iter().map(String::as_str));
        for row in sql::query_all(tx, q).await? {
            let entry = out.entry(row.try_get_by_index(0)?).or_default();
            entry.received_at_ms = row.try_get_by_index(1)?;
            entry.member_id = row.try_get_by_index(2)?;
        }
        if collection == "visits" {
            let mut q =
                Sql::new(backend).push("SELECT record_id, kind FROM flags WHERE record_id IN ");
            q.bind_list(chunk.iter().map(String::as_str));
            for row in sql::query_all(tx, q).await? {
                let entry = out.entry(row.try_get_by_index(0)?).or_default();
                let kind: String = row.try_get_by_index(1)?;
                entry.flags += 1;
                entry.flag_kinds |= crate::evidence::gps::FlagKind::bits([kind.as_str()]);
            }
        }
    }
    Ok(out)
}

/// The facts these sources contribute now, whole: what a run takes out.
async fn facts_of_sources(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    sources: &[String],
) -> Result<Vec<Fact>, StorageError> {
    let mut out = Vec::new();
    for chunk in sources.chunks(CHUNK) {
        let mut q = Sql::new(backend).push(&format!(
            "SELECT {} FROM indicator_facts WHERE source IN ",
            values::FACT_COLUMNS
        ));
        q.bind_list(chunk.iter().map(String::as_str));
        for row in sql::query_all(tx, q).await? {
            out.push(values::fact_at(&row)?);
        }
    }
    Ok(out)
}

/// The columns of a stored fact that say which values it takes part in.
const PLACE_COLUMNS: &str = "indicator_code, municipality_code, facility, captured_at, grain";

/// Adds the values the facts a query answers (in `PLACE_COLUMNS`) take part in.
async fn groups_of_query(
    tx: &impl ConnectionTrait,
    q: Sql,
    groups: &mut BTreeSet<GroupKey>,
) -> Result<(), StorageError> {
    for row in sql::query_all(tx, q).await? {
        let fact = Fact {
            indicator: row.try_get_by_index(0)?,
            source: String::new(),
            municipality: row.try_get_by_index(1)?,
            facility: row.try_get_by_index(2)?,
            at: row.try_get_by_index(3)?,
            grain: row.try_get_by_index(4)?,
            value: 0.0,
            official: false,
        };
        facts::groups(&fact, groups);
    }
    Ok(())
}

async fn insert_facts(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    new_facts: &[Fact],
) -> Result<(), StorageError> {
    for chunk in new_facts.chunks(500) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO indicator_facts (indicator_code, source, municipality_code, facility, \
             captured_at, grain, value, official) VALUES ",
        );
        for (i, f) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(f.indicator.as_str()),
                f.source.as_str().into(),
                f.municipality.as_str().into(),
                f.facility.as_str().into(),
                f.at.as_str().into(),
                f.grain.as_str().into(),
                f.value.into(),
                i32::from(f.official).into(),
            ]);
        }
        sql::execute(tx, q).await?;
    }
    Ok(())
}

/// Writes recomputed values: upserts in multi-row statements, and deletes the ones with
/// nothing left (a push moves hundreds of values; one statement each would dominate it).
async fn write_values(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    values: &[NewValue<'_>],
) -> Result<(), StorageError> {
    let (empty, full): (Vec<_>, Vec<_>) = values
        .iter()
        .partition(|v| v.official.is_none() && v.provisional.is_none());
    for chunk in empty.chunks(200) {
        let mut q = Sql::new(backend)
            .push("DELETE FROM indicator_values WHERE (indicator_code, facility, period) IN (");
        for (i, v) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            q.bind_list([
                sea_orm::Value::from(v.key.indicator.as_str()),
                v.key.facility.as_str().into(),
                v.key.period.to_string().into(),
            ]);
        }
        q.push_mut(")");
        sql::execute(tx, q).await?;
    }
    let side = |b: Option<(f64, i64)>| match b {
        Some((v, n)) => (Some(v), n),
        None => (None, 0),
    };
    let acc_text = |acc: Option<&Acc>| -> Result<Option<String>, StorageError> {
        acc.map(|a| serde_json::to_string(a).map_err(corrupt))
            .transpose()
    };
    for chunk in full.chunks(400) {
        let mut q = Sql::new(backend).push(
            "INSERT INTO indicator_values (indicator_code, facility, period, municipality_code, \
             period_kind, official_value, official_n, official_evidence, provisional_value, \
             provisional_n, provisional_evidence, official_acc, provisional_acc) VALUES ",
        );
        for (i, v) in chunk.iter().enumerate() {
            let (ov, on) = side(v.official);
            let (pv, pn) = side(v.provisional);
            let oa = acc_text(v.accs.as_ref().map(|a| &a.0))?;
            let pa = acc_text(v.accs.as_ref().map(|a| &a.1))?;
            if i > 0 {
                q.push_mut(", ");
            }
            // The evidence columns stay empty: evidence is read from the facts.
            q.bind_list([
                sea_orm::Value::from(v.key.indicator.as_str()),
                v.key.facility.as_str().into(),
                v.key.period.to_string().into(),
                v.key.municipality.as_str().into(),
                v.key.period.kind.name().into(),
                ov.into(),
                on.into(),
                "[]".into(),
                pv.into(),
                pn.into(),
                "[]".into(),
                oa.into(),
                pa.into(),
            ]);
        }
        q.push_mut(
            " ON CONFLICT (indicator_code, facility, period) DO UPDATE SET \
             official_value = excluded.official_value, official_n = excluded.official_n, \
             provisional_value = excluded.provisional_value, provisional_n = excluded.provisional_n, \
             official_acc = excluded.official_acc, provisional_acc = excluded.provisional_acc",
        );
        sql::execute(tx, q).await?;
    }
    Ok(())
}

/// Brings these values up to date, each municipality's with its own rules, then the ratios
/// that depend on them (a ratio's operands are resolved within its municipality); answers how
/// many values it looked at. With a run's `changes`, values of aggregates move by what changed
/// (see [`values::apply`]); the rest, and all of them without, are recomputed from their
/// facts, many values' facts read in one statement and the values written in one.
async fn recompute_scopes(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    rules: &ScopeRules,
    groups: &BTreeSet<GroupKey>,
    changes: Option<&Changes>,
) -> Result<usize, StorageError> {
    let (mut pending, from_facts) = match changes {
        Some(changes) => values::apply(tx, backend, rules, changes).await?,
        None => (Vec::new(), groups.clone()),
    };
    let mut by_indicator: BTreeMap<(&str, &str), Vec<&GroupKey>> = BTreeMap::new();
    for g in &from_facts {
        by_indicator
            .entry((g.indicator.as_str(), g.municipality.as_str()))
            .or_default()
            .push(g);
    }
    // Each value's facts lie in its period: per (indicator, municipality), the span of them.
    let mut spans = Vec::with_capacity(by_indicator.len());
    for (&(indicator, municipality), keys) in &by_indicator {
        let from = keys.iter().map(|k| k.period.start()).min();
        let to = keys.iter().map(|k| k.period.end()).max();
        if let (Some(from), Some(to)) = (from, to) {
            spans.push(values::span(indicator, municipality, from, to));
        }
    }
    let stored = values::read_facts(tx, backend, &spans).await?;
    let none = BTreeMap::new();
    let mut count = pending.len();
    for ((indicator, municipality), keys) in by_indicator {
        let rules = rules.get(municipality).unwrap_or(&none);
        let facts = stored
            .get(&(indicator.to_owned(), municipality.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        count += keys.len();
        values_of(rules.get(indicator), &keys, facts, &mut pending);
    }
    write_values(tx, backend, &pending).await?;
    let mut by_scope: BTreeMap<&str, BTreeSet<GroupKey>> = BTreeMap::new();
    for g in groups {
        by_scope
            .entry(g.municipality.as_str())
            .or_default()
            .insert(g.clone());
    }
    for (scope, groups) in by_scope {
        let rules = rules.get(scope).unwrap_or(&none);
        count += recompute_ratios(tx, backend, rules, &groups).await?;
    }
    Ok(count)
}

/// The values of `keys`, all of one indicator and municipality, from that indicator's facts
/// over their span; an indicator without a rule (gone since) has none left.
fn values_of<'a>(
    rule: Option<&Rule>,
    keys: &[&'a GroupKey],
    stored: &[Fact],
    pending: &mut Vec<NewValue<'a>>,
) {
    let func = match rule {
        Some(Rule::Aggregate { func, .. }) | Some(Rule::LsgEntry { func }) => *func,
        // A fact left over from before a rule change: its value goes.
        _ => Func::Mean,
    };
    for key in keys {
        if rule.is_none() {
            pending.push(NewValue {
                key,
                official: None,
                provisional: None,
                accs: None,
            });
            continue;
        }
        let inside = values::inside(&key.facility, &key.period, stored);
        let official = Acc::of(
            inside
                .iter()
                .filter(|f| f.official)
                .map(|f| values::point(f)),
        );
        let provisional = Acc::of(inside.iter().map(|f| values::point(f)));
        pending.push(NewValue::of(key, func, official, provisional));
    }
}

/// Ratios whose numerator or denominator moved, and ratios of those, a few levels deep.
async fn recompute_ratios(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    rules: &BTreeMap<String, Rule>,
    changed: &BTreeSet<GroupKey>,
) -> Result<usize, StorageError> {
    let ratios: Vec<(&String, &String, &String, f64)> = rules
        .iter()
        .filter_map(|(code, rule)| match rule {
            Rule::Ratio {
                numerator,
                denominator,
                scale,
            } => Some((code, numerator, denominator, *scale)),
            _ => None,
        })
        .collect();
    let resolve = |operand: &str, municipality: &str| {
        resolve_operand(operand, municipality, |c| rules.contains_key(c))
    };
    let mut count = 0;
    let mut frontier: BTreeSet<GroupKey> = changed.clone();
    for _depth in 0..4 {
        let mut next = BTreeSet::new();
        // Ratios are of municipality-wide values: LSG entries, their usual numerators, have no
        // facility.
        for key in frontier.iter().filter(|k| k.facility.is_empty()) {
            for (code, num, den, _) in &ratios {
                let operands = [
                    resolve(num, &key.municipality),
                    resolve(den, &key.municipality),
                ];
                if operands.contains(&Some(key.indicator.clone())) {
                    next.insert(GroupKey {
                        indicator: (*code).clone(),
                        ..key.clone()
                    });
                }
            }
        }
        if next.is_empty() {
            break;
        }
        // The operands' values of every period at once: two reads per ratio, not per period.
        let mut operands: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut planned = Vec::new();
        for key in &next {
            let Some((_, num, den, scale)) = ratios.iter().find(|r| *r.0 == key.indicator) else {
                continue;
            };
            let (Some(num), Some(den)) = (
                resolve(num, &key.municipality),
                resolve(den, &key.municipality),
            ) else {
                continue;
            };
            for code in [&num, &den] {
                operands
                    .entry(code.clone())
                    .or_default()
                    .insert(key.period.to_string());
            }
            planned.push((key, num, den, *scale));
        }
        let mut read = Vec::new();
        for (code, periods) in &operands {
            let periods: Vec<&String> = periods.iter().collect();
            for chunk in periods.chunks(CHUNK) {
                let mut q = Sql::new(backend).push(&format!(
                    "SELECT {VALUE_COLUMNS} FROM indicator_values WHERE indicator_code = "
                ));
                q.bind_mut(code.as_str());
                q.push_mut(" AND facility = '' AND period IN ");
                q.bind_list(chunk.iter().map(|p| p.as_str()));
                read.extend(read_values(tx, q).await?);
            }
        }
        // A ratio rests on the submissions of both its operands, each counted once.
        values::fill_evidence(tx, backend, &mut read).await?;
        let known: HashMap<(String, String), StoredValue> = read
            .into_iter()
            .map(|v| ((v.indicator.clone(), v.period.clone()), v))
            .collect();
        let mut writes = Vec::with_capacity(planned.len());
        for (key, num, den, scale) in planned {
            let period = key.period.to_string();
            let n = known.get(&(num, period.clone()));
            let d = known.get(&(den, period));
            let side = |pick: fn(&StoredValue) -> &Option<ValueBasis>| -> Option<(f64, i64)> {
                let a = pick(n?).as_ref()?;
                let b = pick(d?).as_ref()?;
                if b.value == 0.0 {
                    return None;
                }
                let evidence: BTreeSet<&String> = a.evidence.iter().chain(&b.evidence).collect();
                Some((a.value / b.value * scale, evidence.len() as i64))
            };
            writes.push(NewValue {
                key,
                official: side(|v| &v.official),
                provisional: side(|v| &v.provisional),
                accs: None,
            });
        }
        write_values(tx, backend, &writes).await?;
        count += writes.len();
        frontier = next;
    }
    Ok(count)
}

impl Storage {
    /// The municipality an indicator belongs to.
    pub async fn indicator_municipality(&self, code: &str) -> Result<Option<String>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT municipality_code FROM indicators WHERE code = ")
            .bind(code);
        sql::query_scalar_text(&self.db, q).await
    }

    /// How often each answer to the questions named was given in a municipality's responses to
    /// one survey form, of the statuses given, counted in the database so that ten years of
    /// responses come back as a few hundred rows. Responses are grouped by form version and the
    /// year they were captured (the instrument's year, when it has one, wins over the capture's).
    pub async fn survey_tally(
        &self,
        municipality: &str,
        form: &str,
        statuses: &[ReviewStatus],
        questions: &[&str],
    ) -> Result<SurveyTally, StorageError> {
        let mut tally = SurveyTally::default();
        // The responses counted, grouped by form version and capture year; `answers` adds the
        // answer given, so each response counts once per question it answered.
        let grouped = |answers: bool| {
            let (select, join, group) = if answers {
                (
                    ", f.field, f.value",
                    "JOIN fields f ON f.rkey = r.rkey ",
                    ", f.field, f.value",
                )
            } else {
                ("", "", "")
            };
            let mut q = Sql::new(self.backend()).push(&format!(
                "SELECT v.value, substr(s.captured_at, 1, 4){select}, COUNT(*) \
                 FROM submission_status s \
                 JOIN records r ON r.collection = s.collection AND r.record_id = s.record_id {join}\
                 LEFT JOIN fields v ON v.rkey = r.rkey AND v.field = 'form_version' \
                 WHERE s.collection = 'survey_responses' AND s.scope = "
            ));
            q.bind_mut(municipality);
            q.push_mut(" AND s.form = ");
            q.bind_mut(form);
            q.push_mut(" AND s.status IN ");
            q.bind_list(statuses.iter().map(|s| s.as_str()));
            if answers {
                q.push_mut(" AND f.field IN ");
                q.bind_list(questions.iter().copied());
            }
            q.push_mut(&format!(
                " GROUP BY v.value, substr(s.captured_at, 1, 4){group}"
            ));
            q
        };
        let place =
            |row: &sea_orm::QueryResult| -> Result<(Option<u32>, Option<i32>), StorageError> {
                let version = tally_version(row.try_get_by_index::<Option<String>>(0)?);
                let year = row
                    .try_get_by_index::<Option<String>>(1)?
                    .and_then(|y| y.parse().ok());
                Ok((version, year))
            };
        for row in sql::query_all(&self.db, grouped(false)).await? {
            let (version, year) = place(&row)?;
            let count = row.try_get_by_index::<i64>(2)?;
            tally.respondents.push((version, year, count.max(0) as u64));
        }
        if questions.is_empty() || tally.respondents.is_empty() {
            return Ok(tally);
        }
        for row in sql::query_all(&self.db, grouped(true)).await? {
            let (version, year) = place(&row)?;
            let field: String = row.try_get_by_index(2)?;
            let value: Value =
                serde_json::from_str(&row.try_get_by_index::<String>(3)?).map_err(corrupt)?;
            let count = row.try_get_by_index::<i64>(4)?;
            tally
                .answers
                .push((version, year, field, value, count.max(0) as u64));
        }
        Ok(tally)
    }

    /// The answers of a municipality's responses to one survey form, of the statuses given:
    /// (form version, fields).
    pub async fn survey_answers(
        &self,
        municipality: &str,
        form: &str,
        statuses: &[ReviewStatus],
    ) -> Result<Vec<(Option<u32>, Map<String, Value>)>, StorageError> {
        let mut q = Sql::new(self.backend()).push(
            "SELECT s.record_id, f.field, f.value FROM submission_status s \
             JOIN records r ON r.collection = s.collection AND r.record_id = s.record_id \
             JOIN fields f ON f.rkey = r.rkey \
             WHERE s.collection = 'survey_responses' AND s.scope = ",
        );
        q.bind_mut(municipality);
        q.push_mut(" AND s.form = ");
        q.bind_mut(form);
        q.push_mut(" AND s.status IN ");
        q.bind_list(statuses.iter().map(|s| s.as_str()));
        let mut by_id: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for row in sql::query_all(&self.db, q).await? {
            let id: String = row.try_get_by_index(0)?;
            let field: String = row.try_get_by_index(1)?;
            if field == DELETED_FIELD {
                continue;
            }
            let value: Value =
                serde_json::from_str(&row.try_get_by_index::<String>(2)?).map_err(corrupt)?;
            by_id.entry(id).or_default().insert(field, value);
        }
        Ok(by_id
            .into_values()
            .map(|fields| {
                let version = fields
                    .get("form_version")
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok());
                (version, fields)
            })
            .collect())
    }

    /// The staff assessment AO staff entered for a year: (items JSON, comment, by, at).
    pub async fn assessment(
        &self,
        municipality: &str,
        year: i32,
    ) -> Result<Option<(Value, String, String, i64)>, StorageError> {
        let q = Sql::new(self.backend())
            .push(
                "SELECT items, comment, entered_by, entered_at_ms FROM lsg_assessments \
                 WHERE municipality_code = ",
            )
            .bind(municipality)
            .push(" AND year = ")
            .bind(year);
        let Some(row) = sql::query_all(&self.db, q).await?.into_iter().next() else {
            return Ok(None);
        };
        let items: String = row.try_get_by_index(0)?;
        Ok(Some((
            serde_json::from_str(&items).map_err(corrupt)?,
            row.try_get_by_index(1)?,
            row.try_get_by_index(2)?,
            row.try_get_by_index(3)?,
        )))
    }

    pub async fn put_assessment(
        &self,
        municipality: &str,
        year: i32,
        items: &Value,
        comment: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push(
                "INSERT INTO lsg_assessments (municipality_code, year, items, comment, entered_by, \
                 entered_at_ms) VALUES (",
            )
            .bind(municipality)
            .push(", ")
            .bind(year)
            .push(", ")
            .bind(items.to_string())
            .push(", ")
            .bind(comment)
            .push(", ")
            .bind(actor)
            .push(", ")
            .bind(now_ms)
            .push(
                ") ON CONFLICT (municipality_code, year) DO UPDATE SET items = excluded.items, \
                 comment = excluded.comment, entered_by = excluded.entered_by, \
                 entered_at_ms = excluded.entered_at_ms",
            );
        sql::execute(&write.tx, q).await?;
        let detail =
            serde_json::json!({"municipality": municipality, "year": year, "items": items});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "scorecard.assessment",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }
}
