//! Scalar values of a profile that carry their own syntax. Each is checked
//! while the YAML is read, so an error points at the line that holds it.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _};

/// A DNS-1123 label: what Kubernetes accepts as a namespace, Service or
/// object name that also appears in hostnames.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ResourceName(String);

impl ResourceName {
    pub const MAX_LEN: usize = 63;

    /// For names written in this source file; checked by a unit test.
    pub(crate) fn known(name: &str) -> Self {
        ResourceName(name.to_owned())
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let valid_ends = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
        if name.is_empty()
            || name.len() > Self::MAX_LEN
            || !valid_chars
            || !valid_ends(name.as_bytes().first())
            || !valid_ends(name.as_bytes().last())
        {
            return Err(format!(
                "{name:?} is not a valid name: use at most {} lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123 label)",
                Self::MAX_LEN
            ));
        }
        Ok(ResourceName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Kubernetes resource quantity (`100m`, `128Mi`, `1Gi`, `1e3`), kept as
/// written and understood as a number for comparisons.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct KubeQuantity {
    text: String,
    #[serde(skip)]
    value: f64,
}

impl KubeQuantity {
    pub(crate) fn known(text: &str) -> Self {
        Self::parse(text).expect("built-in quantity is valid")
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        parse_quantity(text)
            // 1e400 overflows to infinity, which no quantity means.
            .filter(|value| value.is_finite() && *value > 0.0)
            .map(|value| KubeQuantity {
                text: text.to_owned(),
                value,
            })
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a positive Kubernetes quantity (examples: 100m, 0.5, 128Mi, 1Gi; binary suffixes are Ki Mi Gi Ti, decimal k M G T)"
                )
            })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Cores for CPU, bytes for memory and storage.
    pub fn value(&self) -> f64 {
        self.value
    }
}

/// Kubernetes' quantity grammar: `<number><suffix>`, suffix one of the binary
/// SI (`Ki`..`Ei`), decimal SI (`m`, ``, `k`..`E`) or an exponent (`e3`).
fn parse_quantity(text: &str) -> Option<f64> {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty()
        || digits == "."
        || digits.contains(['+', '-'])
        || digits.matches('.').count() > 1
        || number.len() - digits.len() > 1
    {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power = &exponent[1..];
            let unsigned = power.trim_start_matches(['+', '-']);
            if unsigned.is_empty()
                || power.len() - unsigned.len() > 1
                || !unsigned.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            10f64.powi(power.parse().ok()?)
        }
        _ => return None,
    };
    Some(number * multiplier)
}

/// A size in Redis' own syntax (`256mb`, `1gb`, `100000`): `k`/`m`/`g` are
/// powers of 1000, `kb`/`mb`/`gb` powers of 1024, as in redis.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisMemory {
    text: String,
    bytes: u64,
}

