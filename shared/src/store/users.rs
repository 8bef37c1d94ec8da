//! Accounts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, MySqlConnection};

use crate::domain::{Email, PersonName, Username};
use crate::store::refresh_tokens::FamilyId;

/// The caller's own account, as the contract shows it.
#[derive(Debug, Clone, Serialize, FromRow, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(serialize_with = "crate::time::serialize")]
    pub created_at: DateTime<Utc>,
    /// The session the caller's access token was issued in, when the
    /// account is the caller's.
    #[serde(skip)]
    #[sqlx(skip)]
    pub session: Option<FamilyId>,
}

/// What other users may see of an account: no email.
#[derive(Debug, Clone, Serialize, FromRow, PartialEq, Eq)]
pub struct PublicUser {
    pub id: i64,
    /// `None` only for an erased account.
    pub username: Option<String>,
    pub first_name: String,
    pub last_name: String,
}

impl From<&User> for PublicUser {
    fn from(user: &User) -> Self {
        PublicUser {
            id: user.id,
            username: Some(user.username.clone()),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
        }
    }
}

/// A user with the hash needed to check a login.
#[derive(FromRow)]
pub struct Credentials {
    #[sqlx(flatten)]
    pub user: User,
    pub password_hash: String,
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub username: &'a Username,
    pub password_hash: &'a str,
    pub first_name: &'a PersonName,
    pub last_name: &'a PersonName,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut MySqlConnection, user: &NewUser<'_>) -> Result<i64, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO users (email, username, password_hash, first_name, last_name, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(user.email.as_str())
    .bind(user.username.as_str())
    .bind(user.password_hash)
    .bind(user.first_name.as_str())
    .bind(user.last_name.as_str())
    .bind(user.created_at.naive_utc())
    .execute(&mut *conn)
    .await?;
    i64::try_from(result.last_insert_id()).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// Which of an email and a username are already taken, after a duplicate key.
pub async fn taken(
    conn: &mut MySqlConnection,
    email: &Email,
    username: &Username,
) -> Result<(bool, bool), sqlx::Error> {
    let (email_taken, username_taken): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(MAX(email = ?), 0), COALESCE(MAX(username = ?), 0) FROM users WHERE email = ? OR username = ?",
    )
    .bind(email.as_str())
    .bind(username.as_str())
    .bind(email.as_str())
    .bind(username.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok((email_taken != 0, username_taken != 0))
}

/// The account an access token names, unless it was erased or the token's
/// session (`session`, when it names one) has ended: logout, theft, a
/// password change or an erasure ends its access tokens at once, not when
/// they expire.
pub async fn find_signed_in(
    conn: &mut MySqlConnection,
    id: i64,
    session: Option<&FamilyId>,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.email, u.username, u.first_name, u.last_name, u.created_at FROM users u \
         WHERE u.id = ? AND u.erased_at IS NULL \
           AND (? OR EXISTS (SELECT 1 FROM refresh_token_families f \
                              WHERE f.id = ? AND f.user_id = u.id AND f.revoked_at IS NULL))",
    )
    .bind(id)
    .bind(session.is_none())
    .bind(session.map(|family| &family[..]))
    .fetch_optional(&mut *conn)
    .await
}

pub async fn credentials(
    conn: &mut MySqlConnection,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, username, first_name, last_name, created_at, password_hash FROM users WHERE email = ?",
    )
    .bind(email)
    .fetch_optional(&mut *conn)
    .await
}

pub async fn public_by_email(
    conn: &mut MySqlConnection,
    email: &str,
) -> Result<Vec<PublicUser>, sqlx::Error> {
    sqlx::query_as("SELECT id, username, first_name, last_name FROM users WHERE email = ?")
        .bind(email)
        .fetch_all(&mut *conn)
        .await
}

pub async fn public_by_username(
    conn: &mut MySqlConnection,
    username: &str,
) -> Result<Vec<PublicUser>, sqlx::Error> {
    sqlx::query_as("SELECT id, username, first_name, last_name FROM users WHERE username = ?")
        .bind(username)
        .fetch_all(&mut *conn)
        .await
}

/// The accounts among `ids` that exist and are not erased, by id.
pub async fn public_by_ids(
    conn: &mut MySqlConnection,
    ids: &[i64],
) -> Result<Vec<PublicUser>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = sqlx::QueryBuilder::new(
        "SELECT id, username, first_name, last_name FROM users WHERE erased_at IS NULL AND id IN (",
    );
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(") ORDER BY id");
    query.build_query_as().fetch_all(&mut *conn).await
}
