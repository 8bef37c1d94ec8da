//! Random opaque values (refresh tokens, token ids) and their stored digests.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes drawn from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system RNG fails only when the kernel cannot supply entropy at all,
    // and then no token may be minted.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source failed");
    bytes
}

/// 256 random bits, URL-safe: a refresh token or a token id.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// What the database keeps of a refresh token: its SHA-256 digest. The token
/// carries 256 bits of entropy, so a fast hash is enough.
pub fn digest_token(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn the_digest_is_stable_and_is_not_the_token() {
        assert_eq!(digest_token("abc"), digest_token("abc"));
        assert_ne!(digest_token("abc"), digest_token("abd"));
    }
}
