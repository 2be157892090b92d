//! Indicator values as their contributions move: the changes of a projector run applied to the
//! values' accumulators, and the evidence of values read from their facts.
//!
//! A projector run knows exactly which facts it took out and put in, so a value of an aggregate
//! moves by those alone (see [`crate::series::acc`]); only a value without accumulators, or one
//! that lost its smallest, largest or latest contribution, is recomputed from all its facts.
//! Which submissions a value rests on is not stored with it: it is what its facts say, read
//! when someone asks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::{ConnectionTrait, DbBackend};

use super::StorageError;
use super::series::{ScopeRules, StoredValue, resolve_operand, rules_of};
use super::sql::{self, Sql};
use crate::series::Period;
use crate::series::acc::{Acc, Point};
use crate::series::facts::{self, Fact, GroupKey};
use crate::series::rule::Rule;

/// A fact's columns, in the order [`fact_at`] reads them.
pub(super) const FACT_COLUMNS: &str =
    "indicator_code, source, municipality_code, facility, captured_at, grain, value, official";

/// A fact from [`FACT_COLUMNS`].
pub(super) fn fact_at(row: &sea_orm::QueryResult) -> Result<Fact, StorageError> {
    Ok(Fact {
        indicator: row.try_get_by_index(0)?,
        source: row.try_get_by_index(1)?,
        municipality: row.try_get_by_index(2)?,
        facility: row.try_get_by_index(3)?,
        at: row.try_get_by_index(4)?,
        grain: row.try_get_by_index(5)?,
        value: row.try_get_by_index(6)?,
        official: row.try_get_by_index::<i32>(7)? != 0,
    })
}

pub(super) fn point(f: &Fact) -> Point<'_> {
    Point {
        value: f.value,
        at: &f.at,
        source: &f.source,
    }
}

/// (indicator, municipality, from, to): the facts of an indicator in a municipality captured
/// from the day `from` up to (not including) `to`.
pub(super) type Span<'a> = (&'a str, &'a str, String, String);

/// The span of days from the start of `first` to the end of `last`.
pub(super) fn span<'a>(
    indicator: &'a str,
    municipality: &'a str,
    first: time::Date,
    last: time::Date,
) -> Span<'a> {
    (
        indicator,
        municipality,
        first.to_string(),
        format!("{last}T99"),
    )
}

/// The facts of these spans, by (indicator, municipality); many spans a statement.
pub(super) async fn read_facts(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    spans: &[Span<'_>],
) -> Result<HashMap<(String, String), Vec<Fact>>, StorageError> {
    let mut stored: HashMap<(String, String), Vec<Fact>> = HashMap::new();
    for chunk in spans.chunks(FACT_SPANS) {
        let mut q = Sql::new(backend).push(&format!(
            "SELECT {FACT_COLUMNS} FROM indicator_facts WHERE "
        ));
        for (i, (indicator, municipality, from, to)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(" OR ");
            }
            q.push_mut("(indicator_code = ")
                .bind_mut(*indicator)
                .push_mut(" AND municipality_code = ")
                .bind_mut(*municipality)
                .push_mut(" AND captured_at >= ")
                .bind_mut(from.as_str())
                .push_mut(" AND captured_at < ")
                .bind_mut(to.as_str())
                .push_mut(")");
        }
        for row in sql::query_all(conn, q).await? {
            let fact = fact_at(&row)?;
            let key = (fact.indicator.clone(), fact.municipality.clone());
            stored.entry(key).or_default().push(fact);
        }
    }
    Ok(stored)
}

/// (indicator, municipality) spans whose facts one statement reads.
const FACT_SPANS: usize = 100;

