//! Random and mutated profiles and `--set` overrides, starting from the
//! shipped profiles: every input ends in a profile or a clear error, never a
//! panic, a crash or a run without end. The seed is fixed, so a failure
//! reproduces; FUZZ_SEED=N tries other inputs, FUZZ_VERBOSE=1 prints each
//! in-process input before it runs (a stack overflow aborts the test before
//! it can say which). Most cases run the library (fast); a few run the
//! binary, which must exit 0, 1 or 64 with an `error:` line.

mod common;

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cafectl::profile::{self, ProfileRequest, SetOverride};
use cafectl::render;
use serde_json::Value;

const LIBRARY_CASES: usize = 400;
const BINARY_CASES: usize = 16;
/// Far above what any case needs; only a run without end trips it.
const CASE_TIME_LIMIT: Duration = Duration::from_secs(20);
/// Nesting far deeper than any parser should follow by recursion.
const DEEP: usize = 10_000;

/// Values that have broken parsers: limits of every integer width, floats
/// that overflow, YAML's special words, odd Unicode and empty text.
const NASTY: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "1e400",
    "18446744073709551616",
    "18446744073709551615",
    "-9223372036854775809",
    "4294967296",
    "4294967295",
    "2147483648",
    "40000000",
    ".inf",
    "-.inf",
    ".nan",
    "0x10",
    "1_000",
    "~",
    "null",
    "yes",
    "true",
    "",
    "256mb",
    "1Gi",
    "100m",
    "1e3",
    "\"\\0\"",
    "\"\\ud800\"",
    "\"\\udfff\\ud800\"",
    "\u{202E}redis\u{200F}",
    "\u{FEFF}",
    "🚀☕",
    "\"a\\u0000b\"",
    "{}",
    "[]",
    "[1, [2, [3]]]",
    "{a: {b: {c: d}}}",
    "&x 1",
    "*x",
    "!!binary aGVsbG8=",
    "!custom 5",
    "'it''s'",
    "|\n  block\n",
];

/// Every key a profile has, so mutations reach the checks behind them.
const KEYS: &[&str] = &[
    "name",
    "namespace",
    "createNamespace",
    "clusterDomain",
    "topology",
    "image",
    "maxmemory",
    "maxmemoryPolicy",
    "enabled",
    "appendonly",
    "save",
    "size",
    "storageClass",
    "cpu",
    "memory",
    "existingSecret",
    "password",
    "maxUnavailable",
    "replicas",
    "quorum",
    "masterName",
    "downAfterMilliseconds",
    "failoverTimeout",
    "parallelSyncs",
    "masters",
    "replicasPerMaster",
    "nodeTimeoutMilliseconds",
    "clientLabels",
    "target",
    "minReplicas",
    "maxReplicas",
    "cpuUtilization",
    "memoryUtilization",
    "scaleUpWindowSeconds",
    "scaleDownWindowSeconds",
];

/// Every `--set` path of the profile model.
const SET_PATHS: &[&str] = &[
    "name",
    "namespace",
    "createNamespace",
    "clusterDomain",
    "redis.topology",
    "redis.name",
    "redis.image",
    "redis.maxmemory",
    "redis.maxmemoryPolicy",
    "redis.persistence.enabled",
    "redis.persistence.appendonly",
    "redis.persistence.save",
    "redis.persistence.size",
    "redis.persistence.storageClass",
    "redis.resources.requests.cpu",
    "redis.resources.requests.memory",
    "redis.resources.limits.cpu",
    "redis.resources.limits.memory",
    "redis.auth.existingSecret",
    "redis.auth.password",
    "redis.podDisruptionBudget.enabled",
    "redis.podDisruptionBudget.maxUnavailable",
    "redis.sentinel.replicas",
    "redis.sentinel.quorum",
    "redis.sentinel.masterName",
    "redis.sentinel.downAfterMilliseconds",
    "redis.sentinel.failoverTimeout",
    "redis.sentinel.parallelSyncs",
    "redis.cluster.masters",
    "redis.cluster.replicasPerMaster",
    "redis.cluster.nodeTimeoutMilliseconds",
    "appConfig.name",
    "networkPolicy.enabled",
    r"networkPolicy.clientLabels.team\.example/cache",
    "autoscaling[0].name",
    "autoscaling[0].minReplicas",
    "autoscaling[1].maxReplicas",
    "autoscaling[2].cpuUtilization",
    "autoscaling[0].behavior.scaleDownWindowSeconds",
    "autoscaling[18446744073709551616].name",
];

