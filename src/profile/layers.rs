//! Profile files layered key by key, then `--set` overrides; which layer set
//! a key is worked out again, by replaying the layers, only when an error
//! needs the file and line.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::path::{KeyPath, Segment};

/// One layer: a profile file, or one `--set`/`--namespace` override.
#[derive(Debug, Clone)]
pub struct Source {
    /// How the user named it: the file path, or `--set a.b=c`.
    pub label: String,
    /// The file's text, read again for where it writes a key only when an
    /// error needs that; `None` for command-line overrides.
    pub text: Option<String>,
}

/// Where a key of the merged profile came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: usize,
    /// The key's path inside that source (list indices may differ from the
    /// merged ones when lists are merged by `name`).
    pub path: KeyPath,
}

#[derive(Debug, Default)]
pub struct Layers {
    pub sources: Vec<Source>,
    pub merged: Value,
    /// What each source brought, in order, for `origin_of` to replay.
    brought: Vec<Brought>,
    /// Only while replaying: where each key came from.
    origins: Origins,
}

type Origins = Option<BTreeMap<KeyPath, Origin>>;

#[derive(Debug, Clone)]
enum Brought {
    File(Value),
    Set(KeyPath, Value),
}

impl Layers {
    pub fn new() -> Self {
        Layers {
            sources: Vec::new(),
            merged: Value::Object(Map::new()),
            brought: Vec::new(),
            origins: None,
        }
    }

    /// Adds a parsed profile file on top of the earlier ones.
    pub fn push_file(&mut self, label: String, text: String, value: Value) {
        self.brought.push(Brought::File(value.clone()));
        let source = self.add_source(label, Some(text));
        let mut merged = std::mem::take(&mut self.merged);
        self.merge(
            &mut merged,
            value,
            &KeyPath::root(),
            &KeyPath::root(),
            source,
        );
        self.merged = merged;
    }

    /// Sets one key, as `--set path=value` does; intermediate mappings are
    /// created, and a list may grow by one entry at a time.
    pub fn set(&mut self, label: String, path: &KeyPath, value: Value) -> Result<(), String> {
        self.brought.push(Brought::Set(path.clone(), value.clone()));
        let source = self.add_source(label, None);
        let mut node = &mut self.merged;
        let mut walked = KeyPath::root();
        // Keys this override brings into being, so errors below them name it.
        let mut created = Vec::new();
        for segment in &path.0 {
            if node.is_null() {
                *node = match segment {
                    Segment::Key(_) => Value::Object(Map::new()),
                    Segment::Index(_) => Value::Array(Vec::new()),
                };
            }
            let kind = describe(node);
            node = match (segment, node) {
                (Segment::Key(key), Value::Object(map)) => {
                    map.entry(key.clone()).or_insert(Value::Null)
                }
                (Segment::Index(index), Value::Array(items)) => {
                    if *index > items.len() {
                        return Err(format!(
                            "{walked} has {} entries; the index may be at most {} (to add one)",
                            items.len(),
                            items.len()
                        ));
                    }
                    if *index == items.len() {
                        items.push(Value::Null);
                    }
                    &mut items[*index]
                }
                (Segment::Key(_), _) => return Err(format!("{walked} is {kind}, not a mapping")),
                (Segment::Index(_), _) => return Err(format!("{walked} is {kind}, not a list")),
            };
            walked = walked.child(segment.clone());
            if node.is_null() {
                created.push(walked.clone());
            }
        }
        record(&mut self.origins, path, &value, path, source);
        *node = value;
        if let Some(origins) = &mut self.origins {
            for prefix in created {
                origins.insert(
                    prefix.clone(),
                    Origin {
                        source,
                        path: prefix,
                    },
                );
            }
        }
        Ok(())
    }

