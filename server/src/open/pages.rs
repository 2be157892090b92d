//! The public panel's pages: choosing a territory, and a municipality's panel. No login, no
//! script: everything, charts included, is drawn by the server.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::chart::{self, Point, Segment};
use super::panel::{self, Panel};
use super::texts::PanelTexts;
use crate::api::AppState;
use crate::storage::{PublishedHead, StoredTerritory};
use crate::web::i18n::Lang;
use crate::web::map::{self, StateMarker};
use crate::web::session::PageLang;
use crate::web::{LangLink, WebError, encode, lang_links, render};

pub struct Crumb {
    pub href: String,
    pub name: String,
}

pub struct Node {
    pub href: String,
    pub name: String,
    pub children: Vec<Node>,
}

pub struct Choice {
    pub group: String,
    pub options: Vec<(String, String)>,
}

#[derive(askama::Template)]
#[template(path = "open_territories.html")]
struct TerritoriesPage<'a> {
    p: &'static PanelTexts,
    lang: Lang,
    langs: Vec<LangLink>,
    crumbs: Vec<Crumb>,
    heading: String,
    tree: Vec<Node>,
    choices: Vec<Choice>,
    head: Option<&'a PublishedHead>,
}

pub struct IndicatorRow {
    pub anchor: String,
    pub name: String,
    pub unit: String,
    pub baseline: String,
    pub target: String,
    pub fact: String,
    pub n: i64,
    pub achievement: String,
    pub forecast: String,
    pub status: String,
    pub status_label: &'static str,
    pub chart: String,
}

pub struct LevelGroup {
    pub title: &'static str,
    pub rows: Vec<IndicatorRow>,
}

pub struct QuestionBlock {
    pub label: String,
    pub chart: String,
    pub choices: Vec<(String, &'static str)>,
    pub years: Vec<(i32, u64, Vec<String>)>,
    pub changes: Vec<String>,
}

pub struct SurveyBlock {
    pub respondents: String,
    pub questions: Vec<QuestionBlock>,
}

pub struct ComponentRow {
    pub name: &'static str,
    pub score: String,
    pub bar: String,
    pub inputs: Vec<(String, String)>,
}

pub struct FacilityRow {
    pub anchor: String,
    pub name: String,
    pub kind: String,
    pub state: &'static str,
    pub state_label: &'static str,
    pub last_visit: String,
    pub visits: i64,
    pub values: String,
}

pub struct RecommendationBlock {
    pub anchor: String,
    pub title: String,
    pub meeting_on: String,
    pub status: String,
    pub status_label: &'static str,
    pub votes: String,
    pub items: Vec<[String; 7]>,
    pub addressees: String,
}

pub struct DecisionRow {
    pub session_on: String,
    pub instrument: &'static str,
    pub decision: String,
    pub status_label: &'static str,
    pub links: Vec<(String, String)>,
}

pub struct Download {
    pub label: String,
    pub links: Vec<(String, String)>,
}

#[derive(askama::Template)]
#[template(path = "open_panel.html")]
struct PanelPage<'a> {
    p: &'static PanelTexts,
    lang: Lang,
    langs: Vec<LangLink>,
    crumbs: Vec<Crumb>,
    name: String,
    code: String,
    years: Vec<(i32, String, bool)>,
    year: i32,
    reports: Vec<(String, String)>,
    plan_approved: bool,
    summary: Vec<(&'static str, &'static str, usize)>,
    groups: Vec<LevelGroup>,
    surveys: Vec<SurveyBlock>,
    score: String,
    score_bar: String,
    score_complete: bool,
    components: Vec<ComponentRow>,
    map: String,
    facilities: Vec<FacilityRow>,
    downloads: Vec<Download>,
    recommendations: Vec<RecommendationBlock>,
    decisions: Vec<DecisionRow>,
    audit_seq: i64,
    audit_hash: String,
    head: Option<&'a PublishedHead>,
}

fn name_of(lang: Lang, t: &StoredTerritory) -> String {
    lang.name(&t.name_ky, &t.name_ru, &t.name_en).to_owned()
}

fn fmt(v: Option<f64>) -> String {
    v.map(chart::short).unwrap_or_else(|| "–".into())
}

