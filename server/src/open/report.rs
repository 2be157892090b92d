//! The AO head's semi-annual and annual report on the fulfilment of the SEDP (step 6): plan
//! versus fact of the M&E plan's indicators for a half-year or a year, grouped by level, with
//! the JMET's recommendations of the period and the council's decisions on them. Generated from
//! the official figures as a printable page and an XLSX file.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use sync_protocol::Scope;

use super::chart;
use super::panel::PUBLIC;
use super::table::{Cell, Table};
use super::texts::PanelTexts;
use crate::api::AppState;
use crate::council::{self, Recommendation, Status};
use crate::series::plan::Basis;
use crate::series::tables::{self, PlanAnswer};
use crate::series::{Period, PeriodKind};
use crate::storage::{ChainPosition, CouncilDecision, Storage, StorageError, StoredTerritory};
use crate::web::i18n::Lang;
use crate::web::session::PageLang;
use crate::web::{LangLink, WebError, encode, lang_links, render};

#[derive(Debug, Serialize)]
pub struct Report {
    pub municipality: StoredTerritory,
    pub period: String,
    pub plan: PlanAnswer,
    /// Mean achievement of the indicators with a target and a value, each capped to 0–100 %.
    pub mean_achievement_pct: Option<f64>,
    pub recommendations: Vec<Recommendation>,
    pub council_decisions: Vec<CouncilDecision>,
    pub audit: ChainPosition,
}

/// A half-year or a year, as `2026-H1` or `2026`.
pub fn parse_period(text: &str) -> Option<Period> {
    let p: Period = text.parse().ok()?;
    matches!(p.kind, PeriodKind::Half | PeriodKind::Year).then_some(p)
}

fn within(date: Option<&str>, period: Period) -> bool {
    date.and_then(crate::series::period::parse_date_prefix)
        .is_some_and(|d| d >= period.start() && d <= period.end())
}

pub async fn assemble(
    storage: &Storage,
    code: &str,
    period: Period,
) -> Result<Option<Report>, StorageError> {
    let Some(municipality) = storage
        .territories()
        .await?
        .into_iter()
        .find(|t| t.code == code && t.level == "municipality")
    else {
        return Ok(None);
    };
    let Ok(scope) = Scope::parse(code) else {
        return Ok(None);
    };
    let mut plan = tables::plan_vs_fact(storage, &scope, period, Basis::Official, PUBLIC).await?;
    if plan.plan_status.as_deref() != Some("approved") {
        plan.rows.clear();
        plan.summary.clear();
    }
    let achieved: Vec<f64> = plan
        .rows
        .iter()
        .filter_map(|r| r.achievement_pct)
        .map(|a| a.clamp(0.0, 100.0))
        .collect();
    let mean_achievement_pct =
        (!achieved.is_empty()).then(|| achieved.iter().sum::<f64>() / achieved.len() as f64);
    let today = super::exports::now_text()
        .chars()
        .take(10)
        .collect::<String>();
    let recommendations = council::list(storage, &scope, &today)
        .await?
        .into_iter()
        .filter(|r| r.status != Status::Draft && within(r.meeting_on.as_deref(), period))
        .collect();
    let council_decisions = storage
        .council_decisions(code)
        .await?
        .into_iter()
        .filter(|d| within(Some(&d.session_on), period))
        .collect();
    let audit = storage.chain_head().await?;
    Ok(Some(Report {
        municipality,
        period: period.to_string(),
        plan,
        mean_achievement_pct,
        recommendations,
        council_decisions,
        audit,
    }))
}

