//! What `diff`, `apply` and `teardown` share: the rendered profile, one
//! connection and one discovery pass.

use anyhow::Context as _;
use futures::future::join_all;
use kube::api::{Api, DynamicObject};
use kube::ResourceExt;

use crate::cli::{ConnectionArgs, ProfileArgs};
use crate::cluster::connect::{connect, Connection};
use crate::cluster::discovery::{discover, serves, Catalog};
use crate::cluster::{live, profile_selector};
use crate::profile::{self, ValidProfile};
use crate::render::context::{LABEL_MANAGED_BY, LABEL_PART_OF, MANAGER};
use crate::render::{self, Object, Stage, KINDS};

/// The HPAs' targets, checked before applying.
const DEPLOYMENT: (&str, &str) = ("apps/v1", "Deployment");
/// Kinds prune leaves alone: volume claims hold data, and the namespace
/// holds other things.
pub const PRUNE_NEVER: [&str; 2] = ["Namespace", "PersistentVolumeClaim"];
/// Pods tell whether a namespace is still in use before teardown removes it.
const POD: (&str, &str) = ("v1", "Pod");
const METRICS_API: &str = "metrics.k8s.io/v1beta1";

/// A live object of a kind cafectl renders, as a list found it.
pub struct LiveObject {
    pub stage: Stage,
    pub api_version: &'static str,
    pub kind: &'static str,
    /// `Kind/namespace/name`, as `render` objects print.
    pub label: String,
    pub api: Api<DynamicObject>,
    pub name: String,
    pub object: DynamicObject,
}

pub struct Session {
    pub profile: ValidProfile,
    pub objects: Vec<Object>,
    pub client: kube::Client,
    pub server: String,
    pub timeout: std::time::Duration,
    catalog: Catalog,
}

/// Runs the async part of a verb on a small runtime of its own.
pub fn block_on<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

impl Session {
    /// Validates and renders the profile before anything touches the
    /// cluster, then connects and discovers every kind cafectl may use.
    pub async fn open(
        profile_args: &ProfileArgs,
        connection_args: &ConnectionArgs,
    ) -> anyhow::Result<Session> {
        let profile = profile::load(&profile_args.request())?;
        Session::start(profile, connect(connection_args).await?).await
    }

