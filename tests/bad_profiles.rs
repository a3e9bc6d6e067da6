//! Bad profiles: each must fail with exit code 1, print nothing on stdout,
//! and name the file (or flag), the line where known, and the key.

use assert_cmd::Command;

struct BadProfile {
    what: &'static str,
    file: &'static str,
    /// `None`: the file does not exist.
    text: Option<&'static str>,
    args: &'static [&'static str],
    stderr: &'static str,
}

/// Written beside every case, for the one that layers a second file.
const OVERLAY: &str = "redis:\n  persistence:\n    size: 10GB\n";

const CASES: &[BadProfile] = &[
    BadProfile {
        what: "unknown top-level key, with a suggestion",
        file: "unknown_top.yaml",
        text: Some(
            r#"name: x
redis:
  topology: standalone
autoscalng: []
"#,
        ),
        args: &[],
        stderr: r#"error: unknown_top.yaml:4:1: autoscalng: unknown key `autoscalng`; did you mean `autoscaling`?
"#,
    },
    BadProfile {
        what: "unknown nested key, with a suggestion",
        file: "unknown_nested.yaml",
        text: Some(
            r#"name: x
redis:
  maxmemry: 256mb
"#,
        ),
        args: &[],
        stderr: r#"error: unknown_nested.yaml:3:3: redis.maxmemry: unknown key `maxmemry`; did you mean `maxmemory`?
"#,
    },
    BadProfile {
        what: "unknown key far from any other lists the valid ones",
        file: "unknown_far.yaml",
        text: Some(
            r#"name: x
redis:
  zzzzzz: 1
"#,
        ),
        args: &[],
        stderr: r#"error: unknown_far.yaml:3:3: redis.zzzzzz: unknown key `zzzzzz`; expected one of: topology, name, image, maxmemory, maxmemoryPolicy, persistence, resources, auth, podDisruptionBudget, spread, runAsUser, metrics, sentinel, cluster
"#,
    },
    BadProfile {
        what: "wrong type",
        file: "wrong_type.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: a
    minReplicas: two
    maxReplicas: 3
    cpuUtilization: 50
"#,
        ),
        args: &[],
        stderr: r#"error: wrong_type.yaml:4:5: autoscaling[0].minReplicas: expected a whole number (0 or more), found string "two"
"#,
    },
    BadProfile {
        what: "minReplicas above maxReplicas",
        file: "min_gt_max.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: order-backend
    minReplicas: 12
    maxReplicas: 10
    cpuUtilization: 50
"#,
        ),
        args: &[],
        stderr: r#"error: min_gt_max.yaml:4:5: autoscaling[0].minReplicas: 12 is greater than maxReplicas 10
"#,
    },
    BadProfile {
        what: "minReplicas below 1",
        file: "min_zero.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: order-backend
    minReplicas: 0
    maxReplicas: 10
    cpuUtilization: 50
"#,
        ),
        args: &[],
        stderr: r#"error: min_zero.yaml:4:5: autoscaling[0].minReplicas: must be at least 1 (an HPA cannot scale to zero)
"#,
    },
    BadProfile {
        what: "utilization above 100",
        file: "util_101.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: order-backend
    maxReplicas: 10
    cpuUtilization: 101
"#,
        ),
        args: &[],
        stderr: r#"error: util_101.yaml:5:5: autoscaling[0].cpuUtilization: 101 is out of range: a utilization target (percent) must be between 1 and 100
"#,
    },
    BadProfile {
        what: "utilization of 0",
        file: "util_0.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: order-backend
    maxReplicas: 10
    memoryUtilization: 0
"#,
        ),
        args: &[],
        stderr: r#"error: util_0.yaml:5:5: autoscaling[0].memoryUtilization: 0 is out of range: a utilization target (percent) must be between 1 and 100
