//! The profile's JSON Schema (`cafectl schema`, committed as
//! profiles/profile.schema.json for editors): it is current, every shipped
//! profile passes it, and every mistake it can express fails both it and
//! cafectl's own validation.

mod common;

use assert_cmd::Command;
use serde_json::Value;

use common::profile_path;

const SHIPPED: &[&str] = &["standalone", "sentinel", "cluster"];

fn schema() -> Value {
    serde_json::from_str(&cafectl::profile::schema()).unwrap()
}

/// A profile file's YAML as JSON, as an editor's schema check sees it.
fn as_json(yaml: &str) -> Value {
    cafectl::yaml::from_str(yaml).unwrap()
}

#[test]
fn the_committed_schema_is_what_cafectl_schema_prints() {
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/profile.schema.json"),
    )
    .unwrap();
    let printed = Command::cargo_bin("cafectl")
        .unwrap()
        .arg("schema")
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap(),
        committed,
        "profiles/profile.schema.json is stale: cafectl schema > profiles/profile.schema.json"
    );
}

#[test]
fn every_shipped_profile_names_the_schema_and_passes_it() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    for name in SHIPPED {
        let text = std::fs::read_to_string(profile_path(name)).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("# yaml-language-server: $schema=profile.schema.json"),
            "{name}"
        );
        let errors: Vec<String> = validator
            .iter_errors(&as_json(&text))
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

/// Mistakes the schema can express on its own (no rule across keys): each
/// is refused by the schema and by cafectl.
const MISTAKES: &[(&str, &str)] = &[
    ("an unknown key", "name: x\nredis:\n  maxmemmory: 1gb\n"),
    ("a misspelt topology", "name: x\nredis:\n  topology: sentinal\n"),
    ("a wrong type", "name: x\nredis:\n  persistence:\n    enabled: maybe\n"),
    ("an invalid namespace", "name: x\nnamespace: Cloud_Cafe\n"),
    ("a Redis size without digits", "name: x\nredis:\n  maxmemory: lots\n"),
    ("a save rule of one number", "name: x\nredis:\n  persistence:\n    save: [\"900\"]\n"),
    ("a quantity with a bad unit", "name: x\nredis:\n  resources:\n    requests:\n      cpu: 1cores\n"),
    ("too many sentinels", "name: x\nredis:\n  topology: sentinel\n  sentinel:\n    replicas: 10\n"),
    ("too few cluster masters", "name: x\nredis:\n  topology: cluster\n  cluster:\n    masters: 2\n"),
    ("a root user", "name: x\nredis:\n  runAsUser: 0\n"),
    ("a utilization of 0 %", "name: x\nautoscaling:\n  - name: frontend\n    cpuUtilization: 0\n"),
    ("a window beyond an hour", "name: x\nautoscaling:\n  - name: frontend\n    behavior:\n      scaleUpWindowSeconds: 3601\n"),
];

#[test]
fn the_schema_refuses_what_cafectl_refuses() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let directory = tempfile::tempdir().unwrap();
    for (what, text) in MISTAKES {
        assert!(
            !validator.is_valid(&as_json(text)),
            "the schema accepts {what}:\n{text}"
        );
        let path = directory.path().join("mistake.yaml");
        std::fs::write(&path, text).unwrap();
        let rendered = Command::cargo_bin("cafectl")
            .unwrap()
            .arg("render")
            .arg("-p")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            rendered.status.code(),
            Some(1),
            "cafectl accepts {what}: {}",
            common::describe(&rendered)
        );
    }
}
