//! Waiting on the cluster, with a line of progress whenever something
//! changes, up to --timeout: until the workloads are ready (apply), until
//! deleted objects are gone (teardown).

use std::io::Write;
use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::live;
use super::readiness::{job_pods_succeeded, pod_selector, readiness, stuck_pod, Readiness};
use super::session::Session;
use super::state::LiveObject;
use crate::render::Object;

/// Polls the objects that roll out until each is ready, printing a line
/// whenever one's state changes, up to --timeout.
pub async fn until_ready(session: &Session, stderr: &mut dyn Write) -> anyhow::Result<()> {
    let watched: Vec<&Object> = session
        .objects
        .iter()
        .filter(|object| matches!(object.kind.as_str(), "StatefulSet" | "Job"))
        .collect();
    let started = Instant::now();
    let mut last_seen: Vec<Option<Readiness>> = vec![None; watched.len()];
    loop {
        // A pod is unschedulable for a moment while its volume binds: why
        // a pod is stuck is worth saying only after a few seconds.
        let patient = started.elapsed() >= STUCK_AFTER;
        let states = join_all(watched.iter().map(|object| async move {
            let api = session.api(object)?;
            let Some(live) = live::get(&api, &object.name).await? else {
                return Ok(Readiness::Pending("does not exist".to_owned()));
            };
            let live = serde_json::to_value(&live)?;
            let state = readiness(&object.kind, &live);
            match (object.kind.as_str(), &state) {
                ("Job", Readiness::Pending(_)) => job_by_its_pods(session, &live, state).await,
                ("StatefulSet", Readiness::Pending(reason)) if patient => {
                    Ok(match stuck(session, &live).await {
                        Some(why) => Readiness::Pending(format!("{reason}; {why}")),
                        None => state,
                    })
                }
                _ => Ok::<_, anyhow::Error>(state),
            }
        }))
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<Readiness>>>()?;
        let (mut failed, mut pending) = (Vec::new(), Vec::new());
        for ((object, state), seen) in watched.iter().zip(&states).zip(last_seen.iter_mut()) {
            let reason = match state {
                Readiness::Ready => "ready",
                Readiness::Pending(reason) => {
                    pending.push(format!("{object}: {reason}"));
                    reason.as_str()
                }
                Readiness::Failed(reason) => {
                    failed.push(format!("{object}: {reason}"));
                    reason.as_str()
                }
            };
            if seen.as_ref() != Some(state) {
                writeln!(
                    stderr,
                    "waiting: {object}: {reason} ({}s)",
                    started.elapsed().as_secs()
                )?;
                *seen = Some(state.clone());
            }
        }
        if !failed.is_empty() {
            anyhow::bail!(
                "not ready and will not become ready:\n  {}",
                failed.join("\n  ")
            );
        }
        if pending.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= session.timeout {
            anyhow::bail!(
                "timed out after {}s waiting for:\n  {}\n(the objects were applied; `cafectl apply` again waits again, --no-wait skips the wait)",
                session.timeout.as_secs(),
                pending.join("\n  ")
            );
        }
        // Each round is a GET per object, at once: cheap enough to look
        // every second, so a ready pod is seen without a long lag.
        tokio::time::sleep(
            Duration::from_secs(1).min(session.timeout.saturating_sub(started.elapsed())),
        )
        .await;
    }
}

const STUCK_AFTER: Duration = Duration::from_secs(5);

/// Why a pod of `workload` does not start, if one is stuck; nothing when
/// its pods cannot be read (only a help for the user, never a condition).
async fn stuck(session: &Session, workload: &Value) -> Option<String> {
    let selector = pod_selector(workload)?;
    let mut pods = live::list(&session.pods().ok()?, &selector).await.ok()?;
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let pods: Vec<Value> = pods
        .iter()
        .filter_map(|pod| serde_json::to_value(pod).ok())
        .collect();
    stuck_pod(&pods)
}

/// A running Job is done once its pods say so, seconds before the Job
/// controller does; otherwise it stays `pending`. Only a shortcut: when the
/// pods cannot be read (a user not allowed to list them, say), the Job's
/// own conditions decide.
async fn job_by_its_pods(
    session: &Session,
    job: &Value,
    pending: Readiness,
) -> anyhow::Result<Readiness> {
    let Some(selector) = pod_selector(job) else {
        return Ok(pending);
    };
    let Ok(pods) = live::list(&session.pods()?, &selector).await else {
        return Ok(pending);
    };
    let pods = pods
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()?;
    if job_pods_succeeded(job, &pods) {
        return Ok(Readiness::Ready);
    }
    // What the Job's running pod last said of its work: progress while
    // it runs, and the place it stopped at if the wait times out.
    let running = pods
        .iter()
        .filter(|pod| pod["status"]["phase"] == "Running")
        .filter_map(|pod| pod["metadata"]["name"].as_str())
        .next_back();
    let (Readiness::Pending(reason), Some(pod)) = (&pending, running) else {
        return Ok(pending);
    };
    let api = session.pod_api();
    let params = kube::api::LogParams {
        tail_lines: Some(50),
        ..Default::default()
    };
    let said = api.logs(pod, &params).await.ok().and_then(|log| {
        log.lines()
            .rev()
            .find(|line| line.starts_with(JOB_LOG_PREFIX))
            .map(str::to_owned)
    });
    Ok(match said {
        Some(said) => Readiness::Pending(format!("{reason}; {pod} says: {said}")),
        None => pending,
    })
}

/// The lines a cafectl Job's script logs about its progress start so.
const JOB_LOG_PREFIX: &str = "cluster-bootstrap: ";

/// An object a wait watches: how it is printed and where to ask for it.
pub struct Watched<'a> {
    pub label: &'a str,
    pub api: &'a Api<DynamicObject>,
    pub name: &'a str,
}

impl<'a> From<&'a LiveObject> for Watched<'a> {
    fn from(object: &'a LiveObject) -> Self {
        Watched {
            label: &object.label,
            api: &object.api,
            name: &object.name,
        }
    }
}

/// Polls until every object of `objects` is gone; a timeout names what is
/// left and `then`, what the user can do next.
pub async fn until_gone(
    objects: &[Watched<'_>],
    timeout: Duration,
    then: &str,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reported = None;
    loop {
        let present = join_all(objects.iter().map(|found| live::get(found.api, found.name))).await;
        let remaining: Vec<&str> = objects
            .iter()
            .zip(present)
            .filter(|(_, live)| !matches!(live, Ok(None)))
            .map(|(found, _)| found.label)
            .collect();
        if remaining.is_empty() {
            return Ok(());
        }
        if reported != Some(remaining.len()) {
            let what = match remaining.as_slice() {
                [one] => (*one).to_owned(),
                many => format!("{} objects", many.len()),
            };
            writeln!(
                stderr,
                "waiting for {what} to go ({}s)",
                started.elapsed().as_secs()
            )?;
            reported = Some(remaining.len());
        }
        if started.elapsed() >= timeout {
            anyhow::bail!(
                "timed out after {}s; still present:\n  {}{then}",
                timeout.as_secs(),
                remaining.join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
