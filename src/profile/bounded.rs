//! The size of a profile file cafectl reads at most (how deep it nests and
//! how many values it expands to are the YAML reader's limits, in
//! `crate::yaml`).

use std::io::Read as _;
use std::path::Path;

/// A profile is a few kilobytes; a megabyte is a wrong file.
pub const MAX_PROFILE_BYTES: usize = 1 << 20;

/// The file's text, or `Ok(None)` when it is larger than MAX_PROFILE_BYTES
/// (read no further: `-p /dev/zero` has no end).
pub fn read_text(file: &Path) -> std::io::Result<Option<String>> {
    let mut text = String::new();
    std::fs::File::open(file)?
        .take(MAX_PROFILE_BYTES as u64 + 1)
        .read_to_string(&mut text)?;
    Ok((text.len() <= MAX_PROFILE_BYTES).then_some(text))
}
