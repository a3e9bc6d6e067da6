//! Teardown as a plan and its execution: exactly what this profile's
//! inventory lists, in reverse apply order, volume claims only on request,
//! shared objects released, and the namespace deleted only if cafectl made
//! it and nothing else lives in it.

use std::io::Write;

use futures::future::join_all;
use kube::api::{Api, DynamicObject};
use kube::ResourceExt;

use super::apply::{delete_all, release_fields};
use super::discovery::namespaced_kinds;
use super::inventory;
use super::live;
use super::outcome::Outcomes;
use super::plan::{removal_of, Kept, Removal};
use super::session::Session;
use super::state::{LiveObject, LiveState};
use super::wait::{self, Watched};

/// Objects every namespace has or that follow other objects; they do not
/// make a namespace "in use": the CA bundle and default account that
/// Kubernetes puts in each, events, and the endpoints of deleted services.
const NAMESPACE_DEFAULTS: &[(&str, &str)] = &[
    ("ConfigMap", "kube-root-ca.crt"),
    ("ServiceAccount", "default"),
];
const FOLLOWER_KINDS: &[&str] = &["Event", "Endpoints", "EndpointSlice"];

pub struct Teardown<'a> {
    /// In apply order; deleted in reverse.
    pub delete: Vec<&'a LiveObject>,
    pub release: Vec<&'a LiveObject>,
    /// Data volumes and objects that are not (only) this profile's, with why.
    pub keep: Vec<Kept>,
    /// The namespace, if cafectl created it: deleted once nothing else is in it.
    pub namespace: Option<&'a LiveObject>,
    /// Volume claims are kept: the inventory keeps the namespace, so that
    /// `teardown --delete-data` later still removes it.
    pub keeps_data: bool,
    inventory: Option<&'a LiveObject>,
}

impl Teardown<'_> {
    /// Nothing to delete or release: while data is kept, cafectl's namespace
    /// and the inventory naming it stay as they are.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
            && self.release.is_empty()
            && (self.keeps_data || self.namespace.is_none())
            && (self.inventory.is_none() || self.namespace.is_some())
    }
}

pub fn plan<'a>(session: &Session, state: &'a LiveState, delete_data: bool) -> Teardown<'a> {
    let own = state.own_inventory(session);
    let inventory = own.as_ref().map(|(found, _)| *found);
    // Without an inventory (applied by an older cafectl) only what this
    // render has is taken: labels alone also match another Redis's objects.
    let listed: Vec<String> = match own {
        Some((_, inventory)) => inventory.objects.into_iter().collect(),
        None => inventory::labels_of(&session.objects)
            .into_iter()
            .filter(|label| {
                state
                    .find(label)
                    .is_some_and(|found| found.labelled_for(session.profile.name.as_str()))
            })
            .collect(),
    };
    let Removal {
        delete,
        release,
        mut keep,
    } = removal_of(session, state, listed);
    let (namespaces, mut delete): (Vec<&LiveObject>, Vec<&LiveObject>) = delete
        .into_iter()
        .partition(|found| found.kind == "Namespace");
    for namespace in release.iter().filter(|found| found.kind == "Namespace") {
        keep.push(Kept {
            object: namespace.label.clone(),
            reason: format!(
                "cafectl did not create it (also managed by {}); cafectl's labels are removed",
                namespace.other_managers().join(", ")
            ),
        });
    }
    let volumes = data_volumes(session, state);
    let keeps_data = !delete_data && !volumes.is_empty();
    if delete_data {
        delete.extend(volumes);
    } else {
        keep.extend(volumes.into_iter().map(|volume| Kept {
            object: volume.label.clone(),
            reason: format!("data ({}); delete with --delete-data", size(volume)),
        }));
    }
    let namespace = namespaces.into_iter().next();
    if let Some(namespace) = namespace.filter(|_| keeps_data) {
        keep.push(Kept {
            object: namespace.label.clone(),
            reason: "it holds the kept data; teardown --delete-data deletes it".to_owned(),
        });
    }
    Teardown {
        delete,
        release,
        keep,
        namespace,
        keeps_data,
        inventory,
    }
}

/// The volume claims of the rendered StatefulSets' claim templates
/// (`<template>-<statefulset>-<ordinal>`), as the StatefulSet names them.
fn data_volumes<'a>(session: &Session, state: &'a LiveState) -> Vec<&'a LiveObject> {
    let prefixes: Vec<String> = session
        .objects
        .iter()
        .filter(|object| object.kind == "StatefulSet")
        .flat_map(|object| {
            object.value["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|template| template["metadata"]["name"].as_str())
                .map(|template| format!("{template}-{}-", object.name))
                .collect::<Vec<_>>()
        })
        .collect();
    state
        .objects
        .iter()
        .filter(|found| found.kind == "PersistentVolumeClaim")
        .filter(|found| found.labelled_for(session.profile.name.as_str()))
        .filter(|found| {
            prefixes.iter().any(|prefix| {
                found
                    .name
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|ordinal| ordinal.parse::<u32>().is_ok())
            })
        })
        .collect()
}