/// One run of `cafectl render`: a profile file and the flags after it.
struct Case {
    text: String,
    sets: Vec<String>,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "profile ({} bytes): {:?}",
            self.text.len(),
            shorten(&self.text)
        )?;
        for set in &self.sets {
            writeln!(f, "--set ({} bytes): {:?}", set.len(), shorten(set))?;
        }
        Ok(())
    }
}

/// Long inputs are shown by their ends, which is where mutations differ.
fn shorten(text: &str) -> String {
    const SHOWN: usize = 600;
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 2 * SHOWN {
        return text.to_owned();
    }
    let head: String = chars[..SHOWN].iter().collect();
    let tail: String = chars[chars.len() - SHOWN..].iter().collect();
    format!("{head} ... {tail}")
}

struct Generator {
    rng: fastrand::Rng,
    shipped: Vec<String>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        let shipped = common::SHIPPED_PROFILES
            .iter()
            .map(|name| std::fs::read_to_string(common::profile_path(name)).unwrap())
            .collect();
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            shipped,
        }
    }

    fn case(&mut self) -> Case {
        let base = self.shipped[self.rng.usize(..self.shipped.len())].clone();
        let text = match self.rng.u8(..10) {
            0..=3 => self.mutate_tree(&base),
            4..=6 => self.mutate_text(base),
            _ => self.hostile_text(&base),
        };
        let sets = (0..self.rng.usize(..4)).map(|_| self.set()).collect();
        Case { text, sets }
    }

    fn nasty(&mut self) -> String {
        NASTY[self.rng.usize(..NASTY.len())].to_owned()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(..items.len())]
    }

    /// Edits the parsed profile: replaced, removed, added and swapped values.
    fn mutate_tree(&mut self, base: &str) -> String {
        let mut tree: Value = cafectl::yaml::from_str(base).unwrap();
        for _ in 0..self.rng.usize(1..5) {
            let paths = node_paths(&tree);
            let path = paths[self.rng.usize(..paths.len())].clone();
            let replacement = match self.rng.u8(..4) {
                0 => Value::from(self.rng.u64(..)),
                1 => Value::from(self.rng.i64(..)),
                2 => Value::from(f64::from_bits(self.rng.u64(..))),
                _ => cafectl::yaml::from_str(&self.nasty()).unwrap_or(Value::Null),
            };
            match self.rng.u8(..4) {
                0 => *node_at(&mut tree, &path) = replacement,
                1 => {
                    if let Some(Value::Object(map)) = path
                        .split_last()
                        .map(|(_, parent)| node_at(&mut tree, parent))
                    {
                        map.remove(self.pick(KEYS));
                    }
                }
                2 => {
                    if let Value::Object(map) = node_at(&mut tree, &path) {
                        map.insert(self.pick(KEYS).to_owned(), replacement);
                    }
                }
                _ => {
                    let other = paths[self.rng.usize(..paths.len())].clone();
                    let value = node_at(&mut tree, &other).clone();
                    *node_at(&mut tree, &path) = value;
                }
            }
        }
        cafectl::yaml::to_string(&tree)
    }

    /// Edits the text: nasty tokens, cut lines, repeated lines, truncation.
    fn mutate_text(&mut self, mut text: String) -> String {
        for _ in 0..self.rng.usize(1..5) {
            if text.lines().next().is_none() {
                break;
            }
            let at = char_boundary(&text, self.rng.usize(..=text.len()));
            match self.rng.u8(..5) {
                0 => {
                    let token = self.nasty();
                    text.insert_str(at, &token);
                }
                1 => {
                    // Replace the value of a random `key: value` line.
                    let lines: Vec<&str> = text.lines().collect();
                    let line = self.rng.usize(..lines.len());
                    let key = lines[line].split(':').next().unwrap_or_default();
                    let replaced = format!("{key}: {}", self.nasty());
                    let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                    lines[line] = replaced;
                    text = lines.join("\n");
                }
                2 => {
                    let end = char_boundary(&text, at + self.rng.usize(..40));
                    text.replace_range(at..end, "");
                }
                3 => {
                    let lines: Vec<&str> = text.lines().collect();
                    let line = lines[self.rng.usize(..lines.len())].to_owned();
                    text.insert_str(at, &format!("\n{line}\n"));
                }
                _ => text.truncate(at),
            }
        }
        text
    }

    /// Inputs built to exhaust a parser: deep nesting, alias bombs, huge
    /// strings and lists, appended to or replacing part of a profile.
    fn hostile_text(&mut self, base: &str) -> String {
        let key = self.pick(KEYS);
        let hostile = match self.rng.u8(..11) {
            0 => format!("{key}: {}{}\n", "[".repeat(DEEP), "]".repeat(DEEP)),
            1 => format!("{key}: {}1{}\n", "{a: ".repeat(DEEP), "}".repeat(DEEP)),
            2 => {
                let mut nested = String::new();
                for depth in 0..DEEP.min(2_000) {
                    nested.push_str(&format!("{}- \n", "  ".repeat(depth)));
                }
                format!("{key}:\n{nested}")
            }
            3 => alias_bomb(key, self.rng.usize(2..12)),
            8 => wide_alias_bomb(key, self.rng.usize(1..30_000)),
            4 => format!("{key}: {}\n", "x".repeat(self.rng.usize(..2_000_000))),
            5 => {
                let entries: String = (0..self.rng.usize(..10_000))
                    .map(|i| format!("  - {{name: a{i}, maxReplicas: 0}}\n"))
                    .collect();
                format!("autoscaling:\n{entries}")
            }
            6 => (0..self.rng.usize(..20_000))
                .map(|i| format!("k{i}: {i}\n"))
                .collect(),
            7 => format!(
                "{key}: \"{}\"\n",
                ["\\0", "\\u202E", "\\U0001F680", "\\ud800", "\\x00", "\\\""]
                    .iter()
                    .cycle()
                    .take(self.rng.usize(1..2_000))
                    .copied()
                    .collect::<String>()
            ),
            9 => format!("{}x\n", "- ".repeat(DEEP)),
            _ => "---\nname: second\n...\n---\n".to_owned(),
        };
        match self.rng.u8(..3) {
            0 => hostile,
            1 => format!("{base}\n{hostile}"),
            _ => format!("{hostile}{base}"),
        }
    }

    fn set(&mut self) -> String {
        let path = match self.rng.u8(..6) {
            0 => {
                let depth = self.rng.usize(1..DEEP * 3);
                vec!["a"; depth].join(".")
            }
            1 => format!(
                "{}{}",
                self.pick(SET_PATHS),
                "[0]".repeat(self.rng.usize(..DEEP))
            ),
            2 => self.nasty(),
            _ => self.pick(SET_PATHS).to_owned(),
        };
        let value = match self.rng.u8(..5) {
            0 => format!(
                "{}x{}",
                "{".repeat(self.rng.usize(..DEEP * 3)),
                "}".repeat(DEEP)
            ),
            1 => format!(
                "{{{}}}",
                vec![self.nasty(); self.rng.usize(..5_000)].join(",")
            ),
            2 => self.rng.u64(..).to_string(),
            _ => self.nasty(),
        };
        format!("{path}={value}")
    }
}

