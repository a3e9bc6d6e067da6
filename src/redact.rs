//! Secrets this run knows (a password given on the command line or in a
//! profile, one cafectl generated), so that no error message, whatever
//! produced it (an API server echoing a request, say), can print them.

use std::sync::Mutex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret to scrub from every message from now on.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    if let Ok(mut secrets) = SECRETS.lock() {
        if !secrets.iter().any(|known| known == secret) {
            secrets.push(secret.to_owned());
        }
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let mut text = text.to_owned();
    if let Ok(secrets) = SECRETS.lock() {
        for secret in secrets.iter() {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_never_reach_a_message() {
        register("s3cret-value-for-the-test");
        assert_eq!(
            scrub("the API said: invalid value \"s3cret-value-for-the-test\""),
            "the API said: invalid value \"***\""
        );
        assert_eq!(scrub("nothing to hide"), "nothing to hide");
    }
}
