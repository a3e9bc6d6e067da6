//! The profile as a person writes it. Every key has a default here, so a
//! profile file holds only what differs from the seed lesson.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::validate::{
    MAX_CLUSTER_MASTERS, MAX_HPA_REPLICAS, MAX_REPLICAS_PER_MASTER, MAX_SENTINEL_REPLICAS,
    REDIS_TIMEOUT_MILLISECONDS,
};
use super::values::{
    KubeQuantity, Percent, RedisMemory, ResourceName, SaveRule, StabilizationWindow,
};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    /// Required; checked by validation so that an overlay file may omit it.
    #[serde(default)]
    pub name: Option<ResourceName>,
    /// The namespace of every object; `-n` overrides it.
    #[serde(default = "default_namespace")]
    pub namespace: ResourceName,
    /// Create the namespace (false: it must exist).
    #[serde(default = "yes")]
    pub create_namespace: bool,
    /// The cluster's DNS domain, used in the pod hostnames Redis announces.
    #[serde(default = "default_cluster_domain")]
    pub cluster_domain: String,
    /// The Redis cache.
    #[serde(default)]
    pub redis: Redis,
    /// The ConfigMap that tells the app tiers where Redis is.
    #[serde(default)]
    pub app_config: AppConfig,
    /// Only Redis clients (pods with the client labels) and the Redis pods reach Redis.
    #[serde(default)]
    pub network_policy: NetworkPolicy,
    /// HorizontalPodAutoscalers of the app tiers, matched by name across layered files.
    #[serde(default = "default_autoscaling")]
    pub autoscaling: Vec<Autoscaler>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    Standalone,
    Sentinel,
    Cluster,
}

