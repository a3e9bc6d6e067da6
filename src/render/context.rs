//! Everything the templates need, computed here: names, labels, ports and
//! the keys of `app-config`. Templates only lay these values out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::passwords::Passwords;
use crate::profile::{KubeQuantity, Spread, Topology, ValidProfile};

pub const REDIS_PORT: u16 = 6379;
pub const SENTINEL_PORT: u16 = 26379;
/// The component label of the metrics Service and ServiceMonitor.
pub const METRICS_COMPONENT: &str = "metrics";
/// redis_exporter's conventional port.
pub const METRICS_PORT: u16 = 9121;
/// Redis Cluster's bus port is always the client port + 10000.
pub const CLUSTER_BUS_PORT: u16 = REDIS_PORT + 10000;

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const MANAGER: &str = "cafectl";

/// (cpu, memory) of the sentinel and bootstrap containers: they idle.
pub const HELPER_REQUESTS: (&str, &str) = ("50m", "32Mi");
pub const HELPER_LIMITS: (&str, &str) = ("100m", "64Mi");

/// How long a stopping master of a sentinel set or cluster has to hand its
/// role to a replica (its preStop hook), and how long after that the pod
/// has to stop (Redis saves its data on the way out).
pub const HANDOVER_SECONDS: u32 = 20;
pub const SHUTDOWN_SECONDS: u32 = 30;

/// How long a stopping master of a sentinel set, still taking writes, waits
/// for its sentinel (which leads the handover) to reach every replica: a
/// sentinel's link to a pod that restarted a moment ago can point at the
/// pod's old address for up to 15 s.
pub const SENTINEL_SIGHT_SECONDS: u32 = 20;

/// Milliseconds a sentinel keeps a silent link before it drops it and looks
/// the instance's name up again (Redis: 15000), so it finds a restarted pod's
/// new address within seconds.
pub const SENTINEL_RELINK_MILLISECONDS: u32 = 3000;

/// Milliseconds between a sentinel's INFO requests to each instance (Redis:
/// 10000, 1000 during a failover), so it learns a new replica, and a
/// replica's new role, within a second: apply waits until every sentinel
/// knows every replica.
pub const SENTINEL_INFO_PERIOD_MILLISECONDS: u32 = 1000;

/// cluster-node-timeout while a new Redis Cluster forms: a master takes
/// writes that long (at most 5 s) after it last counted itself in a
/// minority, which it does while the nodes meet.
pub const FORMING_NODE_TIMEOUT_MILLISECONDS: u32 = 1000;

/// The key of the password in the Secret (also in an existing one).
pub const SECRET_KEY: &str = "password";

/// The key of every password Redis accepts, space-separated, the one in
/// SECRET_KEY first: during a password change it also holds the other one.
/// Without it (a Secret you manage may lack it) only the password is
/// accepted.
pub const ACCEPTED_KEY: &str = "accepted-passwords";

/// Pod template annotation: a checksum of the Secret's passwords (never the
/// passwords), so a change rolls the pods.
pub const PASSWORD_CHECKSUM_ANNOTATION: &str = "cafectl.io/password-checksum";

/// Where the Secret is mounted in the Redis, sentinel and bootstrap containers.
pub const PASSWORD_DIRECTORY: &str = "/etc/redis-auth";

/// Annotation on a Secret whose password `apply` generates on creation.
pub const PASSWORD_ANNOTATION: &str = "cafectl.io/password";

#[derive(Debug, Serialize)]
pub struct Context {
    pub profile: String,
    pub namespace: String,
    pub create_namespace: bool,
    pub redis: RedisContext,
    pub auth: AuthContext,
    pub app_config: AppConfigContext,
    pub network_policy: Option<NetworkPolicyContext>,
    pub pod_disruption_budget: Option<PdbContext>,
    pub autoscalers: Vec<AutoscalerContext>,
    /// Hash of the rendered configuration, so pods restart when it changes.
    pub config_checksum: String,
}