/// One large anchor named many times: few aliases, so YAML parsers that
/// count alias jumps let it through, but width^2 nodes.
fn wide_alias_bomb(key: &str, width: usize) -> String {
    format!(
        "{key}:\n  - &wide [{}]\n  - [{}]\n",
        vec!["lol"; width].join(", "),
        vec!["*wide"; width].join(", ")
    )
}

/// Anchors that each name the one before `width` times: a few hundred
/// bytes that expand to width^depth nodes.
fn alias_bomb(key: &str, width: usize) -> String {
    let mut text = format!("{key}:\n  - &l0 [lol, lol, lol]\n");
    for level in 1..12 {
        let refs = vec![format!("*l{}", level - 1); width].join(", ");
        text.push_str(&format!("  - &l{level} [{refs}]\n"));
    }
    text
}

fn char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Paths (as lists of keys and indices) of every node, the root included.
fn node_paths(tree: &Value) -> Vec<Vec<Value>> {
    let mut paths = vec![];
    let mut pending = vec![(vec![], tree)];
    while let Some((path, node)) = pending.pop() {
        match node {
            Value::Object(map) => {
                for (key, child) in map {
                    let mut child_path: Vec<Value> = path.clone();
                    child_path.push(Value::from(key.as_str()));
                    pending.push((child_path, child));
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    let mut child_path: Vec<Value> = path.clone();
                    child_path.push(Value::from(index));
                    pending.push((child_path, child));
                }
            }
            _ => {}
        }
        paths.push(path);
    }
    paths
}

