//! Who may do what: the roles of DESIGN.md's Actors table as one pure rule, so every handler asks
//! the same question and the role × endpoint matrix test exercises exactly this table.

use std::fmt;
use std::str::FromStr;

use sync_protocol::{DeviceId, Scope};

pub use crate::ids::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A JMET member using the web (their phone acts as a device).
    Member,
    Supervisor,
    AoStaff,
    AoHead,
    Deputy,
    StateBody,
    Admin,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Member,
        Role::Supervisor,
        Role::AoStaff,
        Role::AoHead,
        Role::Deputy,
        Role::StateBody,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Supervisor => "supervisor",
            Role::AoStaff => "ao_staff",
            Role::AoHead => "ao_head",
            Role::Deputy => "deputy",
            Role::StateBody => "state_body",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {s:?}; one of {}", names.join(", "))
            })
    }
}

/// How a user proved who they are; written into the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session (cookie); writes must carry the session's CSRF token.
    Session,
    /// A bearer token made for a script.
    ApiToken(String),
}

/// A signed-in user with the municipalities their scopes cover.
#[derive(Debug, Clone)]
pub struct AuthedUser {
    pub user_id: UserId,
    pub login: String,
    pub role: Role,
    /// Every municipality a scope covers (a scope may name an oblast, a rayon or a municipality).
    pub municipalities: Vec<Scope>,
    /// A scope of `*`: the whole country (a national state body, an admin).
    pub everywhere: bool,
    pub via: Via,
}

impl AuthedUser {
    fn covers(&self, municipality: &Scope) -> bool {
        self.everywhere || self.municipalities.contains(municipality)
    }
}

/// Anyone making a request.
#[derive(Debug, Clone)]
pub enum Principal {
    Public,
    Device {
        device_id: DeviceId,
        scopes: Vec<Scope>,
    },
    User(AuthedUser),
}

/// Everything a request may ask to do. `Option<&Scope>` targets name the municipality concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Territories and boundaries: public geography.
    ReadTerritories,
    /// Facilities, SEDP indicators, the M&E plan, teams of a municipality. State bodies pass,
    /// and see only delegated-state items (the handler filters with [`Principal::delegated_only`]).
    ReadMunicipality,
    /// The team and its members (names): not for state bodies or the public.
    ReadTeams,
    ReadForms,
    ManageTerritories,
    ManageFacilities,
    /// The SEDP document and its indicators.
    ManageIndicators,
    /// Draft the M&E plan (choose indicators).
    DraftPlan,
    /// Record the council's approval of the M&E plan.
    ApprovePlan,
    ManageForms,
    /// Teams, members, enrollment codes, a member's leaving.
    ManageTeams,
    ManageDevices,
    /// Visits and survey responses, their photos and flags (a state body: delegated facilities
    /// only, which the handler checks).
    ReadSubmissions,
    /// Photos as uploaded, with their metadata: reviewers only.
    ReadOriginals,
    ManageUsers,
    ReadUsers,
    /// Official indicator values, plan versus fact, survey results, the scorecard: aggregates of
    /// approved data without personal data, open to anyone.
    ReadResults,
    /// Provisional values (not yet reviewed) and the evidence ids behind values.
    ReadProvisional,
    /// Values the LSG measures and the staff's assessment for the scorecard.
    EnterLsgValues,
    /// Approve, send back or reject a submission.
    Review,
    /// Enter the council's decisions in the decision log.
    RecordCouncilDecision,
}

impl Principal {
    pub fn is_public(&self) -> bool {
        matches!(self, Principal::Public)
    }

    /// A state body sees only what concerns powers delegated to the LSG.
    pub fn delegated_only(&self) -> bool {
        matches!(self, Principal::User(u) if u.role == Role::StateBody)
    }

    /// The rule. `municipality` is `None` for actions that concern no one municipality.
    pub fn may(&self, action: Action, municipality: Option<&Scope>) -> bool {
        use Action::*;
        use Role::*;
        if matches!(action, ReadTerritories | ReadResults) {
            return true;
        }
        let user = match self {
            Principal::Public => return false,
            Principal::Device { scopes, .. } => {
                // Phones read their own municipality's reference data; writes go through sync.
                return matches!(
                    action,
                    ReadMunicipality | ReadForms | ReadTeams | ReadSubmissions | ReadProvisional
                ) && municipality.is_none_or(|m| scopes.contains(m));
            }
            Principal::User(user) => user,
        };
        let in_scope = municipality.is_none_or(|m| user.covers(m));
        let role_may = match action {
            ReadTerritories | ReadResults => true,
            ReadForms => true,
            ReadProvisional => true,
            EnterLsgValues => matches!(user.role, AoStaff | AoHead | Admin),
            Review => matches!(user.role, Supervisor | Admin),
            RecordCouncilDecision => matches!(user.role, Deputy | AoStaff | AoHead | Admin),
            ReadMunicipality => true,
            ReadTeams => matches!(
                user.role,
                Member | Supervisor | AoStaff | AoHead | Deputy | Admin
            ),
            ManageFacilities | ManageIndicators | DraftPlan => {
                matches!(user.role, AoStaff | AoHead | Admin)
            }
            ApprovePlan => matches!(user.role, Deputy),
            ManageTeams => matches!(user.role, AoStaff | AoHead | Admin),
            ManageDevices => matches!(user.role, AoStaff | AoHead | Admin),
            ReadSubmissions => true,
            ReadOriginals => matches!(user.role, Supervisor | Admin),
            ManageTerritories | ManageForms | ManageUsers | ReadUsers => user.role == Admin,
        };
        role_may && in_scope
    }

    /// The name the audit log gives this principal.
    pub fn audit_name(&self) -> String {
        match self {
            Principal::Public => "public".into(),
            Principal::Device { device_id, .. } => format!("device:{device_id}"),
            Principal::User(u) => match &u.via {
                Via::Session => format!("user:{} (web login)", u.login),
                Via::ApiToken(id) => format!("user:{} (api token {id})", u.login),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, scopes: &[&str]) -> Principal {
        Principal::User(AuthedUser {
            user_id: UserId::generate(),
            login: "u".into(),
            role,
            municipalities: scopes.iter().map(|s| Scope::parse(*s).unwrap()).collect(),
            everywhere: false,
            via: Via::Session,
        })
    }

    #[test]
    fn scope_bounds_every_role() {
        let a = Scope::parse("KG-A").unwrap();
        let b = Scope::parse("KG-B").unwrap();
        let staff = user(Role::AoStaff, &["KG-A"]);
        assert!(staff.may(Action::ManageFacilities, Some(&a)));
        assert!(!staff.may(Action::ManageFacilities, Some(&b)));
        assert!(!staff.may(Action::ApprovePlan, Some(&a)));
        let deputy = user(Role::Deputy, &["KG-A"]);
        assert!(deputy.may(Action::ApprovePlan, Some(&a)));
        assert!(!deputy.may(Action::ApprovePlan, Some(&b)));
        assert!(!Principal::Public.may(Action::ReadMunicipality, Some(&a)));
        assert!(Principal::Public.may(Action::ReadTerritories, None));
        assert!(user(Role::StateBody, &["KG-A"]).delegated_only());
        assert!(!user(Role::StateBody, &["KG-A"]).may(Action::ReadTeams, Some(&a)));
    }
}
