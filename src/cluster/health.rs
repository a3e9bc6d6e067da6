//! Whether Redis itself is healthy, not only its pods: each pod's Redis (and
//! sentinel) asked through the API server (pod exec of `redis-cli`, with the
//! pod's own password file), all pods at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

use super::exec::{run, with_password, ExecError};
use super::session::Session;
use crate::profile::Topology;
use crate::render::context::{REDIS_PORT, SENTINEL_PORT};

/// Every cluster slot.
const SLOTS: &str = "16384";
/// One pod's answers may take this long (an exec is a few round trips).
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// What the profile says should run.
#[derive(Debug, Clone)]
pub struct Expected {
    pub topology: Topology,
    /// The Redis pods, by name.
    pub pods: Vec<String>,
    pub master_name: String,
    pub masters: u32,
    pub replicas_per_master: u32,
}

impl Expected {
    pub fn of(session: &Session) -> Option<Expected> {
        let statefulset = session
            .objects
            .iter()
            .find(|object| object.kind == "StatefulSet")?;
        let redis = &session.profile.profile.redis;
        let sentinel = redis.sentinel.clone().unwrap_or_default();
        let cluster = redis.cluster.clone().unwrap_or_default();
        Some(Expected {
            topology: redis.topology,
            pods: (0..redis.pods())
                .map(|ordinal| format!("{}-{ordinal}", statefulset.name))
                .collect(),
            master_name: sentinel.master_name.to_string(),
            masters: cluster.masters,
            replicas_per_master: cluster.replicas_per_master,
        })
    }
}

/// One pod's answers: its sections (`info`, `maxmemory`, `sentinel-master`,
/// `ckquorum`, `cluster-info`, `cluster-nodes`) by name, or why none came.
pub type Answers = Result<BTreeMap<String, String>, ExecError>;

/// How long each redis-cli in a pod waits for Redis's reply.
const REPLY_WITHIN_SECONDS: u64 = 3;

/// Asks every expected pod at once.
pub async fn ask_all(session: &Session, expected: &Expected) -> Vec<(String, Answers)> {
    let pods = session.pod_api();
    let script = with_password(&script(expected));
    join_all(expected.pods.iter().map(|pod| {
        let (pods, script) = (pods.clone(), script.clone());
        async move {
            let answers = tokio::time::timeout(EXEC_TIMEOUT, ask(&pods, pod, &script))
                .await
                .unwrap_or_else(|_| {
                    Err(ExecError::Failed(format!(
                        "no answer within {}s",
                        EXEC_TIMEOUT.as_secs()
                    )))
                });
            (pod.clone(), answers)
        }
    }))
    .await
}

/// The shell script run in each pod: a `### name` line, then a reply.
fn script(expected: &Expected) -> String {
    let mut script = format!(
        "section() {{ echo \"### $1\"; shift; timeout {REPLY_WITHIN_SECONDS} redis-cli \"$@\" 2>&1 | tr -d '\\r'; }}\n\
         section info -p {REDIS_PORT} INFO\n\
         section maxmemory -p {REDIS_PORT} CONFIG GET maxmemory\n"
    );
    match expected.topology {
        Topology::Standalone => {}
        Topology::Sentinel => {
            let name = &expected.master_name;
            script += &format!(
                "section sentinel-master -p {SENTINEL_PORT} SENTINEL get-master-addr-by-name {name}\n\
                 section ckquorum -p {SENTINEL_PORT} SENTINEL CKQUORUM {name}\n\
                 section sentinel-state -p {SENTINEL_PORT} SENTINEL MASTER {name}\n"
            );
        }
        Topology::Cluster => {
            script += &format!(
                "section cluster-info -p {REDIS_PORT} CLUSTER INFO\n\
                 section cluster-nodes -p {REDIS_PORT} CLUSTER NODES\n"
            );
        }
    }
    script
}

async fn ask(pods: &Api<Pod>, pod: &str, script: &str) -> Answers {
    run(pods, pod, script, &["ask"], |_| {})
        .await
        .map(|output| sections(&output))
}

