//! Values printed as block YAML: mappings indented by two, sequences at
//! their key's indentation, a string with line breaks as a `|` block, and
//! any other string plain where no YAML reader (1.1 as kubectl's, or 1.2)
//! could take it for something else, double-quoted where one could. Every
//! render prints every object, and this takes a small part of what a
//! general serializer spends on it. Debug builds read every printed text
//! back and check that it is the value printed.

use serde_json::{Map, Value};

/// `value` as a YAML document.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(1024);
    node(&mut out, value, 0, false);
    out
}

/// A document's value, or a sequence item's after its dash at `indent`: a
/// collection goes two past the dash, as does a `|` block's text.
fn node(out: &mut String, value: &Value, indent: usize, after_dash: bool) {
    let inner = if after_dash { indent + 2 } else { indent };
    match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, inner, after_dash),
        Value::Array(items) if !items.is_empty() => sequence(out, items, inner, after_dash),
        scalar => {
            self::scalar(out, scalar, indent);
            out.push('\n');
        }
    }
}

fn mapping(out: &mut String, map: &Map<String, Value>, indent: usize, after_dash: bool) {
    for (position, (key, value)) in map.iter().enumerate() {
        if position > 0 || !after_dash {
            push_indent(out, indent);
        }
        string(out, key, indent, Position::Key);
        out.push(':');
        match value {
            Value::Object(map) if !map.is_empty() => {
                out.push('\n');
                mapping(out, map, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                // A key's sequence is not indented further (as kubectl prints it).
                out.push('\n');
                sequence(out, items, indent, false);
            }
            scalar => {
                out.push(' ');
                self::scalar(out, scalar, indent);
                out.push('\n');
            }
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize, after_dash: bool) {
    for (position, item) in items.iter().enumerate() {
        if position > 0 || !after_dash {
            push_indent(out, indent);
        }
        out.push_str("- ");
        node(out, item, indent, true);
    }
}

fn push_indent(out: &mut String, indent: usize) {
    const SPACES: &str = "                                ";
    let mut left = indent;
    while left > 0 {
        let step = left.min(SPACES.len());
        out.push_str(&SPACES[..step]);
        left -= step;
    }
}

/// A scalar (or an empty collection) where the line has room for it; a
/// `|` block's lines go below, at `indent + 2`.
fn scalar(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => string(out, text, indent, Position::Value),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Position {
    Key,
    Value,
}

fn string(out: &mut String, text: &str, indent: usize, position: Position) {
    if is_plain(text, position) {
        out.push_str(text);
        return;
    }
    let written_as_block = position == Position::Value && literal_block(out, text, indent + 2);
    if !written_as_block {
        double_quoted(out, text);
    }
}

/// Words some YAML reader takes for a boolean, null or number.
const NOT_STRINGS: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
];

/// Whether `text` reads back as this very string, without quotes, in YAML
/// 1.1 and 1.2 alike. Deliberately narrow: printable ASCII, starting with
/// a letter, a digit, `/` or a `-` (an option), and never a number, date
/// or time (YAML 1.1 reads `1:30` and `2024-01-01` as those).
fn is_plain(text: &str, position: Position) -> bool {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let unsigned = match first {
        b'-' if bytes.get(1).is_some_and(|&next| next != b' ') && !text.starts_with("---") => {
            &bytes[1..]
        }
        _ if first.is_ascii_alphanumeric() || first == b'/' => bytes,
        _ => return false,
    };
    if bytes.last() == Some(&b' ')
        || !bytes.iter().all(|byte| matches!(byte, b' '..=b'~'))
        || NOT_STRINGS
            .iter()
            .any(|word| word.eq_ignore_ascii_case(text))
    {
        return false;
    }
    // A colon or a hash that would start a mapping or a comment.
    let structural = bytes.windows(2).any(|pair| pair == b": " || pair == b" #")
        || bytes.last() == Some(&b':')
        || (position == Position::Key && bytes.contains(&b':'));
    !structural && !super::could_be_a_number(unsigned)
}

/// Writes `text` as a `|` block with its lines at `body_indent` (the
/// chomping indicator keeps its trailing line breaks as they are), if a
/// block reads back exactly as `text`: lines to show, no character a block
/// cannot hold, and nothing its indentation would swallow (a first line
/// starting with a space, a line of spaces alone). Otherwise it writes
/// nothing and answers false.
fn literal_block(out: &mut String, text: &str, body_indent: usize) -> bool {
    let content = text.trim_end_matches('\n');
    if !text.contains('\n') || content.is_empty() || content.starts_with([' ', '\t', '\n']) {
        return false;
    }
    let start = out.len();
    out.push_str(match text.len() - content.len() {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    let printable_ascii = super::is_printable_ascii(content);
    for line in content.split('\n') {
        out.push('\n');
        if line.is_empty() {
            continue;
        }
        if !block_can_hold(line, printable_ascii) {
            out.truncate(start);
            return false;
        }
        push_indent(out, body_indent);
        out.push_str(line);
    }
    for _ in 1..(text.len() - content.len()) {
        out.push('\n');
    }
    true
}

/// Whether a `|` block can hold `line` (not empty) as it is; a line of
/// printable ASCII needs only its first characters looked at.
fn block_can_hold(line: &str, printable_ascii: bool) -> bool {
    if line.bytes().all(|byte| byte == b' ' || byte == b'\t') {
        return false;
    }
    printable_ascii
        || line.chars().all(|c| {
            matches!(c, '\t' | ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
                && c != '\u{FEFF}'
        })
}

fn double_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_back(value: &Value) -> String {
        let printed = to_string(value);
        let read: Value = crate::yaml::from_str(&printed).unwrap();
        assert_eq!(&read, value, "{printed}");
        printed
    }

    fn assert_quoted(text: &str) {
        let printed = read_back(&json!({ "k": text }));
        assert!(
            printed.starts_with("k: \""),
            "{text:?} printed as {printed}"
        );
    }

    #[test]
    fn prints_what_can_be_plain_plainly() {
        for text in [
            "redis",
            "cafe-cache",
            "/scripts/probe.sh",
            "7.2-alpine",
            "100m",
            "256Mi",
            "07e3b951eddc5e2e",
            "--redis.addr=redis://127.0.0.1:6379",
            "a:b",
            "x#y",
            "yes-no",
            "redis 6379",
        ] {
            assert_eq!(read_back(&json!({ "k": text })), format!("k: {text}\n"));
        }
    }

    #[test]
    fn quotes_what_some_yaml_reader_takes_for_something_else() {
        // YAML 1.1's booleans, nulls, numbers in every base, sexagesimal
        // numbers and dates; indicators; edge spaces; characters that
        // need escapes.
        for text in [
            "",
            "y",
            "N",
            "yes",
            "On",
            "OFF",
            "TRUE",
            "null",
            "~",
            "nan",
            ".inf",
            "-.5",
            "12",
            "-3",
            "0755",
            "0x1f",
            "0o17",
            "0b101",
            "1_000",
            "1e3",
            "1.5",
            "1:30",
            "2024-01-01",
            "2024-01-01T10:00:00Z",
            "-",
            "- x",
            "---",
            "...",
            "a: b",
            "a #b",
            "ends:",
            "*alias",
            "&anchor",
            "!tag",
            "@at",
            "`tick",
            "%pct",
            "[list",
            "{map",
            "|",
            ">",
            "'q",
            "\"q",
            "#c",
            "? q",
            " lead",
            "trail ",
            "tab\there",
            "bell\u{7}",
            "del\u{7f}",
            "bom\u{feff}",
            "ünïcode",
            "<<",
            "=",
        ] {
            assert_quoted(text);
        }
        assert_eq!(read_back(&json!({ "a:b": 1 })), "\"a:b\": 1\n");
    }

    #[test]
    fn prints_lines_as_blocks_that_keep_their_line_breaks() {
        assert_eq!(
            read_back(&json!({ "k": "a\n\n  b\n" })),
            "k: |\n  a\n\n    b\n"
        );
        assert_eq!(read_back(&json!({ "k": "a\nb" })), "k: |-\n  a\n  b\n");
        assert_eq!(read_back(&json!({ "k": "a\n\n" })), "k: |+\n  a\n\n");
        assert_eq!(read_back(&json!(["a\nb\n"])), "- |\n  a\n  b\n");
        // What a block would change is quoted instead.
        for text in [
            " lead\nx\n",
            "\nx\n",
            "x\n  \ny\n",
            "cr\r\nlf\n",
            "\n",
            "x\n\u{85}\n",
        ] {
            assert_quoted(text);
        }
    }

    #[test]
    fn nests_as_kubectl_prints() {
        let value = json!({
            "spec": {"containers": [{"name": "redis", "args": ["a", "b"], "env": []}], "empty": {}},
            "list": [[1, 2], {"k": null}, true, 1.5],
        });
        assert_eq!(
            read_back(&value),
            "spec:\n  containers:\n  - name: redis\n    args:\n    - a\n    - b\n    env: []\n  empty: {}\n\
             list:\n- - 1\n  - 2\n- k: null\n- true\n- 1.5\n"
        );
    }
}
