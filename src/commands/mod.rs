//! One module per verb.

pub mod apply;
pub mod diff;
pub mod render;
pub mod status;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod fake_api;
pub mod teardown;

use std::io::Write;

use anyhow::Context as _;

use crate::cli::Command;
use crate::cluster::session::Session;

/// How a run ended, as the process exit code (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    /// `diff` (and `apply --dry-run`): the cluster differs from the profile.
    ChangesPending = 2,
    /// A command-line usage error, never to be read as "changes pending".
    Usage = 64,
}

pub fn run(
    command: &Command,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    match command {
        Command::Render(args) => render::run(args, stdout, stderr),
        Command::Diff(args) => block_on(async {
            let session = Session::open(&args.profile, &args.connection).await?;
            diff::execute(&session, args, stdout, stderr).await
        }),
        Command::Apply(args) => block_on(async {
            let session = Session::open(&args.profile, &args.connection).await?;
            apply::execute(&session, args, stdout, stderr).await
        }),
        Command::Status(args) => block_on(async {
            let session = Session::open(&args.profile, &args.connection).await?;
            status::execute(&session, args, stdout, stderr).await
        }),
        Command::Teardown(args) => block_on(async {
            let session = Session::open(&args.profile, &args.connection).await?;
            teardown::execute(&session, args, stdout, stderr).await
        }),
    }
}

/// Runs the async part of a verb on a small runtime of its own.
fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// Colour only on a terminal, and never when NO_COLOR is set (to anything).
pub fn colour_on(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}
