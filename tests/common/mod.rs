//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

use cafectl::profile::{self, ProfileRequest, SetOverride};
use cafectl::render::{self, Object};

pub const SHIPPED_PROFILES: &[&str] = &["standalone", "sentinel", "cluster"];

pub fn profile_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join(format!("{name}.yaml"))
}

/// Renders a shipped profile with `--set` overrides, in-process.
pub fn render_profile(name: &str, sets: &[&str]) -> Vec<Object> {
    let request = ProfileRequest {
        files: vec![profile_path(name)],
        sets: sets
            .iter()
            .map(|set| set.parse::<SetOverride>().unwrap())
            .collect(),
        namespace: None,
    };
    let valid = profile::load(&request).unwrap_or_else(|error| panic!("{name}: {error}"));
    render::render(&valid).unwrap()
}

pub fn render_yaml(name: &str, sets: &[&str]) -> String {
    render::to_yaml_stream(&render_profile(name, sets))
}

/// Profiles and overrides that together reach every branch of the templates.
pub const VARIANTS: &[(&str, &[&str])] = &[
    ("standalone", &[]),
    ("sentinel", &[]),
    ("cluster", &[]),
    (
        "standalone",
        &[
            "redis.persistence.enabled=false",
            "redis.persistence.save={}",
            "redis.auth.existingSecret=team-redis",
            "networkPolicy.enabled=false",
            "redis.podDisruptionBudget.enabled=false",
            "createNamespace=false",
            "autoscaling[1].enabled=false",
        ],
    ),
    (
        "cluster",
        &[
            "redis.cluster.masters=4",
            "redis.cluster.replicasPerMaster=2",
            "redis.persistence.storageClass=local-path",
            "redis.auth.password=correct-horse-battery-staple",
            "redis.metrics.enabled=true",
        ],
    ),
];

/// A program on PATH, or a printed reason why a check is skipped. On CI
/// (`CI` set) a missing program is a failure: the check must run there.
pub fn require_program(program: &str, why: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|directory| directory.join(program))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is required on CI ({why}); .ci/run installs it"
        );
        eprintln!("skipped: {program} is not installed ({why})");
    }
    found
}

/// A namespace name no earlier run used: `<tier>-<test>-<millisecond clock>`.
pub fn fresh_namespace(tier: &str, test: &str) -> String {
    let suffix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 1_000_000;
    format!("{tier}-{test}-{suffix}")
}

/// A finished process's stdout and stderr, for assertion messages.
pub fn describe(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn assert_success(what: &str, command: &mut std::process::Command) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(output.status.success(), "{what}:\n{}", describe(&output));
}

pub mod redis_lab;
pub mod resp;
