//! A profile file read once: its value, and the line and column of every
//! key and list entry in it (serde-saphyr gives each node its span), so
//! that an error points into the file.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::path::KeyPath;
use crate::yaml::YamlError;

/// 1-based line and column of each key path a file writes.
pub type Positions = BTreeMap<KeyPath, (usize, usize)>;

/// The value of a profile file's text. Plain block YAML, as profiles are
/// written, is read quickly, without positions: [`read`] finds those when
/// an error needs one.
pub fn value(text: &str) -> Result<Value, YamlError> {
    match crate::yaml::block::documents(text) {
        Some(mut documents) if documents.len() == 1 => {
            let value = documents.pop().unwrap_or_default();
            debug_assert_eq!(
                Some(&value),
                read(text).ok().map(|(value, _)| value).as_ref(),
                "the quick reader disagrees with the full parser on:\n{text}"
            );
            Ok(value)
        }
        _ => read(text).map(|(value, _)| value),
    }
}

/// The value of a profile file's text and where each of its keys is.
pub fn read(text: &str) -> Result<(Value, Positions), YamlError> {
    let node: Node = crate::yaml::from_str(text)?;
    let mut file = File {
        text,
        positions: Positions::new(),
    };
    let value = file.value_of(node, &KeyPath::root())?;
    Ok((value, file.positions))
}

/// The position of `path`, or of the closest enclosing key the file does
/// have (a default that conflicts with a key the file sets).
pub fn nearest(positions: &Positions, mut path: KeyPath) -> Option<(usize, usize)> {
    while !path.is_root() {
        if let Some(position) = positions.get(&path) {
            return Some(*position);
        }
        path.0.pop();
    }
    None
}

enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    List(Vec<Spanned<Node>>),
    Scalar(Value),
}

struct File<'a> {
    text: &'a str,
    positions: Positions,
}

impl File<'_> {
    fn value_of(&mut self, node: Node, at: &KeyPath) -> Result<Value, YamlError> {
        Ok(match node {
            Node::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    let path = at.key(&key.value);
                    self.positions.insert(path.clone(), position(&key));
                    map.insert(key.value, self.spanned_value_of(value, &path)?);
                }
                Value::Object(map)
            }
            Node::List(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| {
                        let path = at.index(index);
                        self.positions.insert(path.clone(), position(&item));
                        self.spanned_value_of(item, &path)
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Node::Scalar(value) => value,
        })
    }

    /// An integer too large for 64 bits reads as a floating point number,
    /// which would pass for another number: refused with its own text.
    fn spanned_value_of(&mut self, node: Spanned<Node>, at: &KeyPath) -> Result<Value, YamlError> {
        if let Node::Scalar(Value::Number(number)) = &node.value {
            let span = node.referenced.span();
            let written = span
                .byte_offset()
                .zip(span.byte_len())
                .and_then(|(start, len)| self.text.get(start as usize..(start + len) as usize))
                .unwrap_or_default();
            if crate::yaml::is_rounded_integer(number, written) {
                return Err(YamlError {
                    position: Some(position(&node)),
                    key: Some(at.to_string()),
                    message: format!("{written} is too large a number for any key of a profile"),
                    too_large: false,
                });
            }
        }
        self.value_of(node.value, at)
    }
}

fn position<T>(spanned: &Spanned<T>) -> (usize, usize) {
    (
        spanned.referenced.line() as usize,
        spanned.referenced.column() as usize,
    )
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_str<E>(self, text: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Value::from(text)))
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Value::from(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Value::from(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Value::from(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Scalar(Value::from(value)))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nested_keys_and_list_entries() {
        let text = "name: x\nredis:\n  topology: sentinel\n  sentinel:\n    quorum: 1\nautoscaling:\n  - name: a\n    maxReplicas: 3\n  - name: b\n    minReplicas: 9\n";
        let (value, positions) = read(text).unwrap();
        assert_eq!(
            value["autoscaling"][1],
            json!({"name": "b", "minReplicas": 9})
        );
        let at = |path: &str| nearest(&positions, KeyPath::parse(path).unwrap());
        assert_eq!(at("name"), Some((1, 1)));
        assert_eq!(at("redis.sentinel.quorum"), Some((5, 5)));
        assert_eq!(at("autoscaling[1].minReplicas"), Some((10, 5)));
        assert_eq!(at("autoscaling[0]").map(|p| p.0), Some(7));
        // A key the file lacks: its closest enclosing one.
        assert_eq!(at("redis.cluster.masters"), Some((2, 1)));
        assert_eq!(at("autoscaling[5].name"), Some((6, 1)));
        assert_eq!(at("namespace"), None);
    }

    #[test]
    fn keys_that_read_as_other_types_are_text() {
        let (value, _) = read("1: one\ntrue: t\n").unwrap();
        assert_eq!(value, json!({"1": "one", "true": "t"}));
    }

    #[test]
    fn an_integer_beyond_64_bits_is_refused_where_it_is_written() {
        let error = read("redis:\n  maxmemory: 18446744073709551616\n").unwrap_err();
        assert_eq!(error.position, Some((2, 14)));
        assert_eq!(
            (error.key.as_deref(), error.message.as_str()),
            (
                Some("redis.maxmemory"),
                "18446744073709551616 is too large a number for any key of a profile"
            )
        );
        // Written as a floating point number, it is one.
        assert_eq!(read("a: 1e30\n").unwrap().0["a"], json!(1e30));
    }
}
