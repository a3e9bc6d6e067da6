//! The shell scripts the pods run, as `render` ships them in the scripts
//! ConfigMap: valid POSIX sh (dash and busybox, the Alpine image's shell)
//! and shellcheck-clean.

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_success, render_profile, require_program, VARIANTS};

/// Writes each variant's scripts into its own directory.
fn rendered_scripts(root: &Path) -> Vec<std::path::PathBuf> {
    let mut directories = Vec::new();
    for (index, (profile, sets)) in VARIANTS.iter().enumerate() {
        let scripts = render_profile(profile, sets)
            .into_iter()
            .find(|object| object.kind == "ConfigMap" && object.name.ends_with("-scripts"))
            .expect("a scripts ConfigMap");
        let directory = root.join(format!("{index}-{profile}"));
        std::fs::create_dir_all(&directory).unwrap();
        for (name, text) in scripts.value["data"].as_object().unwrap() {
            std::fs::write(directory.join(name), text.as_str().unwrap()).unwrap();
        }
        directories.push(directory);
    }
    directories
}

fn script_files(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn scripts_parse_under_posix_shells() {
    let root = tempfile::tempdir().unwrap();
    let mut shells = vec![vec!["sh".to_owned()]];
    if let Some(busybox) = require_program("busybox", "the Alpine image's shell") {
        shells.push(vec![busybox.display().to_string(), "sh".to_owned()]);
    }
    for directory in rendered_scripts(root.path()) {
        for script in script_files(&directory) {
            for shell in &shells {
                assert_success(
                    &format!("{} -n {}", shell.join(" "), script.display()),
                    Command::new(&shell[0])
                        .args(&shell[1..])
                        .arg("-n")
                        .arg(&script),
                );
            }
        }
    }
}

#[test]
fn scripts_are_shellcheck_clean() {
    let Some(shellcheck) = require_program("shellcheck", "shell script lint") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    for directory in rendered_scripts(root.path()) {
        let files: Vec<_> = script_files(&directory)
            .into_iter()
            .map(|file| file.file_name().unwrap().to_owned())
            .collect();
        assert_success(
            &format!("shellcheck in {}", directory.display()),
            Command::new(&shellcheck)
                .current_dir(&directory)
                .args(["--shell=sh", "--external-sources"])
                .args(&files),
        );
    }
}
