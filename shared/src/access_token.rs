//! Access tokens: HS256 JWTs with every claim the contract names, checked
//! against a pinned algorithm, issuer, audience and token type.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::config::TokenConfig;
use crate::secret;
use crate::store::refresh_tokens::FamilyId;

const ALGORITHM: Algorithm = Algorithm::HS256;
const TOKEN_TYPE: &str = "access";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// Keeps a token minted for another purpose from passing as an access token.
    pub typ: String,
    /// The session (refresh-token family) the token was issued in, as hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What a valid access token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub user_id: i64,
    pub session: Option<FamilyId>,
}

/// Why a presented token was refused. Clients get one answer for all of them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token rejected: {0}")]
    Rejected(String),
    #[error("token is not an access token")]
    WrongType,
    #[error("token subject is not a user id")]
    BadSubject,
    #[error("token session is not a session id")]
    BadSession,
}

/// Keys and rules built once per cold start.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl AccessTokens {
    pub fn new(config: &TokenConfig) -> Self {
        crate::token_crypto::install();
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        // Tokens are minted and checked by the same fleet; no clock skew to forgive.
        validation.leeway = 0;
        AccessTokens {
            encoding: EncodingKey::from_secret(&config.secret),
            decoding: DecodingKey::from_secret(&config.secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user_id: i64,
        session: Option<FamilyId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let iat = now.timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            exp: iat + i64::try_from(self.ttl.as_secs())?,
            iat,
            nbf: iat,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: secret::random_token(),
            typ: TOKEN_TYPE.into(),
            sid: session.map(|id| hex(&id)),
        };
        Ok(encode(&Header::new(ALGORITHM), &claims, &self.encoding)?)
    }

    /// The user (and session) of a valid access token.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        if data.claims.typ != TOKEN_TYPE {
            return Err(TokenError::WrongType);
        }
        let user_id = data
            .claims
            .sub
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or(TokenError::BadSubject)?;
        let session = data
            .claims
            .sid
            .map(|sid| parse_hex(&sid).ok_or(TokenError::BadSession))
            .transpose()?;
        Ok(Verified { user_id, session })
    }
}

/// A session id as tokens and logs carry it.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(raw: &str) -> Option<FamilyId> {
    if raw.len() != 32 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut id = FamilyId::default();
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn config() -> TokenConfig {
        TokenConfig {
            secret: b"0123456789abcdef0123456789abcdef".to_vec(),
            issuer: "messaging-api".into(),
            audience: "messaging-api".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            session_max_age: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
        }
    }

    fn claims(now: i64) -> Claims {
        Claims {
            sub: "7".into(),
            exp: now + 60,
            iat: now,
            nbf: now,
            iss: "messaging-api".into(),
            aud: "messaging-api".into(),
            jti: "j".into(),
            typ: "access".into(),
            sid: None,
        }
    }

    fn sign(claims: &Claims, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_token_verifies_to_its_user() {
        let tokens = AccessTokens::new(&config());
        let session = [7u8; 16];
        let token = tokens.issue(42, Some(session), Utc::now()).unwrap();
        assert_eq!(
            tokens.verify(&token),
            Ok(Verified {
                user_id: 42,
                session: Some(session)
            })
        );
    }

    #[test]
    fn an_issued_token_carries_every_claim() {
        let token = AccessTokens::new(&config())
            .issue(42, None, Utc::now())
            .unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        for claim in ["sub", "exp", "iat", "nbf", "iss", "aud", "jti", "typ"] {
            assert!(claims.get(claim).is_some(), "missing {claim} in {claims}");
        }
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            900
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let now = Utc::now().timestamp();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now)).unwrap());
        let token = format!("{header}.{payload}.");
        assert!(AccessTokens::new(&config()).verify(&token).is_err());
    }

    #[test]
    fn another_hmac_algorithm_is_refused_even_with_the_right_key() {
        let now = Utc::now().timestamp();
        let token = encode(
            &Header::new(Algorithm::HS512),
            &claims(now),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(AccessTokens::new(&config()).verify(&token).is_err());
    }

    #[test]
    fn a_wrong_signature_is_refused() {
        let now = Utc::now().timestamp();
        let token = sign(&claims(now), b"another-secret-another-secret-xx");
        assert!(AccessTokens::new(&config()).verify(&token).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let now = Utc::now().timestamp();
        let mut c = claims(now - 1000);
        c.exp = now - 1;
        assert!(
            AccessTokens::new(&config())
                .verify(&sign(&c, SECRET))
                .is_err()
        );
    }

    #[test]
    fn not_yet_valid_tokens_are_refused() {
        let now = Utc::now().timestamp();
        let mut c = claims(now);
        c.nbf = now + 120;
        assert!(
            AccessTokens::new(&config())
                .verify(&sign(&c, SECRET))
                .is_err()
        );
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let now = Utc::now().timestamp();
        let mut c = claims(now);
        c.iss = "someone-else".into();
        assert!(
            AccessTokens::new(&config())
                .verify(&sign(&c, SECRET))
                .is_err()
        );
        let mut c = claims(now);
        c.aud = "someone-else".into();
        assert!(
            AccessTokens::new(&config())
                .verify(&sign(&c, SECRET))
                .is_err()
        );
    }

    #[test]
    fn a_token_of_another_type_is_refused() {
        let mut c = claims(Utc::now().timestamp());
        c.typ = "refresh".into();
        assert_eq!(
            AccessTokens::new(&config()).verify(&sign(&c, SECRET)),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn a_subject_that_is_not_a_user_id_is_refused() {
        let mut c = claims(Utc::now().timestamp());
        c.sub = "admin".into();
        assert_eq!(
            AccessTokens::new(&config()).verify(&sign(&c, SECRET)),
            Err(TokenError::BadSubject)
        );
    }

    #[test]
    fn a_token_missing_a_claim_is_refused() {
        let now = Utc::now().timestamp();
        let payload = serde_json::json!({"sub": "7", "exp": now + 60, "iat": now, "nbf": now, "iss": "messaging-api", "typ": "access", "jti": "j"});
        let token = encode(
            &Header::new(Algorithm::HS256),
            &payload,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(AccessTokens::new(&config()).verify(&token).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        for token in ["", "x", "a.b.c", "not a token at all"] {
            assert!(
                AccessTokens::new(&config()).verify(token).is_err(),
                "{token}"
            );
        }
    }

    #[test]
    fn a_session_claim_that_is_not_a_session_id_is_refused() {
        let mut c = claims(Utc::now().timestamp());
        c.sid = Some("not-hex".into());
        assert_eq!(
            AccessTokens::new(&config()).verify(&sign(&c, SECRET)),
            Err(TokenError::BadSession)
        );
    }
}
