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

/// Standard output whose reader may go away early (`cafectl diff | head`):
/// from then on output is dropped, and the command still finishes its
/// work (an apply every stage) and ends with the exit code it would have.
pub struct ReaderMayLeave<W> {
    inner: W,
    left: bool,
}

impl<W: Write> ReaderMayLeave<W> {
    pub fn new(inner: W) -> ReaderMayLeave<W> {
        ReaderMayLeave { inner, left: false }
    }

    /// Runs `write` unless the reader left; a broken pipe means it did.
    fn unless_left<T>(
        &mut self,
        unread: T,
        write: impl FnOnce(&mut W) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        if self.left {
            return Ok(unread);
        }
        match write(&mut self.inner) {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                self.left = true;
                Ok(unread)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for ReaderMayLeave<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.unless_left(buf.len(), |inner| inner.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.unless_left((), Write::flush)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reader has left after `accepts` bytes.
    struct LeavingReader {
        accepts: usize,
        written: Vec<u8>,
    }

    impl Write for LeavingReader {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written.len() >= self.accepts {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_no_one_reads_is_dropped_without_an_error() {
        let mut out = ReaderMayLeave::new(LeavingReader {
            accepts: 3,
            written: Vec::new(),
        });
        writeln!(out, "one").unwrap();
        writeln!(out, "two").unwrap();
        writeln!(out, "three").unwrap();
        out.flush().unwrap();
        assert_eq!(out.inner.written, b"one\n");
        assert!(out.left);
    }

    #[test]
    fn other_write_errors_still_are_errors() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("no space left"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut out = ReaderMayLeave::new(Full);
        assert!(writeln!(out, "x").is_err());
        assert!(!out.left);
    }
}
