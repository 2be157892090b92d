//! Who is asking: a device or a script by bearer token, a browser by session cookie, or the
//! public. Writes over a session must echo the session's CSRF token.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use sync_protocol::Scope;

use super::AppState;
use crate::access::{Action, AuthedUser, Principal};
use crate::error::AppError;
use crate::storage::AuthedDevice;

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "jmet_session";
/// Header a browser write must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request made by a device with a valid, unrevoked token.
pub struct Device(pub AuthedDevice);

impl FromRequestParts<AppState> for Device {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(AppError::Unauthorized)?;
        if let Some(device) = app.storage.authenticate_device(token).await? {
            return Ok(Device(device));
        }
        // A person's valid token is not a wrong password: say what this endpoint wants.
        if app.storage.token_user(token).await?.is_some() {
            return Err(AppError::Forbidden(
                "sync is for enrolled devices; people use the web and the API".into(),
            ));
        }
        Err(AppError::Unauthorized)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Anyone; the public when no credentials came. A token that was sent but is not valid is a 401,
/// not a silent downgrade to the public.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(parts) {
            if let Some(device) = app.storage.authenticate_device(token).await? {
                return Ok(Caller(Principal::Device {
                    device_id: device.device_id,
                    scopes: device.scopes,
                }));
            }
            return match app.storage.token_user(token).await? {
                Some(user) => Ok(Caller(Principal::User(user))),
                None => Err(AppError::Unauthorized),
            };
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(cookie) = jar.get(SESSION_COOKIE) else {
            return Ok(Caller(Principal::Public));
        };
        let now = crate::sync::now_ms() as i64;
        // An expired or unknown session reads as the public: public pages keep working.
        let Some((user, csrf)) = app.storage.session_user(cookie.value(), now).await? else {
            return Ok(Caller(Principal::Public));
        };
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                return Err(AppError::CsrfFailed);
            }
        }
        Ok(Caller(Principal::User(user)))
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Caller {
    /// Passes if the caller may do `action` (for `municipality`): 401 for the public, 403 else.
    pub fn require(&self, action: Action, municipality: Option<&Scope>) -> Result<(), AppError> {
        if self.0.may(action, municipality) {
            return Ok(());
        }
        if self.0.is_public() {
            return Err(AppError::Unauthorized);
        }
        Err(AppError::Forbidden(match municipality {
            Some(m) => format!("you may not {} for {m}", describe(action)),
            None => format!("you may not {}", describe(action)),
        }))
    }

    /// The signed-in user, for endpoints about one's own account.
    pub fn user(&self) -> Result<&AuthedUser, AppError> {
        match &self.0 {
            Principal::User(u) => Ok(u),
            Principal::Public => Err(AppError::Unauthorized),
            Principal::Device { .. } => Err(AppError::Forbidden(
                "this endpoint is for signed-in users, not devices".into(),
            )),
        }
    }

    pub fn audit_name(&self) -> String {
        self.0.audit_name()
    }
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::ReadTerritories => "read territories",
        Action::ReadMunicipality => "read this municipality's data",
        Action::ReadTeams => "read teams and members",
        Action::ReadForms => "read forms",
        Action::ManageTerritories => "manage territories",
        Action::ManageFacilities => "manage facilities",
        Action::ManageIndicators => "manage the SEDP and its indicators",
        Action::DraftPlan => "draft the M&E plan",
        Action::ApprovePlan => "record the council's approval of the M&E plan",
        Action::ManageForms => "manage forms",
        Action::ManageTeams => "manage teams, members and enrollment",
        Action::ManageDevices => "manage devices",
        Action::ReadSubmissions => "read submissions and their evidence",
        Action::ReadOriginals => "read original photos",
        Action::ManageUsers => "manage users",
        Action::ReadUsers => "read users",
        Action::ReadResults => "read indicator results",
        Action::ReadProvisional => "read provisional values and their evidence",
        Action::EnterLsgValues => "enter the LSG's values and assessment",
        Action::Review => "review submissions",
        Action::RecordCouncilDecision => "record council decisions",
    }
}
