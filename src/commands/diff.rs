//! `cafectl diff`: the plan of an apply, printed as a unified diff of the
//! normalised objects (Secret values masked) or as JSON.

use std::io::Write;

use super::Exit;
use crate::cli::{DiffArgs, OutputFormat};
use crate::cluster::password::PasswordChange;
use crate::cluster::plan::Plan;
use crate::cluster::saved_plan::SavedPlan;
use crate::cluster::session::Session;

/// The verb itself, on an open session (a real cluster or, in tests, a fake API).
pub(crate) async fn execute(
    session: &Session,
    args: &DiffArgs,
    stdout: &mut dyn Write,
    _stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    // What apply would change first (during a password change, one step).
    let password_change = PasswordChange::read(session, false).await?;
    let steps = PasswordChange::steps(password_change.as_ref(), session);
    let plan = Plan::build(&steps[0]).await?;
    if let Some(path) = &args.out {
        if steps.len() > 1 {
            anyhow::bail!(
                "a password change takes {} steps, each rolled out before the next: apply it without a saved plan; nothing was written",
                steps.len()
            );
        }
        SavedPlan::of(session, &plan)?.write(path)?;
    }
    match args.report.output {
        Some(OutputFormat::Json) => writeln!(stdout, "{}", serde_json::to_string_pretty(&plan)?)?,
        None => print(&plan, stdout, super::colour_on(&std::io::stdout()))?,
    }
    Ok(exit_for(&plan))
}

/// 2 when the cluster differs from the profile.
pub fn exit_for(plan: &Plan) -> Exit {
    if plan.has_changes() {
        Exit::ChangesPending
    } else {
        Exit::Success
    }
}

pub fn print(plan: &Plan, out: &mut dyn Write, colour: bool) -> anyhow::Result<()> {
    writeln!(out, "{}", plan.summary())?;
    for change in plan.create.iter().chain(&plan.change) {
        writeln!(out)?;
        for line in change.diff.lines() {
            let code = match line.chars().next() {
                _ if !colour => "",
                Some('+') if !line.starts_with("+++") => "\x1b[32m",
                Some('-') if !line.starts_with("---") => "\x1b[31m",
                Some('@') => "\x1b[36m",
                _ => "",
            };
            let reset = if code.is_empty() { "" } else { "\x1b[0m" };
            writeln!(out, "{code}{line}{reset}")?;
        }
    }
    let (red, reset) = if colour {
        ("\x1b[31m", "\x1b[0m")
    } else {
        ("", "")
    };
    if !(plan.prune.is_empty() && plan.release.is_empty() && plan.keep.is_empty()) {
        writeln!(out)?;
    }
    for label in &plan.prune {
        writeln!(out, "{red}- {label} (to prune){reset}")?;
    }
    for label in &plan.release {
        writeln!(
            out,
            "~ {label} (to release: other managers keep it, cafectl gives up its fields)"
        )?;
    }
    for kept in &plan.keep {
        writeln!(out, "  {} (not pruned: {})", kept.object, kept.reason)?;
    }
    if let Some(shrink) = &plan.shrink {
        writeln!(out)?;
        writeln!(out, "> {shrink}")?;
    }
    if !plan.destructive.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{red}destructive: apply refuses these without --allow-recreate:{reset}"
        )?;
        for change in &plan.destructive {
            writeln!(out, "{red}! {change}{reset}")?;
        }
    }
    Ok(())
}
