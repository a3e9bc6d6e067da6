//! The built binary, as a user runs it: help, exit codes, output modes and
//! how -p, --set and -n combine.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use common::profile_path;

fn cafectl() -> Command {
    Command::cargo_bin("cafectl").unwrap()
}

fn render(args: &[&str]) -> String {
    let output = cafectl().arg("render").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn documents(yaml: &str) -> Vec<Value> {
    cafectl::yaml::documents(yaml).unwrap()
}

fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|document| document["kind"] == kind && document["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn standalone() -> String {
    profile_path("standalone").display().to_string()
}

#[test]
fn help_explains_every_verb_and_flag() {
    cafectl().arg("--help").assert().code(0).stdout(
        predicate::str::contains("render")
            .and(predicate::str::contains("teardown"))
            .and(predicate::str::contains("Exit codes")),
    );
    cafectl()
        .args(["render", "--help"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("--profile <FILE>")
                .and(predicate::str::contains("--set <KEY=VALUE>"))
                .and(predicate::str::contains("--namespace <NAMESPACE>"))
                .and(predicate::str::contains("--output-dir <DIR>")),
        );
    for verb in ["diff", "apply", "teardown"] {
        cafectl()
            .args([verb, "--help"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("--profile <FILE>"));
    }
    cafectl()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("cafectl "));
}

#[test]
fn usage_errors_exit_64_never_2() {
    for args in [
        vec![],
        vec!["render"],
        vec!["render", "--no-such-flag", "-p", "x.yaml"],
        vec!["frobnicate"],
        vec!["render", "-p", "x.yaml", "--set", "no-equals-sign"],
        vec!["render", "-p", "x.yaml", "--set", "a..b=1"],
        vec!["diff"],
        // JSON lines leave no room for the question: --yes is required.
        vec!["teardown", "-p", "x.yaml", "-o", "json"],
    ] {
        cafectl().args(&args).assert().code(64).stdout("");
    }
}

#[test]
fn a_timeout_beyond_a_day_is_a_usage_error() {
    // Rejected while the arguments are read: no cluster is contacted.
    for verb in ["diff", "apply", "teardown"] {
        for timeout in ["18446744073709551615m", "25h"] {
            let output = cafectl()
                .args([verb, "-p", &standalone(), "--timeout", timeout])
                .args(["--kubeconfig", "/nonexistent"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(64), "{verb} {timeout}: {stderr}");
            assert!(
                stderr.starts_with("error: ")
                    && stderr.contains(&format!(
                        "{timeout:?} is too long: the timeout may be at most 24h"
                    ))
                    && !stderr.contains("panicked"),
                "{verb} {timeout}: {stderr}"
            );
            assert!(output.stdout.is_empty());
        }
    }
}

/// A kubeconfig in `directory` for port 1 on loopback, where nothing
/// listens (the connection is refused at once); `cluster` adds to its
/// cluster's settings.
fn unreachable_kubeconfig(directory: &std::path::Path, cluster: &str) -> std::path::PathBuf {
    let kubeconfig = directory.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:1\"{cluster}}}\n\
             users:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    kubeconfig
}

#[test]
fn cluster_verbs_name_the_server_they_cannot_reach() {
    let directory = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(directory.path(), "");
    for verb in ["diff", "apply", "teardown"] {
        cafectl()
            .args([verb, "-p", &standalone(), "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--timeout", "10s", "--yes"].iter().filter(|flag| verb == "teardown" || **flag != "--yes"))
            .assert()
            .code(1)
            .stdout("")
            .stderr(
                "error: cannot reach the cluster at https://127.0.0.1:1/: tcp connect error: Connection refused (os error 111)\n",
            );
    }
}

#[test]
fn an_unreachable_cluster_behind_a_proxy_says_the_proxy_is_not_used() {
    let directory = tempfile::tempdir().unwrap();
    let kubeconfig =
        unreachable_kubeconfig(directory.path(), ", proxy-url: \"http://127.0.0.1:3128\"");
    cafectl()
        .args(["diff", "-p", &standalone(), "--kubeconfig"])
        .arg(&kubeconfig)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "error: cannot reach the cluster at https://127.0.0.1:1/: tcp connect error: Connection refused (os error 111) \
             (cafectl connects directly: it does not go through the kubeconfig's proxy-url http://127.0.0.1:3128/; \
             run `kubectl proxy` and point a kubeconfig at it instead)\n",
        );
}

#[test]
fn cluster_verbs_check_the_profile_before_connecting() {
    for verb in ["diff", "apply", "teardown"] {
        cafectl()
            .args([
                verb,
                "-p",
                &standalone(),
                "--set",
                "redis.maxmemory=lots",
                "--kubeconfig",
                "/nonexistent",
            ])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "redis.maxmemory: \"lots\" is not a Redis memory size",
            ));
    }
}

