//! A quick reader for the plain block YAML that cafectl's templates (and
//! its shipped profiles) are written in: `key: value` mappings, `- `
//! sequences, `|` blocks, quoted strings, and flow collections on one line
//! (`tojson`'s JSON, or `{cpu: 100m}`). Rendering reads a template's
//! whole output every time, and a general YAML parser spends most of
//! `render`'s time on it; this reads the same text in a small part of that.
//!
//! It answers only where it is sure of the meaning. Anything else (anchors,
//! tags, folded or multi-line scalars, numbers other than plain integers,
//! words YAML 1.1 read as booleans, duplicate keys, odd indentation) is
//! `None`, and the caller reads the text with the full parser, which also
//! gives the error where the text is wrong. Debug builds check that both
//! readers agree wherever this one answers.

use serde_json::{Map, Value};

/// Every document of `text` (empty ones as `Null`), or `None` where the text
/// strays outside what this reader is sure of.
pub fn documents(text: &str) -> Option<Vec<Value>> {
    let mut documents = Vec::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_end() == "---" {
            documents.push(Document::new(std::mem::take(&mut lines)).read()?);
            continue;
        }
        if line.starts_with("---")
            || line.starts_with("...")
            || line.starts_with('%')
            || !is_printable(line)
        {
            return None;
        }
        lines.push(line);
    }
    documents.push(Document::new(lines).read()?);
    Some(documents)
}

struct Document<'a> {
    lines: Vec<&'a str>,
    /// The next line to read.
    next: usize,
    /// The rest of a line read in part: a mapping that starts after `- `,
    /// with the column it starts at.
    pending: Option<(usize, &'a str)>,
    /// Collections open around the one being read.
    depth: usize,
}

/// How deep this reader nests collections: well within the full parser's
/// limit, which then refuses deeper texts with its own words.
const DEEPEST: usize = super::MAX_DEPTH / 2;

impl<'a> Document<'a> {
    fn new(lines: Vec<&'a str>) -> Self {
        Document {
            lines,
            next: 0,
            pending: None,
            depth: 0,
        }
    }

    fn read(mut self) -> Option<Value> {
        let Some((indent, _)) = self.peek()? else {
            return Some(Value::Null);
        };
        let root = self.collection(indent)?;
        // Anything after the root collection is less indented: not ours.
        match self.peek()? {
            None => Some(root),
            Some(_) => None,
        }
    }

    /// The next line that holds a node (not blank, not a comment), as its
    /// indentation and content; `Some(None)` at the end, `None` for a tab
    /// in the indentation.
    fn peek(&mut self) -> Option<Option<(usize, &'a str)>> {
        if let Some(pending) = self.pending {
            return Some(Some(pending));
        }
        while let Some(line) = self.lines.get(self.next) {
            let content = line.trim_start_matches(' ');
            if content.starts_with('\t') {
                return None;
            }
            let content = content.trim_end();
            if !content.is_empty() && !content.starts_with('#') {
                return Some(Some((
                    line.len() - line.trim_start_matches(' ').len(),
                    content,
                )));
            }
            self.next += 1;
        }
        Some(None)
    }

    fn advance(&mut self) {
        if self.pending.take().is_none() {
            self.next += 1;
        }
    }

    /// The mapping or sequence whose first line is the next one, at `indent`.
    fn collection(&mut self, indent: usize) -> Option<Value> {
        match self.peek()? {
            Some((_, content)) if is_sequence_entry(content) => self.sequence(indent),
            Some(_) => self.mapping(indent),
            None => None,
        }
    }

