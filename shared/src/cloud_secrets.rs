//! Secrets from AWS Secrets Manager, read once per cold start when the
//! deployment names them: `JWT_SECRET_ARN` stands for `JWT_SECRET`, and
//! `DB_SECRET_ARN` (an RDS-format secret) for `DATABASE_URL`.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Region};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

/// Everything but RFC 3986's unreserved characters is escaped in the URL.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The fields of an RDS database secret that a connection needs.
#[derive(Deserialize)]
struct DbSecret {
    username: String,
    password: String,
    host: Option<String>,
    port: Option<u16>,
    dbname: Option<String>,
}

fn named(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// Variables resolved from Secrets Manager, or none when no ARN is set (no
/// client is built then, so local runs and tests start as fast as before).
///
/// Lambda hands a function its region and credentials in the environment
/// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...); a client built from those alone,
/// rather than from aws-config's whole default chain, keeps the other
/// credential providers out of the binary. `AWS_ENDPOINT_URL` is honoured.
pub async fn resolve(
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<HashMap<String, String>> {
    if named(&lookup, "JWT_SECRET_ARN").is_none() && named(&lookup, "DB_SECRET_ARN").is_none() {
        return Ok(HashMap::new());
    }
    let region = named(&lookup, "AWS_REGION").context("AWS_REGION must be set to read secrets")?;
    let mut config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(crate::aws_http::client());
    if let Some(endpoint) = named(&lookup, "AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    resolve_with(&Client::from_conf(config.build()), lookup).await
}

/// As [`resolve`], with a client the caller configured.
pub async fn resolve_with(
    client: &Client,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut vars = HashMap::new();
    if let Some(arn) = named(&lookup, "JWT_SECRET_ARN") {
        vars.insert(
            "JWT_SECRET".to_string(),
            fetch(client, &arn).await.context("JWT_SECRET_ARN")?,
        );
    }
    if let Some(arn) = named(&lookup, "DB_SECRET_ARN") {
        let raw = fetch(client, &arn).await.context("DB_SECRET_ARN")?;
        // The parse error could quote the secret: say only what is wrong.
        let secret: DbSecret = serde_json::from_str(&raw).map_err(|_| {
            anyhow!("DB_SECRET_ARN: the secret is not RDS-format JSON with username, password, host, port and dbname")
        })?;
        let url = database_url(
            secret,
            named(&lookup, "DATABASE_HOST"),
            named(&lookup, "DATABASE_NAME"),
        )?;
        vars.insert("DATABASE_URL".to_string(), url);
    }
    Ok(vars)
}

async fn fetch(client: &Client, arn: &str) -> anyhow::Result<String> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "read the secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    output
        .secret_string
        .ok_or_else(|| anyhow!("the secret has no string value"))
}

/// `DATABASE_HOST` (an RDS Proxy endpoint) and `DATABASE_NAME` take the place
/// of the secret's own host and dbname when set. TLS is sqlx's default,
/// `PREFERRED`: used whenever the server offers it, as RDS and RDS Proxy do.
fn database_url(
    secret: DbSecret,
    host: Option<String>,
    name: Option<String>,
) -> anyhow::Result<String> {
    let host = host
        .or(secret.host)
        .context("DB_SECRET_ARN: no host in the secret and no DATABASE_HOST")?;
    let name = name
        .or(secret.dbname)
        .context("DB_SECRET_ARN: no dbname in the secret and no DATABASE_NAME")?;
    Ok(format!(
        "mysql://{}:{}@{}:{}/{}",
        utf8_percent_encode(&secret.username, URL_COMPONENT),
        utf8_percent_encode(&secret.password, URL_COMPONENT),
        host,
        secret.port.unwrap_or(3306),
        utf8_percent_encode(&name, URL_COMPONENT),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(password: &str) -> DbSecret {
        DbSecret {
            username: "app".into(),
            password: password.into(),
            host: Some("db.internal".into()),
            port: Some(3307),
            dbname: Some("messaging".into()),
        }
    }

    #[test]
    fn the_url_encodes_credentials() {
        let url = database_url(secret("p@ss:w/rd?"), None, None).unwrap();
        assert_eq!(
            url,
            "mysql://app:p%40ss%3Aw%2Frd%3F@db.internal:3307/messaging"
        );
    }

    #[test]
    fn a_proxy_endpoint_and_a_name_take_precedence() {
        let url = database_url(
            secret("x"),
            Some("proxy.example".into()),
            Some("other".into()),
        )
        .unwrap();
        assert_eq!(url, "mysql://app:x@proxy.example:3307/other");
    }
}