impl RedisMemory {
    pub(crate) fn known(text: &str) -> Self {
        Self::parse(text).expect("built-in Redis size is valid")
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        let digits_end = lower
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(lower.len());
        let (digits, unit) = lower.split_at(digits_end);
        let multiplier: u64 = match unit {
            "" | "b" => 1,
            "k" => 1000,
            "kb" => 1 << 10,
            "m" => 1_000_000,
            "mb" => 1 << 20,
            "g" => 1_000_000_000,
            "gb" => 1 << 30,
            _ => 0,
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(multiplier))
            .filter(|bytes| *bytes > 0)
            .map(|bytes| RedisMemory {
                text: lower.clone(),
                bytes,
            })
            .ok_or_else(|| {
                format!("{text:?} is not a Redis memory size (examples: 256mb, 1gb, 500000000)")
            })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A percentage target for an HPA: 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Percent(u32);

impl Percent {
    pub const RANGE: std::ops::RangeInclusive<u32> = 1..=100;

    pub(crate) fn new(value: u32) -> Self {
        Percent(value)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// One RDB `save <seconds> <changes>` rule, written as "900 1".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveRule {
    pub seconds: u32,
    pub changes: u32,
}

impl SaveRule {
    /// Snapshots further apart than a day are no schedule; appendonly is
    /// the way to keep every write.
    pub const MAX_SECONDS: u32 = 86_400;
    /// Redis keeps the count in a C int.
    pub const MAX_CHANGES: u32 = i32::MAX as u32;

    pub(crate) fn new(seconds: u32, changes: u32) -> Self {
        SaveRule { seconds, changes }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut fields = text.split_whitespace().map(str::parse::<u32>);
        match (fields.next(), fields.next(), fields.next()) {
            (Some(Ok(seconds)), Some(Ok(changes)), None)
                if (1..=Self::MAX_SECONDS).contains(&seconds)
                    && (1..=Self::MAX_CHANGES).contains(&changes) =>
            {
                Ok(SaveRule { seconds, changes })
            }
            _ => Err(format!(
                "{text:?} is not a save rule: write \"<seconds> <changes>\", e.g. \"900 1\", with 1 to {} seconds and 1 to {} changes",
                Self::MAX_SECONDS,
                Self::MAX_CHANGES
            )),
        }
    }
}

impl fmt::Display for SaveRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seconds, self.changes)
    }
}

/// An HPA stabilization window, 0..=3600 seconds (the API server's limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct StabilizationWindow(u32);

impl StabilizationWindow {
    pub const MAX: u32 = 3600;

    pub(crate) fn new(seconds: u32) -> Self {
        StabilizationWindow(seconds)
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

/// Reads a string and checks it with `parse`, so serde reports the failure
/// at the value's line.
fn parse_string<'de, D, T>(
    deserializer: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(D::Error::custom)
}

/// Reads a whole number and checks its range.
fn parse_bounded<'de, D>(
    deserializer: D,
    range: std::ops::RangeInclusive<u32>,
    what: &str,
) -> Result<u32, D::Error>
where
    D: Deserializer<'de>,
{
    let value = u32::deserialize(deserializer)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(D::Error::custom(format!(
            "{value} is out of range: {what} must be between {} and {}",
            range.start(),
            range.end()
        )))
    }
}

impl<'de> Deserialize<'de> for ResourceName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(deserializer, ResourceName::parse)
    }
}

impl<'de> Deserialize<'de> for KubeQuantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Kubernetes accepts a bare number for a quantity; so do we.
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match &value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(number) => number.to_string(),
            _ => {
                return Err(D::Error::custom(
                    "expected a quantity such as 100m or 128Mi",
                ))
            }
        };
        KubeQuantity::parse(&text).map_err(D::Error::custom)
    }
}

impl<'de> Deserialize<'de> for RedisMemory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(deserializer, RedisMemory::parse)
    }
}

impl<'de> Deserialize<'de> for SaveRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(deserializer, SaveRule::parse)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_bounded(deserializer, Self::RANGE, "a utilization target (percent)").map(Percent)
    }
}

impl<'de> Deserialize<'de> for StabilizationWindow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_bounded(
            deserializer,
            0..=Self::MAX,
            "a stabilization window (seconds)",
        )
        .map(StabilizationWindow)
    }
}

