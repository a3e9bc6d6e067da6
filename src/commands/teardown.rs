//! `cafectl teardown`: shows what it will delete, release and keep, asks
//! (or takes --yes), then deletes exactly what this profile's inventory lists.

use std::io::{BufRead, IsTerminal, Write};

use super::Exit;
use crate::cli::{OutputFormat, TeardownArgs};
use crate::cluster::outcome::Outcomes;
use crate::cluster::session::Session;
use crate::cluster::state::LiveState;
use crate::cluster::teardown;

/// The verb itself, on an open session (a real cluster or, in tests, a fake API).
pub(crate) async fn execute(
    session: &Session,
    args: &TeardownArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let state = LiveState::read(session).await?;
    let plan = teardown::plan(session, &state, args.delete_data);
    if args.output == Some(OutputFormat::Json) {
        // (--yes is required: nothing to show before, nothing to ask.)
        let mut outcomes = Outcomes::new(stdout, true);
        teardown::execute(session, &plan, &mut outcomes, stderr).await?;
        for kept in &plan.keep {
            outcomes.record(&kept.object, "kept", Some(&kept.reason))?;
        }
        return Ok(Exit::Success);
    }
    if plan.is_empty() {
        writeln!(stdout, "nothing to delete")?;
        print_kept(&plan, stdout)?;
        return Ok(Exit::Success);
    }
    writeln!(
        stdout,
        "teardown of profile {} in namespace {}:",
        session.profile.name,
        session.namespace()
    )?;
    for found in &plan.delete {
        writeln!(stdout, "  delete  {}", found.label)?;
    }
    for found in plan
        .release
        .iter()
        .filter(|found| found.kind != "Namespace")
    {
        writeln!(
            stdout,
            "  release {} (other managers keep it: {})",
            found.label,
            found.other_managers().join(", ")
        )?;
    }
    if let Some(namespace) = plan.namespace.filter(|_| !plan.keeps_data) {
        writeln!(
            stdout,
            "  delete  {} (if nothing else is in it)",
            namespace.label
        )?;
    }
    print_kept(&plan, stdout)?;
    if !args.yes {
        confirm(stdout)?;
    }
    teardown::execute(session, &plan, &mut Outcomes::new(stdout, false), stderr).await?;
    Ok(Exit::Success)
}

fn print_kept(plan: &teardown::Teardown, stdout: &mut dyn Write) -> anyhow::Result<()> {
    for kept in &plan.keep {
        writeln!(stdout, "  keep    {} ({})", kept.object, kept.reason)?;
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