fn size(volume: &LiveObject) -> &str {
    volume.object.data["status"]["capacity"]["storage"]
        .as_str()
        .or(volume.object.data["spec"]["resources"]["requests"]["storage"].as_str())
        .unwrap_or("unknown size")
}

/// Carries out `teardown`: deletes in reverse apply order, releases shared
/// objects, waits until the deleted ones are gone, then settles the
/// namespace and the inventory.
pub async fn execute(
    session: &Session,
    teardown: &Teardown<'_>,
    out: &mut Outcomes<'_>,
    log: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut stages: Vec<_> = teardown.delete.iter().map(|found| found.stage).collect();
    stages.sort();
    stages.dedup();
    for stage in stages.into_iter().rev() {
        let members: Vec<&LiveObject> = teardown
            .delete
            .iter()
            .copied()
            .filter(|found| found.stage == stage)
            .collect();
        delete_all(&members).await.map_err(|failures| {
            anyhow::anyhow!(
                "teardown stopped; running it again continues:\n  {}",
                failures.join("\n  ")
            )
        })?;
    }
    for found in &teardown.release {
        release_fields(found).await?;
        out.record(&found.label, "released", None)?;
    }
    let going: Vec<Watched> = teardown
        .delete
        .iter()
        .map(|&object| object.into())
        .collect();
    wait::until_gone(&going, session.timeout, "", log).await?;
    for found in &teardown.delete {
        out.record(&found.label, "deleted", None)?;
    }
    let Some(namespace) = teardown.namespace else {
        if let Some(inventory) = teardown.inventory {
            live::delete(&inventory.api, &inventory.name).await?;
        }
        return Ok(());
    };
    let holds = if teardown.keeps_data {
        vec!["the kept data volumes".to_owned()]
    } else {
        namespace_contents(session).await
    };
    if !holds.is_empty() {
        // The inventory keeps the namespace as cafectl's, so that a later
        // teardown deletes it once it is empty.
        inventory::write(session, [namespace.label.as_str()]).await?;
        let why = format!(
            "it still holds {}; teardown again deletes it once it is empty",
            holds.join(", ")
        );
        out.record(&namespace.label, "kept", Some(&why))?;
        return Ok(());
    }
    live::delete(&namespace.api, &namespace.name).await?;
    wait::until_gone(&[namespace.into()], session.timeout, "", log).await?;
    out.record(&namespace.label, "deleted", None)?;
    Ok(())
}

/// What lives in the namespace besides cafectl's own inventory and what
/// every namespace has, over every namespaced kind the server serves, as
/// `Kind/name`; a kind that cannot be listed counts (it may hold something).
async fn namespace_contents(session: &Session) -> Vec<String> {
    let ours = inventory::name_of(session);
    let kinds = match namespaced_kinds(&session.client).await {
        Ok(kinds) => kinds,
        Err(error) => {
            return vec![format!(
                "objects cafectl could not look for (discovery failed: {})",
                super::error::describe(&error).1
            )]
        }
    };
    let lists = join_all(
        kinds
            .iter()
            .filter(|kind| !FOLLOWER_KINDS.contains(&kind.kind.as_str()))
            .map(|kind| async move {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(session.client.clone(), session.namespace(), kind);
                (kind, live::list(&api, "").await)
            }),
    )
    .await;
    let mut contents = Vec::new();
    for (kind, listed) in lists {
        let items = match listed {
            Ok(items) => items,
            // A kind deleted since discovery holds nothing.
            Err(error) if error.is_not_found() => continue,
            Err(error) => {
                contents.push(format!("{} (cannot tell: {error})", kind.kind));
                continue;
            }
        };
        for item in items {
            let name = item.name_any();
            let is_default = NAMESPACE_DEFAULTS.contains(&(kind.kind.as_str(), name.as_str()));
            let is_ours = kind.kind == "ConfigMap" && name == ours;
            // A dependent goes with its owner, which is listed itself.
            let is_dependent = !item.owner_references().is_empty();
            if !(is_default || is_ours || is_dependent) {
                contents.push(format!("{}/{name}", kind.kind));
            }
        }
    }
    contents
}
