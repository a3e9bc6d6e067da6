//! YAML in and out. serde-saphyr (serde_yaml is no longer maintained;
//! kube builds serde-saphyr in already) reads YAML and says what is wrong
//! with it; plain block YAML, as templates and profiles are written, is
//! read by [`block`], and YAML is printed by [`print`], both many times
//! quicker. Values are `serde_json::Value`, whose maps keep their order
//! (serde_json's `preserve_order`), so a printed object keeps the order of
//! its fields.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::MessageFormatter as _;

pub(crate) mod block;
mod print;

/// The most values a YAML text may hold, aliases expanded: a profile holds
/// a few hundred, a template's output a few thousand.
pub const MAX_VALUES: usize = 100_000;
/// How deep collections may nest; a profile is a few levels deep.
pub const MAX_DEPTH: usize = 64;

/// How cafectl reads YAML: YAML 1.2's booleans (`yes` and `on` stay
/// strings), numbers with leading zeros or underscores kept as text (as
/// serde_yaml read them, so a profile means what it meant), and limits
/// that stop an alias bomb or deep nesting early.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
        // The count of values, not a ratio of aliases to anchors, decides.
        budget: serde_saphyr::budget! {
            max_nodes: MAX_VALUES,
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            enforce_alias_anchor_ratio: false,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_VALUES,
        },
    }
}

/// One YAML document as `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(YamlError::from)
}

/// Every document of `text` that is not empty. Text that keeps to the
/// block YAML cafectl's templates write is read quickly (see [`block`]).
pub fn documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let documents = match block::documents(text) {
        Some(documents) => {
            debug_assert_eq!(
                Some(filled(documents.clone())),
                fully_read(text).ok().map(filled),
                "the quick reader disagrees with the full parser on:\n{text}"
            );
            documents
        }
        None => fully_read(text)?,
    };
    Ok(filled(documents))
}

fn fully_read(text: &str) -> Result<Vec<Value>, YamlError> {
    serde_saphyr::from_multiple_with_options(text, options()).map_err(YamlError::from)
}

fn filled(documents: Vec<Value>) -> Vec<Value> {
    documents
        .into_iter()
        .filter(|document| !document.is_null())
        .collect()
}

/// Whether a plain scalar starting with `bytes` (after a sign) could be
/// read as a number, date or time by some YAML (1.1 reads `1:30` and
/// `2024-01-01` as those): digits with `.` `_` `:` and exponents, a radix
/// prefix, or `YYYY-`. `100m` and `7.2-alpine` could not.
fn could_be_a_number(bytes: &[u8]) -> bool {
    match bytes {
        [b'.', ..] => true,
        [first, ..] if !first.is_ascii_digit() => false,
        [b'0', b'x' | b'X' | b'o' | b'O' | b'b' | b'B', ..] => true,
        [a, b, c, d, b'-', ..] if [a, b, c, d].iter().all(|byte| byte.is_ascii_digit()) => true,
        _ => bytes.iter().all(|byte| b"0123456789_.:+-eE".contains(byte)),
    }
}

/// Whether `text` is tabs, line breaks and printable ASCII alone, as most
/// text is (the rest needs its characters looked at). Checked a chunk at a
/// time without stopping inside one, which compiles to a few vector
/// instructions per chunk: whole scripts pass through here.
fn is_printable_ascii(text: &str) -> bool {
    text.as_bytes().chunks(32).all(|chunk| {
        chunk.iter().fold(true, |printable, &byte| {
            printable & (byte == b'\t' || byte == b'\n' || (b' '..=b'~').contains(&byte))
        })
    })
}

/// Whether `number`, read from the scalar `written`, is an integer beyond
/// 64 bits that the parser could only read as a floating point number,
/// rounded (a number that would pass for another).
pub fn is_rounded_integer(number: &serde_json::Number, written: &str) -> bool {
    let digits = written.trim_start_matches(['-', '+']);
    number.is_f64() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `value` as block YAML; a string with line breaks as a `|` block, any
/// other on one line however long (see [`print`]).
pub fn to_string(value: &Value) -> String {
    let printed = print::to_string(value);
    debug_assert_eq!(
        from_str::<Value>(&printed).ok().as_ref(),
        Some(value),
        "does not read back as it was:\n{printed}"
    );
    printed
}

/// A YAML text that could not be read: what is wrong, and where (1-based
/// line and column) when the parser knows.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub position: Option<(usize, usize)>,
    /// The key path the error is about, where one is known.
    pub key: Option<String>,
    pub message: String,
    /// A limit of [`options`] was reached rather than a syntax error.
    pub too_large: bool,
}

