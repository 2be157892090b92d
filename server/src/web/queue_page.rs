//! `GET /review`: the queue with its filters, counts per status and bulk approval.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sync_protocol::review::ReviewStatus;

use super::i18n::{Lang, Texts};
use super::session::{PageLang, WebUser, encode};
use super::{WebError, render};
use crate::access::{Action, Principal};
use crate::api::AppState;
use crate::api::reviews::{QueueParams, reviewable};
use crate::evidence::gps::FlagKind;
use crate::review::queue::{QueuePage, QueueQuery, StatusFilter};
use crate::review::{self, BulkItem};
use crate::storage::Storage;

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct Tab {
    pub href: String,
    pub label: &'static str,
    pub count: i64,
    pub active: bool,
}

pub struct Row {
    pub href: String,
    pub item: String,
    pub municipality: String,
    pub form: String,
    pub place: String,
    pub member: String,
    pub captured: String,
    pub waiting: String,
    pub status: String,
    pub status_label: &'static str,
    pub flags: i64,
    pub selectable: bool,
}

#[derive(askama::Template)]
#[template(path = "queue.html")]
struct Page<'a> {
    t: &'static Texts,
    lang: Lang,
    langs: Vec<super::LangLink>,
    self_path: String,
    login: &'a str,
    csrf: &'a str,
    notice: Option<String>,
    tabs: Vec<Tab>,
    municipalities: Vec<Choice>,
    forms: Vec<Choice>,
    facilities: Vec<Choice>,
    members: Vec<Choice>,
    flags: Vec<Choice>,
    sorts: Vec<Choice>,
    status: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    total: i64,
    page: u64,
    pages: u64,
    prev_href: Option<String>,
    next_href: Option<String>,
    can_bulk: bool,
}

/// Query string of the filters (without the page), to build links that keep them.
pub fn filters_query(p: &QueueParams) -> String {
    let pairs = [
        ("municipality", &p.municipality),
        ("form", &p.form),
        ("facility", &p.facility),
        ("member", &p.member),
        ("status", &p.status),
        ("flag", &p.flag),
        ("from", &p.from),
        ("to", &p.to),
        ("sort", &p.sort),
    ];
    pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
}

fn with_page(filters: &str, page: u64) -> String {
    match (filters.is_empty(), page) {
        (true, 1) => "/review".into(),
        (true, p) => format!("/review?page={p}"),
        (false, 1) => format!("/review?{filters}"),
        (false, p) => format!("/review?{filters}&page={p}"),
    }
}

/// "3 d", "5 h", "12 min": how long a submission has waited.
pub fn waited(now_ms: i64, since_ms: i64) -> String {
    let minutes = (now_ms - since_ms).max(0) / 60_000;
    match minutes {
        m if m >= 2 * 24 * 60 => format!("{} d", m / (24 * 60)),
        m if m >= 120 => format!("{} h", m / 60),
        m => format!("{m} min"),
    }
}

/// Names of forms, facilities and municipalities in the reader's language.
pub struct Names {
    pub forms: HashMap<String, String>,
    pub places: HashMap<String, String>,
    pub municipalities: HashMap<String, String>,
}

impl Names {
    pub async fn load(
        storage: &Storage,
        lang: Lang,
        municipalities: &[String],
    ) -> Result<Self, WebError> {
        let mut forms = HashMap::new();
        for f in storage.forms().await? {
            if let Some(def) = storage.form(&f.id, f.version).await? {
                // Later versions come later: the newest title wins.
                forms.insert(f.id.to_string(), lang.pick(&def.title));
            }
        }
        let mut places = HashMap::new();
        for m in municipalities {
            for f in storage.facilities_of(m).await? {
                places.insert(
                    f.code.clone(),
                    lang.name(&f.name_ky, &f.name_ru, &f.name_en).to_owned(),
                );
            }
        }
        let mut names = HashMap::new();
        for t in storage.territories().await? {
            names.insert(
                t.code.clone(),
                lang.name(&t.name_ky, &t.name_ru, &t.name_en).to_owned(),
            );
        }
        Ok(Names {
            forms,
            places,
            municipalities: names,
        })
    }
}

#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    pub approved: Option<usize>,
    #[serde(default)]
    pub skipped: Option<usize>,
}

