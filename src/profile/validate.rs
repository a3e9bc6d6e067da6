//! Checks that span several keys, run after the profile is read. Each finding
//! names the key to change.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::ops::RangeInclusive;

use super::model::{Profile, Topology};
use super::path::KeyPath;
use super::values::{KubeQuantity, RedisMemory};

/// How long a Redis base name may be, so that every derived object name
/// (`<name>-cluster-bootstrap`, pod hostnames) stays a valid DNS label.
pub const MAX_REDIS_NAME: usize = 30;
pub const MAX_CLUSTER_MASTERS: u32 = 100;
pub const MAX_REPLICAS_PER_MASTER: u32 = 5;
/// Every sentinel pod holds a full copy of the data; past 9 more pods add
/// no availability, only replication traffic and votes to gather.
pub const MAX_SENTINEL_REPLICAS: u32 = 9;
/// Sentinel and cluster timeouts: below a second a GC pause or a slow disk
/// looks like a dead master; above an hour nothing fails over at all.
pub const REDIS_TIMEOUT_MILLISECONDS: RangeInclusive<u32> = 1000..=3_600_000;
const REDIS_TIMEOUT_REASON: &str =
    "shorter timeouts fail over on a GC pause, longer ones leave a dead master unnoticed";
/// HPA replicas: far above any app tier here, far below what int32 fields
/// and a cluster's scheduler can hold.
pub const MAX_HPA_REPLICAS: u32 = 1000;
/// A DNS name, with the dots (RFC 1035).
pub const MAX_DNS_NAME: usize = 253;
/// CPU for one Redis container: Kubernetes' finest unit up to more cores
/// than Redis' one command thread and its I/O threads can use.
pub const CPU_RANGE: QuantityRange = QuantityRange {
    min: "1m",
    max: "64",
    unit: "cores (100m is a tenth of one)",
};
/// Memory for one Redis container: Redis needs a few MiB before it holds a
/// key; a bare number is bytes, so `memory: 256` is caught here.
pub const MEMORY_RANGE: QuantityRange = QuantityRange {
    min: "16Mi",
    max: "1Ti",
    unit: "bytes (a bare number is bytes: write 256Mi)",
};
/// One Redis volume: room for an RDB file and the AOF, up to the largest
/// block volume clouds offer.
pub const VOLUME_RANGE: QuantityRange = QuantityRange {
    min: "64Mi",
    max: "64Ti",
    unit: "bytes (a bare number is bytes: write 1Gi)",
};
/// Below a megabyte Redis evicts every key it is given.
pub const MIN_MAXMEMORY: &str = "1mb";

