//! A Redis the profile makes smaller. Before its StatefulSet scales down,
//! what the going pods hold moves to the pods that stay: a cluster's slots
//! and replicas, a sentinel set's master role. The rendered `shrink.sh`
//! does it, run in the first pod (which always stays).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};

use super::destructive::topology_of;
use super::exec;
use super::session::Session;
use super::state::LiveState;
use super::wait::{self, Watched};
use super::FIELD_MANAGER;

/// A sentinel master among the going pods hands over within this long.
const HANDOVER_WITHIN: Duration = Duration::from_secs(90);

#[derive(Debug, Clone)]
pub struct Shrink {
    /// The StatefulSet, as `Kind/namespace/name`.
    pub statefulset: String,
    cluster: bool,
    before: u64,
    after: u64,
    /// The pods that go, by name.
    pub going: Vec<String>,
    /// This version's lib.sh, then shrink.sh: the pods may run older ones.
    script: String,
    /// Where it runs.
    first_pod: String,
    /// The StatefulSet's name.
    name: String,
}

impl std::fmt::Display for Shrink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let going = self.going.join(", ");
        write!(
            f,
            "{}: {} -> {} pods: before {going} go, apply ",
            self.statefulset, self.before, self.after
        )?;
        if self.cluster {
            write!(f, "moves their slots (with the keys) and replicas to the pods that stay, then has the cluster forget them")
        } else {
            write!(
                f,
                "makes sure the master is a pod that stays (one that goes hands over first)"
            )
        }
    }
}

/// The shrink of applying the session's objects over `state`: a sentinel or
/// cluster StatefulSet with fewer pods than it runs, same topology (a
/// switch is a destructive change of its own).
pub fn find(session: &Session, state: &LiveState) -> anyhow::Result<Option<Shrink>> {
    let Some(object) = session
        .objects
        .iter()
        .find(|object| object.kind == "StatefulSet")
    else {
        return Ok(None);
    };
    let statefulset = object.to_string();
    let Some(live) = state.find(&statefulset) else {
        return Ok(None);
    };
    let rendered = &object.value;
    let live = serde_json::to_value(&live.object)?;
    let topology = topology_of(rendered);
    let (Some(before), Some(after)) = (
        live["spec"]["replicas"].as_u64(),
        rendered["spec"]["replicas"].as_u64(),
    ) else {
        return Ok(None);
    };
    if after >= before || topology != topology_of(&live) || topology == "standalone" {
        return Ok(None);
    }
    let scripts = session
        .objects
        .iter()
        .find_map(|object| {
            let data = object.value.get("data")?;
            let script = |name: &str| data.get(name)?.as_str();
            Some(format!("{}\n{}", script("lib.sh")?, script("shrink.sh")?))
        })
        .ok_or_else(|| anyhow::anyhow!("the rendered scripts have no shrink.sh"))?;
    Ok(Some(Shrink {
        cluster: topology == "cluster",
        before,
        after,
        going: (after..before)
            .map(|ordinal| format!("{}-{ordinal}", object.name))
            .collect(),
        script: scripts,
        first_pod: format!("{}-0", object.name),
        name: object.name.clone(),
        statefulset,
    }))
}

impl Shrink {
    /// Moves what the going pods hold to the pods that stay, then removes
    /// the going pods; an error before that means no pod was removed (and
    /// apply changes nothing).
    pub async fn prepare(&self, session: &Session, stderr: &mut dyn Write) -> anyhow::Result<()> {
        self.move_off(session, stderr).await?;
        self.remove_going_pods(session, stderr).await
    }

