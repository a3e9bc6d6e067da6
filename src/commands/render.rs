//! `cafectl render`: profile -> YAML, offline.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;

use super::Exit;
use crate::cli::RenderArgs;
use crate::{profile, render};

pub fn run(
    args: &RenderArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    render::prepare();
    let profile = profile::load(&args.profile.request())?;
    let objects = render::rendered(&profile)?;
    match &args.output_dir {
        None => stdout
            .write_all(render::to_yaml_stream(&objects).as_bytes())
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?,
        Some(directory) => {
            std::fs::create_dir_all(directory).with_context(|| {
                format!("cannot create the output directory {}", directory.display())
            })?;
            for object in &objects {
                let path = directory.join(object.file_name());
                write_file(&path, object.to_yaml().as_bytes(), object.is_secret())
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
    // The process ends here: freeing the objects one allocation at a time
    // would be a twentieth of a render.
    std::mem::forget(objects);
    Ok(Exit::Success)
}

/// Writes `contents` to `path`. An owner-only file is created with mode 0600,
/// and an existing one is narrowed to 0600 before anything is written to it,
/// so that no other user can ever read a password from it.
#[cfg_attr(not(unix), allow(unused_variables))]
fn write_file(path: &Path, contents: &[u8], owner_only: bool) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    #[cfg(unix)]
    if owner_only {
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    if owner_only {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)
}