fn node_at<'a>(tree: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(tree, |node, step| match (node, step) {
        (Value::Array(items), Value::Number(index)) => &mut items[index.as_u64().unwrap() as usize],
        (node, key) => node.get_mut(key.as_str().unwrap()).unwrap(),
    })
}

/// Loads and renders in-process, as `cafectl render` does. A `--set` that
/// does not parse is a usage error (exit 64) before anything is loaded.
fn run_in_process(directory: &Path, case: &Case) -> Result<(), String> {
    let file = directory.join("case.yaml");
    std::fs::write(&file, &case.text).unwrap();
    let outcome = std::panic::catch_unwind(|| {
        let Ok(sets) = case
            .sets
            .iter()
            .map(|set| set.parse::<SetOverride>())
            .collect::<Result<Vec<_>, _>>()
        else {
            return;
        };
        let request = ProfileRequest {
            files: vec![file.clone()],
            sets,
            namespace: None,
        };
        if let Ok(valid) = profile::load(&request) {
            let objects = render::render(&valid).expect("a valid profile renders");
            render::to_yaml_stream(&objects);
        }
    });
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("panicked: {message}")
    })
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(8)
}

#[test]
fn the_loader_never_panics_nor_runs_without_end() {
    let seed = seed();
    let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
    let (sender, receiver) = mpsc::channel();
    // The cases run on a thread with the main thread's stack, so that a
    // recursion too deep for the binary is too deep here as well.
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let directory = tempfile::tempdir().unwrap();
            let mut generator = Generator::new(seed);
            for _ in 0..LIBRARY_CASES {
                let case = generator.case();
                let shown = case.to_string();
                if verbose {
                    // Past the test's capture, so that a crash shows its input.
                    let _ = writeln!(std::io::stderr(), "{shown}");
                }
                sender.send(Err(shown.clone())).unwrap();
                let outcome = run_in_process(directory.path(), &case);
                sender
                    .send(Ok(outcome.map_err(|error| format!("{error}\n{shown}"))))
                    .unwrap();
            }
        })
        .unwrap();
    let started = Instant::now();
    let mut failures = vec![];
    let mut current = String::new();
    let mut finished = 0;
    loop {
        match receiver.recv_timeout(CASE_TIME_LIMIT) {
            Ok(Err(shown)) => current = shown,
            Ok(Ok(outcome)) => {
                finished += 1;
                failures.extend(outcome.err());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => failures.push(format!(
                "still running after {CASE_TIME_LIMIT:?} (seed {seed}):\n{current}"
            )),
        }
        if failures.len() > 3 || matches!(failures.last(), Some(f) if f.starts_with("still")) {
            break;
        }
    }
    eprintln!(
        "{finished} in-process cases in {:.1} s (seed {seed})",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
    assert_eq!(finished, LIBRARY_CASES);
}

#[test]
fn the_binary_exits_cleanly_on_any_input() {
    let seed = seed().wrapping_add(1);
    let mut generator = Generator::new(seed);
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("case.yaml");
    let started = Instant::now();
    let mut failures = vec![];
    for _ in 0..BINARY_CASES {
        let case = generator.case();
        std::fs::write(&file, &case.text).unwrap();
        let mut command = assert_cmd::Command::cargo_bin("cafectl").unwrap();
        command.arg("render").arg("-p").arg(&file);
        for set in &case.sets {
            command.arg("--set").arg(set);
        }
        let Ok(output) = command.timeout(CASE_TIME_LIMIT).output() else {
            failures.push(format!("killed after {CASE_TIME_LIMIT:?}:\n{case}"));
            continue;
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        let clean = match output.status.code() {
            Some(0) => true,
            Some(1 | 64) => stderr.lines().any(|line| line.starts_with("error:")),
            _ => false,
        };
        if !clean || stderr.contains("panicked") {
            failures.push(format!(
                "exit {:?}, stderr {:?}:\n{case}",
                output.status,
                shorten(&stderr)
            ));
        }
    }
    eprintln!(
        "{BINARY_CASES} runs of the binary in {:.1} s (seed {seed})",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}
