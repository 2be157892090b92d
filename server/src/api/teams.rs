//! JMET teams, members, phone enrollment and devices.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::municipality::municipality;
use super::openapi::errors::{
    Conflict, Forbidden, Invalid, JsonBodyErrors, NotFound, Unauthorized,
};
use crate::access::Action;
use crate::error::AppError;
use crate::ids::{MemberId, TeamId};
use crate::storage::{DeviceView, MemberRecord, TeamView};

/// An id from the path; one that is not an id is a 404 like an unknown one.
fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, AppError> {
    text.parse()
        .map_err(|_| AppError::NotFound(format!("no {what} {text:?}")))
}

/// The municipality's JMET teams.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/teams",
    tag = "teams",
    operation_id = "list_teams",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "The teams.", body = [Object]),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Vec<TeamView>>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadTeams, Some(&m))?;
    Ok(Json(app.storage.teams_in(&m).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    /// The municipality's code.
    municipality: String,
    name: String,
}

/// A new JMET team in a municipality.
#[utoipa::path(
    post,
    path = "/api/v1/teams",
    tag = "teams",
    operation_id = "create_team",
    request_body = TeamBody,
    responses(
        (status = 201, description = "Created.", body = Object,
            example = json!({"team_id": "…", "municipality": "…", "name": "…"})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TeamBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let m = municipality(&body.municipality)?;
    caller.require(Action::ManageTeams, Some(&m))?;
    let name = body.name.trim();
    if name.is_empty() {
        return Err(AppError::Invalid("a team needs a name".into()));
    }
    let now = crate::sync::now_ms() as i64;
    let team_id = app
        .storage
        .create_team(&m, name, &caller.audit_name(), now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"team_id": team_id, "municipality": m, "name": name})),
    ))
}

