//! The review console: server-rendered pages in Kyrgyz, Russian and English. Pages act through
//! the same review use cases as the API; forms post with the session's CSRF token.

pub mod i18n;
mod i18n_ky;
mod i18n_ru;
pub mod map;
mod queue_page;
pub(crate) mod session;
mod submission_page;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::AppState;
use crate::error::AppError;
use i18n::{Lang, Texts};

pub use session::encode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/review") }))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/lang", get(session::switch_language))
        .route("/review", get(queue_page::show))
        .route("/review/approve", post(queue_page::bulk_approve))
        .route("/review/{collection}/{id}", get(submission_page::show))
        .route(
            "/review/{collection}/{id}/decision",
            post(submission_page::decide),
        )
        .route(
            "/review/{collection}/{id}/comment",
            post(submission_page::comment),
        )
        .route("/static/console.js", get(script))
        .route("/static/console.css", get(style))
}

/// Pages allow scripts and styles from this site only (no inline script), and no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/console.js"),
    )
}

async fn style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../static/console.css"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A rendered page with the headers every console page carries.
pub fn render(lang: Lang, page: &impl askama::Template) -> Result<Response, WebError> {
    let html = page
        .render()
        .map_err(|e| WebError::internal(lang, format!("template: {e}")))?;
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A page that could not be shown: an HTML page with the status, in the reader's language.
/// Internal details go to the log, never to the page.
#[derive(Debug)]
pub struct WebError {
    status: StatusCode,
    lang: Lang,
    message: String,
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'static Texts,
    lang: Lang,
    status: u16,
    message: &'a str,
}

impl WebError {
    pub fn new(status: StatusCode, lang: Lang, message: impl Into<String>) -> Self {
        Self {
            status,
            lang,
            message: message.into(),
        }
    }

    pub fn internal(lang: Lang, detail: String) -> Self {
        tracing::error!(%detail, "console page failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            lang,
            lang.texts().server_error,
        )
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            Lang::En,
            Lang::En.texts().form_expired,
        )
    }

    pub fn forbidden(lang: Lang) -> Self {
        Self::new(StatusCode::FORBIDDEN, lang, lang.texts().forbidden)
    }

    pub fn not_found(lang: Lang) -> Self {
        Self::new(StatusCode::NOT_FOUND, lang, lang.texts().not_found)
    }

    pub fn with_lang(mut self, lang: Lang) -> Self {
        if self.message == self.lang.texts().form_expired {
            self.message = lang.texts().form_expired.to_owned();
        }
        self.lang = lang;
        self
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        let (status, _) = e.status_and_code();
        if status.is_server_error() {
            return WebError::internal(Lang::En, e.to_string());
        }
        WebError::new(status, Lang::En, e.to_string())
    }
}

impl From<crate::storage::StorageError> for WebError {
    fn from(e: crate::storage::StorageError) -> Self {
        WebError::internal(Lang::En, e.to_string())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            t: self.lang.texts(),
            lang: self.lang,
            status: self.status.as_u16(),
            message: &self.message,
        };
        let body = askama::Template::render(&page)
            .unwrap_or_else(|_| format!("<!doctype html><title>{}</title>", self.status));
        let mut response = (self.status, Html(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        response
    }
}

/// A link of the language switcher.
pub struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

pub fn lang_links(lang: Lang, self_path: &str) -> Vec<LangLink> {
    Lang::ALL
        .into_iter()
        .map(|l| LangLink {
            code: l.code(),
            name: l.native_name(),
            href: format!("/lang?to={}&next={}", l.code(), encode(self_path)),
            current: l == lang,
        })
        .collect()
}