fn sections(output: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in output.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            sections.extend(current.take());
            current = Some((name.to_owned(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    sections.extend(current);
    sections
}

/// A `name:value` field of INFO (or CLUSTER INFO) text.
pub fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
}

/// A number field of the `SENTINEL MASTER` reply (a line with the name,
/// then one with the value).
fn sentinel_count(sections: &BTreeMap<String, String>, name: &str) -> Option<usize> {
    let state = sections.get("sentinel-state")?;
    let mut lines = state.lines();
    lines.find(|line| *line == name)?;
    lines.next()?.trim().parse().ok()
}

/// Sentinels that still know pods the profile no longer has (after it
/// shrank), while none knows fewer than it should (a sentinel reset
/// earlier is still learning them): the first of them, to reset.
fn stale_sentinel<'a>(expected: &Expected, answers: &'a [(String, Answers)]) -> Option<&'a str> {
    let others = expected.pods.len() - 1;
    let mut stale = None;
    let mut masters = std::collections::BTreeSet::new();
    for (pod, answer) in answers {
        let sections = answer.as_ref().ok()?;
        masters.insert(pod_of(sections.get("sentinel-master")?.lines().next()?).to_owned());
        let known = [
            sentinel_count(sections, "num-other-sentinels")?,
            sentinel_count(sections, "num-slaves")?,
        ];
        if known.iter().any(|count| *count < others) {
            return None;
        }
        if stale.is_none() && known.iter().any(|count| *count > others) {
            stale = Some(pod.as_str());
        }
    }
    // Never while the sentinels disagree, or name a pod that is gone: a
    // reset sentinel relearns everything from the master it monitors.
    let agreed = masters.len() == 1 && masters.iter().all(|master| expected.pods.contains(master));
    stale.filter(|_| agreed)
}

/// The pod of a hostname the sentinels or the cluster announce.
pub fn pod_of(hostname: &str) -> &str {
    hostname.split('.').next().unwrap_or(hostname)
}