/// The JSON Schema of each value, for `cafectl schema`: the same syntax and
/// bounds their `parse` checks, as far as a pattern can say it.
mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    use super::*;

    impl JsonSchema for ResourceName {
        fn schema_name() -> Cow<'static, str> {
            "ResourceName".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "description": "A DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit.",
                "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                "maxLength": ResourceName::MAX_LEN,
            })
        }
    }

    impl JsonSchema for KubeQuantity {
        fn schema_name() -> Cow<'static, str> {
            "KubeQuantity".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "A Kubernetes quantity: 100m, 0.5, 128Mi, 1Gi, 1e3.",
                "anyOf": [
                    {"type": "number", "minimum": 0},
                    {"type": "string",
                     "pattern": "^[+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"}
                ]
            })
        }
    }

    impl JsonSchema for RedisMemory {
        fn schema_name() -> Cow<'static, str> {
            "RedisMemory".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "description": "A size as redis.conf writes it: 256mb, 1gb, 100000; k/m/g are powers of 1000, kb/mb/gb of 1024.",
                "pattern": "^[0-9]+([kKmMgG][bB]?|[bB])?$",
            })
        }
    }

    impl JsonSchema for SaveRule {
        fn schema_name() -> Cow<'static, str> {
            "SaveRule".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "description": format!(
                    "An RDB snapshot rule \"SECONDS CHANGES\" (save after SECONDS if at least CHANGES writes): 1 to {} seconds, 1 to {} changes.",
                    SaveRule::MAX_SECONDS, SaveRule::MAX_CHANGES
                ),
                "pattern": "^[0-9]+ [0-9]+$",
            })
        }
    }

    impl JsonSchema for Percent {
        fn schema_name() -> Cow<'static, str> {
            "Percent".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "integer",
                "minimum": *Percent::RANGE.start(),
                "maximum": *Percent::RANGE.end(),
            })
        }
    }

    impl JsonSchema for StabilizationWindow {
        fn schema_name() -> Cow<'static, str> {
            "StabilizationWindow".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({"type": "integer", "minimum": 0, "maximum": StabilizationWindow::MAX})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_follow_the_kubernetes_grammar() {
        for (text, value) in [
            ("100m", 0.1),
            ("1", 1.0),
            ("0.5", 0.5),
            ("128Mi", 128.0 * 1024.0 * 1024.0),
            ("1Gi", 1024f64.powi(3)),
            ("2k", 2000.0),
            ("1e3", 1000.0),
            ("1E-1", 0.1),
            ("+3", 3.0),
        ] {
            assert_eq!(KubeQuantity::parse(text).unwrap().value(), value, "{text}");
        }
        for text in [
            "256mb", "1Gx", "", "Mi", "1..0", "1 Gi", "-1", "0", "1e", "1e+-3", "--1", "1mi",
            "1e400", "0e400", "1e-400",
        ] {
            assert!(
                KubeQuantity::parse(text).is_err(),
                "{text} should be rejected"
            );
        }
    }

    #[test]
    fn redis_sizes_follow_redis_conf_units() {
        assert_eq!(RedisMemory::parse("256mb").unwrap().bytes(), 256 << 20);
        assert_eq!(RedisMemory::parse("1GB").unwrap().bytes(), 1 << 30);
        assert_eq!(RedisMemory::parse("2m").unwrap().bytes(), 2_000_000);
        assert_eq!(RedisMemory::parse("4096").unwrap().bytes(), 4096);
        for text in ["256Mi", "mb", "", "1.5gb", "0", "12 mb", "-1mb"] {
            assert!(
                RedisMemory::parse(text).is_err(),
                "{text} should be rejected"
            );
        }
    }

    #[test]
    fn names_are_dns_1123_labels() {
        for name in ["redis", "cloud-cafe", "a", "r2d2", &"a".repeat(63)] {
            assert!(ResourceName::parse(name).is_ok(), "{name}");
        }
        for name in [
            "",
            "Redis",
            "cloud_cafe",
            "-redis",
            "redis-",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(
                ResourceName::parse(name).is_err(),
                "{name} should be rejected"
            );
        }
    }

    #[test]
    fn save_rules_need_two_positive_numbers() {
        assert_eq!(SaveRule::parse(" 900  1 ").unwrap(), SaveRule::new(900, 1));
        for text in [
            "900",
            "900 1 2",
            "0 1",
            "a b",
            "",
            "86401 1",
            "60 2147483648",
            "60 18446744073709551616",
        ] {
            assert!(SaveRule::parse(text).is_err(), "{text} should be rejected");
        }
    }
}
