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
            let session = Session::open(&args.report.profile, &args.report.connection).await?;
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
        Command::Schema => {
            writeln!(stdout, "{}", crate::profile::schema())?;
            Ok(Exit::Success)
        }
        Command::Completions(args) => {
            stdout.write_all(&completions(args.shell))?;
            Ok(Exit::Success)
        }
    }
}

/// The completion script of `shell`, from the same definition clap parses
/// (built in memory: clap_complete panics on a failed write).
fn completions(shell: crate::cli::Shell) -> Vec<u8> {
    use clap::CommandFactory as _;
    use clap_complete::Shell as Target;
    let target = match shell {
        crate::cli::Shell::Bash => Target::Bash,
        crate::cli::Shell::Zsh => Target::Zsh,
        crate::cli::Shell::Fish => Target::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(
        target,
        &mut crate::cli::Cli::command(),
        "cafectl",
        &mut script,
    );
    script
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
