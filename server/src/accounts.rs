//! Passwords and sign-in. Argon2 is slow on purpose, so it runs on the blocking pool, never on
//! the async workers that serve phones.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::access::{Role, UserId};
use crate::storage::{NewSession, NewUser, Storage, StorageError};

/// Shortest password accepted; long passphrases beat composition rules.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// How long a web session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("unknown login or wrong password")]
    BadCredentials,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn new_salt() -> Result<SaltString, AccountError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AccountError::Hashing(e.to_string()))?;
    SaltString::encode_b64(&bytes).map_err(|e| AccountError::Hashing(e.to_string()))
}

pub async fn hash_password(password: String) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword);
    }
    tokio::task::spawn_blocking(move || {
        let salt = new_salt()?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
}

/// `None` checks against the decoy, and answers false.
async fn verify_password(password: String, hash: Option<String>) -> Result<bool, AccountError> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| decoy_hash().to_owned());
        let parsed = PasswordHash::new(&hash).map_err(|e| AccountError::Hashing(e.to_string()))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known)
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
}

/// A hash of nothing anyone knows, verified when the login is unknown so that an unknown login
/// and a wrong password take the same time and cannot be told apart.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        new_salt()
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(b"decoy password nobody has", &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| AccountError::Hashing(e.to_string()))
            })
            .unwrap_or_default()
    })
}

pub struct CreateUser {
    pub login: String,
    pub name: String,
    pub role: Role,
    pub scopes: Vec<String>,
    pub password: String,
}

pub async fn create_user(
    storage: &Storage,
    user: CreateUser,
    actor: &str,
    now_ms: i64,
) -> Result<UserId, AccountError> {
    let password_hash = hash_password(user.password).await?;
    let new = NewUser {
        login: &user.login,
        name: &user.name,
        role: user.role,
        scopes: &user.scopes,
        password_hash,
    };
    Ok(storage.create_user(&new, actor, now_ms).await?)
}

/// Checks a login and password and opens a session.
pub async fn sign_in(
    storage: &Storage,
    login: &str,
    password: &str,
    now_ms: i64,
) -> Result<NewSession, AccountError> {
    // No login holds a NUL byte, and PostgreSQL would refuse to look one up.
    let credentials = if login.contains('\0') {
        None
    } else {
        storage.credentials(login).await?
    };
    let (user_id, hash) = match credentials {
        Some(c) => (Some(c.user_id), Some(c.password_hash)),
        None => (None, None),
    };
    let ok = verify_password(password.to_owned(), hash).await?;
    match user_id {
        Some(user_id) if ok => Ok(storage
            .create_session(user_id, SESSION_TTL_MS, now_ms)
            .await?),
        _ => Err(AccountError::BadCredentials),
    }
}
