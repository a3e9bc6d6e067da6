//! One discovery pass per run: the API groups of the kinds at hand, asked
//! for concurrently, one request each, and cached for the run.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use kube::core::GroupVersion;
use kube::discovery::{oneshot, verbs, ApiGroup, ApiResource, Discovery, Scope};
use kube::Client;

#[derive(Debug, Clone)]
pub struct Resource {
    pub api: ApiResource,
    pub namespaced: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    resources: BTreeMap<(String, String), Resource>,
}

impl Catalog {
    /// The resources of `kinds` as Kubernetes names them, before any
    /// discovery: `(apiVersion, kind, plural, namespaced)` each.
    pub fn known<'a>(
        kinds: impl IntoIterator<Item = (&'a str, &'a str, &'a str, bool)>,
    ) -> Catalog {
        let resources = kinds
            .into_iter()
            .map(|(api_version, kind, plural, namespaced)| {
                let GroupVersion { group, version } = group_version(api_version);
                let resource = Resource {
                    api: ApiResource {
                        group,
                        version,
                        api_version: api_version.to_owned(),
                        kind: kind.to_owned(),
                        plural: plural.to_owned(),
                    },
                    namespaced,
                };
                ((api_version.to_owned(), kind.to_owned()), resource)
            })
            .collect();
        Catalog { resources }
    }

    pub fn extend(&mut self, other: Catalog) {
        self.resources.extend(other.resources);
    }

    pub fn get(&self, api_version: &str, kind: &str) -> Option<&Resource> {
        self.resources
            .get(&(api_version.to_owned(), kind.to_owned()))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot reach the cluster at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("the cluster at {server} does not serve {}; nothing was changed", kinds.join(", "))]
    NotServed { server: String, kinds: Vec<String> },
}

/// Resolves each (apiVersion, kind) to its API resource.
pub async fn discover<'a>(
    client: &Client,
    server: &str,
    kinds: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Catalog, DiscoveryError> {
    let kinds: BTreeSet<(&str, &str)> = kinds.into_iter().collect();
    let versions: BTreeSet<&str> = kinds.iter().map(|(api_version, _)| *api_version).collect();
    let groups = join_all(versions.iter().map(|api_version| async move {
        let group_version = group_version(api_version);
        (
            *api_version,
            oneshot::pinned_group(client, &group_version).await,
        )
    }))
    .await;

    let mut catalog = Catalog::default();
    let mut missing = Vec::new();
    for (api_version, group) in groups {
        let group = match group {
            Ok(group) => group,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                missing.extend(
                    kinds
                        .iter()
                        .filter(|(v, _)| *v == api_version)
                        .map(|(v, k)| format!("{v} {k}")),
                );
                continue;
            }
            Err(error) => {
                return Err(DiscoveryError::Unreachable {
                    server: server.to_owned(),
                    reason: super::error::describe(&error).1,
                })
            }
        };
        let version = group_version(api_version).version;
        let served = group.versioned_resources(&version);
        for (_, kind) in kinds.iter().filter(|(v, _)| *v == api_version) {
            match served.iter().find(|(resource, _)| resource.kind == *kind) {
                Some((api, capabilities)) => {
                    catalog.resources.insert(
                        (api_version.to_owned(), kind.to_string()),
                        Resource {
                            api: api.clone(),
                            namespaced: capabilities.scope == Scope::Namespaced,
                        },
                    );
                }
                None => missing.push(format!("{api_version} {kind}")),
            }
        }
    }
    if !missing.is_empty() {
        return Err(DiscoveryError::NotServed {
            server: server.to_owned(),
            kinds: missing,
        });
    }
    Ok(catalog)
}

/// Every namespaced kind the server serves that can be listed and deleted
/// (what deleting a namespace deletes), one preferred version each: what
/// teardown looks through before it deletes a namespace. Aggregated
/// discovery (two requests) where the server has it, else one per group.
pub async fn namespaced_kinds(client: &Client) -> Result<Vec<ApiResource>, kube::Error> {
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        // A server without aggregated discovery answers with its plain group
        // lists, which kube reads as no groups at all: the core group, which
        // every server has, tells the two apart.
        Ok(discovery) if discovery.has_group(ApiGroup::CORE_GROUP) => discovery,
        _ => Discovery::new(client.clone()).run().await?,
    };
    Ok(discovery
        .groups()
        .flat_map(|group| group.recommended_resources())
        .filter(|(_, capabilities)| {
            capabilities.scope == Scope::Namespaced
                && capabilities.supports_operation(verbs::LIST)
                && capabilities.supports_operation(verbs::DELETE)
        })
        .map(|(resource, _)| resource)
        .collect())
}

/// Whether the API server serves `apiVersion` at all (used for the metrics
/// API, which HPAs need).
pub async fn serves(client: &Client, api_version: &str) -> Result<bool, kube::Error> {
    match oneshot::pinned_group(client, &group_version(api_version)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 503 => Ok(false),
        Err(error) => Err(error),
    }
}

fn group_version(api_version: &str) -> GroupVersion {
    match api_version.split_once('/') {
        Some((group, version)) => GroupVersion::gv(group, version),
        None => GroupVersion::gv("", api_version),
    }
}