/// What is not healthy, in words; empty when all is.
pub fn problems(expected: &Expected, answers: &[(String, Answers)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut answered = Vec::new();
    for (pod, answer) in answers {
        match answer {
            Err(error) => problems.push(format!("{pod}: {error}")),
            Ok(sections) => {
                let info = sections.get("info").map_or("", String::as_str);
                if field(info, "role").is_none() {
                    let said = match info.trim() {
                        "" => format!("no reply within {REPLY_WITHIN_SECONDS} s"),
                        said => format!("it says: {said}"),
                    };
                    problems.push(format!("{pod}: Redis does not answer ({said})"));
                } else if field(info, "loading") == Some("1") {
                    problems.push(format!("{pod}: Redis is loading its data"));
                } else {
                    answered.push((pod.as_str(), sections));
                }
            }
        }
    }
    match expected.topology {
        Topology::Standalone => {}
        Topology::Sentinel => sentinel_problems(expected, &answered, &mut problems),
        Topology::Cluster => cluster_problems(expected, &answered, &mut problems),
    }
    problems
}

fn sentinel_problems(
    expected: &Expected,
    answered: &[(&str, &BTreeMap<String, String>)],
    problems: &mut Vec<String>,
) {
    let section = |sections: &BTreeMap<String, String>, name: &str| {
        sections
            .get(name)
            .map_or("", String::as_str)
            .trim()
            .to_owned()
    };
    let mut named: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (pod, sections) in answered {
        let master = section(sections, "sentinel-master");
        match master.lines().next() {
            Some(host) if !host.is_empty() && !host.starts_with("ERR") => {
                named.entry(pod_of(host).to_owned()).or_default().push(pod)
            }
            _ => problems.push(format!("{pod}: its sentinel names no master ({master})")),
        }
        let quorum = section(sections, "ckquorum");
        if !quorum.starts_with("OK") {
            problems.push(format!("{pod}: SENTINEL CKQUORUM: {quorum}"));
        }
        let others = expected.pods.len() - 1;
        for (count, what) in [
            ("num-other-sentinels", "other sentinels"),
            ("num-slaves", "replicas"),
        ] {
            let known = sentinel_count(sections, count);
            if known != Some(others) {
                let known = known.map_or_else(|| "?".to_owned(), |known| known.to_string());
                problems.push(format!(
                    "{pod}: its sentinel knows {known} {what}, the profile has {others}"
                ));
            }
        }
    }
    if named.len() > 1 {
        let views: Vec<String> = named
            .iter()
            .map(|(master, pods)| format!("{} name {master}", pods.join(", ")))
            .collect();
        problems.push(format!(
            "the sentinels disagree on the master: {}",
            views.join("; ")
        ));
        return;
    }
    let Some(master) = named.keys().next() else {
        return;
    };
    for (pod, sections) in answered {
        let info = section(sections, "info");
        let role = field(&info, "role").unwrap_or_default();
        if pod == master {
            let linked = info
                .lines()
                .filter(|line| line.starts_with("slave") && line.contains("state=online"))
                .count();
            let wanted = expected.pods.len() - 1;
            if role != "master" {
                problems.push(format!(
                    "{pod}: the sentinels name it the master, but it is a {role}"
                ));
            } else if linked < wanted {
                problems.push(format!(
                    "{pod} (master): {linked} of {wanted} replicas linked"
                ));
            }
        } else if role != "slave" {
            problems.push(format!(
                "{pod}: a {role}, but the sentinels name {master} the master"
            ));
        } else if field(&info, "master_link_status") != Some("up")
            || field(&info, "master_host").map(pod_of) != Some(master.as_str())
        {
            problems.push(format!(
                "{pod}: replica not linked to {master} (following {}, link {})",
                field(&info, "master_host").unwrap_or("nothing"),
                field(&info, "master_link_status").unwrap_or("down")
            ));
        }
    }
}

fn cluster_problems(
    expected: &Expected,
    answered: &[(&str, &BTreeMap<String, String>)],
    problems: &mut Vec<String>,
) {
    let mut nodes = None;
    for (pod, sections) in answered {
        let info = sections.get("cluster-info").map_or("", String::as_str);
        let state = field(info, "cluster_state").unwrap_or("unknown");
        if state != "ok" {
            problems.push(format!("{pod}: cluster_state:{state}"));
        }
        for slots in ["cluster_slots_assigned", "cluster_slots_ok"] {
            let count = field(info, slots).unwrap_or("0");
            if count != SLOTS {
                problems.push(format!("{pod}: {slots}:{count} of {SLOTS}"));
            }
        }
        nodes = nodes.or(sections.get("cluster-nodes"));
    }
    let Some(nodes) = nodes else {
        return;
    };
    // id address flags master-id ping pong epoch link [slots...]
    let lines: Vec<Vec<&str>> = nodes
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    let host = |fields: &Vec<&str>| {
        let address = fields.get(1).copied().unwrap_or_default();
        address
            .split_once(',')
            .map_or(address, |(_, host)| pod_of(host))
            .to_owned()
    };
    let masters: Vec<&Vec<&str>> = lines
        .iter()
        .filter(|fields| {
            fields.len() > 8 && fields[2].contains("master") && !fields[2].contains("fail")
        })
        .collect();
    if masters.len() != expected.masters as usize {
        problems.push(format!(
            "{} masters hold slots, the profile has {}",
            masters.len(),
            expected.masters
        ));
    }
    for master in masters {
        let replicas = lines
            .iter()
            .filter(|fields| {
                fields.len() > 7
                    && fields[3] == master[0]
                    && fields[2].contains("slave")
                    && !fields[2].contains("fail")
                    && fields[7] == "connected"
            })
            .count();
        if replicas < expected.replicas_per_master as usize {
            problems.push(format!(
                "{} (master): {replicas} of {} replicas",
                host(master),
                expected.replicas_per_master
            ));
        }
    }
}

/// Polls every pod's Redis until `problems` finds nothing, printing what is
/// not healthy whenever that changes, until `deadline`.
pub async fn until_healthy(
    session: &Session,
    deadline: Instant,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(expected) = Expected::of(session) else {
        return Ok(());
    };
    let started = Instant::now();
    let mut last = None;
    loop {
        let answers = ask_all(session, &expected).await;
        if answers
            .iter()
            .any(|(_, answer)| answer.as_ref().err() == Some(&ExecError::Forbidden))
        {
            writeln!(
                stderr,
                "warning: {}: Redis itself was not checked, only its pods",
                ExecError::Forbidden
            )?;
            return Ok(());
        }
        let found = problems(&expected, &answers);
        if let Some(pod) = stale_sentinel(&expected, &answers) {
            writeln!(
                stderr,
                "waiting: Redis: the sentinel in {pod} still knows pods the profile no longer has: SENTINEL RESET ({}s)",
                started.elapsed().as_secs()
            )?;
            let reset = with_password(&format!(
                "timeout {REPLY_WITHIN_SECONDS} redis-cli -p {SENTINEL_PORT} SENTINEL RESET {}",
                expected.master_name
            ));
            if let Err(error) = run(&session.pod_api(), pod, &reset, &["reset"], |_| {}).await {
                writeln!(stderr, "warning: SENTINEL RESET in {pod}: {error}")?;
            }
        }
        if found.is_empty() {
            writeln!(
                stderr,
                "waiting: Redis: healthy ({}s)",
                started.elapsed().as_secs()
            )?;
            return Ok(());
        }
        let summary = found.join("; ");
        if last.as_ref() != Some(&summary) {
            writeln!(
                stderr,
                "waiting: Redis: {summary} ({}s)",
                started.elapsed().as_secs()
            )?;
            last = Some(summary);
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "timed out waiting for Redis to be healthy:\n  {}\n(the objects were applied and the pods are ready; `cafectl apply` again waits again)",
                found.join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(topology: Topology, pods: usize) -> Expected {
        Expected {
            topology,
            pods: (0..pods)
                .map(|ordinal| format!("redis-{ordinal}"))
                .collect(),
            master_name: "mymaster".to_owned(),
            masters: 3,
            replicas_per_master: 1,
        }
    }

    fn answers(pod: &str, sections_text: &str) -> (String, Answers) {
        (pod.to_owned(), Ok(sections(sections_text)))
    }

    const HOST: &str = ".redis-headless.ns.svc.cluster.local";

    /// A sentinel pod: its role lines, the master its sentinel names, CKQUORUM.
    fn sentinel_pod(pod: &str, replication: &str, named: &str, quorum: &str) -> (String, Answers) {
        answers(
            pod,
            &format!(
                "### info\n# Replication\n{replication}\n### sentinel-master\n{named}{HOST}\n6379\n### ckquorum\n{quorum}\n\
                 ### sentinel-state\nname\nmymaster\nnum-slaves\n2\nnum-other-sentinels\n2\n"
            ),
        )
    }

    fn master(linked: usize) -> String {
        let mut text = format!("role:master\nconnected_slaves:{linked}\n");
        for index in 0..linked {
            text += &format!(
                "slave{index}:ip=redis-{}{HOST},port=6379,state=online,offset=1,lag=0\n",
                index + 1
            );
        }
        text
    }

    fn replica(of: &str, link: &str) -> String {
        format!("role:slave\nmaster_host:{of}{HOST}\nmaster_link_status:{link}\n")
    }

    const OK: &str = "OK 3 usable Sentinels. Quorum and failover authorization can be reached";

    #[test]
    fn a_sentinel_set_is_healthy_when_all_agree_and_every_replica_is_linked() {
        let healthy = [
            sentinel_pod("redis-0", &master(2), "redis-0", OK),
            sentinel_pod("redis-1", &replica("redis-0", "up"), "redis-0", OK),
            sentinel_pod("redis-2", &replica("redis-0", "up"), "redis-0", OK),
        ];
        assert_eq!(
            problems(&expected(Topology::Sentinel, 3), &healthy),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_sentinel_set_names_what_is_not_healthy() {
        let unlinked = [
            sentinel_pod("redis-0", &master(1), "redis-0", OK),
            sentinel_pod("redis-1", &replica("redis-0", "up"), "redis-0", OK),
            sentinel_pod(
                "redis-2",
                &replica("redis-0", "down"),
                "redis-0",
                "NOQUORUM 1 usable Sentinels",
            ),
        ];
        assert_eq!(
            problems(&expected(Topology::Sentinel, 3), &unlinked),
            [
                "redis-2: SENTINEL CKQUORUM: NOQUORUM 1 usable Sentinels",
                "redis-0 (master): 1 of 2 replicas linked",
                &format!(
                    "redis-2: replica not linked to redis-0 (following redis-0{HOST}, link down)"
                ),
            ]
        );
        let split = [
            sentinel_pod("redis-0", &master(0), "redis-0", OK),
            sentinel_pod("redis-1", &master(0), "redis-1", OK),
            (
                "redis-2".to_owned(),
                Err(ExecError::Failed("no answer within 10s".to_owned())),
            ),
        ];
        assert_eq!(
            problems(&expected(Topology::Sentinel, 3), &split),
            [
                "redis-2: no answer within 10s",
                "the sentinels disagree on the master: redis-0 name redis-0; redis-1 name redis-1",
            ]
        );
    }

    #[test]
    fn a_loading_or_silent_redis_is_not_healthy() {
        let loading = [answers("redis-0", "### info\nrole:master\nloading:1\n")];
        assert_eq!(
            problems(&expected(Topology::Standalone, 1), &loading),
            ["redis-0: Redis is loading its data"]
        );
        let silent = [answers(
            "redis-0",
            "### info\nCould not connect to Redis at 127.0.0.1:6379\n",
        )];
        assert_eq!(
            problems(&expected(Topology::Standalone, 1), &silent),
            ["redis-0: Redis does not answer (it says: Could not connect to Redis at 127.0.0.1:6379)"]
        );
        // Paused, or too busy: redis-cli was stopped without a word.
        let paused = [answers("redis-0", "### info\n")];
        assert_eq!(
            problems(&expected(Topology::Standalone, 1), &paused),
            ["redis-0: Redis does not answer (no reply within 3 s)"]
        );
    }

    /// A cluster node's answers with the CLUSTER NODES lines `nodes`.
    fn cluster_node(pod: &str, state: &str, nodes: &str) -> (String, Answers) {
        answers(
            pod,
            &format!(
                "### info\nrole:master\n### cluster-info\ncluster_state:{state}\ncluster_slots_assigned:16384\ncluster_slots_ok:16384\n### cluster-nodes\n{nodes}"
            ),
        )
    }

    fn node_line(id: &str, pod: &str, flags: &str, master: &str, slots: &str) -> String {
        format!("{id} 10.0.0.1:6379@16379,{pod}{HOST} {flags} {master} 0 0 1 connected {slots}\n")
    }

    #[test]
    fn a_cluster_is_healthy_with_every_slot_and_every_replica() {
        let mut nodes = String::new();
        for (index, slots) in ["0-5460", "5461-10922", "10923-16383"].iter().enumerate() {
            nodes += &node_line(
                &format!("m{index}"),
                &format!("redis-{index}"),
                "master",
                "-",
                slots,
            );
            nodes += &node_line(
                &format!("r{index}"),
                &format!("redis-{}", index + 3),
                "slave",
                &format!("m{index}"),
                "",
            );
        }
        let healthy = [cluster_node("redis-0", "ok", &nodes)];
        assert_eq!(
            problems(&expected(Topology::Cluster, 1), &healthy),
            Vec::<String>::new()
        );

        let lost_replica = nodes.replace(" slave m2 ", " slave,fail m2 ");
        let failing = [cluster_node("redis-0", "fail", &lost_replica)];
        assert_eq!(
            problems(&expected(Topology::Cluster, 1), &failing),
            [
                "redis-0: cluster_state:fail",
                "redis-2 (master): 0 of 1 replicas"
            ]
        );
    }

    #[test]
    fn a_sentinel_that_knows_removed_pods_is_reset_one_at_a_time() {
        let knowing = |pod: &str, sentinels: usize, replicas: usize| {
            answers(
                pod,
                &format!("### info\nrole:slave\n### sentinel-master\nredis-0{HOST}\n6379\n### sentinel-state\nnum-slaves\n{replicas}\nnum-other-sentinels\n{sentinels}\n"),
            )
        };
        let three = expected(Topology::Sentinel, 3);
        // Scaled from 4 to 3: each still knows the fourth pod.
        let shrunk = [
            knowing("redis-0", 3, 3),
            knowing("redis-1", 3, 3),
            knowing("redis-2", 2, 3),
        ];
        assert_eq!(stale_sentinel(&three, &shrunk), Some("redis-0"));
        assert!(problems(&three, &shrunk).contains(
            &"redis-0: its sentinel knows 3 other sentinels, the profile has 2".to_owned()
        ));
        // redis-0 was reset and has not learnt the others again: wait.
        let relearning = [
            knowing("redis-0", 1, 2),
            knowing("redis-1", 3, 3),
            knowing("redis-2", 3, 3),
        ];
        assert_eq!(stale_sentinel(&three, &relearning), None);
        // Not while a sentinel names a master that is gone.
        let mut split = shrunk.clone();
        split[2] = answers(
            "redis-2",
            &format!("### info\nrole:slave\n### sentinel-master\nredis-3{HOST}\n6379\n### sentinel-state\nnum-slaves\n3\nnum-other-sentinels\n3\n"),
        );
        assert_eq!(stale_sentinel(&three, &split), None);
        let settled = [
            knowing("redis-0", 2, 2),
            knowing("redis-1", 2, 2),
            knowing("redis-2", 2, 2),
        ];
        assert_eq!(stale_sentinel(&three, &settled), None);
    }
}