    /// The layer that last set `path`, or the nearest enclosing key.
    pub fn origin_of(&self, path: &KeyPath) -> Option<(&Source, KeyPath)> {
        let mut replay = Layers {
            origins: Some(BTreeMap::new()),
            ..Layers::new()
        };
        for (brought, source) in self.brought.iter().zip(&self.sources) {
            match brought.clone() {
                Brought::File(value) => {
                    replay.push_file(source.label.clone(), String::new(), value)
                }
                // Failing or not, as the first time (a failed one may have
                // created keys on its way).
                Brought::Set(path, value) => {
                    let _ = replay.set(source.label.clone(), &path, value);
                }
            }
        }
        let origins = replay.origins.unwrap_or_default();
        let mut prefix = path.clone();
        loop {
            if let Some(origin) = origins.get(&prefix) {
                // Carry the part below the recorded key over to the source.
                let mut source_path = origin.path.clone();
                source_path.0.extend_from_slice(&path.0[prefix.0.len()..]);
                return Some((&self.sources[origin.source], source_path));
            }
            prefix.0.pop()?;
        }
    }

    fn add_source(&mut self, label: String, text: Option<String>) -> usize {
        self.sources.push(Source { label, text });
        self.sources.len() - 1
    }

    fn merge(
        &mut self,
        base: &mut Value,
        overlay: Value,
        at: &KeyPath,
        from: &KeyPath,
        source: usize,
    ) {
        match (base, overlay) {
            (Value::Object(base_map), Value::Object(overlay_map)) => {
                set_origin(&mut self.origins, at, from, source);
                for (key, value) in overlay_map {
                    let (at, from) = (at.key(&key), from.key(&key));
                    match base_map.get_mut(&key) {
                        Some(existing) => self.merge(existing, value, &at, &from, source),
                        None => {
                            record(&mut self.origins, &at, &value, &from, source);
                            base_map.insert(key, value);
                        }
                    }
                }
            }
            (Value::Array(base_items), Value::Array(overlay_items))
                if named_entries(base_items) && named_entries(&overlay_items) =>
            {
                // Lists of named entries (autoscaling) merge entry by entry.
                set_origin(&mut self.origins, at, from, source);
                for (source_index, item) in overlay_items.into_iter().enumerate() {
                    let from = from.index(source_index);
                    match base_items
                        .iter()
                        .position(|existing| existing.get("name") == item.get("name"))
                    {
                        Some(index) => self.merge(
                            &mut base_items[index],
                            item,
                            &at.index(index),
                            &from,
                            source,
                        ),
                        None => {
                            record(
                                &mut self.origins,
                                &at.index(base_items.len()),
                                &item,
                                &from,
                                source,
                            );
                            base_items.push(item);
                        }
                    }
                }
            }
            (base, overlay) => {
                record(&mut self.origins, at, &overlay, from, source);
                *base = overlay;
            }
        }
    }
}

/// While replaying: `at` (not what is below it) comes from `source`.
fn set_origin(origins: &mut Origins, at: &KeyPath, from: &KeyPath, source: usize) {
    if let Some(origins) = origins {
        origins.insert(
            at.clone(),
            Origin {
                source,
                path: from.clone(),
            },
        );
    }
}

/// While replaying: `value` and everything below it comes from
/// `source`, whatever earlier layers had set there.
fn record(origins: &mut Origins, at: &KeyPath, value: &Value, from: &KeyPath, source: usize) {
    let Some(origins) = origins else {
        return;
    };
    // Paths below `at` sort right after it: remove that run only, so that
    // recording every key of a large file stays linear.
    let below: Vec<KeyPath> = origins
        .range(at.clone()..)
        .map(|(path, _)| path)
        .take_while(|path| path.starts_with(at))
        .cloned()
        .collect();
    for path in below {
        origins.remove(&path);
    }
    let mut pending = vec![(at.clone(), value, from.clone())];
    while let Some((at, value, from)) = pending.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    pending.push((at.key(key), child, from.key(key)));
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    pending.push((at.index(index), child, from.index(index)));
                }
            }
            _ => {}
        }
        origins.insert(at, Origin { source, path: from });
    }
}

fn named_entries(items: &[Value]) -> bool {
    items
        .iter()
        .all(|item| matches!(item.get("name"), Some(Value::String(_))))
}

pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Reads the value of `--set key=value` as Helm does: `true`/`false`,
/// numbers and `null` are typed, `{a,b}` is a list of such scalars, anything
/// else a string. Lists do not nest: no profile key holds a list of lists.
pub fn parse_set_value(raw: &str) -> Value {
    match raw
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
    {
        Some(inner) => Value::Array(
            inner
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(parse_set_scalar)
                .collect(),
        ),
        None => parse_set_scalar(raw),
    }
}