"#,
    },
    BadProfile {
        what: "fewer than 3 sentinels",
        file: "sentinel_2.yaml",
        text: Some(
            r#"name: x
redis:
  topology: sentinel
  sentinel:
    replicas: 2
"#,
        ),
        args: &[],
        stderr: r#"error: sentinel_2.yaml:5:5: redis.sentinel.replicas: 2 is too few: Sentinel needs at least 3 pods so that a majority survives losing one
"#,
    },
    BadProfile {
        what: "quorum that is not a majority",
        file: "quorum_1.yaml",
        text: Some(
            r#"name: x
redis:
  topology: sentinel
  sentinel:
    replicas: 3
    quorum: 1
"#,
        ),
        args: &[],
        stderr: r#"error: quorum_1.yaml:6:5: redis.sentinel.quorum: 1 cannot win: with 3 sentinels the quorum must be a majority, between 2 and 3
"#,
    },
    BadProfile {
        what: "even quorum that cannot win",
        file: "quorum_even.yaml",
        text: Some(
            r#"name: x
redis:
  topology: sentinel
  sentinel:
    replicas: 4
    quorum: 2
"#,
        ),
        args: &[],
        stderr: r#"error: quorum_even.yaml:6:5: redis.sentinel.quorum: 2 cannot win: with 4 sentinels the quorum must be a majority, between 3 and 4
"#,
    },
    BadProfile {
        what: "fewer than 3 cluster masters",
        file: "masters_2.yaml",
        text: Some(
            r#"name: x
redis:
  topology: cluster
  cluster:
    masters: 2
"#,
        ),
        args: &[],
        stderr: r#"error: masters_2.yaml:5:5: redis.cluster.masters: 2 is out of range: Redis Cluster needs 3 to 100 masters
"#,
    },
    BadProfile {
        what: "40 million sentinel pods from --set",
        file: "sentinel_huge.yaml",
        text: Some("name: x\nredis:\n  topology: sentinel\n"),
        args: &["--set", "redis.sentinel.replicas=40000000"],
        stderr: r#"error: --set redis.sentinel.replicas=40000000: redis.sentinel.replicas: 40000000 is too many: use at most 9; every pod holds a full copy of the data, and more sentinels add no availability
"#,
    },
    BadProfile {
        what: "more sentinel pods than the bound",
        file: "sentinel_10.yaml",
        text: Some("name: x\nredis:\n  topology: sentinel\n  sentinel:\n    replicas: 10\n"),
        args: &[],
        stderr: r#"error: sentinel_10.yaml:5:5: redis.sentinel.replicas: 10 is too many: use at most 9; every pod holds a full copy of the data, and more sentinels add no availability
"#,
    },
    BadProfile {
        what: "more parallel syncs than replicas",
        file: "syncs.yaml",
        text: Some("name: x\nredis:\n  topology: sentinel\n  sentinel:\n    parallelSyncs: 3\n"),
        args: &[],
        stderr: r#"error: syncs.yaml:5:5: redis.sentinel.parallelSyncs: 3 is out of range: use 1 to 2; the replicas that resynchronise at once after a failover
"#,
    },
    BadProfile {
        what: "a sentinel window above an hour",
        file: "down_after.yaml",
        text: Some("name: x\nredis:\n  topology: sentinel\n  sentinel:\n    downAfterMilliseconds: 4294967295\n    failoverTimeout: 4294967295\n"),
        args: &[],
        stderr: r#"error: the profile has 2 problems:
  down_after.yaml:5:5: redis.sentinel.downAfterMilliseconds: 4294967295 is out of range: use 1000 to 3600000; shorter timeouts fail over on a GC pause, longer ones leave a dead master unnoticed
  down_after.yaml:6:5: redis.sentinel.failoverTimeout: 4294967295 is out of range: use 1000 to 3600000; it may not be shorter than downAfterMilliseconds
"#,
    },
    BadProfile {
        what: "a failover timeout shorter than the down-after window",
        file: "failover.yaml",
        text: Some("name: x\nredis:\n  topology: sentinel\n  sentinel:\n    downAfterMilliseconds: 10000\n    failoverTimeout: 5000\n"),
        args: &[],
        stderr: r#"error: failover.yaml:6:5: redis.sentinel.failoverTimeout: 5000 is out of range: use 10000 to 3600000; it may not be shorter than downAfterMilliseconds
"#,
    },
    BadProfile {
        what: "a cluster node timeout below a second",
        file: "node_timeout.yaml",
        text: Some("name: x\nredis:\n  topology: cluster\n  cluster:\n    nodeTimeoutMilliseconds: 500\n"),
        args: &[],
        stderr: r#"error: node_timeout.yaml:5:5: redis.cluster.nodeTimeoutMilliseconds: 500 is out of range: use 1000 to 3600000; shorter timeouts fail over on a GC pause, longer ones leave a dead master unnoticed
"#,
    },
    BadProfile {
        what: "more cluster masters than the bound",
        file: "masters_huge.yaml",
        text: Some("name: x\nredis:\n  topology: cluster\n"),
        args: &["--set", "redis.cluster.masters=4294967295", "--set", "redis.cluster.replicasPerMaster=4294967295"],
        stderr: r#"error: the profile has 2 problems:
  --set redis.cluster.masters=4294967295: redis.cluster.masters: 4294967295 is out of range: Redis Cluster needs 3 to 100 masters
  --set redis.cluster.replicasPerMaster=4294967295: redis.cluster.replicasPerMaster: 4294967295 is out of range: use 0 to 5
"#,
    },
    BadProfile {
        what: "maxReplicas above the bound",
        file: "max_huge.yaml",
        text: Some("name: x\nautoscaling:\n  - name: a\n    maxReplicas: 100000\n    cpuUtilization: 50\n"),
        args: &[],
        stderr: r#"error: max_huge.yaml:4:5: autoscaling[0].maxReplicas: 100000 is out of range: use 1 to 1000; an HPA scales between 1 and this many pods
"#,
    },
    BadProfile {
        what: "maxReplicas of zero",
        file: "max_zero.yaml",
        text: Some("name: x\nautoscaling:\n  - name: a\n    minReplicas: 1\n    maxReplicas: 0\n    cpuUtilization: 50\n"),
        args: &[],
        stderr: r#"error: the profile has 2 problems:
  max_zero.yaml:5:5: autoscaling[0].maxReplicas: 0 is out of range: use 1 to 1000; an HPA scales between 1 and this many pods
  max_zero.yaml:4:5: autoscaling[0].minReplicas: 1 is greater than maxReplicas 0
"#,
    },
    BadProfile {
        what: "a replica count beyond a whole number",
        file: "max_u64.yaml",
        text: Some("name: x\n"),
        args: &["--set", "autoscaling[0].maxReplicas=18446744073709551616"],
        stderr: r#"error: --set autoscaling[0].maxReplicas=18446744073709551616: autoscaling[0].maxReplicas: expected a whole number (0 or more), found string "18446744073709551616"
"#,
    },
    BadProfile {
        what: "a negative replica count",
        file: "max_negative.yaml",
        text: Some("name: x\n"),
        args: &["--set", "autoscaling[0].maxReplicas=-1"],
        stderr: r#"error: --set autoscaling[0].maxReplicas=-1: autoscaling[0].maxReplicas: expected a whole number (0 or more), found -1
"#,
    },
    BadProfile {
        what: "cores instead of millicores",
        file: "cpu_cores.yaml",
        text: Some("name: x\nredis:\n  resources:\n    limits: {cpu: 100}\n"),
        args: &[],
        stderr: r#"error: cpu_cores.yaml:4:14: redis.resources.limits.cpu: 100 is out of range: use 1m to 64 cores (100m is a tenth of one)
"#,
    },
    BadProfile {
        what: "bytes instead of MiB",
        file: "memory_bytes.yaml",
        text: Some("name: x\nredis:\n  resources:\n    requests:\n      memory: 256\n"),
        args: &[],
        stderr: r#"error: memory_bytes.yaml:5:7: redis.resources.requests.memory: 256 is out of range: use 16Mi to 1Ti bytes (a bare number is bytes: write 256Mi)
"#,
    },
    BadProfile {
        what: "a volume of 1e308 bytes",
        file: "size_huge.yaml",
        text: Some("name: x\nredis:\n  persistence:\n    size: 1e308\n"),
        args: &[],
        stderr: r#"error: size_huge.yaml:4:5: redis.persistence.size: 1e+308 is out of range: use 64Mi to 64Ti bytes (a bare number is bytes: write 1Gi)
"#,
    },
    BadProfile {
        what: "a quantity that overflows to infinity",
        file: "size_inf.yaml",
        text: Some("name: x\nredis:\n  persistence:\n    size: 1e400Gi\n"),
        args: &[],
        stderr: r#"error: size_inf.yaml:4:5: redis.persistence.size: "1e400Gi" is not a positive Kubernetes quantity (examples: 100m, 0.5, 128Mi, 1Gi; binary suffixes are Ki Mi Gi Ti, decimal k M G T)
"#,
    },
    BadProfile {
        what: "maxmemory below a megabyte",
        file: "maxmem_tiny.yaml",
        text: Some("name: x\nredis:\n  maxmemory: 100kb\n"),
        args: &[],
        stderr: r#"error: maxmem_tiny.yaml:3:3: redis.maxmemory: 100kb is too small: use at least 1mb, or Redis evicts every key it is given
"#,
    },
    BadProfile {
        what: "maxmemory beyond 64 bits",
        file: "maxmem_u64.yaml",
        text: Some("name: x\nredis:\n  maxmemory: 18446744073709551616\n"),
        args: &[],
        stderr: r#"error: maxmem_u64.yaml:3:14: redis.maxmemory: 18446744073709551616 is too large a number for any key of a profile
"#,
    },
    BadProfile {
        what: "a disruption budget above the pod count",
        file: "pdb.yaml",
        text: Some("name: x\nredis:\n  podDisruptionBudget:\n    maxUnavailable: 2\n"),
        args: &[],
        stderr: r#"error: pdb.yaml:4:5: redis.podDisruptionBudget.maxUnavailable: 2 is out of range: use 0 to 1; a standalone Redis has one pod
"#,
    },
    BadProfile {
        what: "a disruption budget that would take the sentinels' majority",
        file: "pdb_sentinel.yaml",
        text: Some("name: x\nredis:\n  topology: sentinel\n  podDisruptionBudget:\n    maxUnavailable: 2\n"),
        args: &[],
        stderr: r#"error: pdb_sentinel.yaml:5:5: redis.podDisruptionBudget.maxUnavailable: 2 is out of range: use 0 to 1; a majority of the sentinels must stay to agree on a failover
"#,
    },
    BadProfile {
        what: "a master that needs more replicas than there are",
        file: "min_replicas.yaml",
        text: Some("name: x\nredis:\n  topology: sentinel\n  sentinel:\n    minReplicasToWrite: 3\n"),
        args: &[],
        stderr: r#"error: min_replicas.yaml:5:5: redis.sentinel.minReplicasToWrite: 3 is out of range: use 0 to 2; the replicas a master needs to take writes; 0 turns the check off
"#,
    },
    BadProfile {
        what: "an unknown spread",
        file: "spread.yaml",
        text: Some("name: x\nredis:\n  spread: strict\n"),
        args: &[],
        stderr: r#"error: spread.yaml:3:3: redis.spread: unknown value `strict`; expected one of: soft, required
"#,
    },
    BadProfile {
        what: "Redis as root",
        file: "root.yaml",
        text: Some("name: x\nredis:\n  runAsUser: 0\n"),
        args: &[],
        stderr: r#"error: root.yaml:3:3: redis.runAsUser: 0 is out of range: use 1 to 2147483647; a non-root user id (the image's `redis` is 999)
"#,
    },
    BadProfile {
        what: "an exporter image with a space",
        file: "exporter.yaml",
        text: Some("name: x\nredis:\n  metrics:\n    enabled: true\n    image: \"redis exporter\"\n"),
        args: &[],
        stderr: r#"error: exporter.yaml:5:5: redis.metrics.image: "redis exporter" is not a container image reference (e.g. oliver006/redis_exporter:v1.66.0)
"#,
    },
    BadProfile {
        what: "a user id beyond 32 bits",
        file: "uid.yaml",
        text: Some("name: x\n"),
        args: &["--set", "redis.runAsUser=4294967296"],
        stderr: r#"error: --set redis.runAsUser=4294967296: redis.runAsUser: 4294967296 is out of range: use 1 to 2147483647; a non-root user id (the image's `redis` is 999)
"#,
    },
    BadProfile {
        what: "a save rule beyond a day",
        file: "save_week.yaml",
        text: Some("name: x\nredis:\n  persistence:\n    save: [\"604800 1\"]\n"),
        args: &[],
        stderr: r#"error: save_week.yaml:4:12: redis.persistence.save[0]: "604800 1" is not a save rule: write "<seconds> <changes>", e.g. "900 1", with 1 to 86400 seconds and 1 to 2147483647 changes
"#,
    },
    BadProfile {
        what: "Redis unit in a Kubernetes memory request",
        file: "mem_mb.yaml",
        text: Some(
            r#"name: x
redis:
  resources:
    requests:
      memory: 256mb
"#,
        ),
        args: &[],
        stderr: r#"error: mem_mb.yaml:5:7: redis.resources.requests.memory: "256mb" is not a positive Kubernetes quantity (examples: 100m, 0.5, 128Mi, 1Gi; binary suffixes are Ki Mi Gi Ti, decimal k M G T)
"#,
    },
    BadProfile {
        what: "malformed volume size",
        file: "size_gx.yaml",
        text: Some(
            r#"name: x
redis:
  persistence:
    size: 1Gx
"#,
        ),
        args: &[],
        stderr: r#"error: size_gx.yaml:4:5: redis.persistence.size: "1Gx" is not a positive Kubernetes quantity (examples: 100m, 0.5, 128Mi, 1Gi; binary suffixes are Ki Mi Gi Ti, decimal k M G T)
"#,
    },
    BadProfile {
        what: "Kubernetes unit in Redis maxmemory",
        file: "maxmem_bad.yaml",
        text: Some(
            r#"name: x
redis:
  maxmemory: 256MiB
"#,
        ),
        args: &[],
        stderr: r#"error: maxmem_bad.yaml:3:3: redis.maxmemory: "256MiB" is not a Redis memory size (examples: 256mb, 1gb, 500000000)
"#,
    },
    BadProfile {
        what: "namespace that is not a DNS label",
        file: "ns_bad.yaml",
        text: Some(
            r#"name: x
namespace: Cloud_Cafe
"#,
        ),
        args: &[],
        stderr: r#"error: ns_bad.yaml:2:1: namespace: "Cloud_Cafe" is not a valid name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123 label)
"#,
    },
    BadProfile {
        what: "profile name that is not a DNS label",
        file: "name_bad.yaml",
        text: Some(
            r#"name: Cafe Cache
"#,
        ),
        args: &[],
        stderr: r#"error: name_bad.yaml:1:1: name: "Cafe Cache" is not a valid name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123 label)
"#,
    },
    BadProfile {
        what: "empty profile",
        file: "empty.yaml",
        text: Some(r#""#),
        args: &[],
        stderr: r#"error: empty.yaml: the profile is empty; start from one of profiles/*.yaml
"#,
    },
    BadProfile {
        what: "not YAML",
        file: "notyaml.yaml",
        text: Some(
            r#"name: x
redis: [oops
"#,
        ),
        args: &[],
        stderr: r#"error: notyaml.yaml:2:8: not valid YAML: unclosed bracket '['
"#,
    },
    BadProfile {
        what: "a list instead of a mapping",
        file: "list.yaml",
        text: Some(
            r#"- name: x
"#,
        ),
        args: &[],
        stderr: r#"error: list.yaml:1:1: a profile is a mapping of keys (name:, redis:, autoscaling: ...), but this file holds a list
"#,
    },
    BadProfile {
        what: "missing name",
        file: "missing_name.yaml",
        text: Some(
            r#"redis:
  topology: standalone
"#,
        ),
        args: &[],
        stderr: r#"error: missing_name.yaml: name: missing required key: every profile needs a name (it labels every object as app.kubernetes.io/part-of)
"#,
    },
    BadProfile {
        what: "misspelled topology",
        file: "topo_typo.yaml",
        text: Some(
            r#"name: x
redis:
  topology: sentinal
"#,
        ),
        args: &[],
        stderr: r#"error: topo_typo.yaml:3:3: redis.topology: unknown value `sentinal`; did you mean `sentinel`?
"#,
    },
    BadProfile {
        what: "sentinel section for another topology",
        file: "sentinel_unused.yaml",
        text: Some(
            r#"name: x
redis:
  topology: standalone
  sentinel:
    replicas: 3
"#,
        ),
        args: &[],
        stderr: r#"error: sentinel_unused.yaml:4:3: redis.sentinel: only used with `topology: sentinel`, but the topology is standalone; remove this section or change redis.topology
"#,
    },
    BadProfile {
        what: "duplicate autoscaler name",
        file: "dup_hpa.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - {name: a, maxReplicas: 3, cpuUtilization: 50}
  - {name: a, maxReplicas: 4, cpuUtilization: 60}
"#,
        ),
        args: &[],
        stderr: r#"error: dup_hpa.yaml:4:6: autoscaling[1].name: "a" is listed twice; each HPA needs its own name
"#,
    },
    BadProfile {
        what: "maxmemory above the memory limit",
        file: "maxmem_over.yaml",
        text: Some(
            r#"name: x
redis:
  maxmemory: 1gb
"#,
        ),
        args: &[],
        stderr: r#"error: maxmem_over.yaml:3:3: redis.maxmemory: 1gb is more than the container's memory limit 256Mi: Redis would be killed before it starts evicting; lower maxmemory or raise redis.resources.limits.memory
"#,
    },
    BadProfile {
        what: "request above the default limit",
        file: "req_over.yaml",
        text: Some(
            r#"name: x
redis:
  resources:
    requests: {cpu: 500m}
"#,
        ),
        args: &[],
        stderr: r#"error: req_over.yaml:4:16: redis.resources.requests.cpu: request 500m is above the limit 200m; Kubernetes rejects such a pod
"#,
    },
    BadProfile {
        what: "stabilization window above the API's limit",
        file: "window.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: a
    maxReplicas: 3
    cpuUtilization: 50
    behavior:
      scaleDownWindowSeconds: 4000
"#,
        ),
        args: &[],
        stderr: r#"error: window.yaml:7:7: autoscaling[0].behavior.scaleDownWindowSeconds: 4000 is out of range: a stabilization window (seconds) must be between 0 and 3600
"#,
    },
    BadProfile {
        what: "malformed save rule",
        file: "save_bad.yaml",
        text: Some(
            r#"name: x
redis:
  persistence:
    save: ["900"]
"#,
        ),
        args: &[],
        stderr: r#"error: save_bad.yaml:4:12: redis.persistence.save[0]: "900" is not a save rule: write "<seconds> <changes>", e.g. "900 1", with 1 to 86400 seconds and 1 to 2147483647 changes
"#,
    },
    BadProfile {
        what: "unknown eviction policy",
        file: "policy_bad.yaml",
        text: Some(
            r#"name: x
redis:
  maxmemoryPolicy: lru
"#,
        ),
        args: &[],
        stderr: r#"error: policy_bad.yaml:3:3: redis.maxmemoryPolicy: unknown value `lru`; expected one of: noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl
"#,
    },
    BadProfile {
        what: "autoscaler without a metric",
        file: "nometric.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: a
    maxReplicas: 3
"#,
        ),
        args: &[],
        stderr: r#"error: nometric.yaml:3:5: autoscaling[0].cpuUtilization: set cpuUtilization, memoryUtilization or both: an HPA needs a metric to act on
