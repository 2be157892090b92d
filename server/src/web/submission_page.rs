//! `GET /review/{collection}/{id}`: one submission with everything a reviewer needs to decide,
//! and the posts that decide or comment.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use sync_protocol::Scope;
use sync_protocol::review::Decision;
use time::OffsetDateTime;

use super::i18n::{Lang, Texts};
use super::map::{MapInput, Marker};
use super::queue_page::Names;
use super::session::{PageLang, WebUser, encode, safe_next};
use super::{LangLink, WebError, lang_links, render};
use crate::access::{Action, Principal};
use crate::api::AppState;
use crate::api::reviews::{QueueParams, reviewable};
use crate::review::detail::{self, Detail};
use crate::review::{self, ReviewError};

pub struct AnswerRow {
    pub label: String,
    pub value: String,
    pub photo: Option<String>,
}

pub struct PhotoRow {
    pub thumb: String,
    pub stripped: String,
    pub original: Option<String>,
    pub caption: String,
    pub pending: bool,
}

pub struct FlagRow {
    pub kind: String,
    pub label: &'static str,
    pub measured: String,
    pub threshold: String,
    pub message: String,
}

pub struct Line {
    pub when: String,
    pub who: String,
    pub text: String,
}

pub struct DecisionRow {
    pub when: String,
    pub who: String,
    pub decision: String,
    pub label: &'static str,
    pub comment: String,
    pub outdated: bool,
}

#[derive(askama::Template)]
#[template(path = "submission.html")]
struct Page<'a> {
    t: &'static Texts,
    lang: Lang,
    langs: Vec<LangLink>,
    login: &'a str,
    csrf: &'a str,
    back: String,
    action_base: String,
    title: String,
    municipality: String,
    place_label: &'static str,
    place: String,
    member: String,
    captured: String,
    received: String,
    status: String,
    status_label: &'static str,
    version: String,
    deleted: bool,
    notice: Option<String>,
    notice_is_error: bool,
    answers: Vec<AnswerRow>,
    photos: Vec<PhotoRow>,
    map_svg: Option<String>,
    gps: String,
    flags: Vec<FlagRow>,
    history: Vec<Line>,
    decisions: Vec<DecisionRow>,
    comments: Vec<Line>,
    can_review: bool,
    prev_href: Option<String>,
    next_href: Option<String>,
    comment_draft: String,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    back: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

fn time_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

fn number(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(x) if x.fract() == 0.0 || x.abs() >= 100.0 => format!("{x:.0} {unit}"),
        Some(x) => format!("{x:.1} {unit}"),
        None => "—".into(),
    }
}

/// The submission, if it exists and this user may review where it lies.
async fn reviewable_detail(
    app: &AppState,
    web: &WebUser,
    lang: Lang,
    collection: &str,
    id: &str,
) -> Result<(&'static str, Detail, Scope), WebError> {
    let principal = Principal::User(web.user.clone());
    reviewable(&principal).map_err(|_| WebError::forbidden(lang))?;
    let collection = review::collection(collection)
        .filter(|_| review::is_record_id(id))
        .ok_or_else(|| WebError::not_found(lang))?;
    let Some(detail) = detail::load(&app.storage, collection, id).await? else {
        return Err(WebError::not_found(lang));
    };
    let scope =
        Scope::parse(&detail.municipality).map_err(|e| WebError::internal(lang, e.to_string()))?;
    // Another municipality's submission is answered like a missing one: its existence is not
    // this reviewer's to learn.
    if !principal.may(Action::Review, Some(&scope)) {
        return Err(WebError::not_found(lang));
    }
    Ok((collection, detail, scope))
}

