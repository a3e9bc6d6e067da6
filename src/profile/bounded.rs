//! Limits on what a profile file may make cafectl read: its size, how deep
//! its `[`/`{` nest, and the values it holds once YAML aliases are expanded.
//! serde_yaml stops deep nesting and alias chains, but only after its parser
//! has read every event, in time that grows with the square of the nesting;
//! and one large anchor named many times expands to its size times the
//! number of names, within serde_yaml's own limit.

use std::cell::Cell;
use std::fmt;
use std::io::Read as _;
use std::path::Path;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// A profile is a few kilobytes; a megabyte is a wrong file.
pub const MAX_PROFILE_BYTES: usize = 1 << 20;
/// A profile holds a few hundred values.
pub const MAX_PROFILE_VALUES: usize = 100_000;
/// serde_yaml refuses anything deeper anyway.
pub const MAX_FLOW_DEPTH: usize = 128;

/// The file's text, or `Ok(None)` when it is larger than MAX_PROFILE_BYTES
/// (read no further: `-p /dev/zero` has no end).
pub fn read_text(file: &Path) -> std::io::Result<Option<String>> {
    let mut text = String::new();
    std::fs::File::open(file)?
        .take(MAX_PROFILE_BYTES as u64 + 1)
        .read_to_string(&mut text)?;
    Ok((text.len() <= MAX_PROFILE_BYTES).then_some(text))
}

/// Whether `[` and `{` nest at most MAX_FLOW_DEPTH deep in `text`. Brackets
/// in quotes and comments do not count, as they do not for YAML's parser;
/// one in a plain scalar (`a: b[`) does, which errs on the safe side.
pub fn within_flow_depth(text: &str) -> bool {
    let mut depth = 0usize;
    let mut quote = None;
    let mut previous = '\n';
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            // As in YAML, a quote opens a string only where a value starts.
            (None, '"' | '\'') if previous.is_whitespace() || "[{,:".contains(previous) => {
                quote = Some(c)
            }
            (None, '#') if previous.is_whitespace() => {
                chars.by_ref().find(|c| *c == '\n');
            }
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return false;
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    true
}

/// Whether `text` holds at most MAX_PROFILE_VALUES values with its aliases
/// expanded. Counts without building anything; YAML errors are left to the
/// parse that follows.
pub fn within_value_limit(text: &str) -> bool {
    let seen = Cell::new(0);
    let counted = Count { seen: &seen }.deserialize(serde_yaml::Deserializer::from_str(text));
    counted.is_ok() || seen.get() <= MAX_PROFILE_VALUES
}

#[derive(Clone, Copy)]
struct Count<'a> {
    seen: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.seen.set(self.seen.get() + 1);
        if self.seen.get() > MAX_PROFILE_VALUES {
            return Err(de::Error::custom("too many values"));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    /// A tagged value (`!tag value`).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_values_with_their_aliases_expanded() {
        assert!(within_value_limit("a: [1, 2, {b: !tag c}]\n"));
        let wide = |width: usize| {
            format!(
                "a: &a [{}]\nb: [{}]\n",
                vec!["x"; width].join(", "),
                vec!["*a"; width].join(", ")
            )
        };
        assert!(within_value_limit(&wide(300)));
        assert!(!within_value_limit(&wide(400)));
        // Errors other than the limit are the parser's to report.
        assert!(within_value_limit("a: [1,"));
    }

    #[test]
    fn measures_flow_nesting_outside_quotes_and_comments() {
        let deep = |depth: usize| format!("a: {}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(within_flow_depth(&deep(MAX_FLOW_DEPTH)));
        assert!(!within_flow_depth(&deep(MAX_FLOW_DEPTH + 1)));
        let ignored = "[".repeat(MAX_FLOW_DEPTH + 1);
        for text in [
            format!("a: \"{ignored}\"\n"),
            format!("a: \"\\\"{ignored}\"\n"),
            format!("a: '{ignored}'\n"),
            format!("a: 1 # {ignored}\nb: [2]\n"),
        ] {
            assert!(within_flow_depth(&text), "{text}");
        }
        // An apostrophe inside a word opens no string.
        assert!(!within_flow_depth(&format!("a: don't {ignored}")));
    }
}
