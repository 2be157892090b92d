//! Devices, their bearer tokens and the scopes they may sync.

use sha2::{Digest, Sha256};
use sync_protocol::{DeviceId, Scope};

use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};

/// Prefix of every device token, so a leaked token is recognisable in logs and scanners.
const TOKEN_PREFIX: &str = "jmet_";

/// What `jmet device create` prints.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewDevice {
    pub device_id: DeviceId,
    pub token: String,
}

/// A device whose token was presented and is valid.
#[derive(Debug, Clone)]
pub struct AuthedDevice {
    pub device_id: DeviceId,
    pub scopes: Vec<Scope>,
}

impl AuthedDevice {
    pub fn may_access(&self, scope: &Scope) -> bool {
        self.scopes.contains(scope)
    }
}

/// Tokens carry 256 random bits, so a plain SHA-256 is a safe stored form: there is nothing to
/// brute-force, and lookups by hash stay a single indexed read per request.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 256 random bits in hex after `prefix`.
pub(crate) fn random_token(prefix: &str) -> Result<String, StorageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StorageError::Config(format!("no random source: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

impl Storage {
    pub async fn create_device(
        &self,
        scopes: &[Scope],
        label: Option<&str>,
        actor: &str,
        now_ms: i64,
    ) -> Result<NewDevice, StorageError> {
        let write = self.write().await?;
        let device = insert_device(
            &write.tx,
            self.backend(),
            scopes,
            label,
            None,
            actor,
            now_ms,
        )
        .await?;
        write.tx.commit().await?;
        Ok(device)
    }

    /// The device a bearer token belongs to, unless the token is unknown or revoked.
    pub async fn authenticate_device(
        &self,
        token: &str,
    ) -> Result<Option<AuthedDevice>, StorageError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let q = Sql::new(self.backend())
            .push(
                "SELECT d.device_id, s.scope FROM devices d \
                 LEFT JOIN device_scopes s ON s.device_id = d.device_id \
                 WHERE d.token_hash = ",
            )
            .bind(token_hash(token))
            .push(" AND d.revoked_at_ms IS NULL ORDER BY s.scope");
        let rows = sql::query_all(&self.db, q).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let id: String = first.try_get_by_index(0)?;
        let device_id = id
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("device id {id:?} is not a UUID")))?;
        let mut scopes = Vec::new();
        for row in &rows {
            if let Some(scope) = row.try_get_by_index::<Option<String>>(1)? {
                scopes.push(Scope::parse(scope).map_err(|e| StorageError::Corrupt(e.to_string()))?);
            }
        }
        Ok(Some(AuthedDevice { device_id, scopes }))
    }

    /// Revokes a device's token at once; what it pushed stays.
    pub async fn revoke_device(
        &self,
        device_id: DeviceId,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let write = self.write().await?;
        let q = Sql::new(self.backend())
            .push("UPDATE devices SET revoked_at_ms = ")
            .bind(now_ms)
            .push(" WHERE device_id = ")
            .bind(device_id.to_string())
            .push(" AND revoked_at_ms IS NULL");
        let changed = sql::execute(&write.tx, q).await?;
        if changed == 0 {
            return Err(StorageError::NotFound(format!(
                "no active device {device_id}"
            )));
        }
        audit::record(
            &write.tx,
            self.backend(),
            now_ms,
            actor,
            "device.revoke",
            serde_json::json!({"device_id": device_id}).to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }
}

/// Creates a device (and its audit entry) inside the caller's write transaction.
pub(crate) async fn insert_device(
    tx: &impl sea_orm::ConnectionTrait,
    backend: sea_orm::DbBackend,
    scopes: &[Scope],
    label: Option<&str>,
    member: Option<&str>,
    actor: &str,
    now_ms: i64,
) -> Result<NewDevice, StorageError> {
    let device_id = DeviceId::generate();
    let token = random_token(TOKEN_PREFIX)?;
    let q = Sql::new(backend)
        .push(
            "INSERT INTO devices (device_id, token_hash, label, created_at_ms, member_id) VALUES (",
        )
        .bind(device_id.to_string())
        .push(", ")
        .bind(token_hash(&token))
        .push(", ")
        .bind(label.map(str::to_owned))
        .push(", ")
        .bind(now_ms)
        .push(", ")
        .bind(member.map(str::to_owned))
        .push(")");
    sql::execute(tx, q).await?;
    let mut unique: Vec<&Scope> = scopes.iter().collect();
    unique.sort();
    unique.dedup();
    for scope in &unique {
        let q = Sql::new(backend)
            .push("INSERT INTO device_scopes (device_id, scope) VALUES (")
            .bind(device_id.to_string())
            .push(", ")
            .bind(scope.as_str())
            .push(")");
        sql::execute(tx, q).await?;
    }
    let detail = serde_json::json!({
        "device_id": device_id,
        "scopes": unique,
        "label": label,
        "member_id": member,
    });
    audit::record(
        tx,
        backend,
        now_ms,
        actor,
        "device.create",
        detail.to_string(),
    )
    .await?;
    Ok(NewDevice { device_id, token })
}

/// Revokes every active device of a member inside the caller's write transaction, each with its
/// audit entry; answers the devices revoked.
pub(crate) async fn revoke_member_devices(
    tx: &impl sea_orm::ConnectionTrait,
    backend: sea_orm::DbBackend,
    member: &str,
    actor: &str,
    now_ms: i64,
) -> Result<Vec<DeviceId>, StorageError> {
    let q = Sql::new(backend)
        .push("SELECT device_id FROM devices WHERE member_id = ")
        .bind(member)
        .push(" AND revoked_at_ms IS NULL ORDER BY device_id");
    let mut revoked = Vec::new();
    for row in sql::query_all(tx, q).await? {
        let id: String = row.try_get_by_index(0)?;
        revoked.push(
            id.parse()
                .map_err(|_| StorageError::Corrupt(format!("device id {id:?} is not a UUID")))?,
        );
    }
    let q = Sql::new(backend)
        .push("UPDATE devices SET revoked_at_ms = ")
        .bind(now_ms)
        .push(" WHERE member_id = ")
        .bind(member)
        .push(" AND revoked_at_ms IS NULL");
    sql::execute(tx, q).await?;
    for device_id in &revoked {
        audit::record(
            tx,
            backend,
            now_ms,
            actor,
            "device.revoke",
            serde_json::json!({"device_id": device_id, "member_id": member}).to_string(),
        )
        .await?;
    }
    Ok(revoked)
}
