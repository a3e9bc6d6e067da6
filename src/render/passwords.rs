//! What the password Secret holds: the password the pods and the apps send
//! and every password Redis accepts. Outside a password change these are
//! one password; during one, Redis accepts two (see `cluster::password`).

use serde_json::json;

use super::context::{ACCEPTED_KEY, PASSWORD_CHECKSUM_ANNOTATION, SECRET_KEY};
use super::Object;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwords {
    /// What the pods, the apps and `redis-cli` authenticate with.
    pub sent: String,
    /// Every password Redis and the sentinels accept, `sent` first.
    pub accepted: Vec<String>,
}

impl Passwords {
    pub fn only(password: &str) -> Self {
        Passwords {
            sent: password.to_owned(),
            accepted: vec![password.to_owned()],
        }
    }

    /// `sent`, and `also` accepted beside it.
    pub fn sending(sent: &str, also: &str) -> Self {
        Passwords {
            sent: sent.to_owned(),
            accepted: vec![sent.to_owned(), also.to_owned()],
        }
    }

    /// The accepted passwords besides the one sent.
    pub fn others(&self) -> impl Iterator<Item = &str> {
        self.accepted
            .iter()
            .map(String::as_str)
            .filter(|password| *password != self.sent)
    }

    /// What a Secret's `password` and `accepted-passwords` values say; a
    /// Secret without the second accepts only the first.
    pub fn from_secret(sent: &str, accepted: Option<&str>) -> Self {
        let mut passwords = Passwords::only(sent);
        for password in accepted.unwrap_or_default().split_whitespace() {
            if !passwords.accepted.iter().any(|known| known == password) {
                passwords.accepted.push(password.to_owned());
            }
        }
        passwords
    }

    /// A checksum of the passwords and the Secret's name for the pod
    /// template: a change rolls the pods, and the template never carries a
    /// password. SHA-256 over the name too, so equal passwords of two
    /// Secrets do not show as equal checksums.
    pub fn checksum(&self, secret: &str) -> String {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in std::iter::once(secret).chain(std::iter::once(self.sent.as_str())) {
            context.update(part.as_bytes());
            context.update(b"\0");
        }
        for password in &self.accepted {
            context.update(password.as_bytes());
            context.update(b"\0");
        }
        context
            .finish()
            .as_ref()
            .iter()
            .take(8)
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// `objects` with the password Secret named `secret` holding these
    /// passwords and the StatefulSet's pods carrying their checksum.
    pub fn set_in(&self, objects: &[Object], secret: &str) -> Vec<Object> {
        let mut objects = objects.to_vec();
        for object in &mut objects {
            match object.kind.as_str() {
                "Secret" if object.name == secret => {
                    object.value["stringData"] = json!({
                        SECRET_KEY: self.sent,
                        ACCEPTED_KEY: self.accepted.join(" "),
                    });
                }
                "StatefulSet" => {
                    object.value["spec"]["template"]["metadata"]["annotations"]
                        [PASSWORD_CHECKSUM_ANNOTATION] = self.checksum(secret).into();
                }
                _ => {}
            }
        }
        objects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_changes_with_every_password_and_hides_them() {
        let one = Passwords::only("first-password-0123");
        let both = Passwords::sending("first-password-0123", "second-password-456");
        let swapped = Passwords::sending("second-password-456", "first-password-0123");
        let checksums = [
            one.checksum("redis-auth"),
            both.checksum("redis-auth"),
            swapped.checksum("redis-auth"),
            one.checksum("other-auth"),
        ];
        for (index, checksum) in checksums.iter().enumerate() {
            assert_eq!(checksum.len(), 16);
            assert!(!checksum.contains("password"));
            assert!(checksums[index + 1..].iter().all(|other| other != checksum));
        }
        assert_eq!(
            one.checksum("redis-auth"),
            Passwords::only("first-password-0123").checksum("redis-auth")
        );
    }

    #[test]
    fn a_secret_without_accepted_passwords_accepts_its_password() {
        assert_eq!(
            Passwords::from_secret("current-password-01", None),
            Passwords::only("current-password-01")
        );
        let during = Passwords::from_secret(
            "current-password-01",
            Some("current-password-01 other-password-002"),
        );
        assert_eq!(
            during,
            Passwords::sending("current-password-01", "other-password-002")
        );
        assert_eq!(during.others().collect::<Vec<_>>(), ["other-password-002"]);
    }
}
