//! What `diff`, `apply` and `teardown` share: the rendered profile, one
//! connection and one discovery pass over the kinds cafectl uses.

use anyhow::Context as _;
use futures::future::{join_all, BoxFuture, Shared};
use futures::FutureExt as _;
use kube::api::{Api, DynamicObject};

use super::connect::{connect, Connection};
use super::discovery::{discover, serves, Catalog, DiscoveryError};
use super::live;
use crate::cli::{ConnectionArgs, ProfileArgs};
use crate::profile::{self, ValidProfile};
use crate::render::{self, Object, Stage, KINDS};

/// The HPAs' targets, checked before applying.
const DEPLOYMENT: (&str, &str, &str, bool) = ("apps/v1", "Deployment", "deployments", true);
/// A Job's pods, read while waiting for it.
const POD: (&str, &str, &str, bool) = ("v1", "Pod", "pods", true);
const METRICS_API: &str = "metrics.k8s.io/v1beta1";

pub struct Session {
    pub profile: ValidProfile,
    pub objects: Vec<Object>,
    pub client: kube::Client,
    /// For commands run in pods (HTTP/1.1; see `Connection::exec_client`).
    exec_client: kube::Client,
    pub server: String,
    pub timeout: std::time::Duration,
    catalog: Catalog,
    served: Shared<BoxFuture<'static, Result<(), DiscoveryError>>>,
    /// Rendered objects of kinds the cluster does not serve, left out.
    pub left_out: Vec<String>,
}

impl Session {
    /// Validates and renders the profile before anything touches the
    /// cluster, then connects and discovers every kind cafectl may use.
    pub async fn open(
        profile_args: &ProfileArgs,
        connection_args: &ConnectionArgs,
    ) -> anyhow::Result<Session> {
        render::prepare();
        let profile = profile::load(&profile_args.request())?;
        // The render and the first connection's handshake at once.
        let connecting = tokio::spawn({
            let connection_args = connection_args.clone();
            async move { connect(&connection_args).await }
        });
        let objects = render::rendered(&profile)?;
        let connection = connecting.await.context("connecting failed")??;
        Session::with_rendered(profile, objects, connection).await
    }

    /// Renders the profile and discovers every kind over `connection`.
    pub async fn start(profile: ValidProfile, connection: Connection) -> anyhow::Result<Session> {
        let objects = render::rendered(&profile)?;
        Session::with_rendered(profile, objects, connection).await
    }

    async fn with_rendered(
        profile: ValidProfile,
        mut objects: Vec<Object>,
        connection: Connection,
    ) -> anyhow::Result<Session> {
        let Connection {
            client,
            exec_client,
            server,
            timeout,
        } = connection;
        let required: Vec<_> = KINDS
            .iter()
            .filter(|info| !info.optional)
            .map(|info| (info.api_version, info.kind))
            .chain([(DEPLOYMENT.0, DEPLOYMENT.1), (POD.0, POD.1)])
            .collect();
        let rendered_optional = KINDS
            .iter()
            .any(|info| info.optional && objects.iter().any(|object| object.kind == info.kind));
        let (catalog, served, left_out) = if !rendered_optional {
            // Every kind's resource is known: discovery only checks that the
            // cluster serves them, during the first round of reads (see
            // `served`), not in a round of its own before it.
            let catalog = Catalog::known(
                KINDS
                    .iter()
                    .map(|info| {
                        let namespaced = info.stage != Stage::Namespace;
                        (info.api_version, info.kind, info.plural, namespaced)
                    })
                    .chain([DEPLOYMENT, POD]),
            );
            let served = {
                let (client, server) = (client.clone(), server.clone());
                async move {
                    tokio::time::timeout(timeout, discover(&client, &server, required))
                        .await
                        .map_err(|_| super::connect::no_answer(&server, timeout))?
                        .map(drop)
                }
                .boxed()
                .shared()
            };
            (catalog, served, Vec::new())
        } else {
            let (catalog, left_out) =
                Session::discover_first(&client, &server, timeout, required, &mut objects).await?;
            (
                catalog,
                futures::future::ready(Ok(())).boxed().shared(),
                left_out,
            )
        };
        Ok(Session {
            profile,
            objects,
            client,
            exec_client,
            server,
            timeout,
            catalog,
            served,
            left_out,
        })
    }

