//! Changes to a running Redis that Kubernetes cannot make in place or that
//! cost its data: `diff` names them with what happens to the data, and
//! `apply` refuses them, before changing anything, unless --allow-recreate.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::inventory;
use super::live;
use super::session::Session;
use super::state::LiveState;
use crate::profile::KubeQuantity;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Destructive {
    pub object: String,
    pub change: String,
    /// What happens to the data and the pods, and what to do instead.
    pub consequence: String,
    /// Kubernetes refuses the change in an existing StatefulSet: with
    /// --allow-recreate apply first deletes it alone, leaving its pods
    /// running on their volumes for the new one to adopt.
    pub recreate: bool,
}

impl std::fmt::Display for Destructive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.change, self.consequence)
    }
}

/// The destructive changes of applying the session's objects over `state`.
pub fn find(session: &Session, state: &LiveState) -> anyhow::Result<Vec<Destructive>> {
    let mut found = Vec::new();
    for object in session
        .objects
        .iter()
        .filter(|object| object.kind == "StatefulSet")
    {
        let label = object.to_string();
        let Some(live) = state.find(&label) else {
            found.extend(name_switch(session, state, &label));
            continue;
        };
        let rendered = &object.value;
        let live = serde_json::to_value(&live.object)?;
        found.extend(changes(rendered, &live).into_iter().map(
            |(change, consequence, recreate)| Destructive {
                object: label.clone(),
                change,
                consequence,
                recreate,
            },
        ));
    }
    Ok(found)
}

/// A new StatefulSet `label` while another Redis of the same profile runs
/// in the namespace and shares the app-config this one renders: a changed
/// `redis.name`, which switches the apps to an empty Redis.
fn name_switch(session: &Session, state: &LiveState, label: &str) -> Option<Destructive> {
    let profile = session.profile.name.as_str();
    let shared: Vec<String> = session
        .objects
        .iter()
        .filter(|object| {
            object.kind == "ConfigMap"
                && object.name == session.profile.profile.app_config.name.as_str()
        })
        .map(ToString::to_string)
        .collect();
    let ours = inventory::name_of(session);
    let other = state.inventories().into_iter().find(|inventory| {
        inventory.name != ours
            && inventory.owner.starts_with(&format!("{profile}/"))
            && inventory
                .objects
                .iter()
                .any(|object| shared.contains(object))
            && inventory
                .objects
                .iter()
                .any(|object| object.starts_with("StatefulSet/") && state.find(object).is_some())
    })?;
    let old = other
        .owner
        .split_once('/')
        .map_or("?", |(_, redis)| redis)
        .to_owned();
    let new = session.profile.profile.redis.name.as_str();
    Some(Destructive {
        object: label.to_owned(),
        change: format!("redis.name {old} -> {new}"),
        consequence: format!(
            "the apps (app-config) switch to a new Redis {new} that starts with empty volumes; Redis {old} keeps running with its data, out of app-config, until `cafectl teardown --set redis.name={old}` removes it"
        ),
        recreate: false,
    })
}

