//! Profile errors: every problem names its file (or command-line flag), the
//! line where known, and the key.

use std::fmt;

/// One thing wrong with a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file path, or the command-line override, that holds the key.
    pub origin: String,
    /// 1-based line and column in that file.
    pub position: Option<(usize, usize)>,
    /// The key path, empty when the problem is the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A profile that cannot be used; nothing is rendered or sent from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProfileError {
    pub problems: Vec<Problem>,
    /// Problems found beyond those listed.
    pub unreported: usize,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [only] if self.unreported == 0 => write!(f, "{only}"),
            problems => {
                write!(
                    f,
                    "the profile has {} problems:",
                    problems.len() + self.unreported
                )?;
                for problem in problems {
                    write!(f, "\n  {problem}")?;
                }
                if self.unreported > 0 {
                    write!(f, "\n  ... and {} more; fix these first", self.unreported)?;
                }
                Ok(())
            }
        }
    }
}

impl From<Problem> for ProfileError {
    fn from(problem: Problem) -> Self {
        ProfileError {
            problems: vec![problem],
            unreported: 0,
        }
    }
}

/// Rewrites serde's messages in the profile's own words ("key", not
/// "field"; "a whole number", not "u32") and suggests the closest key.
pub fn humanize(message: &str) -> String {
    for (prefix, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (unknown, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let candidates = backticked(expected);
            return match closest(unknown, &candidates) {
                Some(close) => format!("unknown {noun} `{unknown}`; did you mean `{close}`?"),
                None if candidates.is_empty() => {
                    format!("unknown {noun} `{unknown}`: nothing may be set here")
                }
                None => format!(
                    "unknown {noun} `{unknown}`; expected one of: {}",
                    candidates.join(", ")
                ),
            };
        }
    }
    if let Some(field) = message.strip_prefix("missing field `") {
        return format!("missing required key `{}`", field.trim_end_matches('`'));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {}, found {found}", type_name(expected));
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: integer `") {
        if let Some((value, expected)) = rest.split_once("`, expected ") {
            return format!("expected {}, found {value}", type_name(expected));
        }
    }
    message.to_owned()
}

fn type_name(serde_name: &str) -> String {
    match serde_name {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".to_owned(),
        "i8" | "i16" | "i32" | "i64" => "a whole number".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "a mapping".to_owned(),
        other if other.starts_with("struct ") => "a mapping".to_owned(),
        other if other.starts_with("enum ") => "one of the listed values".to_owned(),
        "a borrowed string" => "a string".to_owned(),
        other => other.to_owned(),
    }
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The candidate a typo most likely meant, if any is close enough.
pub fn closest(unknown: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|candidate| {
            let distance = strsim::levenshtein(&unknown.to_lowercase(), &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_key() {
        assert_eq!(
            humanize("unknown field `maxmemry`, expected one of `maxmemory`, `image`"),
            "unknown key `maxmemry`; did you mean `maxmemory`?"
        );
        assert_eq!(
            humanize("unknown field `colour`, expected `name` or `image`"),
            "unknown key `colour`; expected one of: name, image"
        );
        assert_eq!(
            humanize(
                "unknown variant `sentinal`, expected one of `standalone`, `sentinel`, `cluster`"
            ),
            "unknown value `sentinal`; did you mean `sentinel`?"
        );
    }

    #[test]
    fn names_types_in_plain_words() {
        assert_eq!(
            humanize("invalid type: string \"ten\", expected u32"),
            "expected a whole number (0 or more), found string \"ten\""
        );
        // An integer too large for 64 bits reads as a floating point number.
        assert_eq!(
            humanize("invalid type: floating point `1e23`, expected u32"),
            "expected a whole number (0 or more), found floating point `1e23`"
        );
        assert_eq!(
            humanize("missing field `maxReplicas`"),
            "missing required key `maxReplicas`"
        );
    }
}
