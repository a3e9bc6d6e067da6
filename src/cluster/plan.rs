//! What an apply would do: every rendered object compared with the server's
//! dry-run of it, and what prune would do with the objects this profile's
//! inventory lists that the render no longer has.

use std::collections::BTreeMap;

use futures::future::join_all;
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;
use similar::TextDiff;

use super::destructive::{self, Destructive};
use super::inventory;
use super::live::{self, ApplyError, ApplyOptions};
use super::normalize::{mask_pair, normalize};
use super::session::Session;
use super::shrink;
use super::state::{LiveObject, LiveState};
use crate::render::Object;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub create: Vec<Change>,
    pub change: Vec<Change>,
    /// Objects apply would delete.
    pub prune: Vec<String>,
    /// Objects others also manage: apply gives up cafectl's fields only.
    pub release: Vec<String>,
    /// Objects apply leaves alone although the render no longer has them.
    pub keep: Vec<Kept>,
    pub unchanged: Vec<String>,
    /// Changes that cost data or cannot be made in place (apply refuses
    /// them without --allow-recreate).
    pub destructive: Vec<Destructive>,
    /// What apply moves off the pods a smaller profile removes, first.
    pub shrink: Option<String>,
    /// The resourceVersion of every object the plan reads or changes (None:
    /// absent), what a saved plan is checked against.
    #[serde(skip)]
    pub basis: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub object: String,
    /// Unified diff of the normalised, masked YAML.
    pub diff: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub object: String,
    pub reason: String,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !(self.create.is_empty()
            && self.change.is_empty()
            && self.prune.is_empty()
            && self.release.is_empty())
    }

    pub fn summary(&self) -> String {
        let mut summary = format!(
            "{} to create, {} to change, {} to prune, ",
            self.create.len(),
            self.change.len(),
            self.prune.len(),
        );
        if !self.release.is_empty() {
            summary += &format!("{} to release, ", self.release.len());
        }
        summary + &format!("{} unchanged", self.unchanged.len())
    }

    /// One round of concurrent requests: the live state (a list per kind,
    /// the namespace) and a server-side dry-run apply of every object.
    pub async fn build(session: &Session) -> anyhow::Result<Plan> {
        let (state, dry_runs) = futures::join!(
            LiveState::read(session),
            join_all(
                session
                    .objects
                    .iter()
                    .map(|object| dry_run(session, object, &object.value))
            )
        );
        let state = state?;
        let leftovers = leftovers(session, &state);
        let destructive = destructive::find(session, &state)?;
        let shrink = shrink::find(session, &state)?.map(|shrink| shrink.to_string());
        let mut plan = Plan {
            create: Vec::new(),
            change: Vec::new(),
            prune: labels(&leftovers.delete),
            release: labels(&leftovers.release),
            keep: leftovers.keep,
            unchanged: Vec::new(),
            destructive,
            shrink,
            basis: BTreeMap::new(),
        };
        let version = |label: &str| {
            state
                .find(label)
                .and_then(|found| found.object.metadata.resource_version.clone())
        };
        for label in session
            .objects
            .iter()
            .map(ToString::to_string)
            .chain(plan.prune.iter().cloned())
            .chain(plan.release.iter().cloned())
        {
            let resource_version = version(&label);
            plan.basis.insert(label, resource_version);
        }
        for (object, dry_run) in session.objects.iter().zip(dry_runs) {
            let (label, rendered) = (object.to_string(), &object.value);
            let live = state.find(&label).map(|found| &found.object);
            let recreated = plan
                .destructive
                .iter()
                .any(|change| change.recreate && change.object == label);
            // The server refuses to dry-run a change it cannot make in
            // place: dry-run the rest, then lay the change over it.
            let dry_run = match (dry_run, &live) {
                (Err(_), Some(live)) if recreated => {
                    let live = serde_json::to_value(live)?;
                    let possible = destructive::with_live_immutables(rendered, &live);
                    let after =
                        super::live::apply(&session.api(object)?, &object.name, &possible, DRY_RUN)
                            .await
                            .map_err(|error| anyhow::anyhow!("{object}: {error}"))?;
                    Some(destructive::with_rendered_immutables(
                        serde_json::to_value(&after)?,
                        rendered,
                        &live,
                    ))
                }
                (dry_run, _) => dry_run?,
            };
            let (before, after) = compare(object, rendered, live, dry_run)?;
            let (before, after) = mask_pair(&object.kind, before, after);
            match before {
                None => plan.create.push(Change {
                    diff: unified(&label, "", &to_yaml(&after)),
                    object: label,
                }),
                // Most objects are unchanged: equal values (in any key
                // order) print alike, so only a changed one is printed.
                Some(before) if before == after => plan.unchanged.push(label),
                Some(before) => {
                    let (before_yaml, after_yaml) = (to_yaml(&before), to_yaml(&after));
                    if before_yaml == after_yaml {
                        plan.unchanged.push(label);
                    } else {
                        plan.change.push(Change {
                            diff: unified(&label, &before_yaml, &after_yaml),
                            object: label,
                        });
                    }
                }
            }
        }
        Ok(plan)
    }
}

const DRY_RUN: ApplyOptions = ApplyOptions {
    force: false,
    dry_run: true,
};

fn labels(objects: &[&LiveObject]) -> Vec<String> {
    objects.iter().map(|found| found.label.clone()).collect()
}

/// What prune or teardown does with live objects: shared ones are
/// released, never deleted; kept ones say why.
pub struct Removal<'a> {
    pub delete: Vec<&'a LiveObject>,
    pub release: Vec<&'a LiveObject>,
    pub keep: Vec<Kept>,
}