/// (change, consequence, needs the StatefulSet recreated) of one StatefulSet.
fn changes(rendered: &Value, live: &Value) -> Vec<(String, String, bool)> {
    let mut changes = Vec::new();
    let (from, to) = (topology_of(live), topology_of(rendered));
    if from != to {
        changes.push((
            format!("redis.topology {from} -> {to}"),
            topology_switch(from, to),
            false,
        ));
    }
    let adopted = "with --allow-recreate apply deletes the StatefulSet but not its pods, and the new one adopts them";
    for field in &IMMUTABLE[..3] {
        let (before, after) = (&live["spec"][field], &rendered["spec"][field]);
        if !after.is_null() && before != after {
            changes.push((
                format!("spec.{field} {before} -> {after}"),
                format!("Kubernetes cannot change it in a StatefulSet; {adopted}"),
                true,
            ));
        }
    }
    let claims = |statefulset: &Value| -> Vec<(String, Value)> {
        statefulset["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|claim| {
                let name = claim["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (name, claim["spec"].clone())
            })
            .collect()
    };
    let (live_claims, rendered_claims) = (claims(live), claims(rendered));
    let keep = "the pods keep the claims they have";
    for (name, spec) in &rendered_claims {
        let Some((_, before)) = live_claims.iter().find(|(live_name, _)| live_name == name) else {
            changes.push((
                format!("volume claim template {name} added (redis.persistence turned on)"),
                format!(
                    "Kubernetes cannot add it to a StatefulSet; {adopted}, but they run without volumes until each is restarted, and what is only in memory is lost then"
                ),
                true,
            ));
            continue;
        };
        let size = |spec: &Value| {
            spec["resources"]["requests"]["storage"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let (old_size, new_size) = (size(before), size(spec));
        let bytes = |text: &str| {
            KubeQuantity::parse(text)
                .map(|quantity| quantity.value())
                .ok()
        };
        if bytes(&old_size) != bytes(&new_size) {
            changes.push((
                format!("volume claim template {name}: size {old_size} -> {new_size}"),
                format!(
                    "Kubernetes cannot change it in a StatefulSet; {adopted}: {keep}, which stay {old_size} (a claim grows only by editing it, where its storage class allows expansion); claims made later get {new_size}"
                ),
                true,
            ));
        }
        for field in ["storageClassName", "accessModes"] {
            let (old, new) = (&before[field], &spec[field]);
            if !new.is_null() && old != new {
                changes.push((
                    format!("volume claim template {name}: {field} {old} -> {new}"),
                    format!(
                        "Kubernetes cannot change it in a StatefulSet; {adopted}: {keep}, and their data stays where it is; only claims made later get the new {field}"
                    ),
                    true,
                ));
            }
        }
    }
    for (name, _) in live_claims
        .iter()
        .filter(|(name, _)| !rendered_claims.iter().any(|(rendered, _)| rendered == name))
    {
        changes.push((
            format!("volume claim template {name} removed (redis.persistence turned off)"),
            format!(
                "Kubernetes cannot remove it from a StatefulSet; {adopted}, and each restarted pod starts empty (the claims stay, unused)"
            ),
            true,
        ));
    }
    changes
}

/// The StatefulSet spec fields Kubernetes cannot change in place.
const IMMUTABLE: [&str; 4] = [
    "serviceName",
    "podManagementPolicy",
    "selector",
    "volumeClaimTemplates",
];

/// `rendered` with the fields Kubernetes cannot change taken from `live`:
/// what the server can dry-run.
pub fn with_live_immutables(rendered: &Value, live: &Value) -> Value {
    let mut value = rendered.clone();
    for field in IMMUTABLE {
        value["spec"][field] = live["spec"][field].clone();
    }
    value
}

/// The server's dry-run of `with_live_immutables` with the rendered
/// immutable fields put back, each laid over the live one (so the server's
/// defaults stay and the diff shows only what the profile changes).
pub fn with_rendered_immutables(mut after: Value, rendered: &Value, live: &Value) -> Value {
    for field in IMMUTABLE {
        after["spec"][field] = overlay(&live["spec"][field], &rendered["spec"][field]);
    }
    after
}

/// `top` laid over `base`: objects key by key, lists of one length item by item.
fn overlay(base: &Value, top: &Value) -> Value {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            let mut merged = base.clone();
            for (key, value) in top {
                let laid = overlay(base.get(key).unwrap_or(&Value::Null), value);
                merged.insert(key.clone(), laid);
            }
            Value::Object(merged)
        }
        (Value::Array(base), Value::Array(top)) if base.len() == top.len() => Value::Array(
            base.iter()
                .zip(top)
                .map(|(base, top)| overlay(base, top))
                .collect(),
        ),
        (_, top) => top.clone(),
    }
}

/// Which topology a rendered or live Redis StatefulSet runs: a sentinel
/// container beside Redis, or a cluster bus port, or neither.
pub(crate) fn topology_of(statefulset: &Value) -> &'static str {
    let containers = statefulset["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if containers
        .iter()
        .any(|container| container["name"] == "sentinel")
    {
        "sentinel"
    } else if containers.iter().any(|container| {
        container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|port| port["name"] == "cluster-bus")
    }) {
        "cluster"
    } else {
        "standalone"
    }
}

/// What a topology switch does to the data, each pod keeping its volume.
fn topology_switch(from: &str, to: &str) -> String {
    const FRESH: &str =
        "Export the keys first if you need them; to start the new topology empty: `cafectl teardown --delete-data`, then apply";
    match (from, to) {
        ("standalone", "sentinel") => "the pods restart; redis-0 keeps its volume and, as nothing recorded a master yet, starts as the master the new replicas copy: the keys are kept; apps must switch to the sentinel settings of app-config".to_owned(),
        ("sentinel", "standalone") => "the pods restart and only redis-0 stays: it keeps what its volume holds, a replica's copy if it was not the master (writes it had not received are lost); apps must switch to the standalone settings of app-config".to_owned(),
        (_, "cluster") => format!("the pods restart on volumes that hold keys, and the cluster bootstrap refuses nodes that hold data: the cluster does not form. {FRESH}"),
        _ => format!("the pods restart and the remaining ones keep only the keys of the shards they served: every other shard's keys are lost. {FRESH}"),
    }
}