    /// Discovery before anything else: what is not served of an optional
    /// kind is taken out of `objects`, and said why.
    async fn discover_first(
        client: &kube::Client,
        server: &str,
        timeout: std::time::Duration,
        required: Vec<(&str, &str)>,
        objects: &mut Vec<Object>,
    ) -> anyhow::Result<(Catalog, Vec<String>)> {
        // An optional kind is rendered: whether it is served decides what
        // goes out, so discovery comes first. Each optional kind on its
        // own: one that is not served is no error.
        let optional = KINDS
            .iter()
            .filter(|info| info.optional)
            .map(|info| async move {
                let found = discover(client, server, [(info.api_version, info.kind)]).await;
                (info, found)
            });
        let (catalog, optional) = tokio::time::timeout(
            timeout,
            futures::future::join(discover(client, server, required), join_all(optional)),
        )
        .await
        .map_err(|_| super::connect::no_answer(server, timeout))?;
        let mut catalog = catalog?;
        let mut left_out = Vec::new();
        for (info, found) in optional {
            match found {
                Ok(found) => catalog.extend(found),
                Err(DiscoveryError::NotServed { .. }) => {
                    let (unserved, kept) = std::mem::take(objects)
                        .into_iter()
                        .partition(|object: &Object| object.kind == info.kind);
                    *objects = kept;
                    left_out.extend(unserved.iter().map(|object| {
                        format!(
                            "{object} is left out: the cluster does not serve {} {}",
                            info.api_version, info.kind
                        )
                    }));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok((catalog, left_out))
    }

    /// Whether the cluster serves every kind cafectl uses, or why not:
    /// awaited with the first round of reads, before anything is changed.
    pub async fn served(&self) -> Result<(), DiscoveryError> {
        self.served.clone().await
    }

    /// The same connection and kinds, working on `objects` instead of the
    /// rendered ones (a step of a password change).
    pub fn with_objects(&self, objects: Vec<Object>) -> Session {
        Session {
            profile: self.profile.clone(),
            objects,
            client: self.client.clone(),
            exec_client: self.exec_client.clone(),
            server: self.server.clone(),
            timeout: self.timeout,
            catalog: self.catalog.clone(),
            served: self.served.clone(),
            left_out: self.left_out.clone(),
        }
    }

    pub fn namespace(&self) -> &str {
        self.profile.profile.namespace.as_str()
    }

    pub fn api(&self, object: &Object) -> anyhow::Result<Api<DynamicObject>> {
        self.api_for(&object.api_version, &object.kind)
    }

    /// The namespace's pods as their own type: to run a command in one, or
    /// read its log.
    pub fn pod_api(&self) -> Api<k8s_openapi::api::core::v1::Pod> {
        Api::namespaced(self.exec_client.clone(), self.namespace())
    }

    /// The namespace's pods (a Job's, while waiting for it).
    pub fn pods(&self) -> anyhow::Result<Api<DynamicObject>> {
        self.api_for(POD.0, POD.1)
    }

    /// Whether the cluster serves the kind (an optional one may not be).
    pub fn serves(&self, api_version: &str, kind: &str) -> bool {
        self.catalog.get(api_version, kind).is_some()
    }

    pub fn api_for(&self, api_version: &str, kind: &str) -> anyhow::Result<Api<DynamicObject>> {
        let resource = self
            .catalog
            .get(api_version, kind)
            .with_context(|| format!("{api_version} {kind} was not discovered"))?;
        Ok(live::api(&self.client, resource, self.namespace()))
    }

    /// What the HPAs need and may not have: their target Deployment, CPU
    /// (or memory) requests on its containers, and the metrics API.
    pub async fn preflight(&self) -> anyhow::Result<Vec<String>> {
        let hpas: Vec<&Object> = self
            .objects
            .iter()
            .filter(|object| object.kind == "HorizontalPodAutoscaler")
            .collect();
        let mut warnings = self.left_out.clone();
        if hpas.is_empty() {
            return Ok(warnings);
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
        if !metrics.map_err(|e| anyhow::anyhow!(super::error::describe(&e).1))? {
            warnings.push(format!(
                "the metrics API ({METRICS_API}) is not served: the HPAs cannot read CPU or memory use and will not scale; install metrics-server"
            ));
        }
        for (hpa, target, live) in targets {
            let namespace = self.namespace();
            let Some(deployment) = live? else {
                warnings.push(format!(
                    "HPA {}: Deployment {namespace}/{target} does not exist; the HPA will do nothing until it does",
                    hpa.name
                ));
                continue;
            };
            let deployment = serde_json::to_value(&deployment)?;
            let metrics: Vec<&str> = hpa.value["spec"]["metrics"]
                .as_array()
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