/// `GET /review`
pub async fn show(
    State(app): State<AppState>,
    web: WebUser,
    PageLang(lang): PageLang,
    Query(raw): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let principal = Principal::User(web.user.clone());
    let visible = reviewable(&principal).map_err(|_| WebError::forbidden(lang))?;
    let (params, notice) = parse_params(&raw).map_err(|e| e.with_lang(lang))?;
    let query = params
        .query(visible.clone())
        .map_err(|e| WebError::from(e).with_lang(lang))?;
    let queue = app.storage.review_queue(&query).await?;
    let shown: Vec<String> = match (&query.municipality, &visible) {
        (Some(m), _) => vec![m.clone()],
        (None, Some(v)) if v.len() == 1 => v.clone(),
        _ => Vec::new(),
    };
    let mut row_places: Vec<String> = queue.rows.iter().map(|r| r.municipality.clone()).collect();
    row_places.sort();
    row_places.dedup();
    let names = Names::load(&app.storage, lang, &row_places).await?;
    let filters = filters_query(&params);
    let page = build(
        &app.storage,
        lang,
        &web,
        &params,
        &query,
        &queue,
        &names,
        &shown,
        &filters,
        notice,
    )
    .await?;
    render(lang, &page)
}

fn parse_params(raw: &[(String, String)]) -> Result<(QueueParams, Option<String>), WebError> {
    let mut p = QueueParams::default();
    let mut notice = Notice::default();
    for (k, v) in raw {
        match k.as_str() {
            "municipality" => p.municipality = v.clone(),
            "form" => p.form = v.clone(),
            "facility" => p.facility = v.clone(),
            "member" => p.member = v.clone(),
            "status" => p.status = v.clone(),
            "flag" => p.flag = v.clone(),
            "from" => p.from = v.clone(),
            "to" => p.to = v.clone(),
            "sort" => p.sort = v.clone(),
            "page" => p.page = v.parse().ok(),
            "approved" => notice.approved = v.parse().ok(),
            "skipped" => notice.skipped = v.parse().ok(),
            _ => {}
        }
    }
    let text = notice.approved.map(|n| (n, notice.skipped.unwrap_or(0)));
    Ok((p, text.map(|(a, s)| format!("{a} ✓ · {s} ✗"))))
}