/// The facts a value of `facility` ('' for the whole municipality) and `period` rests on.
pub(super) fn inside<'a>(facility: &str, period: &Period, facts: &'a [Fact]) -> Vec<&'a Fact> {
    let period_text = period.to_string();
    let mut inside: Vec<&Fact> = facts
        .iter()
        .filter(|f| facility.is_empty() || f.facility == facility)
        .filter(|f| facts::belongs(&f.at, &f.grain, period))
        .collect();
    // An entry made for exactly this period stands; otherwise entries roll up, each counted
    // once: a quarter's entry covers the months inside it.
    if inside.iter().any(|f| f.grain == period_text) {
        inside.retain(|f| f.grain == period_text);
    } else {
        let grains: Vec<Period> = inside
            .iter()
            .filter_map(|f| f.grain.parse::<Period>().ok())
            .collect();
        inside.retain(|f| match f.grain.parse::<Period>() {
            Ok(g) => !grains.iter().any(|o| *o != g && o.contains(&g)),
            Err(_) => true,
        });
    }
    inside
}

/// What a projector run took out of and put into the facts, by the values each touches.
#[derive(Default)]
pub(super) struct Changes {
    removed: Vec<Fact>,
    added: Vec<Fact>,
    /// Per value: indices into `removed` and `added`.
    by_value: BTreeMap<GroupKey, (Vec<usize>, Vec<usize>)>,
}

impl Changes {
    pub fn take_out(&mut self, fact: Fact) {
        for key in keys_of(&fact) {
            self.by_value
                .entry(key)
                .or_default()
                .0
                .push(self.removed.len());
        }
        self.removed.push(fact);
    }

    pub fn put_in(&mut self, fact: Fact) {
        for key in keys_of(&fact) {
            self.by_value
                .entry(key)
                .or_default()
                .1
                .push(self.added.len());
        }
        self.added.push(fact);
    }

    /// Every value touched.
    pub fn values(&self) -> BTreeSet<GroupKey> {
        self.by_value.keys().cloned().collect()
    }
}

fn keys_of(fact: &Fact) -> BTreeSet<GroupKey> {
    let mut keys = BTreeSet::new();
    facts::groups(fact, &mut keys);
    keys
}

/// A value to write: its official and provisional sides, and the accumulators they came from
/// (a ratio has none).
pub(super) struct NewValue<'a> {
    pub key: &'a GroupKey,
    pub official: Option<(f64, i64)>,
    pub provisional: Option<(f64, i64)>,
    pub accs: Option<(Acc, Acc)>,
}

impl<'a> NewValue<'a> {
    /// A value of an aggregate or of LSG entries from its accumulators.
    pub fn of(
        key: &'a GroupKey,
        func: crate::series::Func,
        official: Acc,
        provisional: Acc,
    ) -> Self {
        let side = |acc: &Acc| acc.value(func).map(|v| (v, acc.n));
        NewValue {
            key,
            official: side(&official),
            provisional: side(&provisional),
            accs: Some((official, provisional)),
        }
    }
}

