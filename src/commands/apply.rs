//! `cafectl apply`: preflight, then server-side apply in stages, prune and
//! the wait until ready (or, with --dry-run, the plan).

use std::io::Write;

use super::Exit;
use crate::cli::ApplyArgs;
use crate::cluster::apply::apply_all;
use crate::cluster::plan::Plan;
use crate::cluster::session::Session;
use crate::cluster::wait;

/// The verb itself, on an open session (a real cluster or, in tests, a fake API).
pub(crate) async fn execute(
    session: &Session,
    args: &ApplyArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    crate::cluster::password::refuse_a_change(session).await?;
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
        let plan = Plan::build(session).await?;
        super::diff::print(&plan, stdout, false)?;
        return Ok(super::diff::exit_for(&plan));
    }
    apply_all(session, args.force_conflicts, stdout, stderr).await?;
    if !args.no_wait {
        wait::until_ready(session, stderr).await?;
    }
    Ok(Exit::Success)
}
