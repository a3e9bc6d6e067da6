//! Whether a live object is ready, read from its status alone (pure, so the
//! rules are unit-tested without a cluster).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still converging; the reason says where it stands.
    Pending(String),
    /// Will not get ready by waiting (a failed Job).
    Failed(String),
}

/// Kinds without a rollout are ready once they exist.
pub fn readiness(kind: &str, object: &Value) -> Readiness {
    match kind {
        "StatefulSet" | "Deployment" => rollout(object),
        "Job" => job(object),
        "PersistentVolumeClaim" => match object["status"]["phase"].as_str() {
            Some("Bound") => Readiness::Ready,
            phase => Readiness::Pending(format!("phase {}", phase.unwrap_or("unknown"))),
        },
        _ => Readiness::Ready,
    }
}

fn number(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

fn rollout(object: &Value) -> Readiness {
    let generation = number(&object["metadata"]["generation"]);
    let status = &object["status"];
    let observed = number(&status["observedGeneration"]);
    let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = number(&status["updatedReplicas"]);
    let ready = number(&status["readyReplicas"]);
    let available = status.get("availableReplicas").map(number).unwrap_or(ready);
    let revisions_match = match (
        status["currentRevision"].as_str(),
        status["updateRevision"].as_str(),
    ) {
        (Some(current), Some(update)) => current == update,
        _ => true,
    };
    if observed < generation {
        return Readiness::Pending("the controller has not seen the latest spec yet".to_owned());
    }
    if updated < wanted || !revisions_match {
        return Readiness::Pending(format!("{updated} of {wanted} pods updated"));
    }
    if ready < wanted || available < wanted {
        return Readiness::Pending(format!(
            "{ready} of {wanted} pods ready{}",
            conditions(status)
        ));
    }
    Readiness::Ready
}

fn job(object: &Value) -> Readiness {
    let conditions = object["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == kind && c["status"] == "True")
    };
    if holds("Complete").is_some() {
        return Readiness::Ready;
    }
    if let Some(failed) = holds("Failed") {
        return Readiness::Failed(format!(
            "failed: {}",
            failed["message"]
                .as_str()
                .or(failed["reason"].as_str())
                .unwrap_or("no reason given")
        ));
    }
    let active = number(&object["status"]["active"]);
    let failures = number(&object["status"]["failed"]);
    Readiness::Pending(format!(
        "{active} pod(s) running, {failures} failed attempt(s)"
    ))
}

/// The label selector of a Job's or a StatefulSet's pods (its
/// `spec.selector.matchLabels`), or `None` when it has none to go by.
pub fn pod_selector(workload: &Value) -> Option<String> {
    let labels = workload["spec"]["selector"]["matchLabels"].as_object()?;
    let pairs: Vec<String> = labels
        .iter()
        .filter_map(|(key, value)| Some(format!("{key}={}", value.as_str()?)))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(","))
}

/// Whether a Job's pods have finished its work: as many succeeded as it
/// needs completions. The Job controller says so (`Complete`) only seconds
/// after the last pod ended.
pub fn job_pods_succeeded(job: &Value, pods: &[Value]) -> bool {
    let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
    let succeeded = pods
        .iter()
        .filter(|pod| pod["status"]["phase"] == "Succeeded")
        .count();
    i64::try_from(succeeded).unwrap_or(i64::MAX) >= completions
}

/// Why the first of `pods` that is stuck is: it cannot be scheduled (no
/// volume to bind, no room), or a container waits for a reason other
/// than starting (an image that cannot be pulled, a crash loop).
pub fn stuck_pod(pods: &[Value]) -> Option<String> {
    pods.iter().find_map(|pod| {
        let name = pod["metadata"]["name"].as_str()?;
        let status = &pod["status"];
        let unscheduled = status["conditions"].as_array().and_then(|conditions| {
            conditions.iter().find(|condition| {
                condition["type"] == "PodScheduled" && condition["status"] == "False"
            })
        });
        if let Some(condition) = unscheduled {
            let said = condition["message"]
                .as_str()
                .or(condition["reason"].as_str());
            return Some(format!(
                "{name} cannot be scheduled: {}",
                said.unwrap_or("no reason given")
            ));
        }
        ["initContainerStatuses", "containerStatuses"]
            .iter()
            .flat_map(|key| status[*key].as_array().into_iter().flatten())
            .find_map(|container| {
                let waiting = &container["state"]["waiting"];
                let reason = waiting["reason"].as_str()?;
                if matches!(reason, "ContainerCreating" | "PodInitializing") {
                    return None;
                }
                let message = waiting["message"]
                    .as_str()
                    .map(|message| format!(": {message}"));
                Some(format!(
                    "{name}: container {} is waiting: {reason}{}",
                    container["name"].as_str().unwrap_or("?"),
                    message.unwrap_or_default()
                ))
            })
    })
}