/// Neighbours of a submission in the queue the reviewer came from.
async fn neighbours(
    app: &AppState,
    web: &WebUser,
    back: &str,
    collection: &str,
    id: &str,
) -> (Option<String>, Option<String>) {
    let Ok(uri) = back.parse::<Uri>() else {
        return (None, None);
    };
    let raw: Vec<(String, String)> = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let mut params = QueueParams::default();
    for (k, v) in raw {
        match k.as_str() {
            "municipality" => params.municipality = v,
            "form" => params.form = v,
            "facility" => params.facility = v,
            "member" => params.member = v,
            "status" => params.status = v,
            "flag" => params.flag = v,
            "from" => params.from = v,
            "to" => params.to = v,
            "sort" => params.sort = v,
            "page" => params.page = v.parse().ok(),
            _ => {}
        }
    }
    let principal = Principal::User(web.user.clone());
    let Ok(visible) = reviewable(&principal) else {
        return (None, None);
    };
    let Ok(query) = params.query(visible) else {
        return (None, None);
    };
    let Ok(page) = app.storage.review_queue(&query).await else {
        return (None, None);
    };
    let link = |r: &crate::review::queue::QueueRow| {
        format!("/review/{}/{}?back={}", r.collection, r.id, encode(back))
    };
    match page
        .rows
        .iter()
        .position(|r| r.collection == collection && r.id == id)
    {
        Some(i) => (
            i.checked_sub(1).and_then(|p| page.rows.get(p)).map(link),
            page.rows.get(i + 1).map(link),
        ),
        // Not in the list (decided meanwhile, or another page): its first entry is next.
        None => (None, page.rows.first().map(link)),
    }
}