/// Everyone ever on the team, with the days they joined and left.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{team_id}/members",
    tag = "teams",
    operation_id = "list_members",
    params(("team_id" = String, Path, description = "The team's id.")),
    responses(
        (status = 200, description = "The members.", body = [Object]),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn members(
    State(app): State<AppState>,
    caller: Caller,
    Path(team_id): Path<String>,
) -> Result<Json<Vec<MemberRecord>>, AppError> {
    let team_id: TeamId = parse_id(&team_id, "team")?;
    let m = app.storage.team_municipality(team_id).await?;
    caller.require(Action::ReadTeams, Some(&m))?;
    Ok(Json(app.storage.team_members(team_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    name: String,
    /// `YYYY-MM-DD`.
    joined_on: String,
}

/// Adds a member to the team.
#[utoipa::path(
    post,
    path = "/api/v1/teams/{team_id}/members",
    tag = "teams",
    operation_id = "add_member",
    params(("team_id" = String, Path, description = "The team's id.")),
    request_body = MemberBody,
    responses(
        (status = 201, description = "Added.", body = Object, example = json!({"member_id": "…"})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn add_member(
    State(app): State<AppState>,
    caller: Caller,
    Path(team_id): Path<String>,
    JsonBody(body): JsonBody<MemberBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let team_id: TeamId = parse_id(&team_id, "team")?;
    let m = app.storage.team_municipality(team_id).await?;
    caller.require(Action::ManageTeams, Some(&m))?;
    let name = body.name.trim();
    if name.is_empty() {
        return Err(AppError::Invalid("a member needs a name".into()));
    }
    let now = crate::sync::now_ms() as i64;
    let member_id = app
        .storage
        .add_member(
            team_id,
            name,
            body.joined_on.trim(),
            &caller.audit_name(),
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"member_id": member_id}))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveBody {
    /// `YYYY-MM-DD`.
    left_on: String,
}

/// A member leaves their team: every device token of theirs is revoked at once.
#[utoipa::path(
    post,
    path = "/api/v1/members/{member_id}/leave",
    tag = "teams",
    operation_id = "member_leaves",
    params(("member_id" = String, Path, description = "The member's id.")),
    request_body = LeaveBody,
    responses(
        (status = 200, description = "Left; how many devices were revoked.", body = Object,
            example = json!({"revoked_devices": 1})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn leave(
    State(app): State<AppState>,
    caller: Caller,
    Path(member_id): Path<String>,
    JsonBody(body): JsonBody<LeaveBody>,
) -> Result<Json<Value>, AppError> {
    let member_id: MemberId = parse_id(&member_id, "member")?;
    let m = app.storage.member_municipality(member_id).await?;
    caller.require(Action::ManageTeams, Some(&m))?;
    let now = crate::sync::now_ms() as i64;
    let revoked = app
        .storage
        .member_leaves(member_id, body.left_on.trim(), &caller.audit_name(), now)
        .await?;
    Ok(Json(json!({"revoked_devices": revoked})))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentBody {
    /// How long the code stays valid; 24 hours when absent, at most a week.
    valid_hours: Option<i64>,
}

/// A one-time enrollment code for the member's phone, and its QR code (SVG).
#[utoipa::path(
    post,
    path = "/api/v1/members/{member_id}/enrollment-codes",
    tag = "teams",
    operation_id = "create_enrollment_code",
    params(("member_id" = String, Path, description = "The member's id.")),
    request_body = EnrollmentBody,
    responses(
        (status = 201, description = "The code.", body = Object,
            example = json!({"code": "…", "expires_at_ms": 0, "qr_payload": "…",
                "qr_svg": "<svg …>"})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn enrollment_code(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(member_id): Path<String>,
    JsonBody(body): JsonBody<EnrollmentBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let member_id: MemberId = parse_id(&member_id, "member")?;
    let m = app.storage.member_municipality(member_id).await?;
    caller.require(Action::ManageTeams, Some(&m))?;
    let hours = body.valid_hours.unwrap_or(24);
    if !(1..=168).contains(&hours) {
        return Err(AppError::Invalid("valid_hours must be 1 to 168".into()));
    }
    let server_url = server_origin(&app, &headers)?;
    let now = crate::sync::now_ms() as i64;
    let code = app
        .storage
        .create_enrollment_code(member_id, hours * 3_600_000, &caller.audit_name(), now)
        .await?;
    let payload = crate::enrollment::qr_payload(&server_url, &code.code);
    let svg = crate::enrollment::qr_svg(&payload).map_err(AppError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "code": code.code,
            "expires_at_ms": code.expires_at_ms,
            "qr_payload": payload,
            "qr_svg": svg,
        })),
    ))
}

/// The server's address for a phone: `--public-url`, else the request's host.
fn server_origin(app: &AppState, headers: &HeaderMap) -> Result<String, AppError> {
    crate::openrosa::origin(headers, app.settings.public_url.as_deref())
        .ok_or_else(|| AppError::Invalid("no Host header and no --public-url".into()))
}

/// A phone for ODK Collect or KoboCollect: a new device of the member, and the settings QR code
/// the apps import ("Configure with QR code"), whose server URL carries the device's token in
/// its path. The same credentials work as HTTP Basic (user name the device id, password the
/// token) at `/openrosa`. The token is shown once; revoking the device shuts both.
#[utoipa::path(
    post,
    path = "/api/v1/members/{member_id}/odk-devices",
    tag = "teams",
    operation_id = "create_odk_device",
    params(("member_id" = String, Path, description = "The member's id.")),
    responses(
        (status = 201, description = "The device, its credentials and the settings QR code.",
            body = Object,
            example = json!({"device_id": "…", "token": "…", "server_url": "https://…/openrosa/key/…",
                "basic": {"url": "https://…/openrosa", "username": "…", "password": "…"},
                "qr_payload": "…", "qr_svg": "<svg …>"})),
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn odk_device(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(member_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let member_id: MemberId = parse_id(&member_id, "member")?;
    let m = app.storage.member_municipality(member_id).await?;
    caller.require(Action::ManageTeams, Some(&m))?;
    let origin = server_origin(&app, &headers)?;
    let now = crate::sync::now_ms() as i64;
    let device = app
        .storage
        .create_member_device(member_id, Some("ODK Collect"), &caller.audit_name(), now)
        .await?;
    let settings = crate::openrosa::odk_settings::settings(&origin, &device.token, m.as_str());
    let payload = crate::openrosa::odk_settings::encode(&settings)
        .map_err(|e| AppError::internal(e.to_string()))?;
    let svg = crate::enrollment::qr_svg(&payload).map_err(AppError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "device_id": device.device_id,
            "token": device.token,
            "server_url": settings["general"]["server_url"],
            "basic": {
                "url": format!("{origin}/openrosa"),
                "username": device.device_id.to_string(),
                "password": device.token,
            },
            "qr_payload": payload,
            "qr_svg": svg,
        })),
    ))
}

/// Revokes a device: its next push or pull is refused.
#[utoipa::path(
    post,
    path = "/api/v1/devices/{device_id}/revoke",
    tag = "teams",
    operation_id = "revoke_device",
    params(("device_id" = String, Path, description = "The device's id.")),
    responses(
        (status = 204, description = "Revoked."),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn revoke_device(
    State(app): State<AppState>,
    caller: Caller,
    Path(device_id): Path<String>,
) -> Result<StatusCode, AppError> {
    let device_id: sync_protocol::DeviceId = device_id
        .parse()
        .map_err(|_| AppError::NotFound(format!("no device {device_id:?}")))?;
    let scopes = app.storage.device_scopes(device_id).await?;
    if scopes.is_empty() {
        caller.require(Action::ManageUsers, None)?;
    }
    for scope in &scopes {
        caller.require(Action::ManageDevices, Some(scope))?;
    }
    let now = crate::sync::now_ms() as i64;
    app.storage
        .revoke_device(device_id, &caller.audit_name(), now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The member's phones, revoked ones included.
#[utoipa::path(
    get,
    path = "/api/v1/members/{member_id}/devices",
    tag = "teams",
    operation_id = "list_member_devices",
    params(("member_id" = String, Path, description = "The member's id.")),
    responses(
        (status = 200, description = "The devices.", body = [Object]),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn member_devices(
    State(app): State<AppState>,
    caller: Caller,
    Path(member_id): Path<String>,
) -> Result<Json<Vec<DeviceView>>, AppError> {
    let member_id: MemberId = parse_id(&member_id, "member")?;
    let m = app.storage.member_municipality(member_id).await?;
    caller.require(Action::ReadTeams, Some(&m))?;
    Ok(Json(app.storage.member_devices(member_id).await?))
}