/// The conditions that are not True, as "; Type: message".
fn conditions(status: &Value) -> String {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|condition| condition["status"] != "True")
        .map(|condition| {
            format!(
                "; {}: {}",
                condition["type"].as_str().unwrap_or("?"),
                condition["message"]
                    .as_str()
                    .or(condition["reason"].as_str())
                    .unwrap_or("")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stuck_pod_says_why() {
        let running = json!({"metadata": {"name": "redis-0"}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "redis", "state": {"running": {}}}]}});
        let starting = json!({"metadata": {"name": "redis-1"}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "redis", "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(stuck_pod(&[running.clone(), starting]), None);
        let unbound = json!({"metadata": {"name": "redis-2"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}});
        assert_eq!(
            stuck_pod(&[running.clone(), unbound]).as_deref(),
            Some("redis-2 cannot be scheduled: 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
        );
        let no_image = json!({"metadata": {"name": "redis-0"}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "metrics", "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"oliver006/redis_exporter:v1.66.0\""}}}]}});
        assert_eq!(
            stuck_pod(&[no_image]).as_deref(),
            Some("redis-0: container metrics is waiting: ImagePullBackOff: Back-off pulling image \"oliver006/redis_exporter:v1.66.0\"")
        );
    }

    #[test]
    fn a_statefulset_is_ready_when_every_pod_is_updated_and_ready() {
        let ready = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                       "availableReplicas": 3, "currentRevision": "r2", "updateRevision": "r2"}});
        assert_eq!(readiness("StatefulSet", &ready), Readiness::Ready);

        let mut stale = ready.clone();
        stale["status"]["observedGeneration"] = json!(1);
        assert!(
            matches!(readiness("StatefulSet", &stale), Readiness::Pending(reason) if reason.contains("latest spec"))
        );

        let mut rolling = ready.clone();
        rolling["status"]["updatedReplicas"] = json!(1);
        rolling["status"]["currentRevision"] = json!("r1");
        assert_eq!(
            readiness("StatefulSet", &rolling),
            Readiness::Pending("1 of 3 pods updated".to_owned())
        );

        let pending = json!({"metadata": {"generation": 1}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 0}});
        assert_eq!(
            readiness("StatefulSet", &pending),
            Readiness::Pending("0 of 3 pods ready".to_owned())
        );
    }

    #[test]
    fn a_job_is_ready_when_complete_and_failed_when_failed() {
        let complete = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(readiness("Job", &complete), Readiness::Ready);
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert_eq!(
            readiness("Job", &failed),
            Readiness::Failed("failed: BackoffLimitExceeded".to_owned())
        );
        let running = json!({"status": {"active": 1, "failed": 2}});
        assert_eq!(
            readiness("Job", &running),
            Readiness::Pending("1 pod(s) running, 2 failed attempt(s)".to_owned())
        );
    }

    #[test]
    fn a_jobs_pods_have_done_its_work_when_enough_succeeded() {
        let job = json!({"spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}}});
        assert_eq!(
            pod_selector(&job).as_deref(),
            Some("batch.kubernetes.io/controller-uid=u1")
        );
        assert_eq!(pod_selector(&json!({"spec": {}})), None);

        let succeeded = json!({"status": {"phase": "Succeeded"}});
        let failed = json!({"status": {"phase": "Failed"}});
        let running = json!({"status": {"phase": "Running"}});
        assert!(job_pods_succeeded(
            &job,
            &[failed.clone(), succeeded.clone()]
        ));
        assert!(!job_pods_succeeded(&job, &[failed, running.clone()]));
        assert!(!job_pods_succeeded(&job, &[]));
        let two = json!({"spec": {"completions": 2}});
        assert!(!job_pods_succeeded(&two, &[succeeded.clone(), running]));
        assert!(job_pods_succeeded(&two, &[succeeded.clone(), succeeded]));
    }

    #[test]
    fn objects_without_a_rollout_are_ready_when_they_exist() {
        assert_eq!(readiness("ConfigMap", &json!({})), Readiness::Ready);
        assert_eq!(
            readiness(
                "PersistentVolumeClaim",
                &json!({"status": {"phase": "Bound"}})
            ),
            Readiness::Ready
        );
        assert_eq!(
            readiness(
                "PersistentVolumeClaim",
                &json!({"status": {"phase": "Pending"}})
            ),
            Readiness::Pending("phase Pending".to_owned())
        );
    }
}
