//! Enrolling a phone: an admin or AO staff member makes a one-time code for a team member (shown
//! as a QR code); the phone exchanges it for a device token of its own.

use super::devices::{NewDevice, insert_device, token_hash};
use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};

/// A code as handed to the member.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnrollmentCode {
    pub code: String,
    pub expires_at_ms: i64,
}

/// Why an exchange failed; the phone is told no more than "not valid".
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("this enrollment code is unknown, used, expired, or its member left the team")]
    Invalid,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sea_orm::DbErr> for EnrollError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Storage(e.into())
    }
}

impl Storage {
    /// A one-time code for a current member, valid for `valid_ms`. Only its hash is stored.
    pub async fn create_enrollment_code(
        &self,
        member_id: crate::ids::MemberId,
        valid_ms: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<EnrollmentCode, StorageError> {
        let member_id_text = member_id.to_string();
        let member_id = member_id_text.as_str();
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| StorageError::Config(format!("no random source: {e}")))?;
        let code = hex::encode(bytes);
        let write = self.write().await?;
        let q = Sql::new(self.backend())
            .push("SELECT left_on FROM members WHERE member_id = ")
            .bind(member_id);
        let rows = sql::query_all(&write.tx, q).await?;
        let row = rows
            .first()
            .ok_or_else(|| StorageError::NotFound(format!("member {member_id}")))?;
        if let Some(left) = row.try_get_by_index::<Option<String>>(0)? {
            return Err(StorageError::Invalid(format!(
                "member {member_id} left the team on {left}"
            )));
        }
        let expires_at_ms = now_ms + valid_ms;
        let q = Sql::new(self.backend())
            .push("INSERT INTO enrollment_codes (code_hash, member_id, created_at_ms, expires_at_ms) VALUES (")
            .bind(token_hash(&code))
            .push(", ")
            .bind(member_id)
            .push(", ")
            .bind(now_ms)
            .push(", ")
            .bind(expires_at_ms)
            .push(")");
        sql::execute(&write.tx, q).await?;
        // The code itself is a secret and stays out of the log.
        audit::record(
            &write.tx,
            self.backend(),
            now_ms,
            actor,
            "enrollment_code.create",
            serde_json::json!({"member_id": member_id, "expires_at_ms": expires_at_ms}).to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(EnrollmentCode {
            code,
            expires_at_ms,
        })
    }

    /// Exchanges a code for a new device of its member, once.
    pub async fn enroll(
        &self,
        code: &str,
        label: Option<&str>,
        now_ms: i64,
    ) -> Result<NewDevice, EnrollError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push(
                "SELECT e.member_id, t.municipality_code FROM enrollment_codes e \
                 JOIN members m ON m.member_id = e.member_id JOIN teams t ON t.team_id = m.team_id \
                 WHERE e.code_hash = ",
            )
            .bind(token_hash(code))
            .push(" AND e.used_at_ms IS NULL AND m.left_on IS NULL AND e.expires_at_ms > ")
            .bind(now_ms);
        let rows = sql::query_all(&write.tx, q).await?;
        let row = rows.first().ok_or(EnrollError::Invalid)?;
        let member: String = row.try_get_by_index(0)?;
        let scope = sync_protocol::Scope::parse(row.try_get_by_index::<String>(1)?)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let device = insert_device(
            &write.tx,
            backend,
            &[scope],
            label,
            Some(&member),
            "enrollment",
            now_ms,
        )
        .await?;
        let q = Sql::new(backend)
            .push("UPDATE enrollment_codes SET used_at_ms = ")
            .bind(now_ms)
            .push(", device_id = ")
            .bind(device.device_id.to_string())
            .push(" WHERE code_hash = ")
            .bind(token_hash(code))
            .push(" AND used_at_ms IS NULL");
        // Two phones racing with one code: only the first update counts.
        if sql::execute(&write.tx, q).await? != 1 {
            return Err(EnrollError::Invalid);
        }
        write.tx.commit().await?;
        Ok(device)
    }
}
