//! The HMAC algorithms of JWTs, computed with ring for `jsonwebtoken`.
//!
//! `jsonwebtoken` computes through a process-wide provider: its own two
//! bring either aws-lc or RustCrypto's RSA, elliptic-curve and Edwards
//! crates, all for algorithms access tokens never use. ring is the crypto
//! provider of the rest of the workspace (TLS to the database and to AWS), so
//! tokens use it too. Only the HMAC family is provided: a token of any other
//! algorithm is refused before its signature is looked at, as the
//! validation pins HS256 anyway.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::hmac;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    // JWKs are not used: access tokens are signed with a shared secret.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes ring the provider of this process's JWTs; called before any token
/// is signed or checked (by [`crate::access_token::AccessTokens::new`]).
pub fn install() {
    // Only this provider is ever installed, so an earlier install is this one.
    let _ = PROVIDER.install_default();
}

fn ring_algorithm(algorithm: Algorithm) -> Result<hmac::Algorithm> {
    match algorithm {
        Algorithm::HS256 => Ok(hmac::HMAC_SHA256),
        Algorithm::HS384 => Ok(hmac::HMAC_SHA384),
        Algorithm::HS512 => Ok(hmac::HMAC_SHA512),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

struct HmacKey {
    key: hmac::Key,
    algorithm: Algorithm,
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let key = hmac::Key::new(ring_algorithm(*algorithm)?, key.as_bytes());
    Ok(Box::new(HmacKey {
        key,
        algorithm: *algorithm,
    }))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let key = hmac::Key::new(ring_algorithm(*algorithm)?, key.try_get_as_bytes()?);
    Ok(Box::new(HmacKey {
        key,
        algorithm: *algorithm,
    }))
}

impl Signer<Vec<u8>> for HmacKey {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.key, message).as_ref().to_vec())
    }
}

impl JwtSigner for HmacKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl Verifier<Vec<u8>> for HmacKey {
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        // ring compares in constant time.
        hmac::verify(&self.key, message, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for HmacKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}