    /// The going pods gone before anything else changes: a roll the new
    /// profile starts must not have a master's handover wait for a replica
    /// that is going (a CI run's sentinel 4 -> 3: writes refused 4 s while
    /// the rolled master waited for the terminating pod to catch up).
    async fn remove_going_pods(
        &self,
        session: &Session,
        stderr: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let statefulsets = session.api_for("apps/v1", "StatefulSet")?;
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let scale = serde_json::json!({"spec": {"replicas": self.after}});
        statefulsets
            .patch(&self.name, &params, &Patch::Merge(&scale))
            .await
            .with_context(|| format!("cannot scale {} to {} pods", self.statefulset, self.after))?;
        let pods = session.pods()?;
        let labels: Vec<String> = self
            .going
            .iter()
            .map(|pod| format!("Pod/{}/{pod}", session.namespace()))
            .collect();
        let going: Vec<Watched> = self
            .going
            .iter()
            .zip(&labels)
            .map(|(name, label)| Watched {
                label,
                api: &pods,
                name,
            })
            .collect();
        wait::until_gone(
            &going,
            session.timeout,
            "\n`cafectl apply` again continues",
            stderr,
        )
        .await
    }

    async fn move_off(&self, session: &Session, stderr: &mut dyn Write) -> anyhow::Result<()> {
        let pods = session.pod_api();
        let mut arguments = vec!["shrink.sh"];
        arguments.extend(self.going.iter().map(String::as_str));
        let refused = || {
            format!(
                "{} cannot shrink yet; no pod was removed and nothing was applied",
                self.statefulset
            )
        };
        if self.cluster {
            let mut printed = Ok(());
            let ran = tokio::time::timeout(
                session.timeout,
                exec::run(&pods, &self.first_pod, &self.script, &arguments, |line| {
                    if printed.is_ok() {
                        printed = writeln!(stderr, "{line}");
                    }
                }),
            )
            .await;
            printed?;
            let Ok(ran) = ran else {
                anyhow::bail!(
                    "timed out after {}s: shrink.sh goes on in {}; `cafectl apply` again waits for it, then applies",
                    session.timeout.as_secs(),
                    self.first_pod
                );
            };
            return ran
                .map(drop)
                .map_err(anyhow::Error::new)
                .with_context(refused);
        }
        let deadline = Instant::now() + HANDOVER_WITHIN;
        let mut handed_over = false;
        loop {
            let run = exec::run(&pods, &self.first_pod, &self.script, &arguments, |_| {});
            let output = within_handover(run, &self.first_pod)
                .await
                .with_context(refused)?;
            let Some((master, agreeing, answered)) = output.lines().find_map(master_line) else {
                anyhow::bail!("{}: shrink.sh named no master:\n{output}", refused());
            };
            let going = self.going.contains(&master);
            if !going && agreeing == answered && answered > 0 {
                return Ok(());
            }
            if going && !handed_over {
                writeln!(
                    stderr,
                    "shrinking: {master}, the master, goes: it hands over to a pod that stays (its pre-stop hook)"
                )?;
                let pre_stop = exec::run(
                    &pods,
                    &master,
                    "exec sh /scripts/pre-stop.sh",
                    &["pre-stop"],
                    |_| {},
                );
                within_handover(pre_stop, &master)
                    .await
                    .with_context(refused)?;
                handed_over = true;
                continue;
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "{}: after {}s the sentinels name {master} the master ({agreeing} of {answered} that answered); the pods that go must not be the master",
                    refused(),
                    HANDOVER_WITHIN.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// What a script run in `pod` printed, if it ended well within
/// `HANDOVER_WITHIN`.
async fn within_handover(
    run: impl std::future::Future<Output = Result<String, exec::ExecError>>,
    pod: &str,
) -> anyhow::Result<String> {
    match tokio::time::timeout(HANDOVER_WITHIN, run).await {
        Ok(ran) => Ok(ran?),
        Err(_) => anyhow::bail!(
            "the script in {pod} did not end within {}s",
            HANDOVER_WITHIN.as_secs()
        ),
    }
}

/// `master POD AGREEING ANSWERED`, as shrink.sh prints it.
fn master_line(line: &str) -> Option<(String, usize, usize)> {
    let mut words = line.strip_prefix("master ")?.split_whitespace();
    Some((
        words.next()?.to_owned(),
        words.next()?.parse().ok()?,
        words.next()?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_line_names_the_master_and_how_many_agree() {
        assert_eq!(
            master_line("master redis-3 2 3"),
            Some(("redis-3".to_owned(), 2, 3))
        );
        assert_eq!(master_line("shrink: redis-3 does not answer"), None);
        assert_eq!(master_line("master  0 0"), None);
    }
}
