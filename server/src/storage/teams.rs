//! JMET teams, their members over time, and members' devices. Members change often: a member
//! who leaves keeps their row (with the day they left) and their records; every device token of
//! theirs is revoked in the same transaction.

use sync_protocol::{DeviceId, Scope};

use crate::ids::{MemberId, TeamId};

use super::devices::{NewDevice, insert_device, revoke_member_devices};
use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};

/// A member as the team's history shows them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MemberRecord {
    pub member_id: MemberId,
    pub name: String,
    pub joined_on: String,
    pub left_on: Option<String>,
    pub active_devices: i64,
}

/// `YYYY-MM-DD` with a plausible month and day.
pub fn check_date(text: &str) -> Result<(), StorageError> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && (1..=12).contains(&text[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&text[8..10].parse::<u8>().unwrap_or(0));
    if ok {
        Ok(())
    } else {
        Err(StorageError::Invalid(format!(
            "{text:?} is not a date (YYYY-MM-DD)"
        )))
    }
}

impl Storage {
    /// A team of the given municipality; answers its id.
    pub async fn create_team(
        &self,
        municipality: &Scope,
        name: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<TeamId, StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("SELECT level FROM territories WHERE code = ")
            .bind(municipality.as_str());
        match sql::query_scalar_text(&write.tx, q).await?.as_deref() {
            Some("municipality") => {}
            Some(level) => {
                return Err(StorageError::Invalid(format!(
                    "{municipality} is a {level}, not a municipality"
                )));
            }
            None => {
                return Err(StorageError::NotFound(format!(
                    "municipality {municipality}"
                )));
            }
        }
        let id = TeamId::generate();
        let team_id_text = id.to_string();
        let team_id = team_id_text.as_str();
        let q = Sql::new(backend)
            .push("INSERT INTO teams (team_id, municipality_code, name, created_at_ms) VALUES (")
            .bind(team_id)
            .push(", ")
            .bind(municipality.as_str())
            .push(", ")
            .bind(name)
            .push(", ")
            .bind(now_ms)
            .push(")");
        sql::execute(&write.tx, q).await?;
        let detail =
            serde_json::json!({"team_id": team_id, "municipality": municipality, "name": name});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "team.create",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(id)
    }

    /// Adds a member who joined on `joined_on`; answers the member's id.
    pub async fn add_member(
        &self,
        team_id: TeamId,
        name: &str,
        joined_on: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<MemberId, StorageError> {
        let team_id_text = team_id.to_string();
        let team_id = team_id_text.as_str();
        check_date(joined_on)?;
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("SELECT team_id FROM teams WHERE team_id = ")
            .bind(team_id);
        if sql::query_scalar_text(&write.tx, q).await?.is_none() {
            return Err(StorageError::NotFound(format!("team {team_id}")));
        }
        let id = MemberId::generate();
        let member_id_text = id.to_string();
        let member_id = member_id_text.as_str();
        let q = Sql::new(backend)
            .push("INSERT INTO members (member_id, team_id, name, joined_on) VALUES (")
            .bind(member_id)
            .push(", ")
            .bind(team_id)
            .push(", ")
            .bind(name)
            .push(", ")
            .bind(joined_on)
            .push(")");
        sql::execute(&write.tx, q).await?;
        let detail =
            serde_json::json!({"member_id": member_id, "team_id": team_id, "joined_on": joined_on});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "member.add",
            detail.to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(id)
    }

    /// A device for an active member, which may sync the team's municipality.
    pub async fn create_member_device(
        &self,
        member_id: MemberId,
        label: Option<&str>,
        actor: &str,
        now_ms: i64,
    ) -> Result<NewDevice, StorageError> {
        let member_id_text = member_id.to_string();
        let member_id = member_id_text.as_str();
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("SELECT t.municipality_code, m.left_on FROM members m JOIN teams t ON t.team_id = m.team_id WHERE m.member_id = ")
            .bind(member_id);
        let rows = sql::query_all(&write.tx, q).await?;
        let row = rows
            .first()
            .ok_or_else(|| StorageError::NotFound(format!("member {member_id}")))?;
        if let Some(left) = row.try_get_by_index::<Option<String>>(1)? {
            return Err(StorageError::Invalid(format!(
                "member {member_id} left the team on {left}"
            )));
        }
        let scope = Scope::parse(row.try_get_by_index::<String>(0)?)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let device = insert_device(
            &write.tx,
            backend,
            &[scope],
            label,
            Some(member_id),
            actor,
            now_ms,
        )
        .await?;
        write.tx.commit().await?;
        Ok(device)
    }

    /// The member leaves the team on `left_on`: their row and records stay, every device token
    /// of theirs is revoked at once. Answers the revoked device ids.
    pub async fn member_leaves(
        &self,
        member_id: MemberId,
        left_on: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<Vec<DeviceId>, StorageError> {
        let member_id_text = member_id.to_string();
        let member_id = member_id_text.as_str();
        check_date(left_on)?;
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("UPDATE members SET left_on = ")
            .bind(left_on)
            .push(" WHERE member_id = ")
            .bind(member_id)
            .push(" AND left_on IS NULL");
        if sql::execute(&write.tx, q).await? == 0 {
            return Err(StorageError::NotFound(format!(
                "no current member {member_id}"
            )));
        }
        let detail = serde_json::json!({"member_id": member_id, "left_on": left_on});
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "member.leave",
            detail.to_string(),
        )
        .await?;
        let revoked = revoke_member_devices(&write.tx, backend, member_id, actor, now_ms).await?;
        write.tx.commit().await?;
        Ok(revoked)
    }

    /// Everyone who was ever on the team, in the order they joined.
    pub async fn team_members(&self, team_id: TeamId) -> Result<Vec<MemberRecord>, StorageError> {
        let team_id_text = team_id.to_string();
        let team_id = team_id_text.as_str();
        let q = Sql::new(self.backend())
            .push(
                "SELECT m.member_id, m.name, m.joined_on, m.left_on, \
                 (SELECT COUNT(*) FROM devices d WHERE d.member_id = m.member_id AND d.revoked_at_ms IS NULL) \
                 FROM members m WHERE m.team_id = ",
            )
            .bind(team_id)
            .push(" ORDER BY m.joined_on, m.member_id");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(MemberRecord {
                member_id: parse_id(row.try_get_by_index(0)?)?,
                name: row.try_get_by_index(1)?,
                joined_on: row.try_get_by_index(2)?,
                left_on: row.try_get_by_index(3)?,
                active_devices: row.try_get_by_index(4)?,
            });
        }
        Ok(out)
    }
}