impl Topology {
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Standalone => "standalone",
            Topology::Sentinel => "sentinel",
            Topology::Cluster => "cluster",
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Redis {
    /// standalone (one pod), sentinel (a master, replicas, a sentinel beside each) or cluster (sharded).
    #[serde(default = "default_topology")]
    pub topology: Topology,
    /// Base name of every Redis object (StatefulSet, Services, ConfigMap, ...).
    #[serde(default = "default_redis_name")]
    pub name: ResourceName,
    /// Redis 7.0 or later, with redis-server, redis-cli and sh.
    #[serde(default = "default_image")]
    pub image: String,
    /// Redis maxmemory, as redis.conf writes it (256mb); at least 1mb and below the memory limit.
    #[serde(default = "default_maxmemory")]
    pub maxmemory: RedisMemory,
    /// What Redis evicts at maxmemory.
    #[serde(default = "default_maxmemory_policy")]
    pub maxmemory_policy: MaxmemoryPolicy,
    /// The data volumes.
    #[serde(default)]
    pub persistence: Persistence,
    /// Requests and limits of the Redis container.
    #[serde(default)]
    pub resources: Resources,
    /// The password: generated on first apply unless given here or in an existing Secret.
    #[serde(default)]
    pub auth: Auth,
    /// The PodDisruptionBudget of the Redis pods.
    #[serde(default)]
    pub pod_disruption_budget: PodDisruptionBudget,
    /// How strictly the pods spread over nodes.
    #[serde(default)]
    pub spread: Spread,
    /// The user (and group) every Redis container runs as: the image's
    /// `redis` user by default; any other non-root id works too (as
    /// platforms that assign high ids require).
    #[serde(default = "default_run_as_user")]
    #[schemars(range(min = 1, max = i32::MAX))]
    pub run_as_user: i64,
    /// Prometheus metrics of every Redis pod (seed 001).
    #[serde(default)]
    pub metrics: Metrics,
    /// Only read when `topology: sentinel`.
    #[serde(default)]
    pub sentinel: Option<Sentinel>,
    /// Only read when `topology: cluster`.
    #[serde(default)]
    pub cluster: Option<Cluster>,
}

impl Default for Redis {
    fn default() -> Self {
        Redis {
            topology: default_topology(),
            name: default_redis_name(),
            image: default_image(),
            maxmemory: default_maxmemory(),
            maxmemory_policy: default_maxmemory_policy(),
            persistence: Persistence::default(),
            resources: Resources::default(),
            auth: Auth::default(),
            pod_disruption_budget: PodDisruptionBudget::default(),
            spread: Spread::default(),
            run_as_user: default_run_as_user(),
            metrics: Metrics::default(),
            sentinel: None,
            cluster: None,
        }
    }
}

impl Redis {
    /// Redis pods of this topology: one, the sentinel pods, or every
    /// cluster node.
    pub fn pods(&self) -> u32 {
        match self.topology {
            Topology::Standalone => 1,
            Topology::Sentinel => self.sentinel.clone().unwrap_or_default().replicas,
            Topology::Cluster => self.cluster.clone().unwrap_or_default().nodes(),
        }
    }
}

/// Pods of one Redis on different nodes (`kubernetes.io/hostname`): `soft`
/// prefers it and still schedules when the nodes do not allow it (a
/// one-node cluster); `required` leaves a pod pending instead. Zones
/// (`topology.kubernetes.io/zone`) are always preferred, never required:
/// nodes without the label could not take a pod at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Spread {
    #[default]
    Soft,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MaxmemoryPolicy {
    Noeviction,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl MaxmemoryPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MaxmemoryPolicy::Noeviction => "noeviction",
            MaxmemoryPolicy::AllkeysLru => "allkeys-lru",
            MaxmemoryPolicy::AllkeysLfu => "allkeys-lfu",
            MaxmemoryPolicy::AllkeysRandom => "allkeys-random",
            MaxmemoryPolicy::VolatileLru => "volatile-lru",
            MaxmemoryPolicy::VolatileLfu => "volatile-lfu",
            MaxmemoryPolicy::VolatileRandom => "volatile-random",
            MaxmemoryPolicy::VolatileTtl => "volatile-ttl",
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Persistence {
    /// false: data lives in an emptyDir and is lost with the pod.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Append-only file on the volume (every write logged).
    #[serde(default = "yes")]
    pub appendonly: bool,
    /// RDB snapshot rules, "SECONDS CHANGES" each; empty: no snapshots.
    #[serde(default = "default_save")]
    pub save: Vec<SaveRule>,
    /// The size of each pod's volume; a running StatefulSet keeps its claims' size.
    #[serde(default = "default_volume_size")]
    pub size: KubeQuantity,
    /// The StorageClass of the volumes; the cluster's default when unset.
    #[serde(default)]
    pub storage_class: Option<ResourceName>,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            enabled: true,
            appendonly: true,
            save: default_save(),
            size: default_volume_size(),
            storage_class: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    /// What the scheduler reserves for the container.
    #[serde(default)]
    pub requests: CpuMemory,
    /// The most the container may use.
    #[serde(default)]
    pub limits: CpuMemory,
}

/// Unset fields fall back to the seed lesson's numbers (see `Resources`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CpuMemory {
    /// CPU, as a Kubernetes quantity (100m, 1).
    #[serde(default)]
    pub cpu: Option<KubeQuantity>,
    /// Memory, as a Kubernetes quantity (128Mi, 1Gi).
    #[serde(default)]
    pub memory: Option<KubeQuantity>,
}

impl Resources {
    pub const DEFAULT_REQUESTS: (&'static str, &'static str) = ("100m", "128Mi");
    pub const DEFAULT_LIMITS: (&'static str, &'static str) = ("200m", "256Mi");

    /// (cpu, memory) requests with defaults filled in.
    pub fn requests(&self) -> (KubeQuantity, KubeQuantity) {
        self.requests.or(Self::DEFAULT_REQUESTS)
    }