    /// Renders the profile and discovers every kind over `connection`.
    pub(crate) async fn start(
        profile: ValidProfile,
        connection: Connection,
    ) -> anyhow::Result<Session> {
        let objects = render::render(&profile)
            .context("cafectl could not render this profile; this is a bug, please report it")?;
        let Connection {
            client,
            server,
            timeout,
        } = connection;
        let kinds = KINDS
            .iter()
            .map(|info| (info.api_version, info.kind))
            .chain([DEPLOYMENT, POD]);
        let catalog = tokio::time::timeout(timeout, discover(&client, &server, kinds))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot reach the cluster at {server}: no answer within {}s",
                    timeout.as_secs()
                )
            })??;
        Ok(Session {
            profile,
            objects,
            client,
            server,
            timeout,
            catalog,
        })
    }

    pub fn namespace(&self) -> &str {
        self.profile.profile.namespace.as_str()
    }

    pub fn api(&self, object: &Object) -> anyhow::Result<Api<DynamicObject>> {
        self.api_for(&object.api_version, &object.kind)
    }

    pub fn api_for(&self, api_version: &str, kind: &str) -> anyhow::Result<Api<DynamicObject>> {
        let resource = self
            .catalog
            .get(api_version, kind)
            .with_context(|| format!("{api_version} {kind} was not discovered"))?;
        Ok(live::api(&self.client, resource, self.namespace()))
    }

    /// Every live object labelled as this profile's, of every kind but
    /// `except`, listed concurrently, in apply order.
    pub async fn labelled_objects(&self, except: &[&str]) -> anyhow::Result<Vec<LiveObject>> {
        self.list_objects(except, &profile_selector(self.profile.name.as_str()))
            .await
    }

    /// Whether a live object carries this profile's labels.
    pub fn is_ours(&self, object: &DynamicObject) -> bool {
        let labels = object.labels();
        labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGER)
            && labels.get(LABEL_PART_OF).map(String::as_str) == Some(self.profile.name.as_str())
    }

    /// Every live object of every kind but `except` that `selector` picks
    /// (all of them for ""), listed concurrently, one request per kind.
    pub async fn list_objects(
        &self,
        except: &[&str],
        selector: &str,
    ) -> anyhow::Result<Vec<LiveObject>> {
        let kinds: Vec<_> = KINDS
            .iter()
            .filter(|info| !except.contains(&info.kind))
            .collect();
        let lists = join_all(kinds.iter().map(|info| async move {
            let api = self.api_for(info.api_version, info.kind)?;
            let items = live::list(&api, selector).await.map_err(|e| {
                anyhow::anyhow!("cannot list {}: {}", info.kind, live::describe_error(&e))
            })?;
            Ok::<_, anyhow::Error>((info, api, items))
        }))
        .await;
        let mut found = Vec::new();
        for list in lists {
            let (info, api, items) = list?;
            for item in items {
                let name = item.name_any();
                // The only cluster-scoped kind is the Namespace: this
                // profile may live in others too, which are not ours here.
                if info.stage == Stage::Namespace && name != self.namespace() {
                    continue;
                }
                let label = match item.namespace() {
                    Some(namespace) => format!("{}/{namespace}/{name}", info.kind),
                    None => format!("{}/{name}", info.kind),
                };
                found.push(LiveObject {
                    stage: info.stage,
                    api_version: info.api_version,
                    kind: info.kind,
                    label,
                    api: api.clone(),
                    name,
                    object: item,
                });
            }
        }
        found.sort_by(|a, b| (a.stage, &a.label).cmp(&(b.stage, &b.label)));

        Ok(found)
    }

    /// Objects in the namespace that are not this profile's (nor named in
    /// `ignore`), as `Kind/name`: what keeps teardown from deleting it.
    pub async fn foreign_objects(&self, ignore: &[&str]) -> anyhow::Result<Vec<String>> {
        let kinds = KINDS
            .iter()
            .filter(|info| info.stage != Stage::Namespace)
            .map(|info| (info.api_version, info.kind))
            .chain([DEPLOYMENT, POD]);
        let lists = join_all(kinds.map(|(api_version, kind)| async move {
            let api = self.api_for(api_version, kind)?;
            let items = live::list(&api, "")
                .await
                .map_err(|e| anyhow::anyhow!("cannot list {kind}: {}", live::describe_error(&e)))?;
            Ok::<_, anyhow::Error>((kind, items))
        }))
        .await;
        let mut foreign = Vec::new();
        for list in lists {
            let (kind, items) = list?;
            for item in items {
                let name = item.name_any();
                if !ignore.contains(&name.as_str()) {
                    foreign.push(format!("{kind}/{name}"));
                }
            }
        }
        Ok(foreign)
    }

    /// This profile's live objects that the current render no longer has:
    /// what apply prunes. Volume claims hold data and the namespace may hold
    /// other things, so neither is ever pruned.
    pub async fn leftovers(&self) -> anyhow::Result<Vec<LiveObject>> {
        let found = self.labelled_objects(&PRUNE_NEVER).await?;
        Ok(self.not_rendered(found))
    }

    /// The objects of `found` that the current render does not have.
    pub fn not_rendered(&self, found: Vec<LiveObject>) -> Vec<LiveObject> {
        let wanted: Vec<String> = self.objects.iter().map(ToString::to_string).collect();
        found
            .into_iter()
            .filter(|found| !wanted.contains(&found.label))
            .collect()
    }

    /// What the HPAs need and may not have: their target Deployment, CPU
    /// (or memory) requests on its containers, and the metrics API.
    pub async fn preflight(&self) -> anyhow::Result<Vec<String>> {
        let hpas: Vec<&Object> = self
            .objects
            .iter()
            .filter(|object| object.kind == "HorizontalPodAutoscaler")
            .collect();
        if hpas.is_empty() {
            return Ok(Vec::new());
        }
        let deployments = self.api_for(DEPLOYMENT.0, DEPLOYMENT.1)?;
        let (metrics, targets) = futures::join!(
            serves(&self.client, METRICS_API),
            join_all(hpas.iter().map(|hpa| {
                let deployments = deployments.clone();
                async move {
                    let target = hpa.value["spec"]["scaleTargetRef"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let live = live::get(&deployments, &target).await;
                    (hpa, target, live)
                }
            }))
        );
        let mut warnings = Vec::new();
        if !metrics.map_err(|e| anyhow::anyhow!(live::describe_error(&e)))? {
            warnings.push(format!(
                "the metrics API ({METRICS_API}) is not served: the HPAs cannot read CPU or memory use and will not scale; install metrics-server"
            ));
        }
        for (hpa, target, live) in targets {
            let namespace = self.namespace();
            let Some(deployment) = live.map_err(|e| anyhow::anyhow!(live::describe_error(&e)))?
            else {
                warnings.push(format!(
                    "HPA {}: Deployment {namespace}/{target} does not exist; the HPA will do nothing until it does",
                    hpa.name
                ));
                continue;
            };
            let deployment = serde_json::to_value(&deployment)?;
            let metrics: Vec<&str> = hpa.value["spec"]["metrics"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|metric| metric["resource"]["name"].as_str())
                .collect();
            let containers = deployment["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for resource in metrics {
                for container in &containers {
                    if container["resources"]["requests"][resource].is_null() {
                        warnings.push(format!(
                            "HPA {}: container {} of Deployment {namespace}/{target} has no {resource} request; utilization cannot be computed and the HPA will not scale on {resource}",
                            hpa.name,
                            container["name"].as_str().unwrap_or("?"),
                        ));
                    }
                }
            }
        }
        Ok(warnings)
    }
}

/// Deletes `members` concurrently; the failures, as `label: reason`.
pub async fn delete_objects(members: &[&LiveObject]) -> Vec<String> {
    let results = join_all(
        members
            .iter()
            .map(|found| live::delete(&found.api, &found.name, false)),
    )
    .await;
    members
        .iter()
        .zip(results)
        .filter_map(|(found, result)| {
            result
                .err()
                .map(|e| format!("{}: {}", found.label, live::describe_error(&e)))
        })
        .collect()
}

/// The rendered objects grouped by stage, in apply order.
pub fn stages(objects: &[Object]) -> Vec<Vec<&Object>> {
    let mut stages: Vec<(Stage, Vec<&Object>)> = Vec::new();
    for object in objects {
        match stages.last_mut() {
            Some((stage, members)) if *stage == object.stage => members.push(object),
            _ => stages.push((object.stage, vec![object])),
        }
    }
    stages.into_iter().map(|(_, members)| members).collect()
}
