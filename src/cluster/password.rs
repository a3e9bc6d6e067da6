//! The Redis password: generated once, when cafectl first creates the
//! Secret, and never changed by a later apply; a password the profile gives
//! is changed in running pods in steps that keep them talking.

use std::io::Read;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;

use super::live;
use super::session::Session;
use crate::render::context::{ACCEPTED_KEY, SECRET_KEY};
use crate::render::passwords::Passwords;

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

/// How `apply` changes the password of running pods without a moment where
/// a pod sends a password another pod refuses: each state below is applied
/// and rolled out to every pod before the next.
/// 1. Every pod also accepts the new password, all still send the old one.
/// 2. Every pod sends the new one (so do apps that restart now: they read
///    the Secret) and still accepts the old one, for the apps that have not.
/// 3. With `--retire-previous-password`, when no client uses the old one:
///    only the new one is accepted.
///
/// The Secret records where a change stands, so an interrupted apply
/// continues where it stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct PasswordChange {
    /// The Secret's states to roll out in turn; the first may be the live
    /// one, whose roll an interrupted apply may have left unfinished.
    pub states: Vec<Passwords>,
    /// The password Secret's name.
    pub secret: String,
}

impl PasswordChange {
    /// The states that take the pods from `live` to `wanted`.
    pub fn plan(
        live: &Passwords,
        wanted: &str,
        retire: bool,
    ) -> Result<Vec<Passwords>, PasswordError> {
        let mut states = Vec::new();
        let mut push = |state: Passwords| {
            if states.last() != Some(&state) {
                states.push(state);
            }
        };
        // A state that accepts two passwords may not have rolled out yet.
        if live.others().next().is_some() {
            push(live.clone());
        }
        if live.sent == wanted {
            if retire {
                push(Passwords::only(wanted));
            }
            return Ok(if states.len() > 1 { states } else { Vec::new() });
        }
        if !retire && live.others().any(|other| other != wanted) {
            return Err(PasswordError::StillAcceptsAnother);
        }
        push(Passwords::sending(&live.sent, wanted));
        push(Passwords::sending(wanted, &live.sent));
        if retire {
            push(Passwords::only(wanted));
        }
        Ok(states)
    }

