//! Real pods: each shipped profile applied by cafectl to a Kubernetes cluster
//! whose pods really run (`tests/run.sh` starts `../shared/k8s-lab`), used
//! through the README's Python client, disrupted while a client writes, and
//! measured. Each test works in a fresh namespace and removes it with its
//! data. Without a cluster these tests are ignored; `tests/run.sh` runs them.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A round of "every pod deleted at once" must converge within this.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
/// The longest a client may go without an acknowledged write: while the
/// sentinels replace a master whose pod was deleted (issue 9: 10 s; about
/// 2 s measured), and while a rolling update restarts every pod. Issue 9
/// asks 2 s for a roll; a handover takes 1.3-2.0 s on the lab, up to a
/// second of it the sentinel's wait for its next INFO from the promoted
/// replica, and CI runs the live tests side by side on two cores, so this
/// bound is 4 s (issue 9's note says more). In every scenario no
/// acknowledged write may be lost.
const GAP_WHEN_THE_MASTER_POD_IS_DELETED: f64 = 10.0;
const GAP_DURING_A_ROLLING_UPDATE: f64 = 4.0;
/// A cluster's roll, per shard (issue 9: 2 s; 0.4 s measured: a master's
/// replica takes over with CLUSTER FAILOVER before its pod stops).
const GAP_PER_SHARD_DURING_A_ROLLING_UPDATE: f64 = 2.0;
const FULL_RESTART_ROUNDS: usize = 3;
/// Keys a cluster keeps through every scenario, resizes included (issue 10).
const KEPT_IN_THE_CLUSTER: u64 = 1000;
/// The log lines a failed scenario prints: the scripts' own, and the
/// sentinels' (or cluster nodes') view of failovers and of unreachable pods.
const TIMELINE_MARKS: &[&str] = &[
    "pre-stop:",
    "start-redis:",
    "start-sentinel:",
    "failover",
    "switch-master",
    "selected-slave",
    "promoted-slave",
    "sdown",
    "odown",
    "Failed to resolve",
    "MASTER MODE",
    "REPLICAOF",
    "Connection with master lost",
    "Failover auth",
    "Cluster state changed",
];
const SENTINEL_PORT: &str = "26379";
const REDIS_PORT: &str = "6379";
/// The rolling update's change, and Redis's 200mb in bytes: what CONFIG GET
/// maxmemory says after the roll.
const ROLLED_MAXMEMORY_SET: &str = "redis.maxmemory=200mb";
const ROLLED_MAXMEMORY: &str = "209715200";
/// The password `a_password_change` gives, and the same as a `--set`.
const NEW_PASSWORD: &str = "a-new-password-0123456789";
const NEW_PASSWORD_SET: &str = "redis.auth.password=a-new-password-0123456789";

/// Tests run one at a time: each takes real pods, volumes and CPU of a small
/// one-node cluster, and the figures they print mean more on a quiet node.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A figure for the log: `MEASURED ...` on stderr, written past the test
/// harness's capture so that CI's log has it even when the test passes.
macro_rules! measured {
    ($($format:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($format)*);
        let _ = writeln!(std::io::stderr().lock(), "MEASURED {line}");
    }};
}

/// `args`, then `--set SET` for each of `sets`.
fn with_sets<'a>(args: &[&'a str], sets: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    for set in sets {
        all.extend(["--set", set]);
    }
    all
}

/// What a cluster test needs, from `lab env` (tests/run.sh exports it).
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the cluster tests with `bash tests/run.sh`, which starts the k8s lab and exports it")
    })
}

struct Live {
    namespace: String,
    kubeconfig: String,
    kubectl: String,
    redis_image: String,
    client_image: String,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl Live {
    fn new(test: &str) -> Live {
        let guard = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Live {
            namespace: common::fresh_namespace("live", test),
            kubeconfig: env("CAFECTL_E2E_KUBECONFIG"),
            kubectl: env("LAB_KUBECTL"),
            redis_image: env("LAB_REDIS_IMAGE"),
            client_image: env("LAB_CLIENT_IMAGE"),
            _one_at_a_time: guard,
        }
    }

    /// cafectl on a shipped profile in this namespace, with the lab's image.
    fn cafectl_command(&self, profile: &str, args: &[&str]) -> Command {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("cafectl"));
        command
            .arg(args[0])
            .arg("-p")
            .arg(common::profile_path(profile))
            .args(["-n", &self.namespace, "--kubeconfig", &self.kubeconfig])
            .args(["--set", &format!("redis.image={}", self.redis_image)])
            .args(&args[1..]);
        command
    }

    fn cafectl(&self, profile: &str, args: &[&str]) -> Output {
        let output = self.cafectl_command(profile, args).output().unwrap();
        eprintln!(
            "$ cafectl {} ({profile}): exit {:?}\n{}",
            args.join(" "),
            output.status.code(),
            common::describe(&output)
        );
        output
    }

    fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.kubectl);
        command
            .args(["--kubeconfig", &self.kubeconfig, "-n", &self.namespace])
            .args(args);
        command
    }

    /// kubectl's stdout, or what it printed as the error.
    fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        kubectl_result(args, self.kubectl_command(args).output().unwrap())
    }

    /// kubectl started with `input` on its stdin, then closed.
    fn spawn_kubectl_with_input(&self, args: &[&str], input: &str) -> Child {
        let mut child = self
            .kubectl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child
    }

    fn kubectl_with_input(&self, args: &[&str], input: &str) -> Result<String, String> {
        let output = self
            .spawn_kubectl_with_input(args, input)
            .wait_with_output()
            .unwrap();
        kubectl_result(args, output)
    }

    /// redis-cli inside a Redis pod, authenticated with the pod's own
    /// password file (the password never appears in a command line here).
    fn redis_cli(
        &self,
        pod: &str,
        container: &str,
        port: &str,
        args: &[&str],
    ) -> Result<String, String> {
        let mut command = vec![
            "exec",
            pod,
            "-c",
            container,
            "--",
            "sh",
            "-c",
            "REDISCLI_AUTH=$(cat /etc/redis-auth/password) exec timeout 5 redis-cli -p \"$0\" \"$@\"",
            port,
        ];
        command.extend_from_slice(args);
        self.kubectl(&command).map(|reply| reply.replace('\r', ""))
    }

    /// What the Redis pods logged (the start-up and pre-stop lines say
    /// which master each followed and how each handover went), for a
    /// failure's report. Pods replaced during the scenario took theirs along.
    /// Follows the logs of the Redis pods there are now (each until its pod
    /// is gone, so a roll's stopping pods and their preStop lines are kept).
    fn follow_logs(&self) -> LogFollower {
        let mut child = self
            .kubectl_command(&[
                "logs",
                "--follow",
                "--timestamps",
                "--prefix",
                "--all-containers",
                "--max-log-requests",
                "20",
                "--since",
                "1s",
                "-l",
                "app.kubernetes.io/component=redis",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        LogFollower { child, lines }
    }

    /// What the pods logged about roles and handovers (their scripts' lines
    /// and the sentinels' failover events), as one timeline: `followed`
    /// from pods that may be gone, then the logs of the pods there are now.
    fn print_timeline(&self, scenario: &str, followed: Vec<String>) {
        let mut lines = followed;
        for pod in self.pod_names() {
            for container in ["redis", "sentinel"] {
                if let Ok(log) = self.kubectl(&["logs", &pod, "-c", container, "--timestamps"]) {
                    lines.extend(
                        log.lines()
                            .map(|line| format!("[pod/{pod}/{container}] {line}")),
                    );
                }
            }
        }
        let mut timeline: Vec<(String, String)> = lines
            .into_iter()
            .filter(|line| TIMELINE_MARKS.iter().any(|mark| line.contains(mark)))
            .filter_map(|line| {
                let (source, rest) = line.split_once(' ')?;
                let (at, text) = rest.split_once(' ')?;
                Some((at.to_owned(), format!("{source} {text}")))
            })
            .collect();
        timeline.sort();
        timeline.dedup();
        eprintln!("--- {scenario}: what the Redis pods logged about roles and handovers");
        for (at, line) in timeline {
            eprintln!("{} {line}", at.get(11..23).unwrap_or(&at));
        }
    }

    fn pod_names(&self) -> Vec<String> {
        let names = self
            .kubectl(&[
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/component=redis",
                "-o",
                "name",
            ])
            .unwrap();
        let mut names: Vec<String> = names
            .lines()
            .map(|line| line.trim_start_matches("pod/").to_owned())
            .collect();
        names.sort();
        names
    }

    fn pod_uids(&self) -> Vec<String> {
        self.kubectl(&[
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/component=redis",
            "-o",
            "jsonpath={range .items[*]}{.metadata.uid}{\"\\n\"}{end}",
        ])
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// A client pod set up as the README tells an app to: every key of
    /// app-config as environment, the password from the Secret that
    /// app-config names, and the label the NetworkPolicy admits.
    fn start_client(&self) {
        let secret = self
            .kubectl(&[
                "get",
                "configmap",
                "app-config",
                "-o",
                "jsonpath={.data.REDIS_PASSWORD_SECRET}",
            ])
            .unwrap();
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "cafe-client", "labels": {"cafectl.io/redis-client": "true"}},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{
                    "name": "client", "image": self.client_image,
                    "envFrom": [{"configMapRef": {"name": "app-config"}}],
                    "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}],
                }],
            },
        });
        self.kubectl_with_input(&["apply", "-f", "-"], &pod.to_string())
            .unwrap();
        self.kubectl(&[
            "wait",
            "--for=condition=Ready",
            "pod/cafe-client",
            "--timeout=60s",
        ])
        .unwrap();
    }

    /// The README's connection code followed by the test driver.
    fn client_script() -> String {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = readme
            .find("```python\n")
            .expect("README.md has the Python client");
        let code = &readme[start + "```python\n".len()..];
        let code = &code[..code.find("```").unwrap()];
        let driver = include_str!("live/client.py");
        format!("{code}\n{driver}")
    }

    fn client_args(args: &[&str]) -> Vec<String> {
        ["exec", "-i", "cafe-client", "--", "python3", "-"]
            .iter()
            .chain(args)
            .map(|arg| (*arg).to_owned())
            .collect()
    }

    /// Runs the client driver; its one line of JSON.
    fn client(&self, args: &[&str]) -> Result<Value, String> {
        let args = Live::client_args(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.kubectl_with_input(&args, &Live::client_script())?;
        serde_json::from_str(output.trim()).map_err(|error| format!("{error}: {output}"))
    }

    /// Starts a client writing keys PREFIX:<i> until `stop_writer`, with
    /// `writer`: "write" (the README's client) or "write-shards" (a cluster's
    /// shards in turn; see live/client.py).
    fn start_writer(&self, writer: &str, prefix: &str) -> Writer {
        let args = Live::client_args(&[writer, prefix]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = self.spawn_kubectl_with_input(&args, &Live::client_script());
        let logs = self.follow_logs();
        // Let it write for a while before anything happens.
        std::thread::sleep(Duration::from_secs(3));
        Writer {
            prefix: prefix.to_owned(),
            child,
            logs,
        }
    }

    /// Stops a writer and checks that no write it saw acknowledged was lost
    /// and that it never went longer than `longest_gap` seconds (if given)
    /// without one.
    fn stop_writer(&self, writer: Writer, scenario: &str, longest_gap: Option<f64>) {
        // A few more seconds of writes after the disruption settled.
        std::thread::sleep(Duration::from_secs(3));
        self.kubectl(&[
            "exec",
            "cafe-client",
            "--",
            "touch",
            &format!("/tmp/{}.stop", writer.prefix),
        ])
        .unwrap();
        let output = writer.child.wait_with_output().unwrap();
        let followed = writer.logs.stop();
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("writer: {error}: {}", common::describe(&output)));
        let verified = self.client(&["verify", &writer.prefix]).unwrap();
        let figures = WriteFigures {
            acked: report["acked"].as_u64().unwrap(),
            errors: report["errors"].as_u64().unwrap(),
            longest_gap: report["longest_gap"].as_f64().unwrap(),
            lost: verified["lost"].as_u64().unwrap(),
        };
        measured!(
            "{scenario} [{}]: {} acknowledged writes, {} lost, longest write gap {:.1} s (from {} UTC), {} failed attempts (first: {})",
            self.namespace,
            figures.acked,
            figures.lost,
            figures.longest_gap,
            report["longest_gap_from"].as_str().unwrap_or("-"),
            figures.errors,
            report["first_error"].as_str().unwrap_or("none")
        );
        assert_eq!(verified["checked"].as_u64(), Some(figures.acked));
        assert!(figures.acked > 0, "{scenario}: no write was acknowledged");
        if figures.lost > 0 || longest_gap.is_some_and(|bound| figures.longest_gap > bound) {
            self.print_timeline(scenario, followed);
        }
        assert_eq!(
            figures.lost, 0,
            "{scenario}: acknowledged writes were lost: {verified}"
        );
        if let Some(bound) = longest_gap {
            assert!(
                figures.longest_gap <= bound,
                "{scenario}: {:.1} s without an acknowledged write, more than {bound} s",
                figures.longest_gap
            );
        }
    }

    /// Polls `check` until it holds or `within` passes; the time it took,
    /// or a panic with the last reason it did not hold.
    fn converge(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn() -> Result<(), String>,
    ) -> Duration {
        let started = Instant::now();
        let mut reason = String::new();
        while started.elapsed() < within {
            match check() {
                // A check that took until past the limit is too late.
                Ok(()) if started.elapsed() <= within => return started.elapsed(),
                Ok(()) => {
                    reason = format!(
                        "converged only after {:?}; before: {reason}",
                        started.elapsed()
                    )
                }
                Err(why) => {
                    // Each new state once, with its time: shown if the test fails.
                    if why != reason {
                        eprintln!("{what} at {:.1} s: {why}", started.elapsed().as_secs_f64());
                    }
                    reason = why;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let pods = self
            .kubectl(&["get", "pods", "-o", "wide"])
            .unwrap_or_default();
        panic!("{what}: not converged within {within:?}: {reason}\n{pods}");
    }

    /// Deletes every Redis pod at once, `FULL_RESTART_ROUNDS` times; each
    /// round must converge (`converged`) within `CONVERGE_WITHIN`.
    fn full_restarts(&self, topology: &str, converged: impl Fn() -> Result<(), String>) {
        for round in 1..=FULL_RESTART_ROUNDS {
            let before = self.pod_uids();
            let mut delete = vec!["delete", "pod", "--wait=false"];
            let pods = self.pod_names();
            delete.extend(pods.iter().map(String::as_str));
            self.kubectl(&delete).unwrap();
            let took = self.converge(
                &format!("{topology} full restart round {round}"),
                CONVERGE_WITHIN,
                || {
                    let now = self.pod_uids();
                    if now.len() != before.len() || now.iter().any(|uid| before.contains(uid)) {
                        return Err("not every pod has been replaced yet".to_owned());
                    }
                    converged()
                },
            );
            measured!(
                "{topology} full restart round {round}/{FULL_RESTART_ROUNDS}: converged {:.1} s after deleting {} pods",
                took.as_secs_f64(),
                pods.len()
            );
        }
    }

    /// `apply` exits 0 with `--set` changes, and says so.
    fn apply(&self, profile: &str, sets: &[&str]) {
        self.apply_with(profile, &[], sets);
    }

    /// `apply` with `flags` exits 0 with `--set` changes; what it printed.
    fn apply_with(&self, profile: &str, flags: &[&str], sets: &[&str]) -> String {
        let args = with_sets(&[&["apply", "--timeout", "3m"], flags].concat(), sets);
        let started = Instant::now();
        let apply = self.cafectl(profile, &args);
        assert_eq!(apply.status.code(), Some(0), "{}", common::describe(&apply));
        // Redis itself was asked, through the API server, and answered.
        assert!(
            common::describe(&apply).contains("waiting: Redis: healthy"),
            "{}",
            common::describe(&apply)
        );
        measured!(
            "{profile} apply {flags:?} {sets:?}: exit 0 after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        common::describe(&apply)
    }

    /// The life of every profile: apply until ready, the README client
    /// writes and reads, diff has nothing to do.
    fn apply_and_use(&self, profile: &str, sets: &[&str]) {
        self.apply(profile, sets);
        self.start_client();
        let checked = self.client(&["check", "first", "50"]).unwrap();
        assert_eq!(checked["ok"], 50, "{checked}");
        let diff = self.cafectl(profile, &with_sets(&["diff"], sets));
        assert_eq!(diff.status.code(), Some(0), "{}", common::describe(&diff));
        // status: healthy, a row per pod, exactly one master per shard.
        let healthy = self.status(profile, sets, 0);
        assert_eq!(healthy["healthy"], true, "{healthy}");
        let pods = healthy["pods"].as_array().unwrap();
        assert_eq!(pods.len(), self.pod_names().len(), "{healthy}");
        assert!(
            pods.iter().all(|pod| pod["keys"].as_u64().is_some()),
            "{healthy}"
        );
        // Unhealthy, exit 1, naming the pod, while one Redis does not
        // answer: paused 6 s, the last pod (a replica of a sentinel set
        // just applied; the cluster bus is not paused).
        let paused = self.pod_names().last().unwrap().clone();
        self.redis_cli(
            &paused,
            "redis",
            REDIS_PORT,
            &["CLIENT", "PAUSE", "6000", "ALL"],
        )
        .unwrap();
        self.status_is_unhealthy_naming(profile, sets, &paused, "Redis does not answer");
        // Answering again before anything goes on.
        std::thread::sleep(Duration::from_secs(6));
    }

    /// What `status -o json` with `sets` printed; it exited with `exit`.
    fn status(&self, profile: &str, sets: &[&str], exit: i32) -> Value {
        let status = self.cafectl(profile, &with_sets(&["status", "-o", "json"], sets));
        assert_eq!(
            status.status.code(),
            Some(exit),
            "{}",
            common::describe(&status)
        );
        serde_json::from_slice(&status.stdout).unwrap()
    }

    /// `status -o json` exits 1, unhealthy, with a problem of `pod` that
    /// `says` so.
    fn status_is_unhealthy_naming(&self, profile: &str, sets: &[&str], pod: &str, says: &str) {
        let unhealthy = self.status(profile, sets, 1);
        assert_eq!(unhealthy["healthy"], false, "{unhealthy}");
        assert!(
            unhealthy["problems"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .any(|problem| problem.starts_with(&format!("{pod}:")) && problem.contains(says)),
            "{unhealthy}"
        );
    }

    /// With the last Redis pod deleted, `status` exits 1 naming it. A
    /// quota of no pods keeps the StatefulSet from creating it again
    /// meanwhile (pods that run stay); once the quota goes, apply waits
    /// until the pod is back and Redis healthy.
    fn status_names_a_deleted_pod(&self, profile: &str, sets: &[&str]) {
        let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: no-new-pods}\nspec: {hard: {pods: \"0\"}}\n";
        self.kubectl_with_input(&["apply", "-f", "-"], quota)
            .unwrap();
        let deleted = self.pod_names().last().unwrap().clone();
        self.kubectl(&["delete", "pod", &deleted, "--wait=true"])
            .unwrap();
        self.status_is_unhealthy_naming(profile, sets, &deleted, "does not exist");
        self.kubectl(&["delete", "resourcequota", "no-new-pods"])
            .unwrap();
        self.apply(profile, sets);
    }

    /// The client pod goes, then `teardown --yes` with `args` succeeds.
    fn teardown(&self, profile: &str, args: &[&str]) {
        self.kubectl(&["delete", "pod", "cafe-client", "--wait=true"])
            .unwrap();
        let teardown = self.cafectl(profile, &[&["teardown", "--yes"], args].concat());
        assert_eq!(
            teardown.status.code(),
            Some(0),
            "{}",
            common::describe(&teardown)
        );
    }

    /// `teardown --yes --delete-data` removes everything, namespace included.
    fn teardown_leaves_nothing(&self, profile: &str) {
        self.teardown(profile, &["--delete-data"]);
        let left = Command::new(&self.kubectl)
            .args([
                "--kubeconfig",
                &self.kubeconfig,
                "get",
                "namespace",
                &self.namespace,
                "-o",
                "name",
            ])
            .output()
            .unwrap();
        assert!(
            !left.status.success(),
            "the namespace is still there after teardown --delete-data:\n{}",
            common::describe(&left)
        );
    }

    /// Each pod's CONFIG GET of one setting.
    fn config_everywhere(&self, key: &str) -> Vec<String> {
        self.pod_names()
            .iter()
            .map(|pod| {
                let reply = self
                    .redis_cli(pod, "redis", REDIS_PORT, &["CONFIG", "GET", key])
                    .unwrap();
                reply.lines().nth(1).unwrap_or_default().to_owned()
            })
            .collect()
    }
}

impl Live {
    /// The password apps read now: the Secret's, as the client pod gets it.
    fn current_password(&self) -> String {
        let encoded = self
            .kubectl(&[
                "get",
                "secret",
                "redis-auth",
                "-o",
                "jsonpath={.data.password}",
            ])
            .unwrap();
        let decoded = Command::new("base64")
            .arg("-d")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(encoded.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        String::from_utf8(decoded.stdout).unwrap()
    }

    /// What each Redis server and sentinel (`containers`: container and
    /// port) answers to a PING with `password` ("pod/container: PONG"); the
    /// password goes in on stdin, never on a command line.
    fn answers_to(&self, password: &str, containers: &[(&str, &str)]) -> Vec<String> {
        let mut answers = Vec::new();
        for pod in self.pod_names() {
            for (container, port) in containers {
                let reply = self.kubectl_with_input(
                    &[
                        "exec", "-i", &pod, "-c", container, "--", "sh", "-c",
                        "read -r password; REDISCLI_AUTH=$password exec timeout 5 redis-cli --no-auth-warning -p \"$0\" PING 2>&1",
                        port,
                    ],
                    &format!("{password}\n"),
                );
                let reply = reply.unwrap_or_else(|error| error);
                answers.push(format!("{pod}/{container}: {}", reply.trim()));
            }
        }
        answers
    }

    /// The client pod again, with the password the Secret has now.
    fn restart_client(&self) {
        self.kubectl(&["delete", "pod", "cafe-client", "--wait=true"])
            .unwrap();
        self.start_client();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if std::env::var_os("CAFECTL_KEEP_NAMESPACE").is_some() {
            eprintln!("kept namespace {} (CAFECTL_KEEP_NAMESPACE)", self.namespace);
            return;
        }
        // The namespace goes with everything in it, volume claims included.
        let _ = Command::new(&self.kubectl)
            .args([
                "--kubeconfig",
                &self.kubeconfig,
                "delete",
                "namespace",
                &self.namespace,
                "--wait=false",
            ])
            .output();
    }
}

/// A finished kubectl's stdout, or all it printed as the error.
fn kubectl_result(args: &[&str], output: Output) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "kubectl {}: {}",
            args.join(" "),
            common::describe(&output).trim()
        ))
    }
}

struct Writer {
    prefix: String,
    child: Child,
    logs: LogFollower,
}

struct LogFollower {
    child: Child,
    lines: JoinHandle<Vec<String>>,
}

impl LogFollower {
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.lines.join().unwrap_or_default()
    }
}

struct WriteFigures {
    acked: u64,
    errors: u64,
    longest_gap: f64,
    lost: u64,
}

/// A field of INFO or CLUSTER INFO output.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
}

/// The pod a hostname (`redis-1.redis-headless...`) belongs to.
fn pod_of(hostname: &str) -> &str {
    hostname.split('.').next().unwrap_or(hostname)
}

/// Sentinel converged: every sentinel names the same master, which is a
/// master with every other pod linked to it as a replica. The master's pod.
fn sentinel_master(live: &Live) -> Result<String, String> {
    let pods = live.pod_names();
    let mut named = Vec::new();
    for pod in &pods {
        let reply = live.redis_cli(
            pod,
            "sentinel",
            SENTINEL_PORT,
            &["SENTINEL", "get-master-addr-by-name", "mymaster"],
        )?;
        named.push(reply.lines().next().unwrap_or_default().to_owned());
    }
    if named.iter().any(|host| host != &named[0]) {
        return Err(format!("the sentinels name different masters: {named:?}"));
    }
    let master = pod_of(&named[0]).to_owned();
    if !pods.contains(&master) {
        return Err(format!("the sentinels name {:?}, not a pod", named[0]));
    }
    let info = live.redis_cli(&master, "redis", REDIS_PORT, &["INFO", "replication"])?;
    if field(&info, "role") != Some("master") {
        return Err(format!(
            "{master}, named by every sentinel, is not a master:\n{info}"
        ));
    }
    for pod in pods.iter().filter(|pod| **pod != master) {
        let info = live.redis_cli(pod, "redis", REDIS_PORT, &["INFO", "replication"])?;
        let following = field(&info, "master_host").map(pod_of);
        if field(&info, "role") != Some("slave")
            || following != Some(master.as_str())
            || field(&info, "master_link_status") != Some("up")
        {
            return Err(format!(
                "{pod} is not a linked replica of {master}:\n{info}"
            ));
        }
    }
    Ok(master)
}

/// Cluster converged: every node says cluster_state:ok with all 16384 slots
/// served and knows every node.
fn cluster_converged(live: &Live) -> Result<(), String> {
    let pods = live.pod_names();
    for pod in &pods {
        let info = live.redis_cli(pod, "redis", REDIS_PORT, &["CLUSTER", "INFO"])?;
        let known = pods.len().to_string();
        if field(&info, "cluster_state") != Some("ok")
            || field(&info, "cluster_slots_ok") != Some("16384")
            || field(&info, "cluster_known_nodes") != Some(known.as_str())
        {
            return Err(format!("{pod}:\n{info}"));
        }
    }
    Ok(())
}

/// Every key written by `check` before is still there.
fn keys_kept(live: &Live, prefix: &str, count: u64) -> Result<(), String> {
    let checked = live.client(&["read", prefix, &count.to_string()])?;
    if checked["ok"].as_u64() == Some(count) {
        Ok(())
    } else {
        Err(format!("keys {prefix}:*: {checked}"))
    }
}

/// Every Redis pod deleted at once, several rounds, with `keys` keys kept
/// and a client writing, each converging within `CONVERGE_WITHIN`; then a
/// rolling update (a `redis.maxmemory` change) while `roll_writer` writes.
/// No acknowledged write may be lost, and the roll may stop writes for at
/// most `roll_gap` seconds, if given.
fn full_restarts_and_a_rolling_update(
    live: &Live,
    topology: &str,
    keys: u64,
    roll_writer: &str,
    roll_gap: Option<f64>,
    converged: impl Fn() -> Result<(), String>,
) {
    live.client(&["check", "kept", &keys.to_string()]).unwrap();
    let writer = live.start_writer("write", "restarts");
    live.full_restarts(topology, || {
        converged()?;
        keys_kept(live, "kept", keys)
    });
    live.stop_writer(writer, &format!("{topology} full restarts"), None);

    let writer = live.start_writer(roll_writer, "rolling");
    live.apply(topology, &[ROLLED_MAXMEMORY_SET]);
    let settled = live.converge(
        &format!("{topology} after the rolling update"),
        CONVERGE_WITHIN,
        &converged,
    );
    measured!(
        "{topology} settled {:.1} s after the rolling update's apply",
        settled.as_secs_f64()
    );
    live.stop_writer(writer, &format!("{topology} rolling update"), roll_gap);
    let pods = live.pod_names().len();
    assert_eq!(
        live.config_everywhere("maxmemory"),
        vec![ROLLED_MAXMEMORY; pods]
    );
}

/// A new password given while a client writes with the old one, then the
/// old one retired while a client writes with the new one (if `writer`):
/// no acknowledged write lost, no gap longer than `gap` if given. Between
/// the two both passwords work, apps that restart get the new one, and at
/// the end only the new one works, on every server and sentinel
/// (`containers`). `sets` keeps the profile's other changes.
fn a_password_change(
    live: &Live,
    topology: &str,
    sets: &[&str],
    writer: Option<&str>,
    gap: Option<f64>,
    containers: &[(&str, &str)],
) {
    let old = live.current_password();
    let new_password = NEW_PASSWORD;
    let given = format!("redis.auth.password={new_password}");
    let sets: Vec<&str> = sets.iter().copied().chain([given.as_str()]).collect();
    let every = |reply: &str| vec![reply.to_owned(); live.pod_names().len() * containers.len()];
    let replies = |password: &str| -> Vec<String> {
        live.answers_to(password, containers)
            .iter()
            .map(|answer| answer.rsplit(": ").next().unwrap_or_default().to_owned())
            .collect()
    };

    let started = writer.map(|writer| live.start_writer(writer, "new-password"));
    let said = live.apply_with(topology, &[], &sets);
    if let Some(started) = started {
        live.stop_writer(started, &format!("{topology} password change"), gap);
    }
    assert!(
        said.contains("step 2 of 2: every pod sends the new password"),
        "{said}"
    );
    assert!(
        !said.contains(new_password) && !said.contains(&old),
        "no password is printed"
    );
    assert_eq!(replies(&old), every("PONG"), "the old password still works");
    assert_eq!(
        replies(new_password),
        every("PONG"),
        "the new password works"
    );
    // An app that has not restarted still works; one that restarts gets the new password.
    let read = live.client(&["read", "first", "50"]).unwrap();
    assert_eq!(read["ok"], 50, "{read}");
    live.restart_client();
    assert_eq!(live.current_password(), new_password);
    let read = live.client(&["read", "first", "50"]).unwrap();
    assert_eq!(read["ok"], 50, "{read}");

    let started = writer.map(|writer| live.start_writer(writer, "retired-password"));
    let said = live.apply_with(topology, &["--retire-previous-password"], &sets);
    if let Some(started) = started {
        live.stop_writer(
            started,
            &format!("{topology} previous password retired"),
            gap,
        );
    }
    assert!(
        said.contains("every pod accepts only the new password"),
        "{said}"
    );
    let refused: Vec<String> = replies(&old)
        .iter()
        .map(|reply| {
            if reply.contains("WRONGPASS") {
                "WRONGPASS".to_owned()
            } else {
                reply.clone()
            }
        })
        .collect();
    assert_eq!(
        refused,
        every("WRONGPASS"),
        "the old password no longer works"
    );
    assert_eq!(replies(new_password), every("PONG"));
}

#[test]
#[ignore = "needs a Kubernetes cluster with nodes: `bash tests/run.sh` starts the k8s lab and runs it"]
fn standalone_applies_serves_the_readme_client_and_tears_down() {
    let live = Live::new("standalone");
    // A high user id, as platforms that assign each namespace its own use;
    // a password the user gives.
    let high_user = "redis.runAsUser=1000680000";
    let new_password = NEW_PASSWORD_SET;
    let given_password = "redis.auth.password=a-given-password-0123456789";
    live.apply_and_use("standalone", &[high_user, given_password]);
    live.status_names_a_deleted_pod("standalone", &[high_user, given_password]);
    let user = live
        .kubectl(&["exec", "redis-0", "-c", "redis", "--", "id", "-u"])
        .unwrap();
    assert_eq!(user.trim(), "1000680000");

    // A new password for the running pod, then the old one retired.
    a_password_change(
        &live,
        "standalone",
        &[high_user],
        None,
        None,
        &[("redis", REDIS_PORT)],
    );

    // Teardown keeps the data volume: apply starts over with the old keys,
    // now with the metrics sidecar (tests/run.sh builds its image).
    live.client(&["check", "kept", "20"]).unwrap();
    live.teardown("standalone", &[]);
    let exporter = format!("redis.metrics.image={}", env("CAFECTL_EXPORTER_IMAGE"));
    live.apply_and_use(
        "standalone",
        &[
            high_user,
            new_password,
            "redis.metrics.enabled=true",
            &exporter,
        ],
    );
    let kept = live.client(&["read", "kept", "20"]).unwrap();
    assert_eq!(kept["ok"], 20, "the keys outlive the teardown: {kept}");
    // The exporter reads Redis with the Secret's password and serves
    // Prometheus on 9121, through the metrics Service too.
    for url in [
        "http://127.0.0.1:9121/metrics",
        &format!(
            "http://redis-metrics.{}.svc.cluster.local:9121/metrics",
            live.namespace
        ),
    ] {
        let scraped = live
            .kubectl(&[
                "exec", "redis-0", "-c", "redis", "--", "busybox", "wget", "-qO-", url,
            ])
            .unwrap();
        assert!(
            scraped.lines().any(|line| line == "redis_up 1")
                && scraped.contains("redis_connected_clients"),
            "{url}:\n{}",
            scraped
                .lines()
                .filter(|line| line.starts_with("redis_up"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        measured!(
            "standalone exporter at {url}: {}",
            scraped
                .lines()
                .filter(|line| line.starts_with("redis_up ")
                    || line.starts_with("redis_connected_clients "))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    live.teardown_leaves_nothing("standalone");
}

#[test]
#[ignore = "needs a Kubernetes cluster with nodes: `bash tests/run.sh` starts the k8s lab and runs it"]
fn sentinel_survives_a_lost_master_full_restarts_and_a_rolling_update() {
    let live = Live::new("sentinel");
    live.apply_and_use("sentinel", &[]);
    let first_master = live.converge("sentinel after apply", CONVERGE_WITHIN, || {
        sentinel_master(&live).map(drop)
    });
    measured!(
        "sentinel settled {:.1} s after apply",
        first_master.as_secs_f64()
    );
    live.status_names_a_deleted_pod("sentinel", &[]);

    // The master's pod is lost while a client writes.
    let old_master = sentinel_master(&live).unwrap();
    let writer = live.start_writer("write", "failover");
    let deleted = Instant::now();
    live.kubectl(&["delete", "pod", &old_master, "--wait=false"])
        .unwrap();
    live.converge("sentinel failover", CONVERGE_WITHIN, || {
        let master = sentinel_master(&live)?;
        if master == old_master {
            Err(format!("{old_master} is still the master"))
        } else {
            Ok(())
        }
    });
    measured!(
        "sentinel failover: a new master named by every sentinel, {old_master} back as its replica, {:.1} s after the delete",
        deleted.elapsed().as_secs_f64()
    );
    live.stop_writer(
        writer,
        "sentinel master pod deleted",
        Some(GAP_WHEN_THE_MASTER_POD_IS_DELETED),
    );

    full_restarts_and_a_rolling_update(
        &live,
        "sentinel",
        100,
        "write",
        Some(GAP_DURING_A_ROLLING_UPDATE),
        || sentinel_master(&live).map(drop),
    );
    a_password_change(
        &live,
        "sentinel",
        &[ROLLED_MAXMEMORY_SET],
        Some("write"),
        Some(GAP_DURING_A_ROLLING_UPDATE),
        &[("redis", REDIS_PORT), ("sentinel", SENTINEL_PORT)],
    );

    // A fourth pod: apply waits until every sentinel knows it. (Four
    // sentinels need a quorum of three: a majority.)
    live.apply(
        "sentinel",
        &[
            ROLLED_MAXMEMORY_SET,
            NEW_PASSWORD_SET,
            "redis.sentinel.replicas=4",
            "redis.sentinel.quorum=3",
        ],
    );
    live.converge("sentinel after growing", CONVERGE_WITHIN, || {
        sentinel_master(&live).map(drop)
    });
    // Back to three, the fourth pod the master (its pod goes): it hands
    // over to a pod that stays before the StatefulSet shrinks, while a
    // client writes. (Its replica-priority makes it the sentinels' choice.)
    live.converge("redis-3 the master", CONVERGE_WITHIN, || {
        let master = sentinel_master(&live)?;
        if master == "redis-3" {
            return Ok(());
        }
        live.redis_cli(
            "redis-0",
            "sentinel",
            SENTINEL_PORT,
            &["SENTINEL", "FAILOVER", "mymaster"],
        )?;
        Err(format!("{master} is the master"))
    });
    let writer = live.start_writer("write", "shrink");
    let applied = live.apply_with("sentinel", &[], &[ROLLED_MAXMEMORY_SET, NEW_PASSWORD_SET]);
    assert!(
        applied.contains("redis-3, the master, goes: it hands over to a pod that stays"),
        "{applied}"
    );
    live.stop_writer(
        writer,
        "sentinel shrunk from 4 to 3 pods, the master among those that go",
        Some(GAP_DURING_A_ROLLING_UPDATE),
    );
    live.converge("sentinel after shrinking", CONVERGE_WITHIN, || {
        sentinel_master(&live).map(drop)
    });
    assert_eq!(live.pod_names().len(), 3);
    keys_kept(&live, "kept", 100).unwrap();
    live.teardown_leaves_nothing("sentinel");
}

#[test]
#[ignore = "needs a Kubernetes cluster with nodes: `bash tests/run.sh` starts the k8s lab and runs it"]
fn cluster_survives_full_restarts_and_a_rolling_update() {
    let live = Live::new("cluster");
    live.apply_and_use("cluster", &[]);
    live.converge("cluster after apply", CONVERGE_WITHIN, || {
        cluster_converged(&live)
    });
    live.status_names_a_deleted_pod("cluster", &[]);
    // The cluster forms with a short node timeout; the profile's is back.
    assert_eq!(
        live.config_everywhere("cluster-node-timeout"),
        vec!["5000"; live.pod_names().len()]
    );

    // The roll's gap is per shard, by a writer that follows MOVED itself:
    // the README's client (redis-py 4.3.4 RedisCluster) stalls 11-40 s in
    // its own recovery after a node restarts (`cannot pickle
    // '_thread.lock'` in its error path), handover or not.
    full_restarts_and_a_rolling_update(
        &live,
        "cluster",
        KEPT_IN_THE_CLUSTER,
        "write-shards",
        Some(GAP_PER_SHARD_DURING_A_ROLLING_UPDATE),
        || cluster_converged(&live),
    );
    a_password_change(
        &live,
        "cluster",
        &[ROLLED_MAXMEMORY_SET],
        Some("write-shards"),
        Some(GAP_PER_SHARD_DURING_A_ROLLING_UPDATE),
        &[("redis", REDIS_PORT)],
    );

    // A larger cluster while a client writes: two more pods join, as a
    // master and its replica, and the slots spread over four masters.
    let writer = live.start_writer("write-shards", "scaled");
    let started = Instant::now();
    live.apply(
        "cluster",
        &[
            ROLLED_MAXMEMORY_SET,
            NEW_PASSWORD_SET,
            "redis.cluster.masters=4",
        ],
    );
    assert!(
        started.elapsed() <= Duration::from_secs(120),
        "issue 10: four masters within 120 s, took {:?}",
        started.elapsed()
    );
    live.stop_writer(writer, "cluster scaled from 3 to 4 masters", None);
    live.converge("cluster after scaling", CONVERGE_WITHIN, || {
        cluster_converged(&live)
    });
    keys_kept(&live, "kept", KEPT_IN_THE_CLUSTER).unwrap();
    slots_spread(&live, 4, &["redis.cluster.masters=4"]);

    // Back to three masters while a client writes, through an apply killed
    // once it moves slots: the next one waits for that move, then finishes.
    let writer = live.start_writer("write-shards", "shrunk");
    let sets = ["--set", ROLLED_MAXMEMORY_SET, "--set", NEW_PASSWORD_SET];
    let mut killed = live
        .cafectl_command(
            "cluster",
            &[&["apply", "--timeout", "3m"][..], &sets].concat(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    for line in BufReader::new(killed.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        said += &line;
        said.push('\n');
        if line.contains("shrink: moving the slots") {
            break;
        }
    }
    assert!(said.contains("shrink: moving the slots"), "{said}");
    killed.kill().unwrap();
    killed.wait().unwrap();
    let applied = live.apply_with("cluster", &[], &[ROLLED_MAXMEMORY_SET, NEW_PASSWORD_SET]);
    measured!(
        "cluster 4 -> 3 masters, the first apply killed while it moved slots: the next {}",
        if applied.contains("waiting for an earlier run") {
            "waited for the killed one's move, then finished"
        } else {
            "found the move done and finished"
        }
    );
    live.stop_writer(writer, "cluster shrunk from 4 to 3 masters", None);
    live.converge("cluster after shrinking", CONVERGE_WITHIN, || {
        cluster_converged(&live)
    });
    assert_eq!(live.pod_names().len(), 6);
    keys_kept(&live, "kept", KEPT_IN_THE_CLUSTER).unwrap();
    slots_spread(&live, 3, &[]);
    live.teardown_leaves_nothing("cluster");
}

/// `cafectl status` says `masters` masters hold the 16384 slots, each a
/// fair share.
fn slots_spread(live: &Live, masters: usize, sets: &[&str]) {
    let sets = [&[ROLLED_MAXMEMORY_SET, NEW_PASSWORD_SET], sets].concat();
    let status = live.cafectl("cluster", &with_sets(&["status", "-o", "json"], &sets));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let slots: Vec<u64> = status["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|pod| pod["slots"].as_u64())
        .collect();
    assert_eq!(slots.len(), masters, "{status}");
    assert_eq!(slots.iter().sum::<u64>(), 16384, "{status}");
    let fair = 16384 / masters as u64;
    assert!(
        slots.iter().all(|slots| *slots >= fair * 95 / 100),
        "the slots are spread: {status}"
    );
}
