//! Server-side apply of the rendered objects stage by stage, recorded in the
//! inventory before anything else is created, then prune of what the
//! inventory lists and the render no longer has.

use std::io::Write;

use anyhow::Context as _;
use futures::future::join_all;
use kube::api::DynamicObject;
use serde_json::{json, Value};

use super::inventory;
use super::live::{self, ApplyOptions};
use super::outcome::Outcomes;
use super::plan::{leftovers, Removal};
use super::session::Session;
use super::state::{LiveObject, LiveState};
use super::{password, PASSWORD_MANAGER};
use crate::render::context::{ACCEPTED_KEY, PASSWORD_ANNOTATION, SECRET_KEY};
use crate::render::Object;

/// Applies every object in stage order, then prunes. Records what it did
/// to each object in `out`, notes on what prune keeps to `log`.
pub async fn apply_all(
    session: &Session,
    force: bool,
    out: &mut Outcomes<'_>,
    log: &mut dyn Write,
) -> anyhow::Result<()> {
    let options = ApplyOptions {
        force,
        dry_run: false,
    };
    let stages = stages(&session.objects);
    let mut state: Option<LiveState> = None;
    for (number, stage) in stages.iter().enumerate() {
        let applied = join_all(
            stage
                .iter()
                .map(|object| apply_object(session, object, options, state.as_ref())),
        );
        if number == 0 {
            // What was there before, read beside the first stage (the
            // namespace): the inventory must keep every earlier object.
            let (results, live) = futures::join!(applied, LiveState::read(session));
            report(stage, results, "nothing was applied", out)?;
            let live = live?;
            let mut listed = inventory::labels_of(&session.objects);
            if let Some((_, earlier)) = live.own_inventory(session) {
                listed.extend(earlier.objects);
            }
            inventory::write(session, listed.iter().map(String::as_str)).await?;
            state = Some(live);
        } else {
            report(
                stage,
                applied.await,
                "earlier stages were applied, re-running apply continues from here",
                out,
            )?;
        }
    }
    if let Some(state) = state {
        prune(session, &state, out, log).await?;
    }
    inventory::write(
        session,
        inventory::labels_of(&session.objects)
            .iter()
            .map(String::as_str),
    )
    .await
}

/// Says which objects of `stage` were applied; the failures stop apply,
/// with `so_far` saying where that leaves the cluster.
fn report(
    stage: &[&Object],
    results: Vec<anyhow::Result<()>>,
    so_far: &str,
    out: &mut Outcomes<'_>,
) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for (object, result) in stage.iter().zip(results) {
        match result {
            Ok(()) => out.record(&object.to_string(), "applied", None)?,
            Err(error) => failures.push(format!("{object}: {error:#}")),
        }
    }
    if !failures.is_empty() {
        anyhow::bail!("apply stopped; {so_far}:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// Applies `object`; `before`, the live state read before this stage, if
/// one was (it tells whether the password Secret is there already).
async fn apply_object(
    session: &Session,
    object: &Object,
    options: ApplyOptions,
    before: Option<&LiveState>,
) -> anyhow::Result<()> {
    let api = session.api(object)?;
    if object.kind == "Secret"
        && object.value["metadata"]["annotations"][PASSWORD_ANNOTATION].is_string()
    {
        let exists = match before {
            Some(state) => state.find(&object.to_string()).is_some(),
            None => live::get(&api, &object.name).await?.is_some(),
        };
        if !exists {
            create_password_secret(&api, object, options.dry_run).await?;
        }
    }
    let body: Value = serde_json::to_value(&object.value).context("the object is not JSON")?;
    live::apply(&api, &object.name, &body, options).await?;
    Ok(())
}

/// The first apply creates the Secret with a generated password, as a plain
/// create owned by a separate field manager: later applies, which never
/// send a password, leave it alone.
async fn create_password_secret(
    api: &kube::Api<DynamicObject>,
    object: &Object,
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut secret: DynamicObject = serde_json::from_value(serde_json::to_value(&object.value)?)
        .context("the Secret is not an object")?;
    let generated = password::generate()?;
    crate::redact::register(&generated);
    secret.data["stringData"] =
        serde_json::json!({ SECRET_KEY: generated, ACCEPTED_KEY: generated });
    // Another apply may have created it in the meantime: its password stands.
    live::create(api, &secret, PASSWORD_MANAGER, dry_run)
        .await
        .context("cannot create the password Secret")?;
    Ok(())
}

/// Deletes what this profile's inventory lists and the render no longer
/// has, releases what others also manage, and says what it keeps.
async fn prune(
    session: &Session,
    state: &LiveState,
    out: &mut Outcomes<'_>,
    log: &mut dyn Write,
) -> anyhow::Result<()> {
    let Removal {
        delete,
        release,
        keep,
    } = leftovers(session, state);
    delete_all(&delete)
        .await
        .map_err(|failures| anyhow::anyhow!("cannot prune {}", failures.join(", ")))?;
    for found in &delete {
        out.record(&found.label, "pruned", None)?;
    }
    for found in &release {
        release_fields(found).await?;
        let managers = format!(
            "other managers keep it: {}",
            found.other_managers().join(", ")
        );
        out.record(&found.label, "released", Some(&managers))?;
    }
    for kept in keep {
        writeln!(log, "note: {} not pruned: {}", kept.object, kept.reason)?;
    }
    Ok(())
}

/// Deletes `members` concurrently; the failures, as `label: reason`.
pub async fn delete_all(members: &[&LiveObject]) -> Result<(), Vec<String>> {
    let results = join_all(
        members
            .iter()
            .map(|found| live::delete(&found.api, &found.name)),
    )
    .await;
    let failures: Vec<String> = members
        .iter()
        .zip(results)
        .filter_map(|(found, result)| result.err().map(|e| format!("{}: {e}", found.label)))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// Gives up cafectl's fields of an object others also manage: applying an
/// empty configuration removes exactly the fields cafectl set, labels
/// included, and leaves the object and the other managers' fields.
pub async fn release_fields(found: &LiveObject) -> anyhow::Result<()> {
    let mut metadata = json!({ "name": found.name });
    if let Some(namespace) = &found.object.metadata.namespace {
        metadata["namespace"] = json!(namespace);
    }
    let empty =
        json!({ "apiVersion": found.api_version, "kind": found.kind, "metadata": metadata });
    live::apply(&found.api, &found.name, &empty, ApplyOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("cannot release {}: {e}", found.label))?;
    Ok(())
}

/// The rendered objects grouped by stage, in apply order.
pub fn stages(objects: &[Object]) -> Vec<Vec<&Object>> {
    let mut stages: Vec<(crate::render::Stage, Vec<&Object>)> = Vec::new();
    for object in objects {
        match stages.last_mut() {
            Some((stage, members)) if *stage == object.stage => members.push(object),
            _ => stages.push((object.stage, vec![object])),
        }
    }
    stages.into_iter().map(|(_, members)| members).collect()
}