    /// What apply must roll out: nothing to change (None) unless the
    /// profile gives a password that the live Secret does not hold alone,
    /// or `retire` and the Secret accepts another one. Without running pods
    /// the profile's password is simply applied.
    pub async fn read(session: &Session, retire: bool) -> anyhow::Result<Option<PasswordChange>> {
        let find = |kind: &str| session.objects.iter().find(|object| object.kind == kind);
        let (Some(secret), Some(statefulset)) = (find("Secret"), find("StatefulSet")) else {
            return Ok(None);
        };
        let Some(wanted) = secret.value["stringData"][SECRET_KEY].as_str() else {
            return Ok(None);
        };
        let (secret_api, statefulset_api) = (session.api(secret)?, session.api(statefulset)?);
        let (live_secret, live_statefulset) = futures::join!(
            live::get(&secret_api, &secret.name),
            live::get(&statefulset_api, &statefulset.name)
        );
        let (Some(live_secret), Some(_)) = (live_secret?, live_statefulset?) else {
            return Ok(None);
        };
        let live_secret: Secret = serde_json::from_value(serde_json::to_value(live_secret)?)
            .context("the live Secret is not a Secret")?;
        let value = |key: &str| {
            live_secret
                .data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned())
        };
        let Some(sent) = value(SECRET_KEY) else {
            return Ok(None);
        };
        let live = Passwords::from_secret(&sent, value(ACCEPTED_KEY).as_deref());
        for password in &live.accepted {
            crate::redact::register(password);
        }
        let states = Self::plan(&live, wanted, retire).map_err(|error| {
            anyhow::anyhow!("{error} (Secret/{}/{})", session.namespace(), secret.name)
        })?;
        Ok(Some(PasswordChange {
            states: if states.is_empty() {
                vec![live]
            } else {
                states
            },
            secret: secret.name.clone(),
        }))
    }

    /// The sessions apply works through, one per state: the rendered
    /// objects with the Secret in that state and the pods carrying its
    /// checksum; without a change (None), the rendered objects once.
    pub fn steps(change: Option<&PasswordChange>, session: &Session) -> Vec<Session> {
        match change {
            Some(change) => change
                .states
                .iter()
                .map(|state| session.with_objects(state.set_in(&session.objects, &change.secret)))
                .collect(),
            None => vec![session.with_objects(session.objects.clone())],
        }
    }

    /// What step `number` does, for the progress lines.
    pub fn describe(&self, number: usize) -> &'static str {
        let state = &self.states[number];
        // Every change ends sending the profile's password.
        let wanted = &self.states[self.states.len() - 1].sent;
        if state.sent != *wanted {
            if state.accepted.contains(wanted) {
                "every pod also accepts the new password, all still send the current one"
            } else {
                "finishing the roll-out an earlier apply began"
            }
        } else if state.others().next().is_some() {
            "every pod sends the new password and still accepts the previous one"
        } else {
            "every pod accepts only the new password"
        }
    }

    /// Whether the pods end up accepting a second password.
    pub fn keeps_another(&self) -> bool {
        self.states
            .last()
            .is_some_and(|state| state.others().next().is_some())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error(
        "the running Redis pods still accept the password before the current one, and the profile \
         gives a third: a change can keep only one other password accepted. Nothing was applied. \
         Once no client uses the previous password, run `cafectl apply --retire-previous-password` \
         (it can also set the new password in the same run)"
    )]
    StillAcceptsAnother,
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "the-old-password-0123";
    const NEW: &str = "the-new-password-4567";
    const THIRD: &str = "the-third-password-89";

    fn plan(live: &Passwords, retire: bool) -> Result<Vec<Passwords>, PasswordError> {
        PasswordChange::plan(live, NEW, retire)
    }

    #[test]
    fn a_new_password_is_accepted_everywhere_before_anyone_sends_it() {
        let both = [Passwords::sending(OLD, NEW), Passwords::sending(NEW, OLD)];
        assert_eq!(plan(&Passwords::only(OLD), false).unwrap(), both);
        let mut and_retire = both.to_vec();
        and_retire.push(Passwords::only(NEW));
        assert_eq!(plan(&Passwords::only(OLD), true).unwrap(), and_retire);
    }

    #[test]
    fn an_interrupted_change_continues_where_it_stopped() {
        // Stopped after the first state was written: it is rolled out (again), then the second.
        assert_eq!(
            plan(&Passwords::sending(OLD, NEW), false).unwrap(),
            [Passwords::sending(OLD, NEW), Passwords::sending(NEW, OLD)]
        );
        // Stopped after the second: nothing more without --retire-previous-password.
        assert_eq!(plan(&Passwords::sending(NEW, OLD), false).unwrap(), []);
        // Retiring waits for the second state's roll-out first.
        assert_eq!(
            plan(&Passwords::sending(NEW, OLD), true).unwrap(),
            [Passwords::sending(NEW, OLD), Passwords::only(NEW)]
        );
        assert_eq!(plan(&Passwords::only(NEW), true).unwrap(), []);
        assert_eq!(plan(&Passwords::only(NEW), false).unwrap(), []);
    }

    #[test]
    fn a_third_password_waits_until_the_previous_one_is_retired() {
        let live = Passwords::sending(THIRD, OLD);
        assert_eq!(plan(&live, false), Err(PasswordError::StillAcceptsAnother));
        // Retiring it on the way: the previous one is dropped as the new one is added.
        assert_eq!(
            plan(&live, true).unwrap(),
            [
                live.clone(),
                Passwords::sending(THIRD, NEW),
                Passwords::sending(NEW, THIRD),
                Passwords::only(NEW)
            ]
        );
    }

    #[test]
    fn passwords_are_long_alphanumeric_and_different() {
        let first = generate().unwrap();
        let second = generate().unwrap();
        assert_eq!(first.len(), LENGTH);
        assert!(first.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(first, second);
    }
}
