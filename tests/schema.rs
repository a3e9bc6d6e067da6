//! Every rendered object passes the Kubernetes OpenAPI schema in strict mode
//! (unknown fields rejected), checked by kubernetes-validate, an independent
//! validator with the upstream schemas. .ci/run installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{describe, render_yaml, require_program, VARIANTS};

/// The oldest version we support and the one our k8s-openapi types follow.
const KUBERNETES_VERSIONS: &[&str] = &["1.28.0", "1.33.0"];

fn validate(validator: &Path, version: &str, files: &[PathBuf]) -> Output {
    Command::new(validator)
        .args(["--strict", "--quiet", "--kubernetes-version", version])
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn rendered_objects_pass_the_openapi_schema_strictly() {
    let Some(validator) =
        require_program("kubernetes-validate", "strict OpenAPI schema validation")
    else {
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = VARIANTS
        .iter()
        .enumerate()
        .map(|(index, (profile, sets))| {
            let path = directory.path().join(format!("{index}-{profile}.yaml"));
            std::fs::write(&path, render_yaml(profile, sets)).unwrap();
            path
        })
        .collect();
    for version in KUBERNETES_VERSIONS {
        let output = validate(&validator, version, &files);
        assert!(
            output.status.success(),
            "Kubernetes {version}:\n{}",
            describe(&output)
        );
    }
}

#[test]
fn the_validator_rejects_an_unknown_field() {
    // Proves the check above can fail.
    let Some(validator) =
        require_program("kubernetes-validate", "strict OpenAPI schema validation")
    else {
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("bad.yaml");
    let yaml = render_yaml("standalone", &[]).replacen(
        "publishNotReadyAddresses",
        "publishNotReadyAdresses",
        1,
    );
    std::fs::write(&path, yaml).unwrap();
    let output = validate(&validator, KUBERNETES_VERSIONS[0], &[path]);
    assert!(!output.status.success());
    assert!(describe(&output).contains("publishNotReadyAdresses"));
}
