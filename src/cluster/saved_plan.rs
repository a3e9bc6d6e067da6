//! A plan saved by `diff --out FILE` and applied by `apply --plan FILE`:
//! what the plan was computed from, so that apply goes ahead only when it
//! would do exactly what the saved diff showed. No object and no secret is
//! stored, only digests and resourceVersions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::session::Session;
use super::state::LiveState;

/// The format's version, refused when it is not this one.
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub cafectl_plan: u32,
    pub server: String,
    pub namespace: String,
    pub profile: String,
    /// SHA-256 of each rendered object, by `Kind/namespace/name`: the same
    /// profile must render the same objects.
    pub objects: BTreeMap<String, String>,
    /// The resourceVersion of every object the plan reads or changes, by
    /// `Kind/namespace/name`; null for one that did not exist.
    pub live: BTreeMap<String, Option<String>>,
    /// The saved diff's first line, for a reader of the file.
    pub summary: String,
}

impl SavedPlan {
    pub fn of(session: &Session, plan: &Plan) -> anyhow::Result<SavedPlan> {
        Ok(SavedPlan {
            cafectl_plan: FORMAT,
            server: session.server.clone(),
            namespace: session.namespace().to_owned(),
            profile: session.profile.name.to_string(),
            objects: digests(session)?,
            live: plan.basis.clone(),
            summary: plan.summary(),
        })
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the plan {}", path.display()))
    }

    pub fn read(path: &Path) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the plan {}", path.display()))?;
        let plan: SavedPlan = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a plan `cafectl diff --out` wrote",
                path.display()
            )
        })?;
        if plan.cafectl_plan != FORMAT {
            anyhow::bail!(
                "{} is a plan of format {}, this cafectl reads {FORMAT}: run `cafectl diff --out` again",
                path.display(),
                plan.cafectl_plan
            );
        }
        Ok(plan)
    }

    /// What differs from when the plan was made, in words: the cluster, the
    /// profile's objects, or any object the plan read. Empty: apply does
    /// exactly what the plan showed.
    pub async fn moved(&self, session: &Session) -> anyhow::Result<Vec<String>> {
        let mut moved = Vec::new();
        for (what, saved, now) in [
            ("cluster", &self.server, &session.server),
            (
                "namespace",
                &self.namespace,
                &session.namespace().to_owned(),
            ),
            ("profile", &self.profile, &session.profile.name.to_string()),
        ] {
            if saved != now {
                moved.push(format!("the {what} is {now}, the plan's was {saved}"));
            }
        }
        let objects = digests(session)?;
        let labels: BTreeSet<&String> = self.objects.keys().chain(objects.keys()).collect();
        for label in labels {
            let (saved, now) = (self.objects.get(label), objects.get(label));
            if saved != now {
                moved.push(match (saved, now) {
                    (Some(_), Some(_)) => {
                        format!("{label} renders differently from the profile now")
                    }
                    (Some(_), None) => format!("{label} is no longer in the profile"),
                    _ => format!("{label} is new in the profile"),
                });
            }
        }
        let state = LiveState::read(session).await?;
        for (label, saved) in &self.live {
            let now = state
                .find(label)
                .and_then(|found| found.object.metadata.resource_version.clone());
            if &now != saved {
                moved.push(match (saved, now) {
                    (None, Some(_)) => format!("{label} was created since"),
                    (Some(_), None) => format!("{label} was deleted since"),
                    (Some(saved), Some(now)) => {
                        format!("{label} changed since (resourceVersion {saved} -> {now})")
                    }
                    (None, None) => unreachable!("equal"),
                });
            }
        }
        Ok(moved)
    }
}

/// SHA-256 of each rendered object (its JSON), by label; a Secret's values
/// left out (a plain hash of a password is guessable; a new password shows
/// in the StatefulSet's checksum annotation all the same).
fn digests(session: &Session) -> anyhow::Result<BTreeMap<String, String>> {
    session
        .objects
        .iter()
        .map(|object| {
            let mut value = object.value.clone();
            if object.kind == "Secret" {
                for key in ["stringData", "data"] {
                    if let Some(values) = value.get_mut(key).and_then(|v| v.as_object_mut()) {
                        values.values_mut().for_each(|v| *v = "(masked)".into());
                    }
                }
            }
            let json = serde_json::to_vec(&value)?;
            let digest = ring::digest::digest(&ring::digest::SHA256, &json);
            let hex: String = digest
                .as_ref()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            Ok((object.to_string(), hex))
        })
        .collect()
}