/// A team as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TeamView {
    pub team_id: TeamId,
    pub municipality: String,
    pub name: String,
}

fn parse_id<T: std::str::FromStr>(text: String) -> Result<T, StorageError> {
    text.parse()
        .map_err(|_| StorageError::Corrupt(format!("id {text:?} is not a UUID")))
}

fn parse_scope(code: String) -> Result<Scope, StorageError> {
    Scope::parse(code).map_err(|e| StorageError::Corrupt(e.to_string()))
}

impl Storage {
    pub async fn teams_in(&self, municipality: &Scope) -> Result<Vec<TeamView>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT team_id, municipality_code, name FROM teams WHERE municipality_code = ")
            .bind(municipality.as_str())
            .push(" ORDER BY created_at_ms, team_id");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(TeamView {
                team_id: parse_id(row.try_get_by_index(0)?)?,
                municipality: row.try_get_by_index(1)?,
                name: row.try_get_by_index(2)?,
            });
        }
        Ok(out)
    }

    /// The municipality a team works in; authorisation asks this before anything else.
    pub async fn team_municipality(&self, team_id: TeamId) -> Result<Scope, StorageError> {
        let team_id_text = team_id.to_string();
        let team_id = team_id_text.as_str();
        let q = Sql::new(self.backend())
            .push("SELECT municipality_code FROM teams WHERE team_id = ")
            .bind(team_id);
        sql::query_scalar_text(&self.db, q)
            .await?
            .ok_or_else(|| StorageError::NotFound(format!("team {team_id}")))
            .and_then(parse_scope)
    }

    pub async fn member_municipality(&self, member_id: MemberId) -> Result<Scope, StorageError> {
        let member_id_text = member_id.to_string();
        let member_id = member_id_text.as_str();
        let q = Sql::new(self.backend())
            .push("SELECT t.municipality_code FROM members m JOIN teams t ON t.team_id = m.team_id WHERE m.member_id = ")
            .bind(member_id);
        sql::query_scalar_text(&self.db, q)
            .await?
            .ok_or_else(|| StorageError::NotFound(format!("member {member_id}")))
            .and_then(parse_scope)
    }

    /// The scopes a device may sync (a member's phone has exactly one).
    pub async fn device_scopes(
        &self,
        device_id: sync_protocol::DeviceId,
    ) -> Result<Vec<Scope>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT d.device_id, s.scope FROM devices d LEFT JOIN device_scopes s ON s.device_id = d.device_id WHERE d.device_id = ")
            .bind(device_id.to_string());
        let rows = sql::query_all(&self.db, q).await?;
        if rows.is_empty() {
            return Err(StorageError::NotFound(format!("device {device_id}")));
        }
        let mut scopes = Vec::new();
        for row in rows {
            if let Some(code) = row.try_get_by_index::<Option<String>>(1)? {
                scopes.push(parse_scope(code)?);
            }
        }
        Ok(scopes)
    }
}

/// A member's phone as AO staff see it, to revoke a lost one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeviceView {
    pub device_id: DeviceId,
    pub label: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

impl Storage {
    /// Every device a member ever had, revoked ones included, oldest first.
    pub async fn member_devices(
        &self,
        member_id: MemberId,
    ) -> Result<Vec<DeviceView>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT device_id, label, created_at_ms, revoked_at_ms FROM devices WHERE member_id = ")
            .bind(member_id.to_string())
            .push(" ORDER BY created_at_ms, device_id");
        let mut out = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            out.push(DeviceView {
                device_id: parse_id(row.try_get_by_index(0)?)?,
                label: row.try_get_by_index(1)?,
                created_at_ms: row.try_get_by_index(2)?,
                revoked_at_ms: row.try_get_by_index(3)?,
            });
        }
        Ok(out)
    }
}