pub fn validate(profile: &Profile) -> Vec<(KeyPath, String)> {
    let mut findings = Vec::new();
    let root = KeyPath::root();
    let mut report = |path: KeyPath, message: String| findings.push((path, message));

    if profile.name.is_none() {
        report(
            root.key("name"),
            "missing required key: every profile needs a name (it labels every object as app.kubernetes.io/part-of)".to_owned(),
        );
    }

    let domain_labels_valid = profile
        .cluster_domain
        .split('.')
        .all(|label| super::values::ResourceName::parse(label).is_ok());
    if !domain_labels_valid || profile.cluster_domain.len() > MAX_DNS_NAME {
        report(
            root.key("clusterDomain"),
            format!(
                "{:?} is not a DNS domain of at most {MAX_DNS_NAME} characters (the default is cluster.local)",
                profile.cluster_domain
            ),
        );
    }

    let redis = &profile.redis;
    let at = root.key("redis");
    if !redis
        .name
        .as_str()
        .starts_with(|c: char| c.is_ascii_lowercase())
        || redis.name.as_str().len() > MAX_REDIS_NAME
    {
        report(
            at.key("name"),
            format!(
                "{:?} must start with a letter and be at most {MAX_REDIS_NAME} characters: Service and pod names are derived from it",
                redis.name.as_str()
            ),
        );
    }
    for (key, image, example) in [
        (at.key("image"), &redis.image, "redis:7.2-alpine"),
        (
            at.key("metrics").key("image"),
            &redis.metrics.image,
            "oliver006/redis_exporter:v1.66.0",
        ),
    ] {
        if image.trim().is_empty() || image.contains(char::is_whitespace) {
            report(
                key,
                format!("{image:?} is not a container image reference (e.g. {example})"),
            );
        }
    }

    let (request_cpu, request_memory) = redis.resources.requests();
    let (limit_cpu, limit_memory) = redis.resources.limits();
    let resources = at.key("resources");
    for (kind, request, limit, range) in [
        ("cpu", &request_cpu, &limit_cpu, CPU_RANGE),
        ("memory", &request_memory, &limit_memory, MEMORY_RANGE),
    ] {
        for (side, quantity) in [("requests", request), ("limits", limit)] {
            if let Some(message) = quantity_out_of_range(quantity, range) {
                report(resources.key(side).key(kind), message);
            }
        }
        if request.value() > limit.value() {
            report(
                resources.key("requests").key(kind),
                format!(
                    "request {} is above the limit {}; Kubernetes rejects such a pod",
                    request.as_str(),
                    limit.as_str()
                ),
            );
        }
    }
    if let Some(message) = quantity_out_of_range(&redis.persistence.size, VOLUME_RANGE) {
        report(at.key("persistence").key("size"), message);
    }
    if redis.maxmemory.bytes() < RedisMemory::known(MIN_MAXMEMORY).bytes() {
        report(
            at.key("maxmemory"),
            format!(
                "{} is too small: use at least {MIN_MAXMEMORY}, or Redis evicts every key it is given",
                redis.maxmemory.as_str()
            ),
        );
    } else if redis.maxmemory.bytes() as f64 > limit_memory.value() {
        report(
            at.key("maxmemory"),
            format!(
                "{} is more than the container's memory limit {}: Redis would be killed before it starts evicting; lower maxmemory or raise redis.resources.limits.memory",
                redis.maxmemory.as_str(),
                limit_memory.as_str()
            ),
        );
    }

    let budget = &redis.pod_disruption_budget;
    if budget.enabled {
        // What a drain may take and the set still serve and fail over.
        // (Too few sentinels is reported on its own key.)
        let sentinel = redis.sentinel.clone().unwrap_or_default();
        let (most, reason) = match redis.topology {
            Topology::Standalone => (1, "a standalone Redis has one pod"),
            Topology::Sentinel if sentinel.replicas < 3 => {
                (redis.pods(), "at most every Redis pod")
            }
            Topology::Sentinel => (
                sentinel.replicas.saturating_sub(sentinel.majority()),
                "a majority of the sentinels must stay to agree on a failover",
            ),
            Topology::Cluster => (
                redis
                    .cluster
                    .clone()
                    .unwrap_or_default()
                    .replicas_per_master,
                "more could take every node of one shard, and with it the cluster",
            ),
        };
        if let Some(message) = out_of_range(budget.max_unavailable, 0..=most, reason) {
            report(at.key("podDisruptionBudget").key("maxUnavailable"), message);
        }
    }

    // Kubernetes takes a 32-bit id; 0 is root, which runAsNonRoot refuses.
    if let Some(message) = out_of_range(
        redis.run_as_user,
        1..=i64::from(i32::MAX),
        "a non-root user id (the image's `redis` is 999)",
    ) {
        report(at.key("runAsUser"), message);
    }

    let auth = at.key("auth");
    if redis.auth.existing_secret.is_some() && redis.auth.password.is_some() {
        report(
            auth.key("password"),
            "set either password or existingSecret, not both".to_owned(),
        );
    }
    if let Some(password) = &redis.auth.password {
        let printable = password
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '\'');
        if password.len() < 16 || !printable {
            // Never echo the password itself.
            report(
                auth.key("password"),
                "must be at least 16 printable ASCII characters without spaces, quotes or backslashes".to_owned(),
            );
        }
    }

    match (redis.topology, &redis.sentinel) {
        (Topology::Sentinel, sentinel) => {
            let sentinel = sentinel.clone().unwrap_or_default();
            let at = at.key("sentinel");
            if sentinel.replicas < 3 {
                report(
                    at.key("replicas"),
                    format!("{} is too few: Sentinel needs at least 3 pods so that a majority survives losing one", sentinel.replicas),
                );
            } else if sentinel.replicas > MAX_SENTINEL_REPLICAS {
                report(
                    at.key("replicas"),
                    format!("{} is too many: use at most {MAX_SENTINEL_REPLICAS}; every pod holds a full copy of the data, and more sentinels add no availability", sentinel.replicas),
                );
            } else if let Some(quorum) = sentinel.quorum {
                if quorum < sentinel.majority() || quorum > sentinel.replicas {
                    report(
                        at.key("quorum"),
                        format!(
                            "{quorum} cannot win: with {} sentinels the quorum must be a majority, between {} and {}",
                            sentinel.replicas,
                            sentinel.majority(),
                            sentinel.replicas
                        ),
                    );
                }
            }
            let valid_master_name = !sentinel.master_name.is_empty()
                && sentinel
                    .master_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid_master_name {
                report(
                    at.key("masterName"),
                    format!(
                        "{:?} may hold only letters, digits, '-', '_' and '.'",
                        sentinel.master_name
                    ),
                );
            }
            if let Some(message) = out_of_range(
                sentinel.down_after_milliseconds,
                REDIS_TIMEOUT_MILLISECONDS,
                REDIS_TIMEOUT_REASON,
            ) {
                report(at.key("downAfterMilliseconds"), message);
            }
            let down_after = sentinel.down_after_milliseconds;
            let failover_range = if REDIS_TIMEOUT_MILLISECONDS.contains(&down_after) {
                down_after..=*REDIS_TIMEOUT_MILLISECONDS.end()
            } else {
                REDIS_TIMEOUT_MILLISECONDS
            };
            if let Some(message) = out_of_range(
                sentinel.failover_timeout,
                failover_range,
                "it may not be shorter than downAfterMilliseconds",
            ) {
                report(at.key("failoverTimeout"), message);
            }
            // One pod is the master; the rest are its replicas.
            let replicas_to_sync = sentinel.replicas.saturating_sub(1).max(1);
            if let Some(message) = out_of_range(
                sentinel.parallel_syncs,
                1..=replicas_to_sync,
                "the replicas that resynchronise at once after a failover",
            ) {
                report(at.key("parallelSyncs"), message);
            }
            if let Some(message) = out_of_range(
                sentinel.min_replicas_to_write,
                0..=sentinel.replicas.saturating_sub(1),
                "the replicas a master needs to take writes; 0 turns the check off",
            ) {
                report(at.key("minReplicasToWrite"), message);
            }
            if let Some(message) = out_of_range(
                sentinel.min_replicas_max_lag,
                1..=3600,
                "seconds since a replica last acknowledged",
            ) {
                report(at.key("minReplicasMaxLag"), message);
            }
        }
        (_, Some(_)) => report(
            at.key("sentinel"),
            unused_section("sentinel", redis.topology),
        ),
        (_, None) => {}
    }
    match (redis.topology, &redis.cluster) {
        (Topology::Cluster, cluster) => {
            let cluster = cluster.clone().unwrap_or_default();
            let at = at.key("cluster");
            if !(3..=MAX_CLUSTER_MASTERS).contains(&cluster.masters) {
                report(
                    at.key("masters"),
                    format!("{} is out of range: Redis Cluster needs 3 to {MAX_CLUSTER_MASTERS} masters", cluster.masters),
                );
            }
            if cluster.replicas_per_master > MAX_REPLICAS_PER_MASTER {
                report(
                    at.key("replicasPerMaster"),
                    format!(
                        "{} is out of range: use 0 to {MAX_REPLICAS_PER_MASTER}",
                        cluster.replicas_per_master
                    ),
                );
            }
            if let Some(message) = out_of_range(
                cluster.node_timeout_milliseconds,
                REDIS_TIMEOUT_MILLISECONDS,
                REDIS_TIMEOUT_REASON,
            ) {
                report(at.key("nodeTimeoutMilliseconds"), message);
            }
        }
        (_, Some(_)) => report(at.key("cluster"), unused_section("cluster", redis.topology)),
        (_, None) => {}
    }

    if profile.network_policy.enabled && profile.network_policy.client_labels.is_empty() {
        report(
            root.key("networkPolicy").key("clientLabels"),
            "must name at least one label while the NetworkPolicy is enabled, or no client could reach Redis".to_owned(),
        );
    }
    for (key, value) in &profile.network_policy.client_labels {
        if let Err(message) = check_label(key, value) {
            report(
                root.key("networkPolicy").key("clientLabels").key(key),
                message,
            );
        }
    }

    let mut seen = BTreeSet::new();
    for (index, autoscaler) in profile.autoscaling.iter().enumerate() {
        let at = root.key("autoscaling").index(index);
        if !seen.insert(autoscaler.name.as_str()) {
            report(
                at.key("name"),
                format!(
                    "{:?} is listed twice; each HPA needs its own name",
                    autoscaler.name.as_str()
                ),
            );
        }
        if let Some(message) = out_of_range(
            autoscaler.max_replicas,
            1..=MAX_HPA_REPLICAS,
            "an HPA scales between 1 and this many pods",
        ) {
            report(at.key("maxReplicas"), message);
        }
        if autoscaler.min_replicas < 1 {
            report(
                at.key("minReplicas"),
                "must be at least 1 (an HPA cannot scale to zero)".to_owned(),
            );
        } else if autoscaler.min_replicas > autoscaler.max_replicas {
            report(
                at.key("minReplicas"),
                format!(
                    "{} is greater than maxReplicas {}",
                    autoscaler.min_replicas, autoscaler.max_replicas
                ),
            );
        }
        if autoscaler.cpu_utilization.is_none() && autoscaler.memory_utilization.is_none() {
            report(
                at.key("cpuUtilization"),
                "set cpuUtilization, memoryUtilization or both: an HPA needs a metric to act on"
                    .to_owned(),
            );
        }
    }
    findings
}