/// `GET /review/{collection}/{id}`
pub async fn show(
    State(app): State<AppState>,
    web: WebUser,
    PageLang(lang): PageLang,
    Path((collection, id)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, WebError> {
    let _ = q.lang;
    let (collection, detail, _) = reviewable_detail(&app, &web, lang, &collection, &id).await?;
    let t = lang.texts();
    let notice = match q.done.as_deref() {
        Some("decision") => Some((t.decision_saved.to_owned(), false)),
        Some("comment") => Some((t.comment_saved.to_owned(), false)),
        _ => None,
    };
    let back = safe_next(q.back.as_deref().or(Some("/review")));
    page(
        &app,
        &web,
        lang,
        collection,
        detail,
        back,
        notice,
        String::new(),
        StatusCode::OK,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn page(
    app: &AppState,
    web: &WebUser,
    lang: Lang,
    collection: &'static str,
    d: Detail,
    back: String,
    notice: Option<(String, bool)>,
    comment_draft: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    let t = lang.texts();
    let names = Names::load(&app.storage, lang, std::slice::from_ref(&d.municipality)).await?;
    let (prev_href, next_href) = neighbours(app, web, &back, collection, &d.id).await;
    let principal = Principal::User(web.user.clone());
    let originals = principal.may(
        Action::ReadOriginals,
        Scope::parse(&d.municipality).ok().as_ref(),
    );
    let photo_urls = |sha: &str| format!("/api/v1/photos/{sha}");
    let photo_by_record = |photo_id: &str| {
        d.photos
            .iter()
            .find(|p| p.photo_id == photo_id && !p.pending)
            .map(|p| format!("{}/thumb320", photo_urls(&p.sha256)))
    };
    let answers = d
        .answers
        .iter()
        .map(|a| AnswerRow {
            label: lang.pick(&a.label),
            value: a.display(|l| lang.pick(l), (t.yes, t.no)),
            photo: if a.is_photo() {
                a.value.as_str().and_then(photo_by_record)
            } else {
                None
            },
        })
        .collect();
    let photos = d
        .photos
        .iter()
        .map(|p| PhotoRow {
            thumb: format!("{}/thumb320", photo_urls(&p.sha256)),
            stripped: format!("{}/stripped", photo_urls(&p.sha256)),
            original: originals.then(|| format!("{}/original", photo_urls(&p.sha256))),
            caption: p.caption.clone().unwrap_or_default(),
            pending: p.pending,
        })
        .collect();
    let flags = d
        .flags
        .iter()
        .map(|f| FlagRow {
            kind: f.kind.clone(),
            label: t.flag(&f.kind),
            measured: number(f.measured, &f.unit),
            threshold: number(f.threshold, &f.unit),
            message: f.message.clone(),
        })
        .collect();
    let history = d
        .history
        .iter()
        .map(|h| Line {
            when: time_text(h.received_at_ms),
            who: d.who(&h.actor),
            text: h
                .changes
                .iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$deleted", Value::Bool(true)) => t.deleted.to_owned(),
                    ("$deleted", _) => t.restored.to_owned(),
                    (k, v) => {
                        let answer = d.answers.iter().find(|a| a.key == k);
                        let label = match (k, answer) {
                            ("facility", _) => t.facility.to_owned(),
                            ("village", _) => t.village.to_owned(),
                            ("captured_at", _) => t.captured_at.to_owned(),
                            ("gps", _) => t.reported_position.to_owned(),
                            ("form", _) => t.form.to_owned(),
                            ("form_version", _) => t.version.to_owned(),
                            (_, Some(a)) => lang.pick(&a.label),
                            (k, None) => k.to_owned(),
                        };
                        // Shown as the answer would be: choice labels, yes/no, a position.
                        let shown = detail::Answer {
                            key: k.to_owned(),
                            label: sync_protocol::form::Labels {
                                ky: String::new(),
                                ru: String::new(),
                                en: String::new(),
                            },
                            value: v.clone(),
                            question: answer.and_then(|a| a.question.clone()),
                        }
                        .display(|l| lang.pick(l), (t.yes, t.no));
                        format!("{label}: {shown}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    let decisions = d
        .reviews
        .iter()
        .map(|r| DecisionRow {
            when: time_text(r.decided_at_ms as i64),
            who: r.reviewer.clone(),
            decision: r.decision.as_str().to_owned(),
            label: t.status(r.decision.as_str()),
            comment: r.comment.clone(),
            outdated: r.judged_version != d.version,
        })
        .collect();
    let comments = d
        .comments
        .iter()
        .map(|c| Line {
            when: time_text(c.written_at_ms as i64),
            who: d.who(&c.author),
            text: c.text.clone(),
        })
        .collect();
    let boundary = d
        .boundary
        .as_deref()
        .and_then(crate::evidence::flags::boundary);
    let marker = |lat: f64, lon: f64, label: String| Marker {
        at: geo::Point::new(lon, lat),
        label,
    };
    let place = d
        .facility
        .as_ref()
        .map(|f| lang.name(&f.name_ky, &f.name_ru, &f.name_en).to_owned())
        .or_else(|| {
            d.village.as_ref().map(|v| {
                names
                    .municipalities
                    .get(v)
                    .cloned()
                    .unwrap_or_else(|| v.clone())
            })
        })
        .unwrap_or_default();
    let map_svg = super::map::render(
        &MapInput {
            boundary: boundary.as_ref(),
            facility: d
                .facility
                .as_ref()
                .map(|f| marker(f.lat, f.lon, place.clone())),
            reported: d
                .gps
                .map(|g| marker(g.lat, g.lon, t.reported_position.to_owned())),
            accuracy_m: d.gps.and_then(|g| g.acc),
            photos: d
                .photos
                .iter()
                .filter_map(|p| {
                    p.gps.map(|(lat, lon)| {
                        marker(
                            lat,
                            lon,
                            p.caption.clone().unwrap_or_else(|| t.photos.to_owned()),
                        )
                    })
                })
                .collect(),
        },
        480,
        320,
    );
    let gps = match d.gps {
        Some(g) => match g.acc {
            Some(acc) => format!("{:.5}, {:.5} ({} ±{acc:.0} m)", g.lat, g.lon, t.accuracy),
            None => format!("{:.5}, {:.5}", g.lat, g.lon),
        },
        None => t.no_position.to_owned(),
    };
    let self_path = format!("/review/{}/{}?back={}", collection, d.id, encode(&back));
    let (notice, notice_is_error) = match notice {
        Some((n, e)) => (Some(n), e),
        None => (None, false),
    };
    let form_title = names
        .forms
        .get(&d.form_id)
        .cloned()
        .unwrap_or_else(|| d.form_id.clone());
    let view = Page {
        t,
        lang,
        langs: lang_links(lang, &self_path),
        login: &web.user.login,
        csrf: &web.csrf,
        action_base: format!("/review/{}/{}", collection, d.id),
        back,
        title: format!("{form_title} v{}", d.form_version),
        municipality: names
            .municipalities
            .get(&d.municipality)
            .cloned()
            .unwrap_or_else(|| d.municipality.clone()),
        place_label: if d.facility.is_some() || d.collection == "visits" {
            t.facility
        } else {
            t.village
        },
        place,
        member: d.member_name.clone().unwrap_or_default(),
        captured: d.captured_at.clone().unwrap_or_default(),
        received: time_text(d.received_at_ms),
        status: d.status.as_str().to_owned(),
        status_label: t.status(d.status.as_str()),
        version: d.version.clone(),
        deleted: d.deleted,
        notice,
        notice_is_error,
        answers,
        photos,
        map_svg,
        gps,
        flags,
        history,
        decisions,
        comments,
        can_review: !d.deleted,
        prev_href,
        next_href,
        comment_draft,
    };
    let mut response = render(lang, &view)?;
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: String,
    decision: String,
    version: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    back: String,
}

/// `POST /review/{collection}/{id}/decision`: then on to the next in the queue.
pub async fn decide(
    State(app): State<AppState>,
    web: WebUser,
    PageLang(lang): PageLang,
    Path((collection, id)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, WebError> {
    web.check_csrf(&form.csrf).map_err(|e| e.with_lang(lang))?;
    let (collection, detail, _) = reviewable_detail(&app, &web, lang, &collection, &id).await?;
    let t = lang.texts();
    let back = safe_next(Some(&form.back));
    let Some(decision) = Decision::parse(&form.decision) else {
        return Err(WebError::new(
            StatusCode::BAD_REQUEST,
            lang,
            format!("{:?}?", form.decision),
        ));
    };
    let (_, next) = neighbours(&app, &web, &back, collection, &id).await;
    let principal = Principal::User(web.user.clone());
    let outcome = review::decide(
        &app.storage,
        review::Judgement {
            collection,
            id: &id,
            decision,
            version: Some(form.version.clone()),
            comment: &form.comment,
        },
        &principal.audit_name(),
        crate::sync::now_ms() as i64,
    )
    .await;
    let problem = match outcome {
        Ok(_) => {
            let to = match next {
                Some(n) => format!("{n}&done=decision"),
                None => format!(
                    "/review/{collection}/{id}?back={}&done=decision",
                    encode(&back)
                ),
            };
            return Ok(Redirect::to(&to).into_response());
        }
        Err(ReviewError::CommentNeeded) => (t.comment_needed, StatusCode::UNPROCESSABLE_ENTITY),
        Err(ReviewError::Stale { .. }) | Err(ReviewError::Deleted(_)) => {
            (t.changed_meanwhile, StatusCode::CONFLICT)
        }
        Err(ReviewError::BadComment) => (t.comment_needed, StatusCode::UNPROCESSABLE_ENTITY),
        Err(e) => return Err(WebError::from(crate::error::AppError::from(e)).with_lang(lang)),
    };
    // Show the page again as it is now, with what went wrong and the comment kept.
    let fresh = detail::load(&app.storage, collection, &id)
        .await?
        .unwrap_or(detail);
    page(
        &app,
        &web,
        lang,
        collection,
        fresh,
        back,
        Some((problem.0.to_owned(), true)),
        form.comment,
        problem.1,
    )
    .await
}

#[derive(Deserialize)]
pub struct CommentForm {
    csrf: String,
    text: String,
    #[serde(default)]
    back: String,
}

/// `POST /review/{collection}/{id}/comment`
pub async fn comment(
    State(app): State<AppState>,
    web: WebUser,
    PageLang(lang): PageLang,
    Path((collection, id)): Path<(String, String)>,
    Form(form): Form<CommentForm>,
) -> Result<Response, WebError> {
    web.check_csrf(&form.csrf).map_err(|e| e.with_lang(lang))?;
    let (collection, detail, scope) = reviewable_detail(&app, &web, lang, &collection, &id).await?;
    let back = safe_next(Some(&form.back));
    let principal = Principal::User(web.user.clone());
    match review::comment(
        &app.storage,
        &scope,
        collection,
        &id,
        &form.text,
        &principal.audit_name(),
        crate::sync::now_ms() as i64,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/review/{collection}/{id}?back={}&done=comment",
            encode(&back)
        ))
        .into_response()),
        Err(ReviewError::BadComment) => {
            let t = lang.texts();
            page(
                &app,
                &web,
                lang,
                collection,
                detail,
                back,
                Some((t.comment_needed.to_owned(), true)),
                form.text,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(WebError::from(crate::error::AppError::from(e)).with_lang(lang)),
    }
}