#[allow(clippy::too_many_arguments)]
async fn build<'a>(
    storage: &Storage,
    lang: Lang,
    web: &'a WebUser,
    params: &QueueParams,
    query: &QueueQuery,
    queue: &QueuePage,
    names: &Names,
    shown: &[String],
    filters: &str,
    notice: Option<String>,
) -> Result<Page<'a>, WebError> {
    let t = lang.texts();
    let now = crate::sync::now_ms() as i64;
    let tab_filters = |status: &str| {
        let mut p = params.clone();
        p.status = status.to_owned();
        p.page = None;
        with_page(&filters_query(&p), 1)
    };
    let count = |s: ReviewStatus| queue.counts.get(s.as_str()).copied().unwrap_or(0);
    let mut tabs = vec![Tab {
        href: tab_filters("to_review"),
        label: t.to_review,
        count: count(ReviewStatus::Received) + count(ReviewStatus::EditedAfterReview),
        active: query.status == StatusFilter::ToReview,
    }];
    for s in ReviewStatus::ALL {
        tabs.push(Tab {
            href: tab_filters(s.as_str()),
            label: t.status(s.as_str()),
            count: count(s),
            active: query.status == StatusFilter::Only(s),
        });
    }
    tabs.push(Tab {
        href: tab_filters("all"),
        label: t.all_statuses,
        count: queue.counts.values().sum(),
        active: query.status == StatusFilter::All,
    });
    let selected = |value: &str, current: &Option<String>| current.as_deref() == Some(value);
    let any = |label: &str| Choice {
        value: String::new(),
        label: label.to_owned(),
        selected: false,
    };
    let mut municipalities = vec![any(t.any)];
    let mut codes: Vec<&String> = match &query.visible {
        Some(v) => v.iter().collect(),
        None => Vec::new(),
    };
    let everywhere_codes: Vec<String>;
    if query.visible.is_none() {
        everywhere_codes = storage
            .territories()
            .await?
            .into_iter()
            .filter(|t| t.level == "municipality")
            .map(|t| t.code)
            .collect();
        codes = everywhere_codes.iter().collect();
    }
    for code in codes {
        municipalities.push(Choice {
            value: code.clone(),
            label: names
                .municipalities
                .get(code)
                .cloned()
                .unwrap_or_else(|| code.clone()),
            selected: selected(code, &query.municipality),
        });
    }
    let mut forms = vec![any(t.any)];
    let mut form_names: Vec<(&String, &String)> = names.forms.iter().collect();
    form_names.sort();
    for (id, title) in form_names {
        forms.push(Choice {
            value: id.clone(),
            label: title.clone(),
            selected: selected(id, &query.form),
        });
    }
    let mut facilities = vec![any(t.any)];
    let mut members = vec![any(t.any)];
    for m in shown {
        for f in storage.facilities_of(m).await? {
            facilities.push(Choice {
                selected: selected(&f.code, &query.facility),
                label: lang.name(&f.name_ky, &f.name_ru, &f.name_en).to_owned(),
                value: f.code,
            });
        }
        if let Ok(scope) = sync_protocol::Scope::parse(m) {
            for team in storage.teams_in(&scope).await? {
                for member in storage.team_members(team.team_id).await? {
                    let id = member.member_id.to_string();
                    members.push(Choice {
                        selected: selected(&id, &query.member),
                        label: member.name,
                        value: id,
                    });
                }
            }
        }
    }
    let mut flags = vec![
        any(t.any),
        Choice {
            value: "any".into(),
            label: t.flagged_any.into(),
            selected: params.flag == "any",
        },
        Choice {
            value: "none".into(),
            label: t.flagged_none.into(),
            selected: params.flag == "none",
        },
    ];
    for k in FlagKind::ALL {
        flags.push(Choice {
            value: k.as_str().into(),
            label: t.flag(k.as_str()).into(),
            selected: params.flag == k.as_str(),
        });
    }
    let sorts = [
        ("oldest", t.sort_oldest),
        ("newest", t.sort_newest),
        ("flags", t.sort_flags),
    ]
    .into_iter()
    .map(|(v, l)| Choice {
        value: v.into(),
        label: l.into(),
        selected: query.sort.as_str() == v,
    })
    .collect();
    let back = with_page(filters, queue.page);
    let rows = queue
        .rows
        .iter()
        .map(|r| {
            let status = ReviewStatus::parse(&r.status);
            Row {
                href: format!("/review/{}/{}?back={}", r.collection, r.id, encode(&back)),
                item: format!("{}/{}/{}", r.collection, r.id, r.version),
                municipality: names
                    .municipalities
                    .get(&r.municipality)
                    .cloned()
                    .unwrap_or_else(|| r.municipality.clone()),
                form: names
                    .forms
                    .get(&r.form)
                    .cloned()
                    .unwrap_or_else(|| r.form.clone()),
                place: names
                    .places
                    .get(&r.facility)
                    .cloned()
                    .unwrap_or_else(|| r.facility.clone()),
                member: r.member_name.clone().unwrap_or_default(),
                captured: r.captured_at.replace('T', " ").chars().take(16).collect(),
                waiting: waited(now, r.received_at_ms),
                status: r.status.clone(),
                status_label: t.status(&r.status),
                flags: r.flags,
                selectable: r.flags == 0
                    && matches!(
                        status,
                        Some(ReviewStatus::Received | ReviewStatus::EditedAfterReview)
                    ),
            }
        })
        .collect::<Vec<_>>();
    let can_bulk = rows.iter().any(|r| r.selectable);
    Ok(Page {
        t,
        lang,
        langs: super::lang_links(lang, &back),
        self_path: back.clone(),
        login: &web.user.login,
        csrf: &web.csrf,
        notice,
        tabs,
        municipalities,
        forms,
        facilities,
        members,
        flags,
        sorts,
        status: query.status.as_str().to_owned(),
        from: params.from.clone(),
        to: params.to.clone(),
        rows,
        total: queue.total,
        page: queue.page,
        pages: queue.pages,
        prev_href: (queue.page > 1).then(|| with_page(filters, queue.page - 1)),
        next_href: (queue.page < queue.pages).then(|| with_page(filters, queue.page + 1)),
        can_bulk,
    })
}

#[derive(Deserialize)]
pub struct BulkForm {
    csrf: String,
    #[serde(default)]
    back: String,
}

/// `POST /review/approve`: the checked rows (`item=collection/id/version`, repeated).
pub async fn bulk_approve(
    State(app): State<AppState>,
    web: WebUser,
    PageLang(lang): PageLang,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |name: &str| {
        raw.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = BulkForm {
        csrf: get("csrf"),
        back: get("back"),
    };
    web.check_csrf(&form.csrf).map_err(|e| e.with_lang(lang))?;
    let principal = Principal::User(web.user.clone());
    reviewable(&principal).map_err(|_| WebError::forbidden(lang))?;
    let items: Vec<BulkItem> = raw
        .iter()
        .filter(|(k, _)| k == "item")
        .filter_map(|(_, v)| {
            let mut parts = v.splitn(3, '/');
            Some(BulkItem {
                collection: parts.next()?.to_owned(),
                id: parts.next()?.to_owned(),
                version: parts.next()?.to_owned(),
            })
        })
        .take(500)
        .collect();
    let outcome = review::bulk_approve(
        &app.storage,
        &items,
        |m| principal.may(Action::Review, Some(m)),
        &principal.audit_name(),
        crate::sync::now_ms() as i64,
    )
    .await
    .map_err(|e| WebError::from(crate::error::AppError::from(e)).with_lang(lang))?;
    let back = super::session::safe_next(Some(&form.back));
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!(
        "{back}{sep}approved={}&skipped={}",
        outcome.approved.len(),
        outcome.skipped.len()
    ))
    .into_response())
}
