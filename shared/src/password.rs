//! Password hashing with argon2id at the OWASP parameters, off the async threads.

use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// The hash of a random password that was thrown away, made by `hash` itself:
/// verifying against it gives a login for an unknown email the cost of a wrong
/// password. (A hand-made PHC string with a non-standard salt verified about
/// 10% faster, a measurable difference.)
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$6W/xYPm7SRxu1J0wZukDPQ$6wBm4KEI6Ifx6KBae06Mk0BE7PSF+5Ctuwtg5X5c0YE";

/// At most one hash per core at a time: more would not finish sooner, and each
/// holds 19 MiB that the allocator tends to keep per thread afterwards (32
/// concurrent logins grew a process past 5 GB without this).
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())))
}

async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .context("hashing slots closed")?;
    tokio::task::spawn_blocking(work)
        .await
        .context("password hashing task")
}

fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| anyhow!("argon2 params: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes with a fresh random salt into a PHC string.
pub async fn hash(password: String) -> anyhow::Result<String> {
    on_hashing_thread(move || {
        argon2()?
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow!("argon2 hash: {e}"))
    })
    .await?
}

/// True when `password` matches `stored`; with no stored hash (unknown account)
/// it does the same work and answers false.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    on_hashing_thread(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| anyhow!("stored password hash is malformed: {e}"))?;
        let matches = argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_parameters_and_verify() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery".into(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse battery".into(), Some(phc))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let a = hash("same password".into()).await.unwrap();
        let b = hash("same password".into()).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_but_costs_a_real_verification() {
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        PasswordHash::new(DUMMY_HASH).unwrap();
        assert!(!verify("anything at all".into(), None).await.unwrap());
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    fn median(mut samples: Vec<f64>) -> f64 {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    }

    #[tokio::test]
    async fn an_unknown_account_costs_what_a_known_one_costs() {
        // As the functions run: otherwise glibc's reuse of the previous hash's
        // memory, or not, decides the timing.
        crate::memory::return_large_allocations();
        let known = hash("correct horse battery staple".into()).await.unwrap();
        let (mut unknown_ms, mut known_ms) = (Vec::new(), Vec::new());
        for _ in 0..31 {
            let started = std::time::Instant::now();
            verify("wrong password".into(), None).await.unwrap();
            unknown_ms.push(started.elapsed().as_secs_f64());
            let started = std::time::Instant::now();
            verify("wrong password".into(), Some(known.clone()))
                .await
                .unwrap();
            known_ms.push(started.elapsed().as_secs_f64());
        }
        // A gross bound: what it must catch is an unknown account answered
        // without a verification (a ratio near 0), not the noise of a shared
        // machine.
        let ratio = median(unknown_ms) / median(known_ms);
        assert!(
            (0.5..=2.0).contains(&ratio),
            "unknown / known verification time: {ratio:.3}"
        );
    }
}
