//! Key paths inside a profile (`autoscaling[0].minReplicas`), shared by the
//! layering, `--set` and error reporting.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// No key of a profile is deeper than 4; a longer `--set` path is a
    /// mistake, and a deep one would build a tree as deep.
    pub const MAX_DEPTH: usize = 16;

    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// Parses `a.b[0].c`; a backslash escapes a dot that belongs to a key
    /// (`networkPolicy.clientLabels.cafectl\.io/redis-client`), as in Helm.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || {
            format!("{text:?} is not a key path (expected e.g. redis.maxmemory or autoscaling[0].maxReplicas)")
        };
        let mut segments = Vec::new();
        let mut key = String::new();
        let mut chars = text.chars().peekable();
        // Whether the previous segment was closed by `]`, which may be
        // followed directly by `.` or `[`.
        let mut after_index = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => key.push(chars.next().ok_or_else(invalid)?),
                '.' => {
                    if key.is_empty() && !after_index {
                        return Err(invalid());
                    }
                    if !key.is_empty() {
                        segments.push(Segment::Key(std::mem::take(&mut key)));
                    }
                    after_index = false;
                    if chars.peek().is_none() {
                        return Err(invalid());
                    }
                }
                '[' => {
                    if !key.is_empty() {
                        segments.push(Segment::Key(std::mem::take(&mut key)));
                    } else if !after_index {
                        return Err(invalid());
                    }
                    let digits: String = chars.by_ref().take_while(|c| *c != ']').collect();
                    let index = digits.parse().map_err(|_| invalid())?;
                    segments.push(Segment::Index(index));
                    after_index = true;
                    if !matches!(chars.peek(), None | Some('.') | Some('[')) {
                        return Err(invalid());
                    }
                }
                _ => {
                    if after_index {
                        return Err(invalid());
                    }
                    key.push(c);
                }
            }
        }
        if !key.is_empty() {
            segments.push(Segment::Key(key));
        }
        if segments.is_empty() {
            return Err(invalid());
        }
        if segments.len() > Self::MAX_DEPTH {
            return Err(format!(
                "{} parts is too deep for a key path: no profile key has more than {}",
                segments.len(),
                Self::MAX_DEPTH
            ));
        }
        Ok(KeyPath(segments))
    }

    pub fn child(&self, segment: Segment) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        KeyPath(segments)
    }

    pub fn key(&self, key: &str) -> Self {
        self.child(Segment::Key(key.to_owned()))
    }

    pub fn index(&self, index: usize) -> Self {
        self.child(Segment::Index(index))
    }

    pub fn starts_with(&self, prefix: &KeyPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        KeyPath(
            path.iter()
                .filter_map(|segment| match segment {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } => Some(Segment::Key(key.clone())),
                    S::Enum { variant } => Some(Segment::Key(variant.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_indices_and_escaped_dots() {
        let path = KeyPath::parse("autoscaling[1].behavior.scaleUpWindowSeconds").unwrap();
        assert_eq!(
            path.to_string(),
            "autoscaling[1].behavior.scaleUpWindowSeconds"
        );
        let escaped = KeyPath::parse(r"networkPolicy.clientLabels.cafectl\.io/client").unwrap();
        assert_eq!(
            escaped.0.last(),
            Some(&Segment::Key("cafectl.io/client".to_owned()))
        );
        assert_eq!(KeyPath::parse("a[0][1]").unwrap().0.len(), 3);
    }

    #[test]
    fn rejects_malformed_paths() {
        let too_deep = vec!["a"; KeyPath::MAX_DEPTH + 1].join(".");
        for text in [
            "", ".a", "a.", "a..b", "a[x]", "a[0]b", "[0]", "a[", r"a\", &too_deep,
        ] {
            assert!(KeyPath::parse(text).is_err(), "{text:?} should be rejected");
        }
    }
}
