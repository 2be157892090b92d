//! Signing in and out, who am I, and a user's tokens for scripts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, SESSION_COOKIE};
use super::body::JsonBody;
use super::openapi::ApiError;
use super::openapi::errors::{Forbidden, Invalid, JsonBodyErrors, NotFound, Unauthorized};
use crate::accounts;
use crate::error::AppError;
use crate::storage::NewApiToken;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    login: String,
    password: String,
}

/// Signs in: sets the session cookie and answers the CSRF token writes must echo.
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "session",
    operation_id = "login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in; the `jmet_session` cookie is set.", body = Object,
            example = json!({"user": {"user_id": "…", "login": "…", "role": "supervisor",
                "everywhere": false, "municipalities": ["…"]},
                "csrf_token": "…", "expires_at_ms": 0})),
        JsonBodyErrors,
        (status = 401, description = "`bad_credentials`: unknown login or wrong password.",
            body = ApiError),
        (status = 429, description = "`too_many_attempts`: wait as `Retry-After` says.",
            body = ApiError),
    ),
    security(()),
)]
pub async fn login(
    State(app): State<AppState>,
    jar: CookieJar,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<(CookieJar, Json<Value>), AppError> {
    let now = crate::sync::now_ms() as i64;
    let login = body.login.trim();
    if let Some(wait) = app.login_throttle.locked(login) {
        return Err(AppError::TooManyAttempts {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let session = match accounts::sign_in(&app.storage, login, &body.password, now).await {
        Ok(session) => {
            app.login_throttle.succeeded(login);
            session
        }
        Err(accounts::AccountError::BadCredentials) => {
            app.login_throttle.failed(login);
            return Err(AppError::BadCredentials);
        }
        Err(e) => return Err(e.into()),
    };
    let cookie = session_cookie(session.token, app.settings.secure_cookies);
    let user = app
        .storage
        .session_user(cookie.value(), now)
        .await?
        .map(|(u, _)| u)
        .ok_or_else(|| AppError::internal("a new session does not resolve"))?;
    Ok((
        jar.add(cookie),
        Json(json!({
            "user": me_json(&user),
            "csrf_token": session.csrf_token,
            "expires_at_ms": session.expires_at_ms,
        })),
    ))
}

/// The session cookie: never readable by scripts, never sent from another site, HTTPS only
/// unless the operator turned that off for a closed plain-HTTP network.
pub(crate) fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::milliseconds(accounts::SESSION_TTL_MS))
        .build()
}

/// Ends the session and clears its cookie (idempotent).
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "session",
    operation_id = "logout",
    responses((status = 204, description = "Signed out.")),
    security(()),
)]
pub async fn logout(
    State(app): State<AppState>,
    jar: CookieJar,
) -> Result<(CookieJar, StatusCode), AppError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        app.storage.end_session(cookie.value()).await?;
    }
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        StatusCode::NO_CONTENT,
    ))
}

/// The signed-in user, and the session's CSRF token when signed in over a session.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "session",
    operation_id = "me",
    responses(
        (status = 200, description = "Who is signed in.", body = Object,
            example = json!({"user_id": "…", "login": "…", "role": "admin", "everywhere": true,
                "municipalities": [], "csrf_token": "…"})),
        Unauthorized,
        (status = 403, description = "`forbidden`: a device token; this is for people.",
            body = ApiError),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn me(
    State(app): State<AppState>,
    jar: CookieJar,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    let user = caller.user()?;
    let mut answer = me_json(user);
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        let now = crate::sync::now_ms() as i64;
        if let Some((_, csrf)) = app.storage.session_user(cookie.value(), now).await? {
            answer["csrf_token"] = json!(csrf);
        }
    }
    Ok(Json(answer))
}

fn me_json(user: &crate::access::AuthedUser) -> Value {
    json!({
        "user_id": user.user_id,
        "login": user.login,
        "role": user.role,
        "everywhere": user.everywhere,
        "municipalities": user.municipalities,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// What the token is for, 1-200 characters.
    label: String,
}

/// A bearer token for a script, acting as this user. Shown once.
#[utoipa::path(
    post,
    path = "/api/v1/me/tokens",
    tag = "session",
    operation_id = "create_token",
    request_body = TokenBody,
    responses(
        (status = 201, description = "The token's id and the token itself (shown once).",
            body = Object),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn create_token(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<(StatusCode, Json<NewApiToken>), AppError> {
    let user = caller.user()?;
    let label = body.label.trim();
    if label.is_empty() || label.chars().count() > 200 {
        return Err(AppError::Invalid(
            "a token needs a label of 1-200 characters".into(),
        ));
    }
    let now = crate::sync::now_ms() as i64;
    let token = app
        .storage
        .create_api_token(user.user_id, label, &caller.audit_name(), now)
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// Revokes one of the signed-in user's API tokens.
#[utoipa::path(
    delete,
    path = "/api/v1/me/tokens/{token_id}",
    tag = "session",
    operation_id = "revoke_token",
    params(("token_id" = String, Path, description = "The token's id.")),
    responses(
        (status = 204, description = "Revoked."),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn revoke_token(
    State(app): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<StatusCode, AppError> {
    let user = caller.user()?;
    let now = crate::sync::now_ms() as i64;
    app.storage
        .revoke_api_token(user.user_id, &token_id, &caller.audit_name(), now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