/// Moves the values of aggregates by the facts taken out and put in. Answers the values moved
/// and those to recompute from their facts instead: values of other rules, values stored
/// without accumulators, and values that lost an edge of their contributions.
pub(super) async fn apply<'a>(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    rules: &ScopeRules,
    changes: &'a Changes,
) -> Result<(Vec<NewValue<'a>>, BTreeSet<GroupKey>), StorageError> {
    let mut recompute = BTreeSet::new();
    let mut eligible = Vec::new();
    for (key, (removed, added)) in &changes.by_value {
        let func = match rules
            .get(&key.municipality)
            .and_then(|r| r.get(&key.indicator))
        {
            Some(Rule::Aggregate { func, .. }) => *func,
            _ => {
                recompute.insert(key.clone());
                continue;
            }
        };
        let grained = removed
            .iter()
            .map(|&i| &changes.removed[i])
            .chain(added.iter().map(|&i| &changes.added[i]))
            .any(|f| !f.grain.is_empty());
        if grained {
            recompute.insert(key.clone());
        } else {
            eligible.push((key, func, removed, added));
        }
    }
    let stored = stored_accs(tx, backend, eligible.iter().map(|e| e.0)).await?;
    let mut moved = Vec::with_capacity(eligible.len());
    for (key, func, removed, added) in eligible {
        let (mut official, mut provisional) = match stored.get(key) {
            None => (Acc::default(), Acc::default()),
            Some(Some(accs)) => accs.clone(),
            Some(None) => {
                recompute.insert(key.clone());
                continue;
            }
        };
        let removed: Vec<&Fact> = removed.iter().map(|&i| &changes.removed[i]).collect();
        let added: Vec<&Fact> = added.iter().map(|&i| &changes.added[i]).collect();
        let official_only = |facts: &[&'a Fact]| -> Vec<&'a Fact> {
            facts.iter().copied().filter(|f| f.official).collect()
        };
        let shifted = shift(&mut provisional, &removed, &added)
            && shift(
                &mut official,
                &official_only(&removed),
                &official_only(&added),
            );
        if shifted {
            moved.push(NewValue::of(key, func, official, provisional));
        } else {
            recompute.insert(key.clone());
        }
    }
    Ok((moved, recompute))
}

/// Takes `removed` out of `acc` and puts `added` in; `false` if `acc` must be recomputed.
fn shift(acc: &mut Acc, removed: &[&Fact], added: &[&Fact]) -> bool {
    let mut added = added.to_vec();
    for r in removed {
        // Taken out and put back as it was (a submission projected again after a review that
        // did not change what it counts for): no change.
        let same = added.iter().position(|a| {
            a.source == r.source && a.at == r.at && a.value.to_bits() == r.value.to_bits()
        });
        if let Some(i) = same {
            added.swap_remove(i);
            continue;
        }
        if !acc.remove(&point(r)) {
            return false;
        }
    }
    for a in added {
        acc.add(&point(a));
    }
    true
}

/// The stored accumulators of these values: a value that is not stored is absent, one stored
/// without accumulators (from before they were kept) is `None`.
async fn stored_accs<'k>(
    tx: &impl ConnectionTrait,
    backend: DbBackend,
    keys: impl Iterator<Item = &'k GroupKey>,
) -> Result<HashMap<GroupKey, Option<(Acc, Acc)>>, StorageError> {
    let keys: Vec<&GroupKey> = keys.collect();
    let mut by_text: HashMap<(String, String, String), &GroupKey> = HashMap::new();
    let mut out = HashMap::new();
    for chunk in keys.chunks(200) {
        let mut q = Sql::new(backend).push(
            "SELECT indicator_code, facility, period, official_acc, provisional_acc \
             FROM indicator_values WHERE (indicator_code, facility, period) IN (",
        );
        for (i, key) in chunk.iter().enumerate() {
            if i > 0 {
                q.push_mut(", ");
            }
            let period = key.period.to_string();
            q.bind_list([
                sea_orm::Value::from(key.indicator.as_str()),
                key.facility.as_str().into(),
                period.as_str().into(),
            ]);
            by_text.insert((key.indicator.clone(), key.facility.clone(), period), key);
        }
        q.push_mut(")");
        for row in sql::query_all(tx, q).await? {
            let text: (String, String, String) = (
                row.try_get_by_index(0)?,
                row.try_get_by_index(1)?,
                row.try_get_by_index(2)?,
            );
            let Some(key) = by_text.get(&text) else {
                continue;
            };
            let official: Option<String> = row.try_get_by_index(3)?;
            let provisional: Option<String> = row.try_get_by_index(4)?;
            let parse = |t: &str| serde_json::from_str::<Acc>(t).ok();
            let accs = match (official, provisional) {
                (Some(o), Some(p)) => parse(&o).zip(parse(&p)),
                _ => None,
            };
            out.insert((*key).clone(), accs);
        }
    }
    Ok(out)
}