fn today() -> (i32, String) {
    let now = time::OffsetDateTime::now_utc();
    (
        now.year(),
        format!(
            "{:04}-{:02}-{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        ),
    )
}

async fn latest_head(app: &AppState) -> Result<Option<PublishedHead>, WebError> {
    Ok(app
        .storage
        .published_heads(None, 1)
        .await?
        .into_iter()
        .next())
}

/// `GET /panel`: every oblast, its rayons and their municipalities.
pub async fn index(
    State(app): State<AppState>,
    PageLang(lang): PageLang,
) -> Result<Response, WebError> {
    territories_page(&app, lang, None).await
}

#[derive(Deserialize)]
pub struct GoQuery {
    m: Option<String>,
}

/// `GET /panel/go?m=CODE`: the chooser's form without script.
pub async fn go(Query(q): Query<GoQuery>) -> Redirect {
    match q.m.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(code) => Redirect::to(&format!("/panel/{}", encode(code))),
        None => Redirect::to("/panel"),
    }
}

#[derive(Deserialize)]
pub struct PanelQuery {
    year: Option<String>,
    #[allow(dead_code)]
    lang: Option<String>,
}

/// `GET /panel/{code}`: a municipality's panel, or the municipalities of an oblast or rayon.
pub async fn show(
    State(app): State<AppState>,
    PageLang(lang): PageLang,
    Path(code): Path<String>,
    Query(q): Query<PanelQuery>,
) -> Result<Response, WebError> {
    // The place and those above it: all the panel needs of the territories.
    let territories = app.storage.territory_line(&code).await?;
    let Some(place) = territories.first().filter(|t| t.code == code) else {
        return Err(WebError::new(
            axum::http::StatusCode::NOT_FOUND,
            lang,
            PanelTexts::of(lang).not_found,
        ));
    };
    match place.level.as_str() {
        "municipality" => {}
        "village" => {
            let up = place.parent.clone().unwrap_or_default();
            return Ok(Redirect::to(&format!("/panel/{}", encode(&up))).into_response());
        }
        _ => return territories_page(&app, lang, Some(place.code.clone())).await,
    }
    let year = q.year.as_deref().and_then(|y| y.trim().parse::<i32>().ok());
    let (this_year, _) = today();
    let Some(panel) = panel::assemble(&app.storage, &territories, &code, year, this_year).await?
    else {
        return Err(WebError::not_found(lang));
    };
    let head = latest_head(&app).await?;
    render(lang, &panel_page(lang, &panel, head.as_ref()))
}

async fn territories_page(
    app: &AppState,
    lang: Lang,
    root: Option<String>,
) -> Result<Response, WebError> {
    let p = PanelTexts::of(lang);
    let territories = app.storage.territories().await?;
    let children = |parent: Option<&str>, level: &str| -> Vec<&StoredTerritory> {
        let mut out: Vec<&StoredTerritory> = territories
            .iter()
            .filter(|t| t.level == level && t.parent.as_deref() == parent)
            .collect();
        out.sort_by_key(|t| name_of(lang, t));
        out
    };
    let node = |t: &StoredTerritory, children: Vec<Node>| Node {
        href: format!("/panel/{}", encode(&t.code)),
        name: name_of(lang, t),
        children,
    };
    let rayon_node = |r: &StoredTerritory| {
        node(
            r,
            children(Some(&r.code), "municipality")
                .into_iter()
                .map(|m| node(m, vec![]))
                .collect(),
        )
    };
    let oblast_node = |o: &StoredTerritory| {
        node(
            o,
            children(Some(&o.code), "rayon")
                .into_iter()
                .map(rayon_node)
                .collect(),
        )
    };
    let (heading, tree, mut crumbs) = match root
        .as_deref()
        .and_then(|c| territories.iter().find(|t| t.code == c))
    {
        Some(t) if t.level == "oblast" => (name_of(lang, t), vec![oblast_node(t)], vec![]),
        Some(t) => {
            let crumbs = panel::parents_of(&territories, t)
                .iter()
                .rev()
                .map(|u| Crumb {
                    href: format!("/panel/{}", encode(&u.code)),
                    name: name_of(lang, u),
                })
                .collect();
            (name_of(lang, t), vec![rayon_node(t)], crumbs)
        }
        None => (
            p.choose.to_owned(),
            children(None, "oblast")
                .into_iter()
                .map(oblast_node)
                .collect(),
            vec![],
        ),
    };
    crumbs.insert(
        0,
        Crumb {
            href: "/panel".into(),
            name: p.all_territories.into(),
        },
    );
    let mut choices = Vec::new();
    for o in children(None, "oblast") {
        for r in children(Some(&o.code), "rayon") {
            let options: Vec<(String, String)> = children(Some(&r.code), "municipality")
                .into_iter()
                .map(|m| (m.code.clone(), name_of(lang, m)))
                .collect();
            if !options.is_empty() {
                choices.push(Choice {
                    group: format!("{} / {}", name_of(lang, o), name_of(lang, r)),
                    options,
                });
            }
        }
    }
    let self_path = match &root {
        Some(code) => format!("/panel/{}", encode(code)),
        None => "/panel".into(),
    };
    let head = latest_head(app).await?;
    render(
        lang,
        &TerritoriesPage {
            p,
            lang,
            langs: lang_links(lang, &self_path),
            crumbs,
            heading,
            tree,
            choices,
            head: head.as_ref(),
        },
    )
}