"#,
    },
    BadProfile {
        what: "autoscaler without maxReplicas",
        file: "missing_max.yaml",
        text: Some(
            r#"name: x
autoscaling:
  - name: a
    cpuUtilization: 3
"#,
        ),
        args: &[],
        stderr: r#"error: missing_max.yaml:3:5: autoscaling[0]: missing required key `maxReplicas`
"#,
    },
    BadProfile {
        what: "YAML 1.1 boolean",
        file: "bool_yes.yaml",
        text: Some(
            r#"name: x
createNamespace: yes
"#,
        ),
        args: &[],
        stderr: r#"error: bool_yes.yaml:2:1: createNamespace: expected a boolean, found string "yes"
"#,
    },
    BadProfile {
        what: "duplicate key",
        file: "dupkey.yaml",
        text: Some(
            r#"name: x
name: y
"#,
        ),
        args: &[],
        stderr: r#"error: dupkey.yaml:2:1: not valid YAML: duplicate mapping key `name` is not allowed here
"#,
    },
    BadProfile {
        what: "file that does not exist",
        file: "missing_file.yaml",
        text: None,
        args: &[],
        stderr: r#"error: missing_file.yaml: no such file; the shipped profiles are in profiles/
"#,
    },
    BadProfile {
        what: "a file without end",
        file: "/dev/zero",
        text: None,
        args: &[],
        stderr: "error: /dev/zero: larger than 1024 KiB: a profile is a few kilobytes; is this the right file?\n",
    },
    BadProfile {
        what: "--set that creates an incomplete entry",
        file: "set_entry.yaml",
        text: Some(
            r#"name: x
"#,
        ),
        args: &["--set", "autoscaling[0].minReplicas=20"],
        stderr: r#"error: --set autoscaling[0].minReplicas=20: autoscaling[0]: missing required key `name`
"#,
    },
    BadProfile {
        what: "--namespace that is not a DNS label",
        file: "set_ns.yaml",
        text: Some(
            r#"name: x
"#,
        ),
        args: &["-n", "Bad_NS"],
        stderr: r#"error: --namespace Bad_NS: namespace: "Bad_NS" is not a valid name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit (DNS-1123 label)
"#,
    },
    BadProfile {
        what: "--set through a scalar",
        file: "set_path.yaml",
        text: Some(
            r#"name: x
"#,
        ),
        args: &["--set", "name.sub=3"],
        stderr: r#"error: --set name.sub=3: name.sub: name is a string, not a mapping
"#,
    },
    BadProfile {
        what: "--set with a bad value, blamed on the flag",
        file: "set_value.yaml",
        text: Some(
            r#"name: x
"#,
        ),
        args: &["--set", "redis.maxmemory=lots"],
        stderr: r#"error: --set redis.maxmemory=lots: redis.maxmemory: "lots" is not a Redis memory size (examples: 256mb, 1gb, 500000000)
"#,
    },
    BadProfile {
        what: "a later file's bad value names that file",
        file: "layered.yaml",
        text: Some(
            r#"name: x
"#,
        ),
        args: &["-p", "overlay.yaml"],
        stderr: r#"error: overlay.yaml:3:5: redis.persistence.size: "10GB" is not a positive Kubernetes quantity (examples: 100m, 0.5, 128Mi, 1Gi; binary suffixes are Ki Mi Gi Ti, decimal k M G T)
"#,
    },
    BadProfile {
        what: "every problem at once",
        file: "multi.yaml",
        text: Some(
            r#"name: x
redis:
  maxmemory: 1gb
autoscaling:
  - {name: a, minReplicas: 5, maxReplicas: 3, cpuUtilization: 50}
"#,
        ),
        args: &[],
        stderr: r#"error: the profile has 2 problems:
  multi.yaml:3:3: redis.maxmemory: 1gb is more than the container's memory limit 256Mi: Redis would be killed before it starts evicting; lower maxmemory or raise redis.resources.limits.memory
  multi.yaml:5:15: autoscaling[0].minReplicas: 5 is greater than maxReplicas 3
"#,
    },
    BadProfile {
        what: "a bad password on the command line is never echoed",
        file: "password_set.yaml",
        text: Some("name: x\n"),
        args: &["--set", "redis.auth.password=tooshort"],
        stderr: "error: --set redis.auth.password=***: redis.auth.password: must be at least 16 printable ASCII characters without spaces, quotes or backslashes\n",
    },
    BadProfile {
        what: "a password of the wrong type in a file is never echoed",
        file: "password_file.yaml",
        text: Some("name: x\nredis:\n  auth:\n    password: 1234567890123\n"),
        args: &[],
        stderr: "error: password_file.yaml:4:5: redis.auth.password: expected a string, found integer `***`\n",
    },
];

#[test]
fn every_bad_profile_is_a_clear_error() {
    assert!(CASES.len() >= 20);
    let mut failures = Vec::new();
    for case in CASES {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join("overlay.yaml"), OVERLAY).unwrap();
        if let Some(text) = case.text {
            std::fs::write(directory.path().join(case.file), text).unwrap();
        }
        let output = Command::cargo_bin("cafectl")
            .unwrap()
            .current_dir(directory.path())
            .args(["render", "-p", case.file])
            .args(case.args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(1) || !output.stdout.is_empty() || stderr != case.stderr {
            failures.push(format!(
                "{}: exit {:?}, stdout {} bytes\n  expected: {}\n  actual:   {}",
                case.what,
                output.status.code(),
                output.stdout.len(),
                case.stderr,
                stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
