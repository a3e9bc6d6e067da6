//! The Redis password: generated once, when cafectl first creates the
//! Secret, and never changed by a later apply.

use std::io::Read;

use anyhow::Context as _;

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
