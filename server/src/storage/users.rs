//! Users, their scopes, browser sessions and script tokens. Password hashes arrive already made
//! (hashing is CPU work the caller runs off the async runtime); only random tokens' SHA-256
//! digests are stored.

use sync_protocol::Scope;

use super::devices::{random_token, token_hash};
use super::sql::{self, Sql};
use super::{Storage, StorageError, audit};
use crate::access::{AuthedUser, Role, UserId, Via};

/// Scope meaning every municipality.
pub const EVERYWHERE: &str = "*";
/// Prefixes make a leaked secret recognisable and tell the kinds apart without a lookup.
const SESSION_PREFIX: &str = "jmets_";
const API_TOKEN_PREFIX: &str = "jmetu_";

/// A user to create; `password_hash` is a PHC string.
pub struct NewUser<'a> {
    pub login: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub scopes: &'a [String],
    pub password_hash: String,
}

/// A user as listed to admins.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserSummary {
    pub user_id: UserId,
    pub login: String,
    pub name: String,
    pub role: Role,
    pub scopes: Vec<String>,
    pub disabled: bool,
}

/// What a login attempt needs to check a password.
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
}

/// A new session's secrets: the cookie value and the token forms must echo.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NewApiToken {
    pub token_id: String,
    pub token: String,
}

fn parse_user_id(text: &str) -> Result<UserId, StorageError> {
    text.parse()
        .map_err(|_| StorageError::Corrupt(format!("user id {text:?} is not a UUID")))
}

fn parse_role(text: &str) -> Result<Role, StorageError> {
    text.parse().map_err(StorageError::Corrupt)
}

