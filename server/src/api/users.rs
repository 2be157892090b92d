//! Users, managed by admins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::openapi::errors::{
    Conflict, Forbidden, Invalid, JsonBodyErrors, NotFound, Unauthorized,
};
use crate::access::{Action, Role, UserId};
use crate::accounts::{self, CreateUser};
use crate::error::AppError;
use crate::storage::UserSummary;

/// Every user account.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "list_users",
    responses(
        (status = 200, description = "Every user, disabled ones included.", body = [Object]),
        Unauthorized,
        Forbidden,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<UserSummary>>, AppError> {
    caller.require(Action::ReadUsers, None)?;
    Ok(Json(app.storage.users().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    login: String,
    name: String,
    /// `admin`, `supervisor`, `member`, `ao_staff`, `ao_head`, `deputy` or `state_body`.
    #[schema(value_type = String)]
    role: Role,
    /// Territory codes (oblast, rayon or municipality), or `*` for the whole country.
    #[serde(default)]
    scopes: Vec<String>,
    password: String,
}

/// A new user account.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "create_user",
    request_body = UserBody,
    responses(
        (status = 201, description = "Created.", body = Object, example = json!({"user_id": "…"})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<UserBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require(Action::ManageUsers, None)?;
    let now = crate::sync::now_ms() as i64;
    let user = CreateUser {
        login: body.login,
        name: body.name,
        role: body.role,
        scopes: body.scopes,
        password: body.password,
    };
    let user_id = accounts::create_user(&app.storage, user, &caller.audit_name(), now).await?;
    Ok((StatusCode::CREATED, Json(json!({"user_id": user_id}))))
}

/// Disables a user: their sessions and tokens stop at once.
#[utoipa::path(
    post,
    path = "/api/v1/users/{user_id}/disable",
    tag = "users",
    operation_id = "disable_user",
    params(("user_id" = String, Path, description = "The user's id.")),
    responses(
        (status = 204, description = "Disabled."),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn disable(
    State(app): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require(Action::ManageUsers, None)?;
    let user_id: UserId = user_id
        .parse()
        .map_err(|_| AppError::NotFound(format!("no user {user_id:?}")))?;
    let now = crate::sync::now_ms() as i64;
    app.storage
        .disable_user(user_id, &caller.audit_name(), now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
