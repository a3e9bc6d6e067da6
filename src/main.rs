use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use cafectl::cli::Cli;
use cafectl::commands::{self, Exit};
use cafectl::redact;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with 0; anything else is a usage error.
            let exit = if error.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            let _ = error.print();
            return ExitCode::from(exit as u8);
        }
    };
    let exit = match commands::run(
        &cli.command,
        &mut commands::ReaderMayLeave::new(io::stdout().lock()),
        // Not locked for the whole run: --verbose logs requests from the
        // runtime's threads.
        &mut io::stderr(),
    ) {
        Ok(exit) => exit,
        Err(error) => {
            print_error(&error);
            Exit::Failure
        }
    };
    ExitCode::from(exit as u8)
}

fn print_error(error: &anyhow::Error) {
    let stderr = io::stderr();
    let label = if commands::colour_on(&stderr) {
        "\x1b[1;31merror:\x1b[0m"
    } else {
        "error:"
    };
    let mut stderr = stderr.lock();
    // Whatever produced the message, it never shows a password.
    let _ = writeln!(stderr, "{label} {}", redact::scrub(&error.to_string()));
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {}", redact::scrub(&cause.to_string()));
    }
}
