//! `cafectl diff`: server-side dry-run of every object compared with the
//! live one, both normalised, Secret values masked.

use std::io::Write;

use futures::future::join_all;
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;
use similar::TextDiff;

use super::session::{LiveObject, Session, PRUNE_NEVER};
use super::Exit;
use crate::cli::{DiffArgs, OutputFormat};
use crate::cluster::live::{self, ApplyError, ApplyOptions};
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
        None => print(&plan, stdout, super::colour_on(&std::io::stdout()))?,
    }
    Ok(if plan.has_changes() {
        Exit::ChangesPending
    } else {
        Exit::Success
    })
}

/// What an apply would do. One round of concurrent requests: a list per
/// kind (the live objects, and this profile's leftovers among them), the
/// namespace, and a server-side dry-run apply of every rendered object.
pub async fn plan(session: &Session) -> anyhow::Result<Plan> {
    let namespace = session
        .objects
        .iter()
        .find(|object| object.kind == "Namespace");
    // Converted once: both the dry-run and the comparison use it.
    let rendered = session
        .objects
        .iter()
        .map(|object| serde_json::to_value(&object.value))
        .collect::<Result<Vec<Value>, _>>()?;
    let (listed, live_namespace, dry_runs) = futures::join!(
        session.list_objects(&PRUNE_NEVER, ""),
        async {
            match namespace {
                Some(object) => live::get(&session.api(object)?, &object.name)
                    .await
                    .map_err(|e| anyhow::anyhow!("{object}: {}", live::describe_error(&e))),
                None => Ok(None),
            }
        },
        join_all(
            session
                .objects
                .iter()
                .zip(&rendered)
                .map(|(object, rendered)| dry_run(session, object, rendered))
        )
    );
    let listed = listed?;
    let live_namespace = live_namespace?;
    let mut plan = Plan {
        create: Vec::new(),
        change: Vec::new(),
        prune: Vec::new(),
        unchanged: Vec::new(),
    };
    for ((object, rendered), dry_run) in session.objects.iter().zip(&rendered).zip(dry_runs) {
        let label = object.to_string();
        let live = match object.kind.as_str() {
            "Namespace" => live_namespace.clone(),
            _ => listed
                .iter()
                .find(|found| found.label == label)
                .map(|found| found.object.clone()),
        };
        let (before, after) = compare(object, rendered, live, dry_run?)?;
        let (before, after) = mask_pair(&object.kind, before.as_ref(), &after);
        let after_yaml = to_yaml(&after);
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
    let ours: Vec<LiveObject> = listed
        .into_iter()
        .filter(|found| session.is_ours(&found.object))
        .collect();
    plan.prune = session
        .not_rendered(ours)
        .into_iter()
        .map(|found| found.label)
        .collect();
    Ok(plan)
}

/// The server's answer to a dry-run apply: the object as it would be, or
/// `None` where the namespace does not exist yet (every dry-run inside it
/// fails until the namespace is created).
async fn dry_run(
    session: &Session,
    object: &Object,
    rendered: &Value,
) -> anyhow::Result<Option<Value>> {
    let api = session.api(object)?;
    let options = ApplyOptions {
        force: false,
        dry_run: true,
    };
    match live::apply(&api, &object.name, rendered, options).await {
        Ok(after) => Ok(Some(serde_json::to_value(&after)?)),
        Err(ApplyError::NotFound(_)) => Ok(None),
        Err(error) => Err(anyhow::anyhow!("{object}: {error}")),
    }
}

/// (live, after apply), both normalised. A new object is compared as
/// rendered rather than as the server would default it, which keeps the
/// diff to what the profile asks for.
fn compare(
    object: &Object,
    rendered: &Value,
    live: Option<DynamicObject>,
    dry_run: Option<Value>,
) -> anyhow::Result<(Option<Value>, Value)> {
    match (live, dry_run) {
        (None, _) => Ok((None, normalize(rendered))),
        (Some(live), Some(after)) => {
            // Items of a list come without their type; put it back.
            let mut live = serde_json::to_value(&live)?;
            live["apiVersion"] = Value::from(object.api_version.as_str());
            live["kind"] = Value::from(object.kind.as_str());
            Ok((Some(normalize(&live)), normalize(&after)))
        }
        (Some(_), None) => {
            anyhow::bail!("{object}: the server could not dry-run an object that exists")
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
