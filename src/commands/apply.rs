//! `cafectl apply`: preflight, then server-side apply in stages, prune and
//! the wait until ready (or, with --dry-run, the plan).

use std::io::Write;

use super::Exit;
use crate::cli::{ApplyArgs, OutputFormat};
use crate::cluster::apply::apply_all;
use crate::cluster::outcome::Outcomes;
use crate::cluster::password::PasswordChange;
use crate::cluster::plan::Plan;
use crate::cluster::saved_plan::SavedPlan;
use crate::cluster::session::Session;
use crate::cluster::state::LiveState;
use crate::cluster::wait;
use crate::cluster::{destructive, health, placement, shrink};

/// The verb itself, on an open session (a real cluster or, in tests, a fake API).
pub(crate) async fn execute(
    session: &Session,
    args: &ApplyArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let password_change = PasswordChange::read(session, args.retire_previous_password).await?;
    // Each state of a password change is applied and rolled out in turn.
    let steps = PasswordChange::steps(password_change.as_ref(), session);
    let first = &steps[0];
    // The preflight and what comes next only read: at once.
    if args.dry_run {
        let (warnings, plan) = futures::join!(first.preflight(), Plan::build(first));
        warn(&warnings?, args.strict, stderr)?;
        if steps.len() > 1 {
            writeln!(
                stderr,
                "note: this password change takes {} steps, each rolled out before the next; the plan below is the first",
                steps.len()
            )?;
        }
        let plan = plan?;
        match args.output {
            Some(OutputFormat::Json) => writeln!(stdout, "{}", serde_json::to_string(&plan)?)?,
            None => super::diff::print(&plan, stdout, false)?,
        }
        return Ok(super::diff::exit_for(&plan));
    }
    let (warnings, state) = futures::join!(first.preflight(), LiveState::read(first));
    warn(&warnings?, args.strict, stderr)?;
    if let Some(path) = &args.plan {
        let saved = SavedPlan::read(path)?;
        if steps.len() > 1 {
            anyhow::bail!(
                "a password change takes {} steps: apply it without --plan; nothing was applied",
                steps.len()
            );
        }
        let moved = saved.moved(first).await?;
        if !moved.is_empty() {
            anyhow::bail!(
                "the plan {} is out of date; nothing was applied:\n  {}\nrun `cafectl diff --out {}` again and review it",
                path.display(),
                moved.join("\n  "),
                path.display()
            );
        }
        writeln!(
            stderr,
            "plan {}: nothing moved since it was saved ({})",
            path.display(),
            saved.summary
        )?;
    }
    let state = state?;
    let destructive = destructive::find(first, &state)?;
    if !destructive.is_empty() && !args.allow_recreate {
        anyhow::bail!(
            "destructive changes, refused; nothing was applied:\n  {}\n`cafectl diff` shows them; go ahead with `cafectl apply --allow-recreate` (no data volume is deleted)",
            destructive.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
        );
    }
    if let Some(shrink) = shrink::find(first, &state)? {
        writeln!(stderr, "shrinking: {shrink}")?;
        shrink.prepare(first, stderr).await?;
    }
    for object in destructive::delete_for_recreation(first, &destructive).await? {
        writeln!(
            stderr,
            "{object} deleted, its pods left running: the new one adopts them"
        )?;
    }
    let mut outcomes = Outcomes::new(stdout, args.output == Some(OutputFormat::Json));
    for (number, step) in steps.iter().enumerate() {
        if let (Some(change), true) = (&password_change, steps.len() > 1) {
            writeln!(
                stderr,
                "password change, step {} of {}: {}",
                number + 1,
                steps.len(),
                change.describe(number)
            )?;
        }
        apply_all(step, args.force_conflicts, &mut outcomes, stderr).await?;
        // The next step needs this one rolled out to every pod.
        if !args.no_wait || number + 1 < steps.len() {
            let deadline = std::time::Instant::now() + step.timeout;
            wait::until_ready(step, stderr).await?;
            health::until_healthy(step, deadline, stderr).await?;
            let cluster = health::Expected::of(step)
                .filter(|expected| expected.topology == crate::profile::Topology::Cluster);
            if let Some(expected) = cluster {
                if placement::spread(step, &expected, stderr).await? {
                    health::until_healthy(step, deadline, stderr).await?;
                }
            }
        }
    }
    if let Some(change) = &password_change {
        if change.keeps_another() {
            writeln!(
                stderr,
                "note: Redis also accepts the previous password, so apps that have not restarted since the change keep working; \
                 once every client uses the new one (the Secret's password), run `cafectl apply --retire-previous-password`"
            )?;
        }
    }
    Ok(Exit::Success)
}

/// Prints the preflight's warnings; with --strict, any is an error.
fn warn(warnings: &[String], strict: bool, stderr: &mut dyn Write) -> anyhow::Result<()> {
    for warning in warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    if strict && !warnings.is_empty() {
        anyhow::bail!(
            "{} preflight warning(s) and --strict: nothing was applied",
            warnings.len()
        );
    }
    Ok(())
}
