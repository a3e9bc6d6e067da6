//! `cafectl teardown`: deletes exactly this profile's objects, in reverse
//! apply order, keeping data volumes and other tools' fields.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::api::DynamicObject;
use serde_json::json;

use super::session::{delete_objects, LiveObject, Session};
use super::Exit;
use crate::cli::TeardownArgs;
use crate::cluster::live::{self, ApplyOptions};
use crate::cluster::{FIELD_MANAGER, PASSWORD_MANAGER};

/// Objects other tools keep in any namespace; they do not make it "in use".
const NAMESPACE_DEFAULTS: &[&str] = &["kube-root-ca.crt", "default"];

/// The verb itself, on an open session (a real cluster or, in tests, a fake API).
pub(crate) async fn execute(
    session: &Session,
    args: &TeardownArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let found = session.labelled_objects(&[]).await?;
    let (namespaces, found): (Vec<LiveObject>, Vec<LiveObject>) =
        found.into_iter().partition(|f| f.kind == "Namespace");
    let (volumes, found): (Vec<LiveObject>, Vec<LiveObject>) = found
        .into_iter()
        .partition(|f| f.kind == "PersistentVolumeClaim");
    let (shared, owned): (Vec<LiveObject>, Vec<LiveObject>) = found
        .into_iter()
        .partition(|f| !other_managers(&f.object).is_empty());
    let (doomed_volumes, kept_volumes) = if args.delete_data {
        (volumes, Vec::new())
    } else {
        (Vec::new(), volumes)
    };

    if owned.is_empty() && shared.is_empty() && doomed_volumes.is_empty() && namespaces.is_empty() {
        writeln!(stdout, "nothing to delete")?;
        report_kept_volumes(&kept_volumes, stdout)?;
        return Ok(Exit::Success);
    }
    writeln!(
        stdout,
        "teardown of profile {} in namespace {}:",
        session.profile.name,
        session.namespace()
    )?;
    for found in owned.iter().chain(&doomed_volumes) {
        writeln!(stdout, "  delete  {}", found.label)?;
    }
    for found in &shared {
        writeln!(
            stdout,
            "  release {} (other managers keep it: {})",
            found.label,
            other_managers(&found.object).join(", ")
        )?;
    }
    report_kept_volumes(&kept_volumes, stdout)?;
    if !args.yes {
        confirm(stdout)?;
    }

    // Reverse apply order: autoscalers and jobs first, config last.
    let mut stages: Vec<_> = owned.iter().map(|found| found.stage).collect();
    stages.dedup();
    for stage in stages.into_iter().rev() {
        let members: Vec<&LiveObject> = owned.iter().filter(|found| found.stage == stage).collect();
        delete_all(&members).await?;
    }
    let volumes: Vec<&LiveObject> = doomed_volumes.iter().collect();
    delete_all(&volumes).await?;
    for found in &shared {
        release(found).await?;
        writeln!(stdout, "{} released", found.label)?;
    }
    let gone: Vec<&LiveObject> = owned.iter().chain(&doomed_volumes).collect();
    wait_until_gone(&gone, session.timeout, stderr).await?;
    for found in &gone {
        writeln!(stdout, "{} deleted", found.label)?;
    }
    for namespace in &namespaces {
        teardown_namespace(session, namespace, stdout, stderr).await?;
    }
    Ok(Exit::Success)
}

/// Field managers other than cafectl's own that set fields of the object
/// itself (status updates by controllers do not count).
fn other_managers(object: &DynamicObject) -> Vec<String> {
    let mut managers: Vec<String> = object
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| entry.subresource.as_deref().unwrap_or("").is_empty())
        .filter_map(|entry| entry.manager.clone())
        .filter(|manager| manager != FIELD_MANAGER && manager != PASSWORD_MANAGER)
        .collect();
    managers.sort();
    managers.dedup();
    managers
}

fn report_kept_volumes(volumes: &[LiveObject], stdout: &mut dyn Write) -> anyhow::Result<()> {
    if volumes.is_empty() {
        return Ok(());
    }
    writeln!(stdout, "kept (data; delete with --delete-data):")?;
    for volume in volumes {
        let size = volume.object.data["status"]["capacity"]["storage"]
            .as_str()
            .or(volume.object.data["spec"]["resources"]["requests"]["storage"].as_str())
            .unwrap_or("unknown size");
        writeln!(stdout, "  keep    {} ({size})", volume.label)?;
    }
    Ok(())
}

fn confirm(stdout: &mut dyn Write) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "not on a terminal: re-run with --yes to confirm the teardown; nothing was deleted"
        );
    }
    write!(stdout, "Proceed? [y/N] ")?;
    stdout.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        anyhow::bail!("teardown cancelled; nothing was deleted");
    }
    Ok(())
}

async fn delete_all(members: &[&LiveObject]) -> anyhow::Result<()> {
    let failures = delete_objects(members).await;
    if !failures.is_empty() {
        anyhow::bail!(
            "teardown stopped; running it again continues:\n  {}",
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Gives up cafectl's fields of an object others also manage: applying an
/// empty configuration removes exactly the fields cafectl set, labels
/// included, and leaves the object and the other managers' fields.
async fn release(found: &LiveObject) -> anyhow::Result<()> {
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

async fn wait_until_gone(
    objects: &[&LiveObject],
    timeout: Duration,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reported = None;
    loop {
        let present = join_all(
            objects
                .iter()
                .map(|found| live::get(&found.api, &found.name)),
        )
        .await;
        let remaining: Vec<&str> = objects
            .iter()
            .zip(present)
            .filter(|(_, live)| !matches!(live, Ok(None)))
            .map(|(found, _)| found.label.as_str())
            .collect();
        if remaining.is_empty() {
            return Ok(());
        }
        if reported != Some(remaining.len()) {
            writeln!(
                stderr,
                "waiting for {} object(s) to go ({}s)",
                remaining.len(),
                started.elapsed().as_secs()
            )?;
            reported = Some(remaining.len());
        }
        if started.elapsed() >= timeout {
            anyhow::bail!(
                "timed out after {}s; still present:\n  {}",
                timeout.as_secs(),
                remaining.join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes the namespace only if cafectl created it (no other manager ever
/// wrote it) and nothing else lives in it, and waits until it is gone;
/// otherwise gives up its labels.
async fn teardown_namespace(
    session: &Session,
    namespace: &LiveObject,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    if !other_managers(&namespace.object).is_empty() {
        release(namespace).await?;
        writeln!(
            stdout,
            "{} kept: cafectl did not create it",
            namespace.label
        )?;
        return Ok(());
    }
    let others = session.foreign_objects(NAMESPACE_DEFAULTS).await?;
    if !others.is_empty() {
        release(namespace).await?;
        writeln!(
            stdout,
            "{} kept: it still holds {}",
            namespace.label,
            others.join(", ")
        )?;
        return Ok(());
    }
    live::delete(&namespace.api, &namespace.name, false)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot delete {}: {}",
                namespace.label,
                live::describe_error(&e)
            )
        })?;
    wait_until_gone(&[namespace], session.timeout, stderr).await?;
    writeln!(stdout, "{} deleted", namespace.label)?;
    Ok(())
}