/// The message for a number outside `range`, if it is.
fn out_of_range<T: PartialOrd + Display>(
    value: T,
    range: RangeInclusive<T>,
    reason: &str,
) -> Option<String> {
    (!range.contains(&value)).then(|| {
        format!(
            "{value} is out of range: use {} to {}; {reason}",
            range.start(),
            range.end()
        )
    })
}

/// Bounds of a Kubernetes quantity, as a person writes them.
#[derive(Clone, Copy)]
pub struct QuantityRange {
    pub min: &'static str,
    pub max: &'static str,
    /// What the numbers count, so that a missing suffix is easy to spot.
    pub unit: &'static str,
}

/// The message for a quantity outside `range`, if it is.
fn quantity_out_of_range(quantity: &KubeQuantity, range: QuantityRange) -> Option<String> {
    let QuantityRange { min, max, unit } = range;
    let bounds = KubeQuantity::known(min).value()..=KubeQuantity::known(max).value();
    (!bounds.contains(&quantity.value())).then(|| {
        format!(
            "{} is out of range: use {min} to {max} {unit}",
            quantity.as_str()
        )
    })
}

fn unused_section(section: &str, topology: Topology) -> String {
    format!(
        "only used with `topology: {section}`, but the topology is {}; remove this section or change redis.topology",
        topology.as_str()
    )
}

/// Kubernetes label syntax: optional DNS prefix, a name of at most 63
/// characters, and a value of at most 63.
fn check_label(key: &str, value: &str) -> Result<(), String> {
    let name_part = |text: &str| {
        !text.is_empty()
            && text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text.ends_with(|c: char| c.is_ascii_alphanumeric())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let (prefix, name) = key
        .rsplit_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253
            && p.split('.')
                .all(|label| super::values::ResourceName::parse(label).is_ok())
    });
    if !prefix_ok || !name_part(name) {
        return Err(format!("{key:?} is not a valid label key"));
    }
    if !value.is_empty() && !name_part(value) {
        return Err(format!("{value:?} is not a valid label value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_bounds_parse() {
        for range in [CPU_RANGE, MEMORY_RANGE, VOLUME_RANGE] {
            assert!(KubeQuantity::parse(range.min).is_ok(), "{}", range.min);
            assert!(KubeQuantity::parse(range.max).is_ok(), "{}", range.max);
        }
        assert!(RedisMemory::parse(MIN_MAXMEMORY).is_ok());
    }
}