#[derive(Debug, Serialize)]
pub struct RedisContext {
    pub topology: &'static str,
    pub image: String,
    pub statefulset: String,
    pub headless_service: String,
    /// The Service clients use: Redis itself, or the sentinels.
    pub client_service: String,
    pub client_port: u16,
    pub config_map: String,
    pub scripts_config_map: String,
    pub replicas: u32,
    /// `<pod>.<headless>.<namespace>.svc.<domain>` minus the pod name.
    pub hostname_suffix: String,
    /// Every pod's hostname, in ordinal order.
    pub hostnames: Vec<String>,
    pub selector_labels: BTreeMap<String, String>,
    pub pod_labels: BTreeMap<String, String>,
    /// Labels of the PersistentVolumeClaims made from volumeClaimTemplates.
    pub volume_labels: BTreeMap<String, String>,
    /// Labels of the cluster bootstrap pod: a Redis client, not a Redis pod.
    pub bootstrap_pod_labels: BTreeMap<String, String>,
    /// Ports of the headless Service: every port a Redis pod listens on.
    pub pod_ports: Vec<NamedPort>,
    pub client_port_name: &'static str,
    /// Shared by every pod and container cafectl renders: non-root, no
    /// privilege escalation, no capabilities.
    pub pod_security_context: serde_json::Value,
    pub container_security_context: serde_json::Value,
    /// What the Redis and sentinel containers get: the pod's name, from
    /// which they build the hostname they announce. (The password is a
    /// file, `AuthContext::password_file`, never in the environment.)
    pub pod_env: serde_json::Value,
    pub port: u16,
    pub sentinel_port: u16,
    pub bus_port: u16,
    pub maxmemory: String,
    pub maxmemory_policy: &'static str,
    pub appendonly: bool,
    pub save: Vec<String>,
    pub persistence: Option<PersistenceContext>,
    /// Requests and limits of the Redis container.
    pub resources: serde_json::Value,
    /// Requests and limits of the small helper containers (sentinel, bootstrap).
    pub helper_resources: serde_json::Value,
    pub sentinel: Option<SentinelContext>,
    pub cluster: Option<ClusterContext>,
    pub metrics: Option<MetricsContext>,
    /// Seconds the preStop hook may take; 0: the pod has none (standalone).
    pub handover_seconds: u32,
    pub termination_grace_seconds: u32,
    /// The pod's topologySpreadConstraints; empty for a single pod.
    pub topology_spread: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct MetricsContext {
    pub image: String,
    pub port: u16,
    /// The Service (and ServiceMonitor) of the pods' metrics port.
    pub service: String,
    /// The labels of that Service, which the ServiceMonitor selects.
    pub service_labels: BTreeMap<String, String>,
    /// The pod annotations Prometheus's conventional scrape config reads.
    pub scrape_annotations: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
pub struct PersistenceContext {
    pub size: String,
    pub storage_class: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SentinelContext {
    pub master_name: String,
    pub quorum: u32,
    pub majority: u32,
    pub min_replicas_to_write: u32,
    pub min_replicas_max_lag: u32,
    pub down_after_milliseconds: u32,
    pub failover_timeout: u32,
    pub parallel_syncs: u32,
    /// Seconds a stopping master waits for its sentinel to see every replica.
    pub sight_seconds: u32,
    pub relink_milliseconds: u32,
    pub info_period_milliseconds: u32,
}

#[derive(Debug, Serialize)]
pub struct ClusterContext {
    pub masters: u32,
    pub replicas_per_master: u32,
    pub node_timeout_milliseconds: u32,
    /// cluster-node-timeout while a new cluster forms (see the bootstrap).
    pub forming_node_timeout_milliseconds: u32,
    pub bootstrap_job: String,
}

#[derive(Debug, Serialize)]
pub struct AuthContext {
    pub secret: String,
    pub secret_key: &'static str,
    /// Where the pods read the password: the Secret mounted as a file, not
    /// in the environment (where every child process, crash report and
    /// `kubectl describe` of the pod would see it).
    pub password_file: String,
    pub accepted_key: &'static str,
    pub accepted_file: String,
    /// The pod volume and the container mount that put it there.
    pub volume: serde_json::Value,
    pub mount: serde_json::Value,
    /// false when the user named an existing Secret.
    pub render_secret: bool,
    /// Only what the user passed; never generated here.
    pub password: Option<String>,
    pub password_annotation: &'static str,
    /// The pod template's checksum of the passwords, when the profile gives
    /// one (a generated password never changes).
    pub checksum: Option<String>,
    pub checksum_annotation: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AppConfigContext {
    pub name: String,
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct NetworkPolicyContext {
    pub name: String,
    pub client_labels: BTreeMap<String, String>,
    /// Ports the client pods may reach.
    pub client_ports: Vec<u16>,
    /// Ports the Redis pods reach on each other (replication, sentinel, bus).
    pub peer_ports: Vec<u16>,
    /// The metrics port, open to every source (Prometheus runs elsewhere).
    pub metrics_port: Option<u16>,
    /// The cluster bootstrap pod's own policy: nothing reaches it, and it
    /// reaches only the Redis pods and the cluster DNS.
    pub bootstrap: Option<BootstrapPolicyContext>,
}

#[derive(Debug, Serialize)]
pub struct BootstrapPolicyContext {
    pub name: String,
    pub pod_labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct NamedPort {
    pub name: &'static str,
    pub port: u16,
}

#[derive(Debug, Serialize)]
pub struct PdbContext {
    pub name: String,
    pub max_unavailable: u32,
}

#[derive(Debug, Serialize)]
pub struct AutoscalerContext {
    pub name: String,
    pub target: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub metrics: Vec<MetricContext>,
    pub scale_up_window_seconds: u32,
    pub scale_down_window_seconds: u32,
}

impl Context {
    /// Records the checksum of what the pods read and names what depends on
    /// the bootstrap Job's: a Job's pod template cannot change once created,
    /// so a bootstrap Job for a different configuration is a new Job (apply
    /// prunes the old).
    pub fn set_config_checksums(&mut self, pods: String, job: &str) {
        if let Some(cluster) = &mut self.redis.cluster {
            cluster.bootstrap_job = format!("{}-{}", cluster.bootstrap_job, &job[..8]);
        }
        self.config_checksum = pods;
    }
}

/// A resource utilization target of an HPA.
#[derive(Debug, Serialize)]
pub struct MetricContext {
    pub resource: &'static str,
    pub utilization: u32,
}

pub fn build(valid: &ValidProfile) -> Context {
    let profile = &valid.profile;
    let redis = &profile.redis;
    let base = redis.name.as_str();
    let namespace = profile.namespace.as_str();
    let statefulset = base.to_owned();
    let headless_service = format!("{base}-headless");
    let hostname_suffix = format!(
        "{headless_service}.{namespace}.svc.{}",
        profile.cluster_domain
    );

    let sentinel =
        (redis.topology == Topology::Sentinel).then(|| redis.sentinel.clone().unwrap_or_default());
    let cluster =
        (redis.topology == Topology::Cluster).then(|| redis.cluster.clone().unwrap_or_default());
    let replicas = redis.pods();
    let hostnames: Vec<String> = (0..replicas)
        .map(|ordinal| format!("{statefulset}-{ordinal}.{hostname_suffix}"))
        .collect();
    let (client_service, client_port) = match redis.topology {
        Topology::Sentinel => (format!("{base}-sentinel"), SENTINEL_PORT),
        Topology::Standalone | Topology::Cluster => (format!("{base}-svc"), REDIS_PORT),
    };

    let selector_labels = BTreeMap::from([
        (LABEL_NAME.to_owned(), base.to_owned()),
        (LABEL_PART_OF.to_owned(), valid.name.to_string()),
    ]);
    let mut pod_labels = selector_labels.clone();
    pod_labels.extend(object_labels(valid.name.as_str(), "redis"));
    let mut bootstrap_pod_labels = object_labels(valid.name.as_str(), "cluster-bootstrap");
    bootstrap_pod_labels.extend(profile.network_policy.client_labels.clone());

    let redis_port = NamedPort {
        name: "redis",
        port: REDIS_PORT,
    };
    let (pod_ports, client_ports, peer_ports) = match redis.topology {
        Topology::Standalone => (vec![redis_port], vec![REDIS_PORT], vec![]),
        Topology::Sentinel => (
            vec![
                redis_port,
                NamedPort {
                    name: "sentinel",
                    port: SENTINEL_PORT,
                },
            ],
            vec![REDIS_PORT, SENTINEL_PORT],
            vec![REDIS_PORT, SENTINEL_PORT],
        ),
        Topology::Cluster => (
            vec![
                redis_port,
                NamedPort {
                    name: "cluster-bus",
                    port: CLUSTER_BUS_PORT,
                },
            ],
            vec![REDIS_PORT],
            vec![REDIS_PORT, CLUSTER_BUS_PORT],
        ),
    };
    let client_port_name = if redis.topology == Topology::Sentinel {
        "sentinel"
    } else {
        "redis"
    };

    let secret = redis
        .auth
        .existing_secret
        .as_ref()
        .map_or_else(|| format!("{base}-auth"), ToString::to_string);

    let topology_spread = topology_spread(replicas, redis.spread, &selector_labels);
    let handover_seconds = if redis.topology == Topology::Standalone {
        0
    } else {
        HANDOVER_SECONDS
    };

    let render_secret = redis.auth.existing_secret.is_none();
    let auth_volume = serde_json::json!({
        "name": "auth",
        "secret": {
            "secretName": secret,
            "items": [
                {"key": SECRET_KEY, "path": SECRET_KEY},
                {"key": ACCEPTED_KEY, "path": ACCEPTED_KEY},
            ],
            // 0440: the owner and the Redis group (fsGroup).
            "defaultMode": 0o440,
            // A Secret without ACCEPTED_KEY (one you manage, or one cafectl
            // created before it existed) accepts only its password; the
            // scripts report a missing password, naming the Secret.
            "optional": true,
        },
    });
    let password_checksum = redis
        .auth
        .password
        .as_ref()
        .map(|password| Passwords::only(password).checksum(&secret));

    let (requests_cpu, requests_memory) = redis.resources.requests();
    let (limits_cpu, limits_memory) = redis.resources.limits();

    let mut app_config = BTreeMap::from([
        ("REDIS_MODE".to_owned(), redis.topology.as_str().to_owned()),
        ("REDIS_HOST".to_owned(), client_service.clone()),
        ("REDIS_PORT".to_owned(), client_port.to_string()),
        ("REDIS_PASSWORD_SECRET".to_owned(), secret.clone()),
    ]);
    if let Some(sentinel) = &sentinel {
        let sentinels = hostnames
            .iter()
            .map(|host| format!("{host}:{SENTINEL_PORT}"));
        app_config.insert(
            "REDIS_SENTINELS".to_owned(),
            sentinels.collect::<Vec<_>>().join(","),
        );
        app_config.insert("REDIS_MASTER_NAME".to_owned(), sentinel.master_name.clone());
    }
    if cluster.is_some() {
        let nodes = hostnames.iter().map(|host| format!("{host}:{REDIS_PORT}"));
        app_config.insert(
            "REDIS_CLUSTER_NODES".to_owned(),
            nodes.collect::<Vec<_>>().join(","),
        );
    }

    Context {
        profile: valid.name.to_string(),
        namespace: namespace.to_owned(),
        create_namespace: profile.create_namespace,
        redis: RedisContext {
            topology: redis.topology.as_str(),
            image: redis.image.clone(),
            statefulset,
            headless_service,
            client_service,
            client_port,
            config_map: format!("{base}-config"),
            scripts_config_map: format!("{base}-scripts"),
            replicas,
            hostname_suffix,
            hostnames,
            selector_labels,
            pod_labels,
            volume_labels: object_labels(valid.name.as_str(), "redis"),
            bootstrap_pod_labels,
            pod_ports,
            client_port_name,
            pod_security_context: serde_json::json!({
                "runAsNonRoot": true,
                "runAsUser": redis.run_as_user,
                "runAsGroup": redis.run_as_user,
                "fsGroup": redis.run_as_user,
                "seccompProfile": {"type": "RuntimeDefault"},
            }),
            container_security_context: serde_json::json!({
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]},
            }),
            pod_env: serde_json::json!([{
                "name": "POD_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            }]),
            port: REDIS_PORT,
            sentinel_port: SENTINEL_PORT,
            bus_port: CLUSTER_BUS_PORT,
            maxmemory: redis.maxmemory.as_str().to_owned(),
            maxmemory_policy: redis.maxmemory_policy.as_str(),
            appendonly: redis.persistence.appendonly,
            save: redis
                .persistence
                .save
                .iter()
                .map(ToString::to_string)
                .collect(),
            metrics: redis.metrics.enabled.then(|| MetricsContext {
                image: redis.metrics.image.clone(),
                port: METRICS_PORT,
                service: format!("{base}-metrics"),
                service_labels: object_labels(valid.name.as_str(), METRICS_COMPONENT),
                scrape_annotations: BTreeMap::from([
                    ("prometheus.io/scrape", "true".to_owned()),
                    ("prometheus.io/port", METRICS_PORT.to_string()),
                    ("prometheus.io/path", "/metrics".to_owned()),
                ]),
            }),
            persistence: redis.persistence.enabled.then(|| PersistenceContext {
                size: redis.persistence.size.as_str().to_owned(),
                storage_class: redis
                    .persistence
                    .storage_class
                    .as_ref()
                    .map(ToString::to_string),
            }),
            resources: resources_json(
                (&requests_cpu, &requests_memory),
                (&limits_cpu, &limits_memory),
            ),
            helper_resources: resources_json(
                (
                    &KubeQuantity::known(HELPER_REQUESTS.0),
                    &KubeQuantity::known(HELPER_REQUESTS.1),
                ),
                (
                    &KubeQuantity::known(HELPER_LIMITS.0),
                    &KubeQuantity::known(HELPER_LIMITS.1),
                ),
            ),
            sentinel: sentinel.as_ref().map(|sentinel| SentinelContext {
                master_name: sentinel.master_name.clone(),
                quorum: sentinel.effective_quorum(),
                majority: sentinel.majority(),
                min_replicas_to_write: sentinel.min_replicas_to_write,
                min_replicas_max_lag: sentinel.min_replicas_max_lag,
                down_after_milliseconds: sentinel.down_after_milliseconds,
                failover_timeout: sentinel.failover_timeout,
                parallel_syncs: sentinel.parallel_syncs,
                sight_seconds: SENTINEL_SIGHT_SECONDS,
                relink_milliseconds: SENTINEL_RELINK_MILLISECONDS,
                info_period_milliseconds: SENTINEL_INFO_PERIOD_MILLISECONDS,
            }),
            cluster: cluster.as_ref().map(|cluster| ClusterContext {
                masters: cluster.masters,
                replicas_per_master: cluster.replicas_per_master,
                node_timeout_milliseconds: cluster.node_timeout_milliseconds,
                forming_node_timeout_milliseconds: FORMING_NODE_TIMEOUT_MILLISECONDS
                    .min(cluster.node_timeout_milliseconds),
                bootstrap_job: format!("{base}-cluster-bootstrap"),
            }),
            handover_seconds,
            termination_grace_seconds: handover_seconds
                + sentinel.as_ref().map_or(0, |_| SENTINEL_SIGHT_SECONDS)
                + SHUTDOWN_SECONDS,
            topology_spread,
        },
        auth: AuthContext {
            secret,
            secret_key: SECRET_KEY,
            password_file: format!("{PASSWORD_DIRECTORY}/{SECRET_KEY}"),
            accepted_key: ACCEPTED_KEY,
            accepted_file: format!("{PASSWORD_DIRECTORY}/{ACCEPTED_KEY}"),
            volume: auth_volume,
            mount: serde_json::json!({
                "name": "auth",
                "mountPath": PASSWORD_DIRECTORY,
                "readOnly": true,
            }),
            render_secret,
            password: redis.auth.password.clone(),
            password_annotation: PASSWORD_ANNOTATION,
            checksum: password_checksum,
            checksum_annotation: PASSWORD_CHECKSUM_ANNOTATION,
        },
        app_config: AppConfigContext {
            name: profile.app_config.name.to_string(),
            data: app_config,
        },
        network_policy: profile
            .network_policy
            .enabled
            .then(|| NetworkPolicyContext {
                name: base.to_owned(),
                client_labels: profile.network_policy.client_labels.clone(),
                client_ports,
                peer_ports,
                metrics_port: redis.metrics.enabled.then_some(METRICS_PORT),
                bootstrap: cluster.is_some().then(|| BootstrapPolicyContext {
                    name: format!("{base}-cluster-bootstrap"),
                    pod_labels: object_labels(valid.name.as_str(), "cluster-bootstrap"),
                }),
            }),
        pod_disruption_budget: redis.pod_disruption_budget.enabled.then(|| PdbContext {
            name: base.to_owned(),
            max_unavailable: redis.pod_disruption_budget.max_unavailable,
        }),
        autoscalers: profile
            .autoscaling
            .iter()
            .filter(|autoscaler| autoscaler.enabled)
            .map(|autoscaler| AutoscalerContext {
                name: autoscaler.name.to_string(),
                target: autoscaler.target().to_string(),
                min_replicas: autoscaler.min_replicas,
                max_replicas: autoscaler.max_replicas,
                metrics: [
                    ("cpu", autoscaler.cpu_utilization),
                    ("memory", autoscaler.memory_utilization),
                ]
                .into_iter()
                .filter_map(|(resource, target)| {
                    target.map(|percent| MetricContext {
                        resource,
                        utilization: percent.get(),
                    })
                })
                .collect(),
                scale_up_window_seconds: autoscaler.behavior.scale_up_window_seconds.seconds(),
                scale_down_window_seconds: autoscaler.behavior.scale_down_window_seconds.seconds(),
            })
            .collect(),
        config_checksum: String::new(),
    }
}

fn resources_json(
    (request_cpu, request_memory): (&KubeQuantity, &KubeQuantity),
    (limit_cpu, limit_memory): (&KubeQuantity, &KubeQuantity),
) -> serde_json::Value {
    serde_json::json!({
        "requests": {"cpu": request_cpu.as_str(), "memory": request_memory.as_str()},
        "limits": {"cpu": limit_cpu.as_str(), "memory": limit_memory.as_str()},
    })
}

/// One pod per node as far as the nodes allow (or strictly, with
/// `spread: required`), and across zones where nodes have them.
fn topology_spread(
    replicas: u32,
    spread: Spread,
    selector_labels: &BTreeMap<String, String>,
) -> serde_json::Value {
    if replicas < 2 {
        return serde_json::json!([]);
    }
    let on_nodes = match spread {
        Spread::Soft => "ScheduleAnyway",
        Spread::Required => "DoNotSchedule",
    };
    let constraint = |key: &str, when: &str| {
        serde_json::json!({
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": selector_labels},
        })
    };
    serde_json::json!([
        constraint("kubernetes.io/hostname", on_nodes),
        constraint("topology.kubernetes.io/zone", "ScheduleAnyway"),
    ])
}

/// The labels every object carries, marking it as this profile's.
pub fn object_labels(profile: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (LABEL_PART_OF.to_owned(), profile.to_owned()),
        (LABEL_COMPONENT.to_owned(), component.to_owned()),
    ])
}
