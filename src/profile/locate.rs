//! Finds the line of a key in a YAML text. serde_yaml keeps no positions in
//! a `Value`, but it attaches one to every error, so we walk the text to the
//! key and stop there with an error.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::path::{KeyPath, Segment};

/// 1-based line and column.
pub fn locate(text: &str, path: &KeyPath) -> Option<(usize, usize)> {
    let error = Walk { rest: &path.0 }
        .deserialize(serde_yaml::Deserializer::from_str(text))
        .expect_err("the walk always stops with an error");
    let location = error.location()?;
    (error.to_string().contains(FOUND)).then(|| (location.line(), location.column()))
}

const FOUND: &str = "cafectl: key found";

struct Walk<'a> {
    rest: &'a [Segment],
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.rest.is_empty() {
            return Err(de::Error::custom(FOUND));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Segment::Key(wanted) = &self.rest[0] else {
            return Err(de::Error::custom("not found"));
        };
        // The last key stops while it is read, so that the error carries the
        // key's own position rather than its mapping's.
        let last = self.rest.len() == 1;
        while let Some(matched) = map.next_key_seed(KeyMatch { wanted, last })? {
            if matched {
                return map.next_value_seed(Walk {
                    rest: &self.rest[1..],
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom("not found"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let found = matches!(self.rest[0], Segment::Index(wanted) if wanted == index);
            if found {
                return seq
                    .next_element_seed(Walk {
                        rest: &self.rest[1..],
                    })?
                    .ok_or_else(|| de::Error::custom("not found"));
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom("not found"));
            }
            index += 1;
        }
    }
}

struct KeyMatch<'a> {
    wanted: &'a str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeyMatch<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FOUND)
    }

    // An error raised inside a visitor gets the scalar's own position.
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        if key == self.wanted && self.last {
            return Err(E::invalid_value(de::Unexpected::Str(key), &self));
        }
        Ok(key == self.wanted)
    }

    fn visit_i64<E: de::Error>(self, key: i64) -> Result<bool, E> {
        self.visit_str(&key.to_string())
    }

    fn visit_u64<E: de::Error>(self, key: u64) -> Result<bool, E> {
        self.visit_str(&key.to_string())
    }

    fn visit_bool<E: de::Error>(self, key: bool) -> Result<bool, E> {
        self.visit_str(&key.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_list_entries() {
        let text = "name: x\nredis:\n  topology: sentinel\n  sentinel:\n    quorum: 1\nautoscaling:\n  - name: a\n    maxReplicas: 3\n  - name: b\n    minReplicas: 9\n";
        let at = |path: &str| locate(text, &KeyPath::parse(path).unwrap());
        assert_eq!(at("name").map(|p| p.0), Some(1));
        assert_eq!(at("redis.sentinel.quorum").map(|p| p.0), Some(5));
        assert_eq!(at("autoscaling[1].minReplicas").map(|p| p.0), Some(10));
        assert_eq!(at("autoscaling[0]").map(|p| p.0), Some(7));
        assert_eq!(at("redis.cluster"), None);
        assert_eq!(at("autoscaling[5].name"), None);
    }
}