/// The report as tables: indicators, recommendations, council decisions.
pub fn tables(r: &Report) -> Vec<(&'static str, Table)> {
    let code = r.municipality.code.as_str();
    let indicators = Table {
        columns: [
            "municipality",
            "period",
            "level",
            "indicator",
            "name_ky",
            "name_ru",
            "name_en",
            "unit",
            "baseline",
            "target",
            "actual",
            "n",
            "achievement_pct",
            "status",
            "forecast",
            "forecast_deadline",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: r
            .plan
            .rows
            .iter()
            .map(|row| {
                vec![
                    Cell::text(code),
                    Cell::text(&r.period),
                    Cell::text(&row.level),
                    Cell::text(&row.indicator),
                    Cell::text(&row.name_ky),
                    Cell::text(&row.name_ru),
                    Cell::text(&row.name_en),
                    Cell::text(&row.unit),
                    Cell::opt(row.baseline),
                    Cell::opt(row.target),
                    Cell::opt(row.actual),
                    Cell::Int(row.n),
                    Cell::opt(row.achievement_pct),
                    Cell::text(super::status_name(row.status)),
                    Cell::opt(row.forecast.as_ref().map(|f| f.value)),
                    row.forecast
                        .as_ref()
                        .map_or(Cell::Empty, |f| Cell::text(&f.deadline)),
                ]
            })
            .collect(),
    };
    let recommendations = Table {
        columns: [
            "id",
            "meeting_on",
            "title",
            "status",
            "votes_for",
            "current_members",
            "indicators",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: r
            .recommendations
            .iter()
            .map(|x| {
                let indicators: Vec<&str> = x
                    .items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["indicator"].as_str())
                    .collect();
                vec![
                    Cell::text(&x.id),
                    x.meeting_on.clone().map_or(Cell::Empty, Cell::Text),
                    Cell::text(&x.title),
                    Cell::text(super::status_name(x.status)),
                    Cell::Int(x.votes.for_ as i64),
                    Cell::Int(x.votes.current_members as i64),
                    Cell::text(indicators.join(";")),
                ]
            })
            .collect(),
    };
    let decisions = Table {
        columns: [
            "session_on",
            "instrument",
            "decision",
            "status",
            "indicators",
            "recommendations",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: r
            .council_decisions
            .iter()
            .map(|d| {
                vec![
                    Cell::text(&d.session_on),
                    Cell::text(&d.instrument),
                    Cell::text(&d.decision),
                    Cell::text(&d.status),
                    Cell::text(d.indicators.join(";")),
                    Cell::text(d.recommendations.join(";")),
                ]
            })
            .collect(),
    };
    vec![
        ("indicators", indicators),
        ("recommendations", recommendations),
        ("council", decisions),
    ]
}

pub struct Row {
    pub name: String,
    pub unit: String,
    pub target: String,
    pub fact: String,
    pub achievement: String,
    pub status: String,
    pub status_label: &'static str,
    pub forecast: String,
}

#[derive(askama::Template)]
#[template(path = "open_report.html")]
struct ReportPage {
    p: &'static PanelTexts,
    lang: Lang,
    langs: Vec<LangLink>,
    crumbs: Vec<super::pages::Crumb>,
    head: Option<crate::storage::PublishedHead>,
    name: String,
    kind: &'static str,
    period: String,
    plan_approved: bool,
    mean: String,
    summary: Vec<(&'static str, &'static str, usize)>,
    groups: Vec<(&'static str, Vec<Row>)>,
    recommendations: Vec<(String, String, &'static str, String)>,
    decisions: Vec<(String, &'static str, String, &'static str)>,
    xlsx: String,
    audit_seq: i64,
    audit_hash: String,
}

/// `GET /panel/{code}/report/{period}`: the printable report (`2026-H1`, `2026-H2`, `2026`).
pub async fn page(
    State(app): State<AppState>,
    PageLang(lang): PageLang,
    Path((code, period_text)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let p = PanelTexts::of(lang);
    let not_found = || WebError::new(axum::http::StatusCode::NOT_FOUND, lang, p.not_found);
    let period = parse_period(&period_text).ok_or_else(not_found)?;
    let report = assemble(&app.storage, &code, period)
        .await?
        .ok_or_else(not_found)?;
    let head = app
        .storage
        .published_heads(None, 1)
        .await?
        .into_iter()
        .next();
    let territories = app.storage.territories().await?;
    let mut crumbs = vec![super::pages::Crumb {
        href: "/panel".into(),
        name: p.all_territories.into(),
    }];
    for t in super::panel::parents_of(&territories, &report.municipality)
        .iter()
        .rev()
        .chain([&report.municipality])
    {
        crumbs.push(super::pages::Crumb {
            href: format!("/panel/{}", encode(&t.code)),
            name: lang.name(&t.name_ky, &t.name_ru, &t.name_en).to_owned(),
        });
    }
    let fmt = |v: Option<f64>| v.map(chart::short).unwrap_or_else(|| "–".into());
    let groups = ["resource", "activity", "output", "outcome"]
        .into_iter()
        .map(|level| {
            (
                p.level(level),
                report
                    .plan
                    .rows
                    .iter()
                    .filter(|r| r.level == level)
                    .map(|r| {
                        let status = super::status_name(r.status);
                        Row {
                            name: lang.name(&r.name_ky, &r.name_ru, &r.name_en).to_owned(),
                            unit: r.unit.clone(),
                            target: fmt(r.target),
                            fact: fmt(r.actual),
                            achievement: r
                                .achievement_pct
                                .map(|a| format!("{} %", chart::short(a)))
                                .unwrap_or_else(|| "–".into()),
                            status_label: p.status(&status),
                            status,
                            forecast: r
                                .forecast
                                .as_ref()
                                .map(|f| format!("{} ({})", chart::short(f.value), f.deadline))
                                .unwrap_or_else(|| "–".into()),
                        }
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect();
    let page = ReportPage {
        p,
        lang,
        langs: lang_links(
            lang,
            &format!("/panel/{}/report/{}", encode(&code), report.period),
        ),
        crumbs,
        head,
        name: lang
            .name(
                &report.municipality.name_ky,
                &report.municipality.name_ru,
                &report.municipality.name_en,
            )
            .to_owned(),
        kind: if period.kind == PeriodKind::Half {
            p.report_half
        } else {
            p.report_year
        },
        period: report.period.clone(),
        plan_approved: report.plan.plan_status.as_deref() == Some("approved"),
        mean: report
            .mean_achievement_pct
            .map(|m| format!("{} %", chart::short(m)))
            .unwrap_or_else(|| "–".into()),
        summary: ["on_track", "at_risk", "off_track", "no_data"]
            .into_iter()
            .map(|s| {
                (
                    s,
                    p.status(s),
                    report.plan.summary.get(s).copied().unwrap_or(0),
                )
            })
            .collect(),
        groups,
        recommendations: report
            .recommendations
            .iter()
            .map(|r| {
                let status = super::status_name(r.status);
                (
                    r.meeting_on.clone().unwrap_or_default(),
                    r.title.clone(),
                    p.recommendation_status(&status),
                    format!(
                        "{} {} ({} {})",
                        r.votes.for_, p.votes_for, r.votes.current_members, p.of_members
                    ),
                )
            })
            .collect(),
        decisions: report
            .council_decisions
            .iter()
            .map(|d| {
                (
                    d.session_on.clone(),
                    p.instrument(&d.instrument),
                    d.decision.clone(),
                    p.recommendation_status(&d.status),
                )
            })
            .collect(),
        xlsx: format!(
            "/api/v1/open/{}/report.xlsx?period={}",
            encode(&code),
            report.period
        ),
        audit_seq: report.audit.seq,
        audit_hash: report.audit.hash.clone(),
    };
    render(lang, &page)
}
