//! The Redis password: generated once, when cafectl first creates the
//! Secret, and never changed by a later apply; a password the profile gives
//! may not change while Redis pods run on it.

use std::io::Read;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;

use super::live;
use super::session::Session;
use crate::render::context::SECRET_KEY;

const LENGTH: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// 32 letters and digits from the kernel's random source (about 190 bits),
/// safe in a redis.conf line without quoting.
pub fn generate() -> anyhow::Result<String> {
    let mut random = std::fs::File::open("/dev/urandom").context("cannot open /dev/urandom")?;
    let mut password = String::with_capacity(LENGTH);
    let mut byte = [0u8; 1];
    while password.len() < LENGTH {
        random
            .read_exact(&mut byte)
            .context("cannot read /dev/urandom")?;
        // Rejection sampling: only bytes below a multiple of the alphabet
        // size, so every character is equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            password.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(password)
}

/// Refuses, before anything is applied, a profile whose password differs
/// from the one in the live Secret while the StatefulSet runs on it: the
/// pods read the mounted Secret again within a minute (their probes would
/// then fail against a Redis started with the old one), and pods restarted
/// with the new password would be refused by those still on the old one.
/// Rolling a new password through running pods is not built yet.
pub async fn refuse_a_change(session: &Session) -> anyhow::Result<()> {
    let find = |kind: &str| session.objects.iter().find(|object| object.kind == kind);
    let (Some(secret), Some(statefulset)) = (find("Secret"), find("StatefulSet")) else {
        return Ok(());
    };
    let Some(wanted) = secret.value["stringData"][SECRET_KEY].as_str() else {
        return Ok(());
    };
    let (secret_api, statefulset_api) = (session.api(secret)?, session.api(statefulset)?);
    let (live_secret, live_statefulset) = futures::join!(
        live::get(&secret_api, &secret.name),
        live::get(&statefulset_api, &statefulset.name)
    );
    let (Some(live_secret), Some(_)) = (live_secret?, live_statefulset?) else {
        return Ok(());
    };
    let live_secret: Secret = serde_json::from_value(serde_json::to_value(live_secret)?)
        .context("the live Secret is not a Secret")?;
    let current = live_secret
        .data
        .as_ref()
        .and_then(|data| data.get(SECRET_KEY));
    match current {
        Some(current) if current.0 != wanted.as_bytes() => anyhow::bail!(
            "redis.auth.password differs from the password in {secret}, which the running Redis pods use: \
             cafectl cannot change the password of running pods yet (the pods would reject each other until \
             every one had restarted). Nothing was applied. Keep the current password; or `cafectl teardown` \
             (the data volumes stay) and apply again with the new one."
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_different() {
        let first = generate().unwrap();
        let second = generate().unwrap();
        assert_eq!(first.len(), LENGTH);
        assert!(first.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(first, second);
    }
}
