//! `cafectl diff`: server-side dry-run of every object compared with the
//! live one, both normalised, Secret values masked.

use std::io::{IsTerminal, Write};

use futures::future::join_all;
use serde::Serialize;
use serde_json::Value;
use similar::TextDiff;

use super::session::Session;
use super::Exit;
use crate::cli::{DiffArgs, OutputFormat};
use crate::cluster::live::{self, ApplyOptions};
use crate::cluster::normalize::{mask_pair, normalize};
use crate::render::Object;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub create: Vec<Change>,
    pub change: Vec<Change>,
    pub prune: Vec<String>,
    pub unchanged: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub object: String,
    /// Unified diff of the normalised, masked YAML.
    pub diff: String,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !(self.create.is_empty() && self.change.is_empty() && self.prune.is_empty())
    }

    pub fn summary(&self) -> String {
        format!(
            "{} to create, {} to change, {} to prune, {} unchanged",
            self.create.len(),
            self.change.len(),
            self.prune.len(),
            self.unchanged.len()
        )
    }
}

pub fn run(
    args: &DiffArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    super::session::block_on(async {
        let session = Session::open(&args.profile, &args.connection).await?;
        execute(&session, args, stdout, stderr).await
    })
}

/// The verb itself, on an open session (a real cluster or, in tests, a fake API).
pub(crate) async fn execute(
    session: &Session,
    args: &DiffArgs,
    stdout: &mut dyn Write,
    _stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let plan = plan(session).await?;
    match args.output {
        Some(OutputFormat::Json) => writeln!(stdout, "{}", serde_json::to_string_pretty(&plan)?)?,
        None => print(&plan, stdout, colour_wanted())?,
    }
    Ok(if plan.has_changes() {
        Exit::ChangesPending
    } else {
        Exit::Success
    })
}

fn colour_wanted() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// What an apply would do, asking the server for each object concurrently.
pub async fn plan(session: &Session) -> anyhow::Result<Plan> {
    let compared = join_all(
        session
            .objects
            .iter()
            .map(|object| compare(session, object)),
    )
    .await;
    let mut plan = Plan {
        create: Vec::new(),
        change: Vec::new(),
        prune: Vec::new(),
        unchanged: Vec::new(),
    };
    for (object, comparison) in session.objects.iter().zip(compared) {
        let (before, after) = comparison?;
        let label = object.to_string();
        let (before, after) = mask_pair(&object.kind, before.as_ref(), Some(&after));
        let after_yaml = to_yaml(after.as_ref().expect("after is always present"));
        match before {
            None => plan.create.push(Change {
                diff: unified(&label, "", &after_yaml),
                object: label,
            }),
            Some(before) => {
                let before_yaml = to_yaml(&before);
                if before_yaml == after_yaml {
                    plan.unchanged.push(label);
                } else {
                    plan.change.push(Change {
                        diff: unified(&label, &before_yaml, &after_yaml),
                        object: label,
                    });
                }
            }
        }
    }
    plan.prune = session
        .leftovers()
        .await?
        .into_iter()
        .map(|found| found.label)
        .collect();
    Ok(plan)
}

/// (live, after apply), both normalised. A new object is compared as
/// rendered rather than as the server would default it, which keeps the
/// diff to what the profile asks for.
async fn compare(session: &Session, object: &Object) -> anyhow::Result<(Option<Value>, Value)> {
    let api = session.api(object)?;
    let rendered = serde_json::to_value(&object.value)?;
    let options = ApplyOptions {
        force: false,
        dry_run: true,
    };
    let (live, dry_run) = futures::join!(
        live::get(&api, &object.name),
        live::apply(&api, &object.name, &rendered, options)
    );
    let live = live.map_err(|e| anyhow::anyhow!("{object}: {}", live::describe_error(&e)))?;
    match live {
        None => {
            // A namespace that does not exist yet fails every dry-run inside it.
            if let Err(error) = dry_run {
                let message = error.to_string();
                if !message.contains("not found") {
                    anyhow::bail!("{object}: {message}");
                }
            }
            Ok((None, normalize(&rendered)))
        }
        Some(live) => {
            let after = dry_run.map_err(|e| anyhow::anyhow!("{object}: {e}"))?;
            Ok((
                Some(normalize(&serde_json::to_value(&live)?)),
                normalize(&serde_json::to_value(&after)?),
            ))
        }
    }
}

fn to_yaml(value: &Value) -> String {
    serde_yaml::to_string(value).unwrap_or_default()
}

fn unified(label: &str, before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{label} (live)"),
            &format!("{label} (after apply)"),
        )
        .to_string()
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
    if !plan.prune.is_empty() {
        writeln!(out)?;
        for label in &plan.prune {
            writeln!(
                out,
                "{}- {label} (to prune){}",
                if colour { "\x1b[31m" } else { "" },
                if colour { "\x1b[0m" } else { "" }
            )?;
        }
    }
    Ok(())
}