fn parse_set_scalar(raw: &str) -> Value {
    // Brackets make no boolean or number; and YAML's parser takes the square
    // of the nesting in time, so `{{{{...` is not handed to it.
    if raw.contains(['[', '{']) {
        return Value::String(raw.to_owned());
    }
    match crate::yaml::from_str::<Value>(raw) {
        // Digits beyond 64 bits stay text (the parser would round them).
        Ok(Value::Number(number)) if crate::yaml::is_rounded_integer(&number, raw) => {
            Value::String(raw.to_owned())
        }
        Ok(value @ (Value::Bool(_) | Value::Number(_))) => value,
        Ok(Value::Null) if raw == "null" => Value::Null,
        _ => Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::from_str(text).unwrap()
    }

    fn layered(files: &[&str]) -> Layers {
        let mut layers = Layers::new();
        for (index, text) in files.iter().enumerate() {
            let value = super::super::positions::value(text).unwrap();
            layers.push_file(format!("f{index}.yaml"), text.to_string(), value);
        }
        layers
    }

    #[test]
    fn later_files_override_key_by_key() {
        let layers = layered(&["a: 1\nb: {x: 1, y: 2}\n", "b: {y: 3}\nc: 4\n"]);
        assert_eq!(layers.merged, yaml("a: 1\nb: {x: 1, y: 3}\nc: 4\n"));
        let origin = |path| {
            layers
                .origin_of(&KeyPath::parse(path).unwrap())
                .unwrap()
                .0
                .label
                .clone()
        };
        assert_eq!(origin("b.x"), "f0.yaml");
        assert_eq!(origin("b.y"), "f1.yaml");
        assert_eq!(origin("c"), "f1.yaml");
    }

    #[test]
    fn named_list_entries_merge_by_name() {
        let layers = layered(&[
            "l: [{name: a, v: 1}, {name: b, v: 2}]\n",
            "l: [{name: b, v: 3}, {name: c, v: 4}]\n",
        ]);
        assert_eq!(
            layers.merged,
            yaml("l: [{name: a, v: 1}, {name: b, v: 3}, {name: c, v: 4}]\n")
        );
        let (source, path) = layers
            .origin_of(&KeyPath::parse("l[1].v").unwrap())
            .unwrap();
        assert_eq!(
            (source.label.as_str(), path.to_string().as_str()),
            ("f1.yaml", "l[0].v")
        );
    }

    #[test]
    fn set_creates_keys_and_appends_one_entry() {
        let mut layers = layered(&["l: [{name: a}]\n"]);
        let set = |layers: &mut Layers, path: &str, value: &str| {
            layers.set(
                format!("--set {path}={value}"),
                &KeyPath::parse(path).unwrap(),
                parse_set_value(value),
            )
        };
        set(&mut layers, "x.y", "true").unwrap();
        set(&mut layers, "l[1].name", "b").unwrap();
        set(&mut layers, "l[0].n", "5").unwrap();
        assert_eq!(
            layers.merged,
            yaml("l: [{name: a, n: 5}, {name: b}]\nx: {y: true}\n")
        );
        assert!(set(&mut layers, "l[5].name", "c")
            .unwrap_err()
            .contains("at most 2"));
        assert!(set(&mut layers, "x.y.z", "1")
            .unwrap_err()
            .contains("x.y is a boolean"));
        let (source, _) = layers
            .origin_of(&KeyPath::parse("l[0].n").unwrap())
            .unwrap();
        assert_eq!(source.label, "--set l[0].n=5");
    }

    #[test]
    fn set_values_are_typed_like_helm() {
        assert_eq!(parse_set_value("10"), Value::from(10));
        assert_eq!(parse_set_value("false"), Value::Bool(false));
        assert_eq!(parse_set_value("256mb"), Value::from("256mb"));
        assert_eq!(parse_set_value("a: b"), Value::from("a: b"));
        assert_eq!(
            parse_set_value("{900 1, 60 100}"),
            yaml("['900 1', '60 100']")
        );
        assert_eq!(parse_set_value("{{a}}"), yaml("['{a}']"));
    }
}