fn panel_page<'a>(lang: Lang, panel: &Panel, head: Option<&'a PublishedHead>) -> PanelPage<'a> {
    let p = PanelTexts::of(lang);
    let code = panel.municipality.code.clone();
    let base = format!("/panel/{}", encode(&code));
    let self_path = format!("{base}?year={}", panel.year);
    let crumbs = std::iter::once(Crumb {
        href: "/panel".into(),
        name: p.all_territories.into(),
    })
    .chain(panel.parents.iter().rev().map(|t| Crumb {
        href: format!("/panel/{}", encode(&t.code)),
        name: name_of(lang, t),
    }))
    .collect();
    let years = panel
        .years
        .iter()
        .map(|y| (*y, format!("{base}?year={y}"), *y == panel.year))
        .collect();
    let summary = ["on_track", "at_risk", "off_track", "no_data"]
        .into_iter()
        .map(|s| {
            (
                s,
                p.status(s),
                panel.plan.summary.get(s).copied().unwrap_or(0),
            )
        })
        .collect();
    let groups = ["resource", "activity", "output", "outcome"]
        .into_iter()
        .map(|level| LevelGroup {
            title: p.level(level),
            rows: panel
                .plan
                .rows
                .iter()
                .filter(|r| r.level == level)
                .map(|r| indicator_row(lang, p, r))
                .collect(),
        })
        .filter(|g| !g.rows.is_empty())
        .collect();
    let surveys = panel
        .surveys
        .iter()
        .map(|s| survey_block(lang, p, s))
        .collect();
    let components = panel
        .scorecard
        .components
        .iter()
        .map(|c| ComponentRow {
            name: p.component(c.name),
            score: fmt(c.score),
            bar: chart::score_bar(c.score, p.component(c.name)),
            inputs: c
                .inputs
                .iter()
                .map(|i| (i.label.clone(), i.detail.clone()))
                .collect(),
        })
        .collect();
    let markers: Vec<StateMarker> = panel
        .facilities
        .iter()
        .map(|f| StateMarker {
            at: geo::Point::new(f.facility.lon, f.facility.lat),
            label: format!(
                "{}: {}",
                lang.name(
                    &f.facility.name_ky,
                    &f.facility.name_ru,
                    &f.facility.name_en
                ),
                p.state(f.state)
            ),
            state: f.state,
            href: format!("#f-{}", f.facility.code),
        })
        .collect();
    let boundary = panel
        .boundary
        .as_deref()
        .and_then(crate::evidence::flags::boundary);
    let map =
        map::render_facilities(boundary.as_ref(), &markers, p.map, 640, 400).unwrap_or_default();
    let facilities = panel
        .facilities
        .iter()
        .map(|f| FacilityRow {
            anchor: format!("f-{}", f.facility.code),
            name: lang
                .name(
                    &f.facility.name_ky,
                    &f.facility.name_ru,
                    &f.facility.name_en,
                )
                .to_owned(),
            kind: f.facility.kind.replace('_', " "),
            state: f.state,
            state_label: p.state(f.state),
            last_visit: f.last_visit.clone().unwrap_or_else(|| "–".into()),
            visits: f.approved_visits,
            values: f
                .latest
                .iter()
                .map(|v| {
                    let name = panel
                        .plan
                        .rows
                        .iter()
                        .find(|r| r.indicator == v.indicator)
                        .map(|r| lang.name(&r.name_ky, &r.name_ru, &r.name_en).to_owned())
                        .unwrap_or_else(|| v.indicator.clone());
                    format!("{name}: {} ({})", chart::short(v.value), v.period)
                })
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    let api = format!("/api/v1/open/{}", encode(&code));
    let y = panel.year;
    let links = |name: &str, formats: &[&str], query: &str| -> Vec<(String, String)> {
        formats
            .iter()
            .map(|f| (f.to_uppercase(), format!("{api}/{name}.{f}{query}")))
            .collect()
    };
    let year_q = format!("?year={y}");
    let downloads = vec![
        Download {
            label: format!("{} {y}", p.indicators),
            links: links("indicators", &["csv", "xlsx", "json"], &year_q),
        },
        Download {
            label: format!("{} (DHIS2)", p.trend),
            links: links("values", &["csv", "xlsx", "json"], "")
                .into_iter()
                .chain([("DHIS2".to_owned(), format!("{api}/dhis2.json"))])
                .collect(),
        },
        Download {
            label: p.survey.to_owned(),
            links: links("survey", &["csv", "xlsx", "json"], ""),
        },
        Download {
            label: format!("{} {y}", p.scorecard),
            links: links("scorecard", &["csv", "xlsx", "json"], &year_q),
        },
        Download {
            label: p.map.to_owned(),
            links: links("facilities", &["geojson", "csv"], "")
                .into_iter()
                .chain([(
                    "GeoJSON (visits)".to_owned(),
                    format!("{api}/visits.geojson"),
                )])
                .collect(),
        },
        Download {
            label: p.raw_submissions.to_owned(),
            links: links("submissions", &["csv", "json"], ""),
        },
        Download {
            label: p.open_panel.to_owned(),
            links: links("panel", &["json"], &year_q),
        },
    ];
    let indicator_name = |code: &str| {
        panel
            .plan
            .rows
            .iter()
            .find(|r| r.indicator == code)
            .map(|r| lang.name(&r.name_ky, &r.name_ru, &r.name_en).to_owned())
            .unwrap_or_else(|| code.to_owned())
    };
    let recommendations = panel
        .recommendations
        .iter()
        .map(|r| {
            let status = serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let cell = |item: &serde_json::Value, k: &str| match &item[k] {
                serde_json::Value::Number(n) => n.as_f64().map(chart::short).unwrap_or_default(),
                serde_json::Value::String(s) => s.clone(),
                _ => "–".into(),
            };
            RecommendationBlock {
                anchor: format!("r-{}", r.id),
                title: r.title.clone(),
                meeting_on: r.meeting_on.clone().unwrap_or_default(),
                status_label: p.recommendation_status(&status),
                status,
                votes: format!(
                    "{} {} ({} {})",
                    r.votes.for_, p.votes_for, r.votes.current_members, p.of_members
                ),
                items: r
                    .items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| {
                        [
                            indicator_name(i["indicator"].as_str().unwrap_or_default()),
                            cell(i, "plan"),
                            cell(i, "fact"),
                            cell(i, "gap"),
                            cell(i, "forecast"),
                            cell(i, "shortcomings"),
                            cell(i, "proposals"),
                        ]
                    })
                    .collect(),
                addressees: r
                    .addressees
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })
        .collect();
    let decisions = panel
        .council_decisions
        .iter()
        .map(|d| DecisionRow {
            session_on: d.session_on.clone(),
            instrument: p.instrument(&d.instrument),
            decision: d.decision.clone(),
            status_label: p.recommendation_status(&d.status),
            links: d
                .indicators
                .iter()
                .map(|i| (format!("#i-{i}"), indicator_name(i)))
                .chain(d.recommendations.iter().map(|r| {
                    let title = panel
                        .recommendations
                        .iter()
                        .find(|x| x.id == *r)
                        .map(|x| x.title.clone())
                        .unwrap_or_else(|| r.clone());
                    (format!("#r-{r}"), title)
                }))
                .collect(),
        })
        .collect();
    let score = fmt(panel.scorecard.score);
    let reports = [format!("{y}-H1"), format!("{y}-H2"), y.to_string()]
        .into_iter()
        .map(|period| (format!("{base}/report/{period}"), period))
        .collect();
    PanelPage {
        reports,
        recommendations,
        decisions,
        p,
        lang,
        langs: lang_links(lang, &self_path),
        crumbs,
        name: name_of(lang, &panel.municipality),
        code,
        years,
        year: panel.year,
        plan_approved: panel.plan_approved,
        summary,
        groups,
        surveys,
        score_bar: chart::score_bar(panel.scorecard.score, p.score),
        score,
        score_complete: panel.scorecard.complete,
        components,
        map,
        facilities,
        downloads,
        audit_seq: panel.audit.seq,
        audit_hash: panel.audit.hash.clone(),
        head,
    }
}

fn indicator_row(lang: Lang, p: &PanelTexts, r: &crate::series::plan::PlanRow) -> IndicatorRow {
    let name = lang.name(&r.name_ky, &r.name_ru, &r.name_en).to_owned();
    let points: Vec<Point> = r
        .trend
        .iter()
        .map(|t| Point {
            period: &t.period,
            value: t.value,
        })
        .collect();
    let status = serde_json::to_value(r.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    IndicatorRow {
        anchor: format!("i-{}", r.indicator),
        chart: chart::trend(&points, r.baseline, r.target, &name, p.target, p.baseline),
        name,
        unit: r.unit.clone(),
        baseline: fmt(r.baseline),
        target: fmt(r.target),
        fact: fmt(r.actual),
        n: r.n,
        achievement: r
            .achievement_pct
            .map(|a| format!("{} %", chart::short(a)))
            .unwrap_or_else(|| "–".into()),
        forecast: r
            .forecast
            .as_ref()
            .map(|f| format!("{} ({})", chart::short(f.value), f.deadline))
            .unwrap_or_else(|| "–".into()),
        status_label: p.status(&status),
        status,
    }
}

fn survey_block(
    lang: Lang,
    p: &PanelTexts,
    s: &crate::series::tables::SurveyAnswer,
) -> SurveyBlock {
    let respondents = s
        .results
        .respondents
        .iter()
        .map(|(y, n)| format!("{y}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let questions = s
        .results
        .questions
        .iter()
        .map(|q| {
            // Every choice seen in any year, in the order of the latest instrument.
            let mut values: Vec<(String, String)> = Vec::new();
            for y in &q.years {
                for c in &y.shares.choices {
                    if !values.iter().any(|(v, _)| *v == c.value) {
                        let label = c
                            .label
                            .as_ref()
                            .map(|l| lang.pick(l))
                            .unwrap_or_else(|| c.value.clone());
                        values.push((c.value.clone(), label));
                    }
                }
            }
            let share = |y: &crate::series::survey::YearShares, value: &str| {
                y.shares
                    .choices
                    .iter()
                    .find(|c| c.value == value)
                    .map_or(0.0, |c| c.share)
            };
            let rows: Vec<(String, Vec<Segment>)> = q
                .years
                .iter()
                .map(|y| {
                    (
                        y.year.to_string(),
                        values
                            .iter()
                            .map(|(v, label)| Segment {
                                label,
                                share: share(y, v),
                            })
                            .collect(),
                    )
                })
                .collect();
            let label = lang.pick(&q.label);
            QuestionBlock {
                chart: chart::stacked(&rows, &label),
                choices: values
                    .iter()
                    .enumerate()
                    .map(|(i, (_, l))| (l.clone(), chart::colour(i, values.len())))
                    .collect(),
                years: q
                    .years
                    .iter()
                    .map(|y| {
                        (
                            y.year,
                            y.shares.n,
                            values
                                .iter()
                                .map(|(v, _)| format!("{} %", chart::short(share(y, v))))
                                .collect(),
                        )
                    })
                    .collect(),
                changes: q
                    .year_over_year
                    .iter()
                    .map(|c| {
                        let label = values
                            .iter()
                            .find(|(v, _)| *v == c.choice)
                            .map_or(c.choice.as_str(), |(_, l)| l.as_str());
                        format!(
                            "{label}: {}{} pp ({}–{}), {}",
                            if c.change > 0.0 { "+" } else { "" },
                            chart::short(c.change),
                            c.from_year,
                            c.to_year,
                            if c.significant {
                                p.significant
                            } else {
                                p.not_significant
                            }
                        )
                    })
                    .collect(),
                label,
            }
        })
        .collect();
    SurveyBlock {
        respondents,
        questions,
    }
}
