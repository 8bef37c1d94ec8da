//! Refresh tokens, stored as digests, in families: one family per login, one
//! token per rotation.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{Connection, FromRow, MySqlConnection};

use crate::store::users::User;

pub type FamilyId = [u8; 16];
pub type TokenDigest = [u8; 32];

/// The outcome of presenting a refresh token for rotation.
pub enum Rotation {
    /// The token was live; it is now spent and `user` may have a new one in
    /// the same session.
    Rotated { user: User, family: FamilyId },
    /// A spent token came back after the reuse grace: the family has been
    /// revoked.
    Reused { user_id: i64, family: FamilyId },
    /// A spent token came back within the reuse grace of its rotation (two
    /// tabs refreshing at once): refused, nothing revoked.
    AlreadyUsed,
    /// Unknown, expired, or of a revoked family.
    Invalid,
}

#[derive(FromRow)]
struct Presented {
    token_id: i64,
    family_id: Vec<u8>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    family_created_at: DateTime<Utc>,
    #[sqlx(flatten)]
    user: User,
}

/// Starts a family for a fresh login with its first token.
pub async fn start_family(
    conn: &mut MySqlConnection,
    user_id: i64,
    family: FamilyId,
    digest: TokenDigest,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("INSERT INTO refresh_token_families (id, user_id, created_at) VALUES (?, ?, ?)")
        .bind(&family[..])
        .bind(user_id)
        .bind(now.naive_utc())
        .execute(&mut *tx)
        .await?;
    insert_token(&mut tx, &family, &digest, now, expires_at).await?;
    tx.commit().await
}

async fn insert_token(
    conn: &mut sqlx::MySqlConnection,
    family: &[u8],
    digest: &TokenDigest,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO refresh_tokens (family_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)")
        .bind(family)
        .bind(&digest[..])
        .bind(now.naive_utc())
        .bind(expires_at.naive_utc())
        .execute(conn)
        .await?;
    Ok(())
}

/// Spends `presented` and stores `next` in its family, in one transaction that
/// locks the token and its family, so that a concurrent rotation or logout of
/// the same family waits for this one. A family started `max_age` or longer
/// ago is over, and `next` never outlives it.
pub async fn rotate(
    conn: &mut MySqlConnection,
    presented: &TokenDigest,
    next: &TokenDigest,
    now: DateTime<Utc>,
    ttl: TimeDelta,
    max_age: TimeDelta,
    reuse_grace: TimeDelta,
) -> Result<Rotation, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let row: Option<Presented> = sqlx::query_as(
        "SELECT t.id AS token_id, t.family_id, t.expires_at, t.used_at, f.revoked_at, \
                f.created_at AS family_created_at, \
                u.id, u.email, u.username, u.first_name, u.last_name, u.created_at \
         FROM refresh_tokens t \
         JOIN refresh_token_families f ON f.id = t.family_id \
         JOIN users u ON u.id = f.user_id AND u.erased_at IS NULL \
         WHERE t.token_hash = ? \
         FOR UPDATE",
    )
    .bind(&presented[..])
    .fetch_optional(&mut *tx)
    .await?;

    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    if row.revoked_at.is_some() {
        return Ok(Rotation::Invalid);
    }
    if let Some(used_at) = row.used_at {
        if now.signed_duration_since(used_at) < reuse_grace {
            return Ok(Rotation::AlreadyUsed);
        }
        revoke_family_in(&mut tx, &row.family_id, now).await?;
        tx.commit().await?;
        let family = FamilyId::try_from(row.family_id.as_slice()).unwrap_or_default();
        return Ok(Rotation::Reused {
            user_id: row.user.id,
            family,
        });
    }
    let session_ends = row.family_created_at + max_age;
    if row.expires_at <= now || session_ends <= now {
        return Ok(Rotation::Invalid);
    }
    let expires_at = (now + ttl).min(session_ends);
    sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE id = ?")
        .bind(now.naive_utc())
        .bind(row.token_id)
        .execute(&mut *tx)
        .await?;
    insert_token(&mut tx, &row.family_id, next, now, expires_at).await?;
    tx.commit().await?;
    let family = FamilyId::try_from(row.family_id.as_slice()).unwrap_or_default();
    Ok(Rotation::Rotated {
        user: row.user,
        family,
    })
}

async fn revoke_family_in(
    conn: &mut sqlx::MySqlConnection,
    family: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_token_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
    )
    .bind(now.naive_utc())
    .bind(family)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes the family of a presented token, if it names one.
pub async fn revoke_family_of(
    conn: &mut MySqlConnection,
    presented: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<Option<FamilyId>, sqlx::Error> {
    let family: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = ?")
            .bind(&presented[..])
            .fetch_optional(&mut *conn)
            .await?;
    let Some(family) = family else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE refresh_token_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
    )
    .bind(now.naive_utc())
    .bind(&family[..])
    .execute(&mut *conn)
    .await?;
    Ok(FamilyId::try_from(family.as_slice()).ok())
}

/// Whether a session (family) is live: not revoked, and started after
/// `started_after` (its absolute lifetime).
pub async fn is_live(
    conn: &mut MySqlConnection,
    family: &FamilyId,
    started_after: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let live: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM refresh_token_families \
         WHERE id = ? AND revoked_at IS NULL AND created_at > ?",
    )
    .bind(&family[..])
    .bind(started_after.naive_utc())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(live.is_some())
}

/// Stores a new password hash and revokes every session of the account, in
/// one transaction; returns the sessions that ended. A rotation in flight
/// holds its family's row, so it finishes first and its new token is
/// revoked with the rest.
pub async fn replace_password(
    conn: &mut MySqlConnection,
    user_id: i64,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Vec<FamilyId>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let ended = revoke_all_in(&mut tx, user_id, now).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Revokes every live session of `user_id` and returns them.
pub(crate) async fn revoke_all_in(
    conn: &mut MySqlConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<FamilyId>, sqlx::Error> {
    let live: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT id FROM refresh_token_families \
         WHERE user_id = ? AND revoked_at IS NULL FOR UPDATE",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE refresh_token_families SET revoked_at = ? \
         WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(now.naive_utc())
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(live
        .iter()
        .filter_map(|id| FamilyId::try_from(id.as_slice()).ok())
        .collect())
}