    fn sequence(&mut self, indent: usize) -> Option<Value> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(content) = self.entry(indent, true)? {
            let after_dash = &content[1..];
            let rest = after_dash.trim_start_matches(' ');
            let item = if rest.is_empty() || rest.starts_with('#') {
                self.nested(indent, false)?
            } else if is_sequence_entry(rest) {
                return None;
            } else if mapping_key(rest).is_some() {
                let column = indent + 1 + after_dash.len() - rest.len();
                self.pending = Some((column, rest));
                self.mapping(column)?
            } else {
                self.inline(rest, indent)?
            };
            items.push(item);
        }
        self.depth -= 1;
        Some(Value::Array(items))
    }

    fn mapping(&mut self, indent: usize) -> Option<Value> {
        self.enter()?;
        let mut map = Map::new();
        while let Some(content) = self.entry(indent, false)? {
            let (key, rest) = mapping_key(content)?;
            let value = if rest.is_empty() || rest.starts_with('#') {
                self.nested(indent, true)?
            } else {
                self.inline(rest, indent)?
            };
            // A repeated key is an error: the full parser says so.
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        self.depth -= 1;
        Some(Value::Object(map))
    }

    /// One more collection open; `None` beyond [`DEEPEST`].
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= DEEPEST).then_some(())
    }

    /// The content of the next entry of the sequence (a `- ` line) or
    /// mapping at `indent`, read; `Some(None)` where the collection ends;
    /// `None` for a line indented more than its siblings.
    fn entry(&mut self, indent: usize, sequence: bool) -> Option<Option<&'a str>> {
        match self.peek()? {
            Some((column, content))
                if column == indent && is_sequence_entry(content) == sequence =>
            {
                self.advance();
                Some(Some(content))
            }
            Some((column, _)) if column > indent => None,
            _ => Some(None),
        }
    }

    /// The value of an entry with nothing after its `key:` or `-`: a
    /// collection on the lines below, more indented (a mapping's value may
    /// also be a sequence at the key's own indentation), or null.
    fn nested(&mut self, indent: usize, sequence_may_align: bool) -> Option<Value> {
        match self.peek()? {
            Some((column, _)) if column > indent => self.collection(column),
            Some((column, content))
                if column == indent && sequence_may_align && is_sequence_entry(content) =>
            {
                self.sequence(indent)
            }
            _ => Some(Value::Null),
        }
    }

    /// A value written on the line of its key or dash; `indent` is that
    /// collection's, which a `|` block's lines must exceed.
    fn inline(&mut self, text: &str, indent: usize) -> Option<Value> {
        match text.as_bytes()[0] {
            b'"' | b'\'' => {
                let (value, rest) = quoted(text)?;
                only_comment_after(rest).then_some(Value::String(value))
            }
            b'{' | b'[' => {
                // JSON (what `tojson` writes), else YAML's flow style.
                let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
                let (value, end) = match values.next() {
                    Some(Ok(value)) => (value, values.byte_offset()),
                    _ => {
                        let mut flow = Flow {
                            text,
                            at: 0,
                            depth: self.depth,
                        };
                        (flow.value()?, flow.at)
                    }
                };
                only_comment_after(&text[end..]).then_some(value)
            }
            b'|' => {
                let chomping = match text[1..].trim_end() {
                    "" => Chomping::Clip,
                    "-" => Chomping::Strip,
                    "+" => Chomping::Keep,
                    _ => return None,
                };
                self.literal(indent, chomping).map(Value::String)
            }
            _ => plain_scalar(text),
        }
    }

    /// The lines of a `|` block, more indented than `indent`.
    fn literal(&mut self, indent: usize, chomping: Chomping) -> Option<String> {
        let mut block_indent = None;
        let mut text = String::new();
        while let Some(line) = self.lines.get(self.next) {
            let spaces = line.len() - line.trim_start_matches(' ').len();
            let blank = spaces == line.len();
            match block_indent {
                // A blank line more indented than the text after it, or
                // one with spaces beyond the text's indentation: rules
                // this reader leaves to the full parser.
                _ if blank && spaces > block_indent.unwrap_or(indent + 1) => return None,
                _ if blank => {}
                None if spaces > indent => block_indent = Some(spaces),
                Some(block) if spaces >= block => {}
                _ => break,
            }
            if let Some(block) = block_indent {
                text.push_str(line.get(block..).unwrap_or(""));
            }
            text.push('\n');
            self.next += 1;
        }
        // Only blank lines: an empty text (which no template writes).
        block_indent?;
        match chomping {
            Chomping::Keep => {}
            Chomping::Clip | Chomping::Strip => {
                text.truncate(text.trim_end_matches('\n').len());
                if chomping == Chomping::Clip {
                    text.push('\n');
                }
            }
        }
        Some(text)
    }
}

/// A flow collection on one line, `{cpu: 100m, memory: 128Mi}` or
/// `[a, "b"]`, read from `at`.
struct Flow<'a> {
    text: &'a str,
    at: usize,
    /// Collections open around the one being read, block ones included.
    depth: usize,
}

