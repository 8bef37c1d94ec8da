use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::json;
use shared::domain::{Email, Password, PersonName, Username};
use shared::error::FieldErrors;
use shared::store::{self, users};
use shared::{ApiError, RequestCtx, password, respond, time};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct RegisterBody {
    email: Option<String>,
    password: Option<String>,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

struct Registration {
    email: Email,
    username: Username,
    password: Password,
    first_name: PersonName,
    last_name: PersonName,
}

impl RegisterBody {
    /// Every field is checked, so one answer names every problem.
    fn parse(self) -> Result<Registration, ApiError> {
        let mut errors = FieldErrors::new();
        const REQUIRED: &str = "This field is required.";
        let email = check(
            &mut errors,
            "email",
            self.email
                .ok_or(REQUIRED.into())
                .and_then(|e| Email::parse(&e)),
        );
        let password = check(
            &mut errors,
            "password",
            self.password
                .ok_or(REQUIRED.into())
                .and_then(Password::parse),
        );
        let first_name = check(
            &mut errors,
            "first_name",
            PersonName::parse(self.first_name.as_deref().unwrap_or("")),
        );
        let last_name = check(
            &mut errors,
            "last_name",
            PersonName::parse(self.last_name.as_deref().unwrap_or("")),
        );
        let username = match (self.username, &email) {
            (Some(raw), _) => check(&mut errors, "username", Username::parse(&raw)),
            (None, Some(email)) => check(&mut errors, "username", Username::from_email(email)),
            (None, None) => None,
        };
        match (email, username, password, first_name, last_name) {
            (Some(email), Some(username), Some(password), Some(first_name), Some(last_name))
                if errors.is_empty() =>
            {
                Ok(Registration {
                    email,
                    username,
                    password,
                    first_name,
                    last_name,
                })
            }
            _ => Err(ApiError::invalid_fields(errors)),
        }
    }
}

fn check<T>(errors: &mut FieldErrors, field: &'static str, parsed: Result<T, String>) -> Option<T> {
    parsed.map_err(|problem| errors.insert(field, problem)).ok()
}

/// `POST /api/auth/register`
pub async fn register(mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let input = ctx.json::<RegisterBody>()?.parse()?;
    // Hashed before a connection is taken: it is not held through the hash.
    let password_hash = password::hash(input.password.into_inner())
        .await
        .map_err(ApiError::internal)?;
    let conn = ctx.db.conn().await?;
    let new_user = users::NewUser {
        email: &input.email,
        username: &input.username,
        password_hash: &password_hash,
        first_name: &input.first_name,
        last_name: &input.last_name,
        created_at: time::now(),
    };
    match users::insert(conn, &new_user).await {
        Ok(user_id) => Ok(respond::created(
            &json!({"message": "User registered successfully!", "user_id": user_id}),
        )),
        Err(err) if store::is_unique_violation(&err) => {
            let (email_taken, username_taken) =
                users::taken(conn, &input.email, &input.username).await?;
            let mut fields = FieldErrors::new();
            if email_taken {
                fields.insert("email", "A user with this email already exists.".into());
            }
            if username_taken {
                fields.insert(
                    "username",
                    "A user with this username already exists.".into(),
                );
            }
            Err(ApiError::Conflict(
                "Email or username is already registered.",
                fields,
            ))
        }
        Err(err) => Err(err.into()),
    }
}
