//! `cafectl apply`: server-side apply in stages, prune, wait until ready.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::future::join_all;
use kube::api::DynamicObject;
use serde_json::Value;

use super::session::{delete_objects, stages, Session};
use super::Exit;
use crate::cli::ApplyArgs;
use crate::cluster::live::{self, ApplyOptions};
use crate::cluster::readiness::{readiness, Readiness};
use crate::cluster::{password, PASSWORD_MANAGER};
use crate::render::context::PASSWORD_ANNOTATION;
use crate::render::Object;

/// The verb itself, on an open session (a real cluster or, in tests, a fake API).
pub(crate) async fn execute(
    session: &Session,
    args: &ApplyArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let warnings = session.preflight().await?;
    for warning in &warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    if args.strict && !warnings.is_empty() {
        anyhow::bail!(
            "{} preflight warning(s) and --strict: nothing was applied",
            warnings.len()
        );
    }
    if args.dry_run {
        let plan = super::diff::plan(session).await?;
        super::diff::print(&plan, stdout, false)?;
        return Ok(if plan.has_changes() {
            Exit::ChangesPending
        } else {
            Exit::Success
        });
    }
    let options = ApplyOptions {
        force: args.force_conflicts,
        dry_run: false,
    };
    for stage in stages(&session.objects) {
        let results = join_all(
            stage
                .iter()
                .map(|object| apply_object(session, object, options)),
        )
        .await;
        let mut failures = Vec::new();
        for (object, result) in stage.iter().zip(results) {
            match result {
                Ok(()) => writeln!(stdout, "{object} applied")?,
                Err(error) => failures.push(format!("{object}: {error:#}")),
            }
        }
        if !failures.is_empty() {
            anyhow::bail!(
                "apply stopped; earlier stages were applied, re-running apply continues from here:\n  {}",
                failures.join("\n  ")
            );
        }
    }
    for pruned in prune(session).await? {
        writeln!(stdout, "{pruned} pruned")?;
    }
    if !args.no_wait {
        wait_until_ready(session, stderr).await?;
    }
    Ok(Exit::Success)
}

async fn apply_object(
    session: &Session,
    object: &Object,
    options: ApplyOptions,
) -> anyhow::Result<()> {
    let api = session.api(object)?;
    if object.kind == "Secret"
        && object.value["metadata"]["annotations"][PASSWORD_ANNOTATION].is_string()
    {
        create_password_secret(&api, object, options.dry_run).await?;
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
    if live::get(api, &object.name)
        .await
        .map_err(|e| anyhow::anyhow!(live::describe_error(&e)))?
        .is_some()
    {
        return Ok(());
    }
    let mut secret: DynamicObject = serde_json::from_value(serde_json::to_value(&object.value)?)
        .context("the Secret is not an object")?;
    let generated = password::generate()?;
    crate::redact::register(&generated);
    secret.data["stringData"] = serde_json::json!({ "password": generated });
    match live::create(api, &secret, PASSWORD_MANAGER, dry_run).await {
        Ok(_) => Ok(()),
        // Another apply created it in the meantime: its password stands.
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        Err(error) => Err(anyhow::anyhow!(
            "cannot create the password Secret: {}",
            live::describe_error(&error)
        )),
    }
}

/// Deletes this profile's objects that the current render no longer has.
async fn prune(session: &Session) -> anyhow::Result<Vec<String>> {
    let leftovers = session.leftovers().await?;
    let failures = delete_objects(&leftovers.iter().collect::<Vec<_>>()).await;
    if !failures.is_empty() {
        anyhow::bail!("cannot prune {}", failures.join(", "));
    }
    Ok(leftovers.into_iter().map(|found| found.label).collect())
}

/// Polls the objects that roll out until each is ready, printing a line
/// whenever one's state changes, up to --timeout.
async fn wait_until_ready(session: &Session, stderr: &mut dyn Write) -> anyhow::Result<()> {
    let watched: Vec<&Object> = session
        .objects
        .iter()
        .filter(|object| matches!(object.kind.as_str(), "StatefulSet" | "Job"))
        .collect();
    let started = Instant::now();
    let mut last_seen: Vec<Option<Readiness>> = vec![None; watched.len()];
    loop {
        let states = join_all(watched.iter().map(|object| async move {
            let api = session.api(object)?;
            let live = live::get(&api, &object.name)
                .await
                .map_err(|e| anyhow::anyhow!(live::describe_error(&e)))?;
            Ok::<_, anyhow::Error>(match live {
                Some(live) => readiness(&object.kind, &serde_json::to_value(&live)?),
                None => Readiness::Pending("does not exist".to_owned()),
            })
        }))
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<Readiness>>>()?;
        let (mut failed, mut pending) = (Vec::new(), Vec::new());
        for ((object, state), seen) in watched.iter().zip(&states).zip(last_seen.iter_mut()) {
            let reason = match state {
                Readiness::Ready => "ready",
                Readiness::Pending(reason) => {
                    pending.push(format!("{object}: {reason}"));
                    reason.as_str()
                }
                Readiness::Failed(reason) => {
                    failed.push(format!("{object}: {reason}"));
                    reason.as_str()
                }
            };
            if seen.as_ref() != Some(state) {
                writeln!(
                    stderr,
                    "waiting: {object}: {reason} ({}s)",
                    started.elapsed().as_secs()
                )?;
                *seen = Some(state.clone());
            }
        }
        if !failed.is_empty() {
            anyhow::bail!(
                "not ready and will not become ready:\n  {}",
                failed.join("\n  ")
            );
        }
        if pending.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= session.timeout {
            anyhow::bail!(
                "timed out after {}s waiting for:\n  {}\n(the objects were applied; `cafectl apply` again waits again, --no-wait skips the wait)",
                session.timeout.as_secs(),
                pending.join("\n  ")
            );
        }
        tokio::time::sleep(
            Duration::from_secs(2).min(session.timeout.saturating_sub(started.elapsed())),
        )
        .await;
    }
}
