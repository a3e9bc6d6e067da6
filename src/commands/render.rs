//! `cafectl render`: profile -> YAML, offline.

use std::io::{self, Write};

use anyhow::Context as _;

use super::Exit;
use crate::cli::RenderArgs;
use crate::{profile, render};

pub fn run(
    args: &RenderArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let profile = profile::load(&args.profile.request())?;
    let objects = render::render(&profile)
        .context("cafectl could not render this profile; this is a bug, please report it")?;
    match &args.output_dir {
        None => {
            let written = stdout
                .write_all(render::to_yaml_stream(&objects).as_bytes())
                .and_then(|()| stdout.flush());
            match written {
                // `cafectl render | head` is not an error.
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {}
                other => other.context("cannot write to stdout")?,
            }
        }
        Some(directory) => {
            std::fs::create_dir_all(directory).with_context(|| {
                format!("cannot create the output directory {}", directory.display())
            })?;
            for object in &objects {
                let path = directory.join(object.file_name());
                std::fs::write(&path, object.to_yaml())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            writeln!(
                stderr,
                "wrote {} objects to {}",
                objects.len(),
                directory.display()
            )?;
        }
    }
    Ok(Exit::Success)
}