/// Fills in which submissions (or entries) each side of these values rests on, from their
/// facts; a ratio's are its operands'.
pub(super) async fn fill_evidence(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    values: &mut [StoredValue],
) -> Result<(), StorageError> {
    if values.is_empty() {
        return Ok(());
    }
    let codes: BTreeSet<&str> = values.iter().map(|v| v.indicator.as_str()).collect();
    let mut municipality_of: HashMap<String, String> = HashMap::new();
    let codes: Vec<&str> = codes.into_iter().collect();
    for chunk in codes.chunks(400) {
        let mut q =
            Sql::new(backend).push("SELECT code, municipality_code FROM indicators WHERE code IN ");
        q.bind_list(chunk.iter().copied());
        for row in sql::query_all(conn, q).await? {
            municipality_of.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        }
    }
    let municipalities: BTreeSet<&str> = municipality_of.values().map(String::as_str).collect();
    let municipalities: Vec<&str> = municipalities.into_iter().collect();
    let rules = rules_of(conn, backend, &municipalities).await?;
    let parsed: Vec<Option<(&str, Period)>> = values
        .iter()
        .map(|v| {
            let municipality = municipality_of.get(&v.indicator)?;
            Some((municipality.as_str(), v.period.parse().ok()?))
        })
        .collect();
    // The facts of each value's indicator and, for a ratio, of its operands, over the days of
    // the periods asked.
    let mut days: BTreeMap<(String, &str), (Period, Period)> = BTreeMap::new();
    for (value, place) in values.iter().zip(&parsed) {
        let Some((municipality, period)) = place else {
            continue;
        };
        for indicator in fact_indicators(&rules, municipality, &value.indicator, DEPTH) {
            let entry = days
                .entry((indicator, municipality))
                .or_insert((*period, *period));
            if period.start() < entry.0.start() {
                entry.0 = *period;
            }
            if period.end() > entry.1.end() {
                entry.1 = *period;
            }
        }
    }
    let spans: Vec<Span<'_>> = days
        .iter()
        .map(|((indicator, municipality), (first, last))| {
            span(indicator, municipality, first.start(), last.end())
        })
        .collect();
    let facts = read_facts(conn, backend, &spans).await?;
    let known = Known {
        rules: &rules,
        facts: &facts,
    };
    for (value, place) in values.iter_mut().zip(&parsed) {
        let Some((municipality, period)) = place else {
            continue;
        };
        for (side, official) in [(&mut value.official, true), (&mut value.provisional, false)] {
            if let Some(basis) = side {
                let mut sources = BTreeSet::new();
                known.sources(
                    municipality,
                    &value.indicator,
                    &value.facility,
                    period,
                    official,
                    DEPTH,
                    &mut sources,
                );
                basis.evidence = sources.into_iter().collect();
            }
        }
    }
    Ok(())
}

/// How deep ratios of ratios are followed, as the projector does.
const DEPTH: u8 = 4;

/// The indicators whose facts a value of `indicator` rests on: itself, or a ratio's operands.
fn fact_indicators(
    rules: &ScopeRules,
    municipality: &str,
    indicator: &str,
    depth: u8,
) -> Vec<String> {
    let of_municipality = rules.get(municipality);
    match of_municipality.and_then(|r| r.get(indicator)) {
        Some(Rule::Ratio {
            numerator,
            denominator,
            ..
        }) => {
            if depth == 0 {
                return Vec::new();
            }
            [numerator, denominator]
                .into_iter()
                .filter_map(|operand| {
                    resolve_operand(operand, municipality, |c| {
                        of_municipality.is_some_and(|r| r.contains_key(c))
                    })
                })
                .flat_map(|code| fact_indicators(rules, municipality, &code, depth - 1))
                .collect()
        }
        _ => vec![indicator.to_owned()],
    }
}

struct Known<'a> {
    rules: &'a ScopeRules,
    facts: &'a HashMap<(String, String), Vec<Fact>>,
}

impl Known<'_> {
    #[allow(clippy::too_many_arguments)]
    fn sources(
        &self,
        municipality: &str,
        indicator: &str,
        facility: &str,
        period: &Period,
        official: bool,
        depth: u8,
        out: &mut BTreeSet<String>,
    ) {
        let of_municipality = self.rules.get(municipality);
        if let Some(Rule::Ratio {
            numerator,
            denominator,
            ..
        }) = of_municipality.and_then(|r| r.get(indicator))
        {
            if depth == 0 {
                return;
            }
            for operand in [numerator, denominator] {
                let code = resolve_operand(operand, municipality, |c| {
                    of_municipality.is_some_and(|r| r.contains_key(c))
                });
                if let Some(code) = code {
                    self.sources(
                        municipality,
                        &code,
                        facility,
                        period,
                        official,
                        depth - 1,
                        out,
                    );
                }
            }
            return;
        }
        let facts = self
            .facts
            .get(&(indicator.to_owned(), municipality.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for f in inside(facility, period, facts) {
            if f.official || !official {
                out.insert(f.source.clone());
            }
        }
    }
}