impl Storage {
    pub async fn create_user(
        &self,
        user: &NewUser<'_>,
        actor: &str,
        now_ms: i64,
    ) -> Result<UserId, StorageError> {
        let login = user.login.trim();
        if login.is_empty()
            || login.len() > 64
            || !login
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            return Err(StorageError::Invalid(format!(
                "login {login:?} must be 1-64 letters, digits or . _ - @"
            )));
        }
        if user.name.trim().is_empty() {
            return Err(StorageError::Invalid("a user needs a name".into()));
        }
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("SELECT user_id FROM users WHERE login = ")
            .bind(login);
        if sql::query_scalar_text(&write.tx, q).await?.is_some() {
            return Err(StorageError::Conflict(format!(
                "a user with login {login:?} exists"
            )));
        }
        let levels = super::territories::territory_levels(&write.tx, backend).await?;
        for scope in user.scopes {
            if scope != EVERYWHERE && !levels.contains_key(scope) {
                return Err(StorageError::Invalid(format!(
                    "scope {scope:?} is neither a territory code nor {EVERYWHERE:?}"
                )));
            }
        }
        if user.scopes.is_empty() && user.role != Role::Admin {
            return Err(StorageError::Invalid(format!(
                "a {} needs at least one scope (a territory code, or {EVERYWHERE:?})",
                user.role
            )));
        }
        let user_id = UserId::generate();
        let q = Sql::new(backend)
            .push("INSERT INTO users (user_id, login, name, role, password_hash, created_at_ms) VALUES (")
            .bind(user_id.to_string())
            .push(", ")
            .bind(login)
            .push(", ")
            .bind(user.name.trim())
            .push(", ")
            .bind(user.role.as_str())
            .push(", ")
            .bind(user.password_hash.as_str())
            .push(", ")
            .bind(now_ms)
            .push(")");
        sql::execute(&write.tx, q).await?;
        for scope in user.scopes {
            let q = Sql::new(backend)
                .push("INSERT INTO user_scopes (user_id, scope) VALUES (")
                .bind(user_id.to_string())
                .push(", ")
                .bind(scope.as_str())
                .push(") ON CONFLICT DO NOTHING");
            sql::execute(&write.tx, q).await?;
        }
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "user.create",
            serde_json::json!({"user_id": user_id, "login": login, "role": user.role, "scopes": user.scopes})
                .to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(user_id)
    }

    /// The stored hash of an enabled user, for a login attempt.
    pub async fn credentials(&self, login: &str) -> Result<Option<Credentials>, StorageError> {
        let q = Sql::new(self.backend())
            .push("SELECT user_id, password_hash FROM users WHERE login = ")
            .bind(login)
            .push(" AND disabled_at_ms IS NULL");
        let rows = sql::query_all(&self.db, q).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            user_id: parse_user_id(&row.try_get_by_index::<String>(0)?)?,
            password_hash: row.try_get_by_index(1)?,
        }))
    }

    pub async fn create_session(
        &self,
        user_id: UserId,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<NewSession, StorageError> {
        let session = NewSession {
            token: random_token(SESSION_PREFIX)?,
            csrf_token: random_token("")?,
            expires_at_ms: now_ms + ttl_ms,
        };
        let backend = self.backend();
        let write = self.write().await?;
        // Expired sessions go when someone logs in, so the table stays small without a janitor.
        let q = Sql::new(backend)
            .push("DELETE FROM sessions WHERE expires_at_ms < ")
            .bind(now_ms);
        sql::execute(&write.tx, q).await?;
        let q = Sql::new(backend)
            .push("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at_ms, expires_at_ms) VALUES (")
            .bind(token_hash(&session.token))
            .push(", ")
            .bind(user_id.to_string())
            .push(", ")
            .bind(session.csrf_token.as_str())
            .push(", ")
            .bind(now_ms)
            .push(", ")
            .bind(session.expires_at_ms)
            .push(")");
        sql::execute(&write.tx, q).await?;
        audit::record(
            &write.tx,
            backend,
            now_ms,
            &format!("user:{user_id}"),
            "user.login",
            serde_json::json!({"user_id": user_id}).to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(session)
    }

    pub async fn end_session(&self, token: &str) -> Result<(), StorageError> {
        let write = self.write().await?;
        let q = Sql::new(self.backend())
            .push("DELETE FROM sessions WHERE token_hash = ")
            .bind(token_hash(token));
        sql::execute(&write.tx, q).await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// The user of a live session and the session's CSRF token.
    pub async fn session_user(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<(AuthedUser, String)>, StorageError> {
        if !token.starts_with(SESSION_PREFIX) {
            return Ok(None);
        }
        let q = Sql::new(self.backend())
            .push("SELECT s.user_id, s.csrf_token FROM sessions s JOIN users u ON u.user_id = s.user_id WHERE s.token_hash = ")
            .bind(token_hash(token))
            .push(" AND s.expires_at_ms > ")
            .bind(now_ms)
            .push(" AND u.disabled_at_ms IS NULL");
        let rows = sql::query_all(&self.db, q).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let user_id = parse_user_id(&row.try_get_by_index::<String>(0)?)?;
        let csrf: String = row.try_get_by_index(1)?;
        Ok(self
            .load_user(user_id, Via::Session)
            .await?
            .map(|u| (u, csrf)))
    }

    pub async fn create_api_token(
        &self,
        user_id: UserId,
        label: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<NewApiToken, StorageError> {
        let made = NewApiToken {
            token_id: uuid::Uuid::now_v7().to_string(),
            token: random_token(API_TOKEN_PREFIX)?,
        };
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("INSERT INTO api_tokens (token_id, token_hash, user_id, label, created_at_ms) VALUES (")
            .bind(made.token_id.as_str())
            .push(", ")
            .bind(token_hash(&made.token))
            .push(", ")
            .bind(user_id.to_string())
            .push(", ")
            .bind(label)
            .push(", ")
            .bind(now_ms)
            .push(")");
        sql::execute(&write.tx, q).await?;
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "api_token.create",
            serde_json::json!({"user_id": user_id, "token_id": made.token_id, "label": label})
                .to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(made)
    }

    /// Revokes one of a user's tokens.
    pub async fn revoke_api_token(
        &self,
        user_id: UserId,
        token_id: &str,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("UPDATE api_tokens SET revoked_at_ms = ")
            .bind(now_ms)
            .push(" WHERE token_id = ")
            .bind(token_id)
            .push(" AND user_id = ")
            .bind(user_id.to_string())
            .push(" AND revoked_at_ms IS NULL");
        if sql::execute(&write.tx, q).await? == 0 {
            return Err(StorageError::NotFound(format!(
                "no active token {token_id} of this user"
            )));
        }
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "api_token.revoke",
            serde_json::json!({"user_id": user_id, "token_id": token_id}).to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    /// The user a script's bearer token belongs to.
    pub async fn token_user(&self, token: &str) -> Result<Option<AuthedUser>, StorageError> {
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Ok(None);
        }
        let q = Sql::new(self.backend())
            .push("SELECT t.user_id, t.token_id FROM api_tokens t JOIN users u ON u.user_id = t.user_id WHERE t.token_hash = ")
            .bind(token_hash(token))
            .push(" AND t.revoked_at_ms IS NULL AND u.disabled_at_ms IS NULL");
        let rows = sql::query_all(&self.db, q).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let user_id = parse_user_id(&row.try_get_by_index::<String>(0)?)?;
        self.load_user(user_id, Via::ApiToken(row.try_get_by_index(1)?))
            .await
    }

    /// A user with their scopes expanded to the municipalities they cover.
    async fn load_user(
        &self,
        user_id: UserId,
        via: Via,
    ) -> Result<Option<AuthedUser>, StorageError> {
        let backend = self.backend();
        let q = Sql::new(backend)
            .push("SELECT login, role FROM users WHERE user_id = ")
            .bind(user_id.to_string());
        let rows = sql::query_all(&self.db, q).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let login: String = row.try_get_by_index(0)?;
        let role = parse_role(&row.try_get_by_index::<String>(1)?)?;
        let q = Sql::new(backend)
            .push("SELECT scope FROM user_scopes WHERE user_id = ")
            .bind(user_id.to_string());
        let scopes: Vec<String> = sql::query_all(&self.db, q)
            .await?
            .iter()
            .map(|r| r.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        let everywhere = role == Role::Admin || scopes.iter().any(|s| s == EVERYWHERE);
        let mut municipalities = Vec::new();
        if !everywhere && !scopes.is_empty() {
            // A scope names a municipality, its rayon or its oblast: three levels, two joins.
            let mut q = Sql::new(backend).push(
                "SELECT m.code FROM territories m \
                 LEFT JOIN territories r ON r.code = m.parent_code \
                 WHERE m.level = 'municipality' AND (m.code IN ",
            );
            q.bind_list(scopes.iter().map(String::as_str));
            q.push_mut(" OR r.code IN ");
            q.bind_list(scopes.iter().map(String::as_str));
            q.push_mut(" OR r.parent_code IN ");
            q.bind_list(scopes.iter().map(String::as_str));
            q.push_mut(") ORDER BY m.code");
            for row in sql::query_all(&self.db, q).await? {
                let code: String = row.try_get_by_index(0)?;
                municipalities
                    .push(Scope::parse(code).map_err(|e| StorageError::Corrupt(e.to_string()))?);
            }
        }
        Ok(Some(AuthedUser {
            user_id,
            login,
            role,
            municipalities,
            everywhere,
            via,
        }))
    }

    pub async fn users(&self) -> Result<Vec<UserSummary>, StorageError> {
        let backend = self.backend();
        let q = Sql::new(backend).push(
            "SELECT u.user_id, u.login, u.name, u.role, u.disabled_at_ms, s.scope FROM users u \
             LEFT JOIN user_scopes s ON s.user_id = u.user_id ORDER BY u.login, s.scope",
        );
        let mut out: Vec<UserSummary> = Vec::new();
        for row in sql::query_all(&self.db, q).await? {
            let user_id = parse_user_id(&row.try_get_by_index::<String>(0)?)?;
            if out.last().is_none_or(|u| u.user_id != user_id) {
                out.push(UserSummary {
                    user_id,
                    login: row.try_get_by_index(1)?,
                    name: row.try_get_by_index(2)?,
                    role: parse_role(&row.try_get_by_index::<String>(3)?)?,
                    scopes: Vec::new(),
                    disabled: row.try_get_by_index::<Option<i64>>(4)?.is_some(),
                });
            }
            if let Some(scope) = row.try_get_by_index::<Option<String>>(5)?
                && let Some(user) = out.last_mut()
            {
                user.scopes.push(scope);
            }
        }
        Ok(out)
    }

    /// Disables a user: sessions and tokens stop working at once; what they did stays.
    pub async fn disable_user(
        &self,
        user_id: UserId,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let backend = self.backend();
        let write = self.write().await?;
        let q = Sql::new(backend)
            .push("UPDATE users SET disabled_at_ms = ")
            .bind(now_ms)
            .push(" WHERE user_id = ")
            .bind(user_id.to_string())
            .push(" AND disabled_at_ms IS NULL");
        if sql::execute(&write.tx, q).await? == 0 {
            return Err(StorageError::NotFound(format!("no enabled user {user_id}")));
        }
        let q = Sql::new(backend)
            .push("DELETE FROM sessions WHERE user_id = ")
            .bind(user_id.to_string());
        sql::execute(&write.tx, q).await?;
        audit::record(
            &write.tx,
            backend,
            now_ms,
            actor,
            "user.disable",
            serde_json::json!({"user_id": user_id}).to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(())
    }
}
