//! Signing in and out of the console, the signed-in user of a page, its language, and the CSRF
//! check every form post passes.

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::i18n::Lang;
use super::{WebError, render};
use crate::access::AuthedUser;
use crate::accounts;
use crate::api::AppState;
use crate::api::auth::SESSION_COOKIE;
use crate::api::session::session_cookie;

const LANG_COOKIE: &str = "jmet_lang";
/// Double-submit token of the login form, before there is a session to hold one.
const LOGIN_CSRF_COOKIE: &str = "jmet_login_csrf";

/// The signed-in user of a console page and their session's CSRF token. Without a session the
/// page answers with the login form's address, to come back after.
pub struct WebUser {
    pub user: AuthedUser,
    pub csrf: String,
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let now = crate::sync::now_ms() as i64;
        if let Some(cookie) = jar.get(SESSION_COOKIE) {
            match app.storage.session_user(cookie.value(), now).await {
                Ok(Some((user, csrf))) => return Ok(WebUser { user, csrf }),
                Ok(None) => {}
                Err(e) => {
                    return Err(WebError::from(crate::error::AppError::from(e)).into_response());
                }
            }
        }
        let back = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/review");
        let next = if parts.method == axum::http::Method::GET {
            back
        } else {
            "/review"
        };
        Err(Redirect::to(&format!("/login?next={}", encode(next))).into_response())
    }
}

impl WebUser {
    /// A form post must carry this session's token (compared in constant time).
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if crate::api::auth::constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(WebError::csrf())
        }
    }
}

/// The language of a page: `?lang=`, else the cookie the switcher set, else the browser's.
pub struct PageLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang(lang_of(&parts.headers, parts.uri.query())))
    }
}

pub fn lang_of(headers: &HeaderMap, query: Option<&str>) -> Lang {
    let from_query = query.and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v))
    });
    let jar = CookieJar::from_headers(headers);
    from_query
        .or_else(|| jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value())))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::Ky)
}

/// Percent-encodes a value for a query string.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Only a path of this site: never `//elsewhere` or `https://…`, so the login cannot be used to
/// send someone to another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                // A redirect's Location is a header: visible ASCII only (no CR, LF or NUL).
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/review".to_owned(),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static super::i18n::Texts,
    lang: Lang,
    langs: Vec<super::LangLink>,
    csrf: &'a str,
    next: &'a str,
    error: Option<&'static str>,
    login: &'a str,
}

fn random_token() -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| WebError::internal(Lang::En, e.to_string()))?;
    Ok(hex::encode(bytes))
}

fn login_csrf_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((LOGIN_CSRF_COOKIE, value))
        .path("/login")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build()
}

/// `GET /login`
pub async fn login_form(
    State(app): State<AppState>,
    PageLang(lang): PageLang,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> Result<(CookieJar, Response), WebError> {
    let csrf = random_token()?;
    let next = safe_next(q.next.as_deref());
    let page = render(
        lang,
        &LoginPage {
            t: lang.texts(),
            lang,
            langs: super::lang_links(lang, &format!("/login?next={}", encode(&next))),
            csrf: &csrf,
            next: &next,
            error: None,
            login: "",
        },
    )?;
    Ok((
        jar.add(login_csrf_cookie(csrf, app.settings.secure_cookies)),
        page.into_response(),
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`
pub async fn login(
    State(app): State<AppState>,
    PageLang(lang): PageLang,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<(CookieJar, Response), WebError> {
    let t = lang.texts();
    let expected = jar.get(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned());
    let next = safe_next(Some(&form.next));
    let again = |jar: CookieJar,
                 status: StatusCode,
                 error: &'static str|
     -> Result<(CookieJar, Response), WebError> {
        let csrf = random_token()?;
        let page = render(
            lang,
            &LoginPage {
                t,
                lang,
                langs: super::lang_links(lang, &format!("/login?next={}", encode(&next))),
                csrf: &csrf,
                next: &next,
                error: Some(error),
                login: form.login.trim(),
            },
        )?;
        Ok((
            jar.add(login_csrf_cookie(csrf, app.settings.secure_cookies)),
            (status, page).into_response(),
        ))
    };
    let csrf_ok = expected.as_deref().is_some_and(|e| {
        !e.is_empty() && crate::api::auth::constant_time_eq(e.as_bytes(), form.csrf.as_bytes())
    });
    if !csrf_ok {
        return again(jar, StatusCode::FORBIDDEN, t.form_expired);
    }
    let login = form.login.trim();
    if app.login_throttle.locked(login).is_some() {
        return again(jar, StatusCode::TOO_MANY_REQUESTS, t.too_many_attempts);
    }
    let now = crate::sync::now_ms() as i64;
    match accounts::sign_in(&app.storage, login, &form.password, now).await {
        Ok(session) => {
            app.login_throttle.succeeded(login);
            let jar = jar
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"))
                .add(session_cookie(session.token, app.settings.secure_cookies));
            Ok((jar, Redirect::to(&next).into_response()))
        }
        Err(accounts::AccountError::BadCredentials) => {
            app.login_throttle.failed(login);
            again(jar, StatusCode::UNAUTHORIZED, t.bad_credentials)
        }
        Err(e) => Err(WebError::internal(lang, e.to_string())),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`
pub async fn logout(
    State(app): State<AppState>,
    web: WebUser,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Result<(CookieJar, Redirect), WebError> {
    web.check_csrf(&form.csrf)?;
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        app.storage
            .end_session(cookie.value())
            .await
            .map_err(|e| WebError::internal(Lang::En, e.to_string()))?;
    }
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/login"),
    ))
}

#[derive(Deserialize)]
pub struct LangQuery {
    to: String,
    next: Option<String>,
}

/// `GET /lang?to=ru&next=/review`: remembers the language (a year) and goes back.
pub async fn switch_language(jar: CookieJar, Query(q): Query<LangQuery>) -> (CookieJar, Redirect) {
    let next = safe_next(q.next.as_deref());
    let Some(lang) = Lang::parse(&q.to) else {
        return (jar, Redirect::to(&next));
    };
    let cookie = Cookie::build((LANG_COOKIE, lang.code()))
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    (jar.add(cookie), Redirect::to(&next))
}
