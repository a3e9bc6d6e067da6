//! What is live in the profile's namespace, read in one round of concurrent
//! requests: a list per kind cafectl uses, and a get of the namespace.
//! Plans (diff, apply's prune, teardown) are computed from it.

use futures::future::join_all;
use kube::api::{Api, DynamicObject};
use kube::ResourceExt;

use super::inventory::{self, Inventory};
use super::live;
use super::session::Session;
use super::{FIELD_MANAGER, PASSWORD_MANAGER};
use crate::render::context::{LABEL_MANAGED_BY, LABEL_PART_OF, MANAGER};
use crate::render::{Stage, KINDS};

/// A live object of a kind cafectl renders.
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

impl LiveObject {
    /// Field managers other than cafectl's own that set fields of the object
    /// itself (status updates by controllers do not count).
    pub fn other_managers(&self) -> Vec<String> {
        let mut managers: Vec<String> = self
            .managers()
            .filter(|manager| manager != FIELD_MANAGER && manager != PASSWORD_MANAGER)
            .collect();
        managers.sort();
        managers.dedup();
        managers
    }

    /// Whether cafectl still manages any field of it: an object someone
    /// deleted and made again with another tool is no longer cafectl's.
    pub fn managed_by_cafectl(&self) -> bool {
        self.managers()
            .any(|manager| manager == FIELD_MANAGER || manager == PASSWORD_MANAGER)
    }

    fn managers(&self) -> impl Iterator<Item = String> + '_ {
        self.object
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|entry| entry.subresource.as_deref().unwrap_or("").is_empty())
            .filter_map(|entry| entry.manager.clone())
    }

    /// Whether it carries the labels of profile `profile`.
    pub fn labelled_for(&self, profile: &str) -> bool {
        let labels = self.object.labels();
        labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGER)
            && labels.get(LABEL_PART_OF).map(String::as_str) == Some(profile)
    }
}

pub struct LiveState {
    /// Every object of the namespaced kinds cafectl uses, in apply order.
    pub objects: Vec<LiveObject>,
    pub namespace: Option<LiveObject>,
}

impl LiveState {
    pub async fn read(session: &Session) -> anyhow::Result<LiveState> {
        let namespaced: Vec<_> = KINDS
            .iter()
            .filter(|info| {
                info.stage != Stage::Namespace && session.serves(info.api_version, info.kind)
            })
            .collect();
        let namespace_kind = KINDS
            .iter()
            .find(|info| info.stage == Stage::Namespace)
            .expect("KINDS has the Namespace");
        let (served, lists, namespace) = futures::join!(
            session.served(),
            join_all(namespaced.iter().map(|info| async move {
                let api = session.api_for(info.api_version, info.kind)?;
                let items = match live::list(&api, "").await {
                    // A custom resource definition deleted since discovery:
                    // the kind holds nothing now.
                    Err(error) if info.optional && error.is_not_found() => Vec::new(),
                    listed => listed?,
                };
                Ok::<_, anyhow::Error>((info, api, items))
            })),
            async {
                let api = session.api_for(namespace_kind.api_version, namespace_kind.kind)?;
                let live = live::get(&api, session.namespace()).await?;
                Ok::<_, anyhow::Error>(live.map(|object| (api, object)))
            }
        );
        // Whether a kind is served at all says more than a failed request.
        served?;
        let mut objects = Vec::new();
        for list in lists {
            let (info, api, items) = list?;
            for object in items {
                let name = object.name_any();
                objects.push(LiveObject {
                    stage: info.stage,
                    api_version: info.api_version,
                    kind: info.kind,
                    label: format!("{}/{}/{name}", info.kind, session.namespace()),
                    api: api.clone(),
                    name,
                    object,
                });
            }
        }
        objects.sort_by(|a, b| (a.stage, &a.label).cmp(&(b.stage, &b.label)));
        let namespace = namespace?.map(|(api, object)| LiveObject {
            stage: namespace_kind.stage,
            api_version: namespace_kind.api_version,
            kind: namespace_kind.kind,
            label: format!("{}/{}", namespace_kind.kind, session.namespace()),
            api,
            name: session.namespace().to_owned(),
            object,
        });
        Ok(LiveState { objects, namespace })
    }

    /// The live object printed as `label`, the namespace included.
    pub fn find(&self, label: &str) -> Option<&LiveObject> {
        self.objects
            .iter()
            .chain(&self.namespace)
            .find(|found| found.label == label)
    }

    /// The session's own inventory: its ConfigMap, and what it lists.
    pub fn own_inventory(&self, session: &Session) -> Option<(&LiveObject, Inventory)> {
        let ours = inventory::name_of(session);
        self.objects
            .iter()
            .filter(|found| found.kind == "ConfigMap" && found.name == ours)
            .find_map(|found| Some((found, Inventory::read(&found.object)?)))
    }

    /// The inventories of every cafectl profile and Redis in the namespace.
    pub fn inventories(&self) -> Vec<Inventory> {
        self.objects
            .iter()
            .filter(|found| found.kind == "ConfigMap")
            .filter_map(|found| Inventory::read(&found.object))
            .collect()
    }
}