impl Flow<'_> {
    fn value(&mut self) -> Option<Value> {
        self.skip_spaces();
        let rest = &self.text[self.at..];
        match *rest.as_bytes().first()? {
            b'{' => self.collection(b'}'),
            b'[' => self.collection(b']'),
            b'"' | b'\'' => {
                let (value, after) = quoted(rest)?;
                self.at += rest.len() - after.len();
                Some(Value::String(value))
            }
            _ => {
                // A plain scalar ends at a flow indicator, a `: ` or a comment.
                let bytes = rest.as_bytes();
                let end = (0..bytes.len())
                    .find(|&index| match bytes[index] {
                        b',' | b'[' | b']' | b'{' | b'}' => true,
                        b':' => matches!(bytes.get(index + 1), Some(b' ')),
                        b'#' => index > 0 && bytes[index - 1] == b' ',
                        _ => false,
                    })
                    .unwrap_or(bytes.len());
                self.at += end;
                let token = rest[..end].trim_end();
                if token.is_empty() {
                    return None;
                }
                plain_scalar(token)
            }
        }
    }

    /// A mapping (`{`, up to `close`) or a sequence (`[`).
    fn collection(&mut self, close: u8) -> Option<Value> {
        self.depth += 1;
        if self.depth > DEEPEST {
            return None;
        }
        self.at += 1;
        let mut map = Map::new();
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.text.as_bytes().get(self.at) == Some(&close) {
                self.at += 1;
                self.depth -= 1;
                return Some(if close == b'}' {
                    Value::Object(map)
                } else {
                    Value::Array(items)
                });
            }
            let value = self.value()?;
            if close == b'}' {
                let Value::String(key) = value else {
                    return None;
                };
                self.skip_spaces();
                if self.text.as_bytes().get(self.at) != Some(&b':') {
                    return None;
                }
                self.at += 1;
                let value = self.value()?;
                if map.insert(key, value).is_some() {
                    return None;
                }
            } else {
                items.push(value);
            }
            self.skip_spaces();
            match self.text.as_bytes().get(self.at) {
                Some(b',') => self.at += 1,
                Some(&byte) if byte == close => {}
                _ => return None,
            }
        }
    }

    fn skip_spaces(&mut self) {
        while self.text.as_bytes().get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Chomping {
    Clip,
    Strip,
    Keep,
}

/// Whether `line` holds only characters YAML allows in a text (a lone
/// carriage return, which YAML reads as a line break, is not one of them).
fn is_printable(line: &str) -> bool {
    super::is_printable_ascii(line)
        || line.chars().all(|c| {
            matches!(c, '\t' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        })
}

fn is_sequence_entry(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// `key: rest` as the key and what follows its colon, if `content` starts
/// with a key this reader is sure is a string.
fn mapping_key(content: &str) -> Option<(String, &str)> {
    let (key, after_key) = if content.starts_with('"') {
        quoted(content)?
    } else {
        let length = content
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-' | b'_')))
            .unwrap_or(content.len());
        let key = &content[..length];
        if !key.starts_with(|c: char| c.is_ascii_alphabetic()) || is_other_than_string(key) {
            return None;
        }
        (key.to_owned(), &content[length..])
    };
    let rest = after_key.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

/// The quoted string `text` starts with, and the text after it: a
/// double-quoted one on one line with JSON's escapes (which mean the same
/// in YAML; YAML's others are left to the full parser), or a single-quoted
/// one (`''` is a quote).
fn quoted(text: &str) -> Option<(String, &str)> {
    if text.starts_with('"') {
        return double_quoted(text);
    }
    let mut value = String::new();
    let mut rest = &text[1..];
    loop {
        let quote = rest.find('\'')?;
        value.push_str(&rest[..quote]);
        rest = &rest[quote + 1..];
        match rest.strip_prefix('\'') {
            Some(after) => {
                value.push('\'');
                rest = after;
            }
            None => return Some((value, rest)),
        }
    }
}

/// A double-quoted string with JSON's escapes, read a span at a time
/// (`tojson` puts whole scripts on one line). Anything else (a surrogate
/// pair, a raw control character, YAML's own escapes) goes to serde_json,
/// which reads the first and declines the others.
fn double_quoted(text: &str) -> Option<(String, &str)> {
    let bytes = text.as_bytes();
    let mut value = String::with_capacity(text.len().min(4096));
    let (mut start, mut index) = (1, 1);
    loop {
        index += next_special(&bytes[index..])?;
        value.push_str(&text[start..index]);
        let escaped = match (bytes[index], bytes.get(index + 1)) {
            (b'"', _) => return Some((value, &text[index + 1..])),
            (b'\\', Some(b'n')) => '\n',
            (b'\\', Some(b'"')) => '"',
            (b'\\', Some(b'\\')) => '\\',
            (b'\\', Some(b'/')) => '/',
            (b'\\', Some(b't')) => '\t',
            (b'\\', Some(b'r')) => '\r',
            (b'\\', Some(b'b')) => '\u{8}',
            (b'\\', Some(b'f')) => '\u{c}',
            (b'\\', Some(b'u')) => match text
                .get(index + 2..index + 6)
                .filter(|hex| hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .and_then(char::from_u32)
            {
                Some(character) => {
                    value.push(character);
                    index += 6;
                    start = index;
                    continue;
                }
                None => return json_string(text),
            },
            _ => return json_string(text),
        };
        value.push(escaped);
        index += 2;
        start = index;
    }
}

/// Where the next quote, backslash or control character is. A chunk at a
/// time without stopping inside one, as `is_printable_ascii` does: whole
/// scripts come through here.
fn next_special(bytes: &[u8]) -> Option<usize> {
    let special = |byte: u8| matches!(byte, b'"' | b'\\' | ..=0x1f);
    let mut passed = 0;
    for chunk in bytes.chunks(16) {
        if chunk
            .iter()
            .fold(false, |found, &byte| found | special(byte))
        {
            return chunk
                .iter()
                .position(|&byte| special(byte))
                .map(|at| passed + at);
        }
        passed += chunk.len();
    }
    None
}

/// A double-quoted string as serde_json reads it, up to its closing quote.
fn json_string(text: &str) -> Option<(String, &str)> {
    let mut escaped = false;
    let end = text.bytes().enumerate().skip(1).find_map(|(index, byte)| {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(index),
            _ => {}
        }
        None
    })?;
    let value = serde_json::from_str(&text[..=end]).ok()?;
    Some((value, &text[end + 1..]))
}

/// Whether nothing but a comment (or nothing) follows a quoted or flow value.
fn only_comment_after(rest: &str) -> bool {
    let trimmed = rest.trim_start();
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())
}

/// A plain scalar as YAML 1.2 reads it with cafectl's options, where that
/// is plain: null, `true`/`false`, an integer without leading zeros, or a
/// string that no YAML could read as anything else (`100m`, `7.2-alpine`).
fn plain_scalar(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    // Up to a comment; a colon that would start a mapping, or a tab, is
    // left to the full parser.
    let mut end = bytes.len();
    for (index, pair) in bytes.windows(2).enumerate() {
        match pair {
            b" #" => {
                end = index;
                break;
            }
            b": " => return None,
            _ => {}
        }
    }
    let text = text[..end].trim_end();
    if text.ends_with(':') || text.contains('\t') {
        return None;
    }
    match text {
        "~" | "null" => return Some(Value::Null),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let first = text.as_bytes()[0];
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    if !unsigned.is_empty()
        && unsigned.bytes().all(|byte| byte.is_ascii_digit())
        && (unsigned == "0" || !unsigned.starts_with('0'))
    {
        return match text.parse::<i64>() {
            Ok(number) => Some(Value::from(number)),
            Err(_) => text.parse::<u64>().ok().map(Value::from),
        };
    }
    // Other numbers (floats, other bases, leading zeros) are left to the
    // full parser, and so are indicators, `- ` and words read otherwise.
    if b"[]{},#&*!|>'\"%@`?:+".contains(&first)
        || unsigned.is_empty()
        || unsigned.starts_with(' ')
        || super::could_be_a_number(unsigned.as_bytes())
        || is_other_than_string(text)
    {
        return None;
    }
    Some(Value::String(text.to_owned()))
}

/// Whether `word` is one some YAML reads as other than a string.
fn is_other_than_string(word: &str) -> bool {
    const WORDS: &[&str] = &[
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf", "infinity",
    ];
    WORDS.iter().any(|other| other.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Both readers, where this one answers.
    fn agree(text: &str) -> Option<Vec<Value>> {
        let quick = documents(text)?;
        let full = super::super::fully_read(text).unwrap();
        assert_eq!(
            super::super::filled(quick.clone()),
            super::super::filled(full),
            "{text}"
        );
        Some(quick)
    }

    #[test]
    fn reads_what_the_templates_write() {
        let text = "\
apiVersion: v1
kind: ConfigMap
# a comment
metadata:
  name: redis-config   # and another
  labels: {\"app\": \"redis\", \"n\": 3}
  annotations:
    cafectl.io/checksum: \"abc\\\"def\"
    single: 'it''s'
data:
  redis.conf: |
    port 6379

      indented line
    last
  strip: |-
    no newline
  keep: |+
    kept

  empty:
---
kind: List
items:
- name: a
  ports:
    - containerPort: 6379
      protocol: TCP
    - 7
- - nested
";
        assert_eq!(
            agree(text),
            None,
            "a sequence directly in a sequence is declined"
        );
        let text = text.replace("- - nested\n", "- [\"sh\", \"-c\"]  # flow\n-\n  k: v\n");
        let read = agree(&text).unwrap();
        assert_eq!(
            read[0]["data"]["redis.conf"],
            "port 6379\n\n  indented line\nlast\n"
        );
        assert_eq!(read[0]["data"]["keep"], "kept\n\n");
        assert_eq!(read[0]["data"]["empty"], Value::Null);
        assert_eq!(read[0]["metadata"]["annotations"]["single"], "it's");
        assert_eq!(
            read[1]["items"],
            json!([{"name": "a", "ports": [{"containerPort": 6379, "protocol": "TCP"}, 7]}, ["sh", "-c"], {"k": "v"}])
        );
    }

    #[test]
    fn scalars_it_reads_mean_what_the_full_parser_says() {
        for scalar in [
            "plain",
            "0",
            "7",
            "-12",
            "9223372036854775807",
            "18446744073709551615",
            "true",
            "false",
            "null",
            "~",
            "a-b.c/d",
            "with space",
            "x:y",
            "\"quoted: #\"",
            "'it''s'",
            "\"\\u00e9\\n\"",
            "\"\\t\\/\\b\\f\\r\\\\ \\u003c&\\u0026 \\\"x\\\" \"",
            "\"\\ud83d\\ude00 a surrogate pair\"",
            "ünïcode",
            "a # comment",
            "{}",
            "[]",
            "[1, 2.5, \"x\"]",
            "{cpu: 100m, memory: 128Mi}",
            "[a, 'b', \"c\", 3, {d: [e]}]  # flow",
            "{\"a\": 1, b: x y}",
            "[ a , b ]",
            "{a: 1,}",
            "100m",
            "7.2-alpine",
            "redis:7.2-alpine",
            "-foo",
            "07e3b951eddc5e2e",
        ] {
            let text = format!("key: {scalar}\n");
            assert!(agree(&text).is_some(), "{scalar} is declined");
        }
    }

    #[test]
    fn leaves_to_the_full_parser_what_it_is_not_sure_of() {
        for scalar in [
            "yes",
            "No",
            "ON",
            "True",
            "NULL",
            "0755",
            "1_000",
            "1.5",
            "1e3",
            "0x1f",
            ".inf",
            "-.5",
            "+1",
            "nan",
            "18446744073709551616",
            "&anchor x",
            "*alias",
            "!tag x",
            ">",
            "|2",
            "\"unclosed",
            "\"unclosed\\\"",
            "\"\\x41 YAML's own escape\"",
            "\"\\u+041\"",
            "[1,",
            "a: b",
            "x\ty",
            "'a' b",
            "`x`",
            "@x",
            "%x",
            "? x",
            "{a: }",
            "{a}",
            "[a, b",
            "{a: 1, a: 2}",
            "[a]b",
            "{a: [1, 2}",
            "[yes]",
            "{a: b: c}",
            "-1.5",
            "2024-01-01",
            "1:30",
            "- x",
            "-",
        ] {
            let text = format!("key: {scalar}\n");
            assert_eq!(documents(&text), None, "{scalar} is read");
        }
        for text in [
            "a: 1\na: 2\n",           // a repeated key
            "a: b\n  c\n",            // a plain scalar over two lines
            "a:\n\tb: 1\n",           // a tab in the indentation
            "a: |\n    x\n  y\n",     // a block less indented after it starts
            "a: 1\n b: 2\n",          // a key more indented than its siblings
            "%YAML 1.2\n---\na: 1\n", // a directive
            "a: |\n      \n    x\n",  // a blank line more indented than the text
            "3: x\n",                 // a key that is not a string
            "scalar\n",               // a document that is a scalar
            "a: b\rc\n",              // a lone carriage return: a line break
            "a: b\u{1}\n",            // a control character
        ] {
            assert_eq!(documents(text), None, "{text:?} is read");
        }
        // Deep nesting, in flow or in blocks, is left to the full parser's
        // limits (and never overflows the stack here).
        let flow = |depth: usize| format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(agree(&flow(DEEPEST - 2)).is_some());
        assert_eq!(documents(&flow(1 << 20)), None);
        let blocks = |depth: usize| {
            (0..depth)
                .map(|level| format!("{}k:\n", " ".repeat(level)))
                .collect::<String>()
        };
        assert!(agree(&blocks(DEEPEST)).is_some());
        assert_eq!(documents(&blocks(DEEPEST + 1)), None);
        assert_eq!(documents(&blocks(1000)), None);
    }

    #[test]
    fn empty_documents_are_null() {
        assert_eq!(
            agree("---\n# only a comment\n---\na: 1\n---\n"),
            Some(vec![Value::Null, Value::Null, json!({"a": 1}), Value::Null])
        );
    }
}