/// Sorts `listed` (labels from this profile's inventory) by what removing
/// each would touch: gone ones are dropped; one another profile's inventory
/// lists, or that cafectl no longer manages, is kept; one other managers
/// also wrote is released; the rest may be deleted.
pub fn removal_of<'a>(
    session: &Session,
    state: &'a LiveState,
    listed: impl IntoIterator<Item = String>,
) -> Removal<'a> {
    let ours = inventory::name_of(session);
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for other in state.inventories().into_iter().filter(|i| i.name != ours) {
        for object in other.objects {
            claimed.entry(object).or_insert_with(|| other.owner.clone());
        }
    }
    let mut sorted = Removal {
        delete: Vec::new(),
        release: Vec::new(),
        keep: Vec::new(),
    };
    let mut found: Vec<&LiveObject> = listed
        .into_iter()
        .filter_map(|label| state.find(&label))
        .collect();
    found.sort_by(|a, b| (a.stage, &a.label).cmp(&(b.stage, &b.label)));
    for found in found {
        let keep = |reason: String| Kept {
            object: found.label.clone(),
            reason,
        };
        if let Some(owner) = claimed.get(&found.label) {
            sorted.keep.push(keep(format!(
                "cafectl's inventory for {owner} still lists it"
            )));
        } else if !found.managed_by_cafectl() {
            sorted.keep.push(keep(
                "cafectl no longer manages any of its fields".to_owned(),
            ));
        } else if !found.other_managers().is_empty() {
            sorted.release.push(found);
        } else {
            sorted.delete.push(found);
        }
    }
    sorted
}

/// The objects this profile's inventory lists that the render no longer
/// has. Volume claims and the namespace are never pruned. Without an
/// inventory (objects applied before cafectl kept one) nothing is
/// pruned: the labelled objects the render lacks are listed instead, as
/// labels alone cannot tell this Redis's objects from another's.
pub fn leftovers<'a>(session: &Session, state: &'a LiveState) -> Removal<'a> {
    let rendered = inventory::labels_of(&session.objects);
    let Some((_, inventory)) = state.own_inventory(session) else {
        let inventories = state.inventories();
        // An inventory itself, or an object one of them lists.
        let in_an_inventory = |found: &LiveObject| {
            inventories.iter().any(|i| {
                (found.kind == "ConfigMap" && i.name == found.name)
                    || i.objects.contains(&found.label)
            })
        };
        let keep = state
            .objects
            .iter()
            .filter(|found| found.labelled_for(session.profile.name.as_str()))
            .filter(|found| !is_never_pruned(found) && !in_an_inventory(found))
            .filter(|found| !rendered.contains(&found.label))
            .map(|found| Kept {
                object: found.label.clone(),
                reason: "no cafectl inventory lists it (applied by a cafectl from before inventories); delete it yourself if it is a leftover".to_owned(),
            })
            .collect();
        return Removal {
            delete: Vec::new(),
            release: Vec::new(),
            keep,
        };
    };
    let leftover: Vec<&LiveObject> = inventory
        .objects
        .iter()
        .filter(|label| !rendered.contains(label))
        .filter_map(|label| state.find(label))
        .collect();
    let (never, leftover): (Vec<&LiveObject>, Vec<&LiveObject>) = leftover
        .into_iter()
        .partition(|found| is_never_pruned(found));
    let mut removal = removal_of(
        session,
        state,
        leftover.iter().map(|found| found.label.clone()),
    );
    removal.keep.extend(never.into_iter().map(|found| Kept {
        object: found.label.clone(),
        reason: "apply never deletes a namespace or a data volume (teardown does)".to_owned(),
    }));
    removal
}

fn is_never_pruned(found: &LiveObject) -> bool {
    matches!(found.kind, "Namespace" | "PersistentVolumeClaim")
}

/// The server's answer to a dry-run apply: the object as it would be, or
/// `None` where the namespace does not exist yet (every dry-run inside it
/// fails until the namespace is created).
async fn dry_run(
    session: &Session,
    object: &Object,
    rendered: &Value,
) -> anyhow::Result<Option<Value>> {
    let api = session.api(object)?;
    match live::apply(&api, &object.name, rendered, DRY_RUN).await {
        Ok(after) => Ok(Some(serde_json::to_value(&after)?)),
        Err(ApplyError::Request(error)) if error.is_not_found() => Ok(None),
        Err(error) => Err(anyhow::anyhow!("{object}: {error}")),
    }
}

/// (live, after apply), both normalised. A new object is compared as
/// rendered rather than as the server would default it, which keeps the
/// diff to what the profile asks for.
fn compare(
    object: &Object,
    rendered: &Value,
    live: Option<&DynamicObject>,
    dry_run: Option<Value>,
) -> anyhow::Result<(Option<Value>, Value)> {
    match (live, dry_run) {
        (None, _) => Ok((None, normalize(rendered.clone()))),
        (Some(live), Some(after)) => {
            // Items of a list come without their type; put it back.
            let mut live = serde_json::to_value(live)?;
            live["apiVersion"] = Value::from(object.api_version.as_str());
            live["kind"] = Value::from(object.kind.as_str());
            Ok((Some(normalize(live)), normalize(after)))
        }
        (Some(_), None) => {
            anyhow::bail!("{object}: the server could not dry-run an object that exists")
        }
    }
}

/// Keys sorted at every level, as kubectl prints objects: the live object
/// and its dry run come in the server's orders, which need not agree.
fn to_yaml(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.clone(), sorted(value)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    crate::yaml::to_string(&sorted(value))
}

fn unified(label: &str, before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{label} (live)"),
            &format!("{label} (after apply)"),
        )
        .to_string()
}