/// Which limit of [`options`] `error` is, in words, if it is one.
fn limit_reached(error: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach;
    use serde_saphyr::Error;
    let too_deep = || format!("nests more than {MAX_DEPTH} levels deep");
    match error {
        Error::AliasError { error, .. } => limit_reached(error),
        Error::Budget {
            breach: BudgetBreach::Depth { .. },
            ..
        }
        | Error::AliasReplayStackDepthExceeded { .. } => Some(too_deep()),
        // The parser's own limit on `[`/`{` nesting, known by its words.
        _ if error.to_string().contains("recursion limit exceeded") => Some(too_deep()),
        Error::Budget { .. } | Error::AliasReplayLimitExceeded { .. } => Some(format!(
            "holds more than {MAX_VALUES} values once its YAML aliases are expanded"
        )),
        _ => None,
    }
}

impl From<serde_saphyr::Error> for YamlError {
    fn from(error: serde_saphyr::Error) -> YamlError {
        let error = error.without_snippet();
        let position = error
            .location()
            .filter(|location| location.line() > 0)
            .map(|location| (location.line() as usize, location.column() as usize));
        if let Some(message) = limit_reached(error) {
            return YamlError {
                position,
                key: None,
                message,
                too_large: true,
            };
        }
        // Words for users (the default ones advise on the parser's
        // options); the position is printed in front of the file's name.
        let message = serde_saphyr::UserMessageFormatter.format_message(error);
        YamlError {
            position,
            key: None,
            message: message.into_owned(),
            too_large: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_yaml_1_2_and_keeps_number_like_text() {
        let value: Value =
            from_str("a: yes\nb: 0755\nc: 1_000\nd: true\ne: 12\nf: ~\ng: '5'\n").unwrap();
        assert_eq!(
            value,
            json!({"a": "yes", "b": "0755", "c": "1_000", "d": true, "e": 12, "f": null, "g": "5"})
        );
    }

    #[test]
    fn prints_blocks_quotes_what_would_read_back_differently_and_keeps_order() {
        let value =
            json!({"z": "multi\nline\n", "a": "yes", "n": "12", "long": "x".repeat(120), "y": 1});
        let printed = to_string(&value);
        assert_eq!(
            printed,
            format!(
                "z: |\n  multi\n  line\na: \"yes\"\n\"n\": \"12\"\nlong: {}\n\"y\": 1\n",
                "x".repeat(120)
            )
        );
        assert_eq!(from_str::<Value>(&printed).unwrap(), value);
    }

    #[test]
    fn an_error_says_where_and_what_once() {
        let error = from_str::<Value>("a: 1\na: 2\n").unwrap_err();
        assert_eq!(error.position, Some((2, 1)));
        assert_eq!(
            error.message,
            "duplicate mapping key `a` is not allowed here"
        );
        assert!(!error.too_large);
    }

    #[test]
    fn counts_values_with_their_aliases_expanded_and_stops_deep_nesting() {
        let wide = |width: usize| {
            format!(
                "a: &a [{}]\nb: [{}]\n",
                vec!["x"; width].join(", "),
                vec!["*a"; width].join(", ")
            )
        };
        assert!(from_str::<Value>(&wide(300)).is_ok());
        let error = from_str::<Value>(&wide(400)).unwrap_err();
        assert_eq!(
            (error.message.as_str(), error.too_large),
            (
                "holds more than 100000 values once its YAML aliases are expanded",
                true
            )
        );
        let deep = |depth: usize| format!("a: {}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(from_str::<Value>(&deep(MAX_DEPTH - 2)).is_ok());
        // Refused at once, however deep.
        let error = from_str::<Value>(&deep(1 << 20)).unwrap_err();
        assert_eq!(error.message, "nests more than 64 levels deep");
    }

    #[test]
    fn several_documents_leave_out_empty_ones() {
        let documents = documents("a: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(documents, [json!({"a": 1}), json!({"b": 2})]);
    }
}