    /// (cpu, memory) limits with defaults filled in.
    pub fn limits(&self) -> (KubeQuantity, KubeQuantity) {
        self.limits.or(Self::DEFAULT_LIMITS)
    }
}

impl CpuMemory {
    fn or(&self, (cpu, memory): (&str, &str)) -> (KubeQuantity, KubeQuantity) {
        (
            self.cpu.clone().unwrap_or_else(|| KubeQuantity::known(cpu)),
            self.memory
                .clone()
                .unwrap_or_else(|| KubeQuantity::known(memory)),
        )
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Auth {
    /// Use a Secret that already exists (key `password`) instead of rendering one.
    #[serde(default)]
    pub existing_secret: Option<ResourceName>,
    /// A password given by the user. Discouraged in files: prefer
    /// `--set redis.auth.password=...` or `existingSecret`.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    /// Render a PodDisruptionBudget for the Redis pods.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Redis pods a voluntary disruption may take at once; at most what keeps the set working.
    #[serde(default = "one")]
    pub max_unavailable: u32,
}

impl Default for PodDisruptionBudget {
    fn default() -> Self {
        PodDisruptionBudget {
            enabled: true,
            max_unavailable: 1,
        }
    }
}

/// A redis_exporter sidecar beside each Redis container.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metrics {
    /// A redis_exporter sidecar on port 9121, the prometheus.io scrape annotations, a metrics Service and, where served, a ServiceMonitor.
    #[serde(default)]
    pub enabled: bool,
    /// The redis_exporter image.
    #[serde(default = "default_exporter_image")]
    pub image: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            enabled: false,
            image: default_exporter_image(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sentinel {
    /// Redis pods, each with a sentinel beside it: one master, the rest replicas.
    #[serde(default = "three")]
    #[schemars(range(min = 3, max = MAX_SENTINEL_REPLICAS))]
    pub replicas: u32,
    /// Defaults to a majority of `replicas`.
    #[serde(default)]
    #[schemars(range(min = 2, max = MAX_SENTINEL_REPLICAS))]
    pub quorum: Option<u32>,
    /// The name the sentinels know the master by (clients ask for it).
    #[serde(default = "default_master_name")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub master_name: String,
    /// How long the master may be silent before the sentinels call it down.
    #[serde(default = "default_down_after")]
    #[schemars(range(min = *REDIS_TIMEOUT_MILLISECONDS.start(), max = *REDIS_TIMEOUT_MILLISECONDS.end()))]
    pub down_after_milliseconds: u32,
    /// Sentinel failover-timeout; at least downAfterMilliseconds.
    #[serde(default = "default_failover_timeout")]
    #[schemars(range(min = *REDIS_TIMEOUT_MILLISECONDS.start(), max = *REDIS_TIMEOUT_MILLISECONDS.end()))]
    pub failover_timeout: u32,
    /// Replicas that resynchronise at once after a failover.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = MAX_SENTINEL_REPLICAS - 1))]
    pub parallel_syncs: u32,
    /// A master with fewer linked replicas than this refuses writes, so a
    /// master cut off from the others cannot take writes a failover drops.
    #[serde(default = "one")]
    #[schemars(range(max = MAX_SENTINEL_REPLICAS - 1))]
    pub min_replicas_to_write: u32,
    /// Seconds since a replica's last acknowledgement for it to count.
    #[serde(default = "default_min_replicas_max_lag")]
    #[schemars(range(min = 1, max = 3600))]
    pub min_replicas_max_lag: u32,
}

impl Default for Sentinel {
    fn default() -> Self {
        Sentinel {
            replicas: 3,
            quorum: None,
            master_name: default_master_name(),
            down_after_milliseconds: default_down_after(),
            failover_timeout: default_failover_timeout(),
            parallel_syncs: 1,
            min_replicas_to_write: 1,
            min_replicas_max_lag: default_min_replicas_max_lag(),
        }
    }
}

impl Sentinel {
    pub fn majority(&self) -> u32 {
        self.replicas / 2 + 1
    }

    pub fn effective_quorum(&self) -> u32 {
        self.quorum.unwrap_or_else(|| self.majority())
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cluster {
    /// Masters the 16384 slots are spread over; changing it resizes the cluster.
    #[serde(default = "three")]
    #[schemars(range(min = 3, max = MAX_CLUSTER_MASTERS))]
    pub masters: u32,
    /// Replicas of each master.
    #[serde(default = "one")]
    #[schemars(range(max = MAX_REPLICAS_PER_MASTER))]
    pub replicas_per_master: u32,
    /// cluster-node-timeout: how long a node may be silent before it counts as failing.
    #[serde(default = "default_node_timeout")]
    #[schemars(range(min = *REDIS_TIMEOUT_MILLISECONDS.start(), max = *REDIS_TIMEOUT_MILLISECONDS.end()))]
    pub node_timeout_milliseconds: u32,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            masters: 3,
            replicas_per_master: 1,
            node_timeout_milliseconds: default_node_timeout(),
        }
    }
}

impl Cluster {
    pub fn nodes(&self) -> u32 {
        // Saturating: validation reads it before it bounds the two numbers.
        self.masters
            .saturating_mul(self.replicas_per_master.saturating_add(1))
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppConfig {
    /// The ConfigMap the app tiers read; cafectl owns only its Redis keys.
    #[serde(default = "default_app_config_name")]
    pub name: ResourceName,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            name: default_app_config_name(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// Render the NetworkPolicies.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Pods with all of these labels may connect to Redis.
    #[serde(default = "default_client_labels")]
    pub client_labels: BTreeMap<String, String>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            enabled: true,
            client_labels: default_client_labels(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Autoscaler {
    /// Name of the HPA; also the target Deployment unless `target` is set.
    pub name: ResourceName,
    /// false: no HPA for this tier (apply prunes one it made).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The Deployment it scales; defaults to the entry's name.
    #[serde(default)]
    pub target: Option<ResourceName>,
    /// The fewest pods it scales to; at most maxReplicas.
    #[serde(default = "two")]
    #[schemars(range(min = 1, max = MAX_HPA_REPLICAS))]
    pub min_replicas: u32,
    /// The most pods it scales to.
    #[schemars(range(min = 1, max = MAX_HPA_REPLICAS))]
    pub max_replicas: u32,
    /// Target average CPU use, percent of the pods' requests.
    pub cpu_utilization: Option<Percent>,
    /// Target average memory use, percent of the pods' requests.
    #[serde(default)]
    pub memory_utilization: Option<Percent>,
    /// How fast it scales.
    #[serde(default)]
    pub behavior: Behavior,
}

impl Autoscaler {
    pub fn target(&self) -> &ResourceName {
        self.target.as_ref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Behavior {
    /// Seconds of higher demand before it scales up.
    #[serde(default)]
    pub scale_up_window_seconds: StabilizationWindow,
    /// Seconds of lower demand before it scales down.
    #[serde(default = "default_scale_down_window")]
    pub scale_down_window_seconds: StabilizationWindow,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            scale_up_window_seconds: StabilizationWindow::default(),
            scale_down_window_seconds: default_scale_down_window(),
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn three() -> u32 {
    3
}
fn default_namespace() -> ResourceName {
    ResourceName::known("cloud-cafe")
}
fn default_cluster_domain() -> String {
    "cluster.local".to_owned()
}
fn default_topology() -> Topology {
    Topology::Standalone
}
fn default_redis_name() -> ResourceName {
    ResourceName::known("redis")
}
/// The `redis` user of the official images (Debian and Alpine alike).
fn default_run_as_user() -> i64 {
    999
}
fn default_image() -> String {
    "redis:7.2-alpine".to_owned()
}
fn default_exporter_image() -> String {
    "oliver006/redis_exporter:v1.66.0".to_owned()
}
fn default_maxmemory() -> RedisMemory {
    RedisMemory::known("256mb")
}
fn default_maxmemory_policy() -> MaxmemoryPolicy {
    MaxmemoryPolicy::AllkeysLru
}
fn default_save() -> Vec<SaveRule> {
    vec![
        SaveRule::new(900, 1),
        SaveRule::new(300, 10),
        SaveRule::new(60, 10000),
    ]
}
fn default_volume_size() -> KubeQuantity {
    KubeQuantity::known("1Gi")
}
fn default_master_name() -> String {
    "mymaster".to_owned()
}
fn default_down_after() -> u32 {
    5000
}
fn default_failover_timeout() -> u32 {
    60000
}
fn default_min_replicas_max_lag() -> u32 {
    10
}
fn default_node_timeout() -> u32 {
    5000
}
fn default_app_config_name() -> ResourceName {
    ResourceName::known("app-config")
}
fn default_client_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("cafectl.io/redis-client".to_owned(), "true".to_owned())])
}
fn default_scale_down_window() -> StabilizationWindow {
    StabilizationWindow::new(300)
}
/// The seed lesson's `kubectl autoscale` commands.
fn default_autoscaling() -> Vec<Autoscaler> {
    let tier = |name: &str, max_replicas, cpu| Autoscaler {
        name: ResourceName::known(name),
        enabled: true,
        target: None,
        min_replicas: 2,
        max_replicas,
        cpu_utilization: Some(Percent::new(cpu)),
        memory_utilization: None,
        behavior: Behavior::default(),
    };
    vec![tier("order-backend", 10, 50), tier("frontend", 5, 70)]
}
