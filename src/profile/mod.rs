//! Profiles: read, layer, override, check. Nothing here touches a cluster.

mod bounded;
mod error;
mod layers;
mod model;
mod path;
mod positions;
mod validate;
mod values;

use std::path::PathBuf;

pub use error::{Problem, ProfileError};
pub use layers::parse_set_value;
pub use model::*;
pub use path::KeyPath;
pub use values::{KubeQuantity, Percent, RedisMemory, ResourceName, SaveRule, StabilizationWindow};

use layers::Layers;

/// The JSON Schema of a profile file, pretty-printed: keys, types, defaults,
/// descriptions and the bounds that need no other key to check.
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(Profile);
    schema.insert(
        "title".to_owned(),
        "cafectl profile: a Redis cache and the app tiers' autoscalers".into(),
    );
    serde_json::to_string_pretty(&schema).expect("a schema is JSON")
}

/// One `--set key.path=value` from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOverride {
    pub path: KeyPath,
    pub raw: String,
}

impl std::str::FromStr for SetOverride {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (path, raw) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} has no '=': write key.path=value"))?;
        Ok(SetOverride {
            path: KeyPath::parse(path)?,
            raw: raw.to_owned(),
        })
    }
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct ProfileRequest {
    /// Later files override earlier ones, key by key.
    pub files: Vec<PathBuf>,
    /// Applied after all files, in order.
    pub sets: Vec<SetOverride>,
    /// `-n/--namespace`, applied last.
    pub namespace: Option<String>,
}

/// A profile that passed every check.
#[derive(Debug, Clone)]
pub struct ValidProfile {
    pub name: ResourceName,
    pub profile: Profile,
}

/// More problems than anyone reads before fixing the first ones.
const MAX_REPORTED_PROBLEMS: usize = 20;

/// Reads, layers and validates a profile. Every problem that can be found
/// is reported at once.
pub fn load(request: &ProfileRequest) -> Result<ValidProfile, ProfileError> {
    let layers = layer(request)?;
    let profile: Profile = serde_path_to_error::deserialize(&layers.merged).map_err(|error| {
        let path = KeyPath::from_serde(error.path());
        problem_at(
            &layers,
            &path,
            error::humanize(&error.into_inner().to_string()),
        )
    })?;
    let findings = validate::validate(&profile);
    let unreported = findings.len().saturating_sub(MAX_REPORTED_PROBLEMS);
    // Each problem's line is found by reading its file again.
    let problems: Vec<Problem> = findings
        .into_iter()
        .take(MAX_REPORTED_PROBLEMS)
        .map(|(path, message)| problem_at(&layers, &path, message))
        .collect();
    if !problems.is_empty() {
        return Err(ProfileError {
            problems,
            unreported,
        });
    }
    if let Some(password) = &profile.redis.auth.password {
        crate::redact::register(password);
    }
    let name = profile.name.clone().expect("validation requires a name");
    Ok(ValidProfile { name, profile })
}

fn layer(request: &ProfileRequest) -> Result<Layers, ProfileError> {
    if request.files.is_empty() {
        return Err(Problem {
            origin: "cafectl".to_owned(),
            position: None,
            key: String::new(),
            message:
                "no profile given: pass -p/--profile FILE (for example -p profiles/standalone.yaml)"
                    .to_owned(),
        }
        .into());
    }
    let mut layers = Layers::new();
    for file in &request.files {
        let label = file.display().to_string();
        let whole_file = |position, message: String| Problem {
            origin: label.clone(),
            position,
            key: String::new(),
            message,
        };
        let text = bounded::read_text(file)
            .map_err(|error| {
                let reason = match error.kind() {
                    std::io::ErrorKind::NotFound => {
                        "no such file; the shipped profiles are in profiles/".to_owned()
                    }
                    _ => format!("cannot read the profile: {error}"),
                };
                whole_file(None, reason)
            })?
            .ok_or_else(|| {
                whole_file(
                    None,
                    format!(
                        "larger than {} KiB: a profile is a few kilobytes; is this the right file?",
                        bounded::MAX_PROFILE_BYTES >> 10
                    ),
                )
            })?;
        let value = positions::value(&text).map_err(|error| {
            let message = match &error.key {
                Some(_) => error.message,
                None if error.too_large => format!(
                    "{}; a profile holds a few hundred values, a few levels deep",
                    error.message
                ),
                None => format!("not valid YAML: {}", error.message),
            };
            Problem {
                key: error.key.unwrap_or_default(),
                ..whole_file(error.position, message)
            }
        })?;
        match value {
            serde_json::Value::Object(ref map) if !map.is_empty() => {
                layers.push_file(label, text, value)
            }
            serde_json::Value::Null => {
                return Err(whole_file(None, "the profile is empty; start from one of profiles/*.yaml".to_owned()).into())
            }
            serde_json::Value::Object(_) => {
                return Err(whole_file(None, "the profile is an empty mapping; start from one of profiles/*.yaml".to_owned()).into())
            }
            other => {
                return Err(whole_file(
                    Some((1, 1)),
                    format!("a profile is a mapping of keys (name:, redis:, autoscaling: ...), but this file holds {}", layers::describe(&other)),
                )
                .into())
            }
        }
    }
    // A password written in a file is scrubbed from every message too.
    let file_password = ["redis", "auth", "password"]
        .iter()
        .try_fold(&layers.merged, |node, key| node.get(*key));
    if let Some(password) = file_password {
        match password {
            serde_json::Value::String(text) => crate::redact::register(text),
            other => crate::redact::register(&other.to_string()),
        }
    }
    let overrides = request
        .sets
        .iter()
        .map(|set| {
            // A password given with --set is never echoed, not even in the
            // name of the flag an error points at.
            let shown = if set
                .path
                .to_string()
                .to_ascii_lowercase()
                .contains("password")
            {
                crate::redact::register(&set.raw);
                "***"
            } else {
                set.raw.as_str()
            };
            (
                format!("--set {}={shown}", set.path),
                set.path.clone(),
                parse_set_value(&set.raw),
            )
        })
        .chain(request.namespace.iter().map(|namespace| {
            (
                format!("--namespace {namespace}"),
                KeyPath::root().key("namespace"),
                serde_json::Value::String(namespace.clone()),
            )
        }));
    for (label, path, value) in overrides {
        layers
            .set(label.clone(), &path, value)
            .map_err(|message| Problem {
                origin: label,
                position: None,
                key: path.to_string(),
                message,
            })?;
    }
    Ok(layers)
}

fn problem_at(layers: &Layers, path: &KeyPath, message: String) -> Problem {
    let key = path.to_string();
    match layers.origin_of(path) {
        Some((source, source_path)) if !path.is_root() => Problem {
            origin: source.label.clone(),
            position: source
                .text
                .as_deref()
                .and_then(|text| positions::read(text).ok())
                .and_then(|(_, positions)| positions::nearest(&positions, source_path)),
            key,
            message,
        },
        // A default (or a key nobody wrote) is wrong: blame the top layer file.
        _ => Problem {
            origin: layers
                .sources
                .iter()
                .rev()
                .find(|source| source.text.is_some())
                .map(|source| source.label.clone())
                .unwrap_or_default(),
            position: None,
            key,
            message,
        },
    }
}