/// Deletes the StatefulSets of `changes` that need recreating, leaving
/// their pods and volumes running, and waits until each is gone (its pods
/// released), so the apply that follows creates a new one that adopts them.
pub async fn delete_for_recreation(
    session: &Session,
    changes: &[Destructive],
) -> anyhow::Result<Vec<String>> {
    let mut deleted = Vec::new();
    for change in changes.iter().filter(|change| change.recreate) {
        if deleted.contains(&change.object) {
            continue;
        }
        let Some(object) = session
            .objects
            .iter()
            .find(|object| object.to_string() == change.object)
        else {
            continue;
        };
        let api = session.api(object)?;
        live::delete_orphaning(&api, &object.name).await?;
        let started = Instant::now();
        while live::get(&api, &object.name).await?.is_some() {
            anyhow::ensure!(
                started.elapsed() < session.timeout,
                "{object} was deleted (its pods keep running) but is still there after {}s: re-run apply once it is gone",
                session.timeout.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        deleted.push(change.object.clone());
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A StatefulSet as the profile renders it: `containers`, claims of `size`.
    fn statefulset(containers: Value, claims: Value) -> Value {
        json!({"spec": {
            "serviceName": "redis-headless",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app.kubernetes.io/name": "redis"}},
            "template": {"spec": {"containers": containers}},
            "volumeClaimTemplates": claims,
        }})
    }

    fn redis() -> Value {
        json!([{"name": "redis", "ports": [{"name": "redis", "containerPort": 6379}]}])
    }

    fn claim(size: &str) -> Value {
        json!([{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}])
    }

    /// What the server keeps: the rendered object with its defaults added.
    fn as_live(rendered: &Value) -> Value {
        let mut live = rendered.clone();
        if let Some(claims) = live["spec"]["volumeClaimTemplates"].as_array_mut() {
            for claim in claims {
                claim["spec"]["volumeMode"] = json!("Filesystem");
                claim["status"] = json!({"phase": "Pending"});
            }
        }
        live["spec"]["revisionHistoryLimit"] = json!(10);
        live
    }

    #[test]
    fn an_unchanged_statefulset_with_server_defaults_is_not_destructive() {
        let rendered = statefulset(redis(), claim("1Gi"));
        assert_eq!(changes(&rendered, &as_live(&rendered)), []);
        // The same size, written another way.
        let live = as_live(&statefulset(redis(), claim("1024Mi")));
        assert_eq!(changes(&rendered, &live), []);
    }

    #[test]
    fn a_new_volume_size_needs_the_statefulset_recreated_and_keeps_the_claims() {
        let live = as_live(&statefulset(redis(), claim("1Gi")));
        let found = changes(&statefulset(redis(), claim("2Gi")), &live);
        assert_eq!(found.len(), 1, "{found:?}");
        let (change, consequence, recreate) = &found[0];
        assert_eq!(change, "volume claim template data: size 1Gi -> 2Gi");
        assert!(consequence.contains("which stay 1Gi"), "{consequence}");
        assert!(recreate);
    }

    #[test]
    fn persistence_turned_on_or_off_needs_the_statefulset_recreated() {
        let with = statefulset(redis(), claim("1Gi"));
        let without = statefulset(redis(), json!(null));
        let off = changes(&without, &as_live(&with));
        assert!(
            off[0].0.contains("removed (redis.persistence turned off)") && off[0].2,
            "{off:?}"
        );
        let on = changes(&with, &as_live(&without));
        assert!(
            on[0].0.contains("added (redis.persistence turned on)") && on[0].2,
            "{on:?}"
        );
    }

    #[test]
    fn a_topology_switch_says_what_happens_to_the_data() {
        let sentinel = json!([{"name": "redis", "ports": []}, {"name": "sentinel", "ports": []}]);
        let cluster =
            json!([{"name": "redis", "ports": [{"name": "cluster-bus", "containerPort": 16379}]}]);
        let standalone = statefulset(redis(), claim("1Gi"));
        let to_sentinel = changes(&statefulset(sentinel, claim("1Gi")), &as_live(&standalone));
        assert_eq!(to_sentinel[0].0, "redis.topology standalone -> sentinel");
        assert!(
            to_sentinel[0].1.contains("the keys are kept"),
            "{to_sentinel:?}"
        );
        let to_cluster = changes(
            &statefulset(cluster.clone(), claim("1Gi")),
            &as_live(&standalone),
        );
        assert_eq!(to_cluster[0].0, "redis.topology standalone -> cluster");
        assert!(
            to_cluster[0].1.contains("the cluster does not form"),
            "{to_cluster:?}"
        );
        assert!(
            !to_cluster[0].2,
            "Kubernetes can roll it; the data cannot follow"
        );
        let from_cluster = changes(&standalone, &as_live(&statefulset(cluster, claim("1Gi"))));
        assert!(
            from_cluster[0]
                .1
                .contains("every other shard's keys are lost"),
            "{from_cluster:?}"
        );
    }

    #[test]
    fn the_diff_of_a_recreated_statefulset_keeps_the_server_defaults() {
        let live = as_live(&statefulset(redis(), claim("1Gi")));
        let rendered = statefulset(redis(), claim("2Gi"));
        let possible = with_live_immutables(&rendered, &live);
        assert_eq!(
            possible["spec"]["volumeClaimTemplates"],
            live["spec"]["volumeClaimTemplates"]
        );
        let after = with_rendered_immutables(possible, &rendered, &live);
        let claim = &after["spec"]["volumeClaimTemplates"][0];
        assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "2Gi");
        assert_eq!(claim["spec"]["volumeMode"], "Filesystem");
    }
}