#[test]
fn render_is_deterministic() {
    for profile in common::SHIPPED_PROFILES {
        let path = profile_path(profile).display().to_string();
        assert_eq!(render(&["-p", &path]), render(&["-p", &path]), "{profile}");
    }
}

#[test]
fn output_dir_gets_one_file_per_object() {
    let stream = documents(&render(&["-p", &standalone()]));
    let directory = tempfile::tempdir().unwrap();
    let target = directory.path().join("out");
    cafectl()
        .args(["render", "-p", &standalone(), "-o"])
        .arg(&target)
        .assert()
        .code(0)
        .stdout("")
        .stderr(format!(
            "wrote {} objects to {}\n",
            stream.len(),
            target.display()
        ));
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = stream
        .iter()
        .map(|document| {
            format!(
                "{}-{}.yaml",
                document["kind"].as_str().unwrap().to_lowercase(),
                document["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let statefulset: Value = cafectl::yaml::from_str(
        &std::fs::read_to_string(target.join("statefulset-redis.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(&statefulset, find(&stream, "StatefulSet", "redis"));
}

#[cfg(unix)]
#[test]
fn the_secret_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let directory = tempfile::tempdir().unwrap();
    let target = directory.path().join("out");
    let mode = |name: &str| {
        std::fs::metadata(target.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    // A Secret file left world-readable by an earlier run is narrowed too.
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("secret-redis-auth.yaml"), "old").unwrap();
    std::fs::set_permissions(
        target.join("secret-redis-auth.yaml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    cafectl()
        .args([
            "render",
            "-p",
            &standalone(),
            "--set",
            "redis.auth.password=correct-horse-battery-staple",
            "-o",
        ])
        .arg(&target)
        .assert()
        .code(0);
    assert!(
        std::fs::read_to_string(target.join("secret-redis-auth.yaml"))
            .unwrap()
            .contains("correct-horse-battery-staple")
    );
    assert_eq!(mode("secret-redis-auth.yaml"), 0o600);
    // Other files get the mode of any new file (0644 under the usual umask).
    std::fs::write(target.join("probe"), "").unwrap();
    assert_eq!(mode("statefulset-redis.yaml"), mode("probe"));
}

#[test]
fn a_bad_profile_writes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let target = directory.path().join("out");
    cafectl()
        .args([
            "render",
            "-p",
            &standalone(),
            "--set",
            "redis.maxmemory=lots",
            "-o",
        ])
        .arg(&target)
        .assert()
        .code(1);
    assert!(!target.exists());
}

#[test]
fn later_files_override_earlier_ones_key_by_key() {
    let directory = tempfile::tempdir().unwrap();
    let overlay = directory.path().join("overlay.yaml");
    std::fs::write(
        &overlay,
        "redis:\n  maxmemory: 128mb\nautoscaling:\n  - name: frontend\n    maxReplicas: 8\n  - name: worker\n    maxReplicas: 4\n    cpuUtilization: 60\n",
    )
    .unwrap();
    let yaml = render(&["-p", &standalone(), "-p", overlay.to_str().unwrap()]);
    let documents = documents(&yaml);
    let redis_conf = find(&documents, "ConfigMap", "redis-config")["data"]["redis.conf"]
        .as_str()
        .unwrap();
    assert!(redis_conf.contains("maxmemory 128mb\n"));
    assert!(
        redis_conf.contains("maxmemory-policy allkeys-lru\n"),
        "untouched keys stay"
    );
    let frontend = &find(&documents, "HorizontalPodAutoscaler", "frontend")["spec"];
    assert_eq!(frontend["maxReplicas"], Value::from(8));
    assert_eq!(
        frontend["minReplicas"],
        Value::from(2),
        "the rest of the entry stays"
    );
    assert_eq!(
        find(&documents, "HorizontalPodAutoscaler", "order-backend")["spec"]["maxReplicas"],
        Value::from(10)
    );
    assert_eq!(
        find(&documents, "HorizontalPodAutoscaler", "worker")["spec"]["maxReplicas"],
        Value::from(4)
    );
}

#[test]
fn set_applies_after_every_file_and_namespace_last() {
    let directory = tempfile::tempdir().unwrap();
    let overlay = directory.path().join("overlay.yaml");
    std::fs::write(
        &overlay,
        "namespace: from-file\nredis:\n  maxmemory: 128mb\n",
    )
    .unwrap();
    let yaml = render(&[
        "-p",
        &standalone(),
        "-p",
        overlay.to_str().unwrap(),
        "--set",
        "redis.maxmemory=64mb",
        "--set",
        "autoscaling[0].maxReplicas=20",
        "--set",
        r"networkPolicy.clientLabels.team\.example/cache=yes",
        "--set",
        "namespace=from-set",
        "-n",
        "from-flag",
    ]);
    let documents = documents(&yaml);
    assert!(
        find(&documents, "ConfigMap", "redis-config")["data"]["redis.conf"]
            .as_str()
            .unwrap()
            .contains("maxmemory 64mb\n")
    );
    assert_eq!(
        find(&documents, "HorizontalPodAutoscaler", "order-backend")["spec"]["maxReplicas"],
        Value::from(20)
    );
    let client_labels = &find(&documents, "NetworkPolicy", "redis")["spec"]["ingress"][0]["from"]
        [0]["podSelector"]["matchLabels"];
    assert_eq!(client_labels["team.example/cache"], Value::from("yes"));
    find(&documents, "Namespace", "from-flag");
    for document in &documents {
        if document["kind"] != "Namespace" {
            assert_eq!(
                document["metadata"]["namespace"],
                Value::from("from-flag"),
                "{:?}",
                document["metadata"]["name"]
            );
        }
    }
}

#[test]
fn errors_have_no_colour_without_a_terminal() {
    cafectl()
        .args(["render", "-p", "no-such-profile.yaml"])
        .assert()
        .code(1)
        .stderr(
            "error: no-such-profile.yaml: no such file; the shipped profiles are in profiles/\n",
        );
}

#[test]
fn completions_are_valid_shell_and_know_every_verb() {
    let bash = cafectl().args(["completions", "bash"]).output().unwrap();
    assert!(bash.status.success(), "{}", common::describe(&bash));
    let mut check = std::process::Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    check.stdin.take().unwrap().write_all(&bash.stdout).unwrap();
    assert!(
        check.wait().unwrap().success(),
        "bash -n rejects the script"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = cafectl().args(["completions", shell]).output().unwrap();
        let script = String::from_utf8(script.stdout).unwrap();
        for word in [
            "render",
            "diff",
            "apply",
            "teardown",
            "status",
            "allow-recreate",
            "delete-data",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let unknown = cafectl().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(64));
}

/// Runs cafectl with its standard output a pipe whose reader has already
/// gone (as `cafectl ... | head` is once head has its lines).
fn into_a_closed_pipe(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    std::process::Command::new(assert_cmd::cargo::cargo_bin("cafectl"))
        .args(args)
        .stdout(writer)
        .output()
        .unwrap()
}

#[test]
fn a_reader_that_leaves_early_is_no_error() {
    let profile = standalone();
    for args in [
        vec!["render", "-p", &profile],
        vec!["schema"],
        vec!["completions", "bash"],
    ] {
        let output = into_a_closed_pipe(&args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(
            output.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
