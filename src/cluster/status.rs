//! `cafectl status`: what runs, read in one round of concurrent requests:
//! every Redis pod asked through the API server (see `health`), and the
//! profile's HorizontalPodAutoscalers.

use std::collections::BTreeMap;

use futures::future::join_all;
use serde::Serialize;
use serde_json::Value;

use super::exec::ExecError;
use super::health::{self, field, pod_of, Answers, Expected};
use super::live;
use super::session::Session;

#[derive(Debug, Serialize)]
pub struct Status {
    pub healthy: bool,
    /// What is not healthy, in words (what `apply` would wait for).
    pub problems: Vec<String>,
    pub pods: Vec<PodStatus>,
    pub autoscalers: Vec<AutoscalerStatus>,
}

#[derive(Debug, Default, Serialize)]
pub struct PodStatus {
    pub pod: String,
    /// master, slave, or none when Redis did not answer.
    pub role: Option<String>,
    /// A replica's master (its pod), and whether the link is up.
    pub master: Option<String>,
    pub link: Option<String>,
    /// Seconds since the master last heard from this replica.
    pub lag_seconds: Option<u64>,
    pub used_memory: Option<String>,
    pub maxmemory: Option<String>,
    pub clients: Option<u64>,
    pub keys: Option<u64>,
    /// Sentinel: the master this pod's sentinel names.
    pub sentinel_names: Option<String>,
    /// Cluster: the slots a master serves.
    pub slots: Option<u64>,
    /// Why the pod did not answer.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AutoscalerStatus {
    pub name: String,
    pub target: String,
    pub exists: bool,
    pub current_replicas: Option<u64>,
    pub desired_replicas: Option<u64>,
    pub min_replicas: Option<u64>,
    pub max_replicas: Option<u64>,
    /// `cpu 12%/50%`; `<unknown>` where no metric is read.
    pub metrics: Vec<String>,
}

impl Status {
    pub async fn read(session: &Session) -> anyhow::Result<Status> {
        let expected =
            Expected::of(session).ok_or_else(|| anyhow::anyhow!("the profile renders no Redis"))?;
        let hpas: Vec<_> = session
            .objects
            .iter()
            .filter(|object| object.kind == "HorizontalPodAutoscaler")
            .collect();
        let (answers, live_hpas) = futures::join!(
            health::ask_all(session, &expected),
            join_all(hpas.iter().map(|hpa| async move {
                let api = session.api(hpa)?;
                Ok::<_, anyhow::Error>(live::get(&api, &hpa.name).await?)
            }))
        );
        if let Some((_, Err(error @ ExecError::Forbidden))) = answers
            .iter()
            .find(|(_, answer)| matches!(answer, Err(ExecError::Forbidden)))
        {
            anyhow::bail!("{error}: cafectl status asks Redis in its pods; ask a cluster admin for that permission");
        }
        let problems = health::problems(&expected, &answers);
        let mut autoscalers = Vec::new();
        for (hpa, live) in hpas.iter().zip(live_hpas) {
            let live = live?.map(serde_json::to_value).transpose()?;
            autoscalers.push(autoscaler(
                &hpa.name,
                &serde_json::to_value(&hpa.value)?,
                live.as_ref(),
            ));
        }
        Ok(Status {
            healthy: problems.is_empty(),
            problems,
            pods: pods(&answers),
            autoscalers,
        })
    }
}

fn number(text: Option<&str>) -> Option<u64> {
    text?.trim().parse().ok()
}

/// One row per pod, from its answers; a master's view of each replica's lag.
fn pods(answers: &[(String, Answers)]) -> Vec<PodStatus> {
    let section = |answer: &Answers, name: &str| -> String {
        answer
            .as_ref()
            .ok()
            .and_then(|sections| sections.get(name).cloned())
            .unwrap_or_default()
    };
    // replica pod -> lag, from the masters' `slaveN:ip=HOST,...,lag=N` lines.
    let mut lags: BTreeMap<String, u64> = BTreeMap::new();
    for (_, answer) in answers {
        for line in section(answer, "info")
            .lines()
            .filter(|line| line.starts_with("slave"))
        {
            let fields: BTreeMap<&str, &str> = line
                .split_once(':')
                .map_or("", |(_, rest)| rest)
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .collect();
            if let (Some(host), Some(lag)) = (fields.get("ip"), number(fields.get("lag").copied()))
            {
                lags.insert(pod_of(host).to_owned(), lag);
            }
        }
    }
    // master pod -> slots, from any node's CLUSTER NODES.
    let mut slots: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(nodes) = answers
        .iter()
        .map(|(_, answer)| section(answer, "cluster-nodes"))
        .find(|nodes| !nodes.is_empty())
    {
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") {
                continue;
            }
            let host = fields[1]
                .split_once(',')
                .map_or(fields[1], |(_, host)| host);
            let count: u64 = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .map(|range| slot_count(range))
                .sum();
            slots.insert(pod_of(host).to_owned(), count);
        }
    }
    answers
        .iter()
        .map(|(pod, answer)| {
            let info = section(answer, "info");
            let role = field(&info, "role").map(str::to_owned);
            let is_replica = role.as_deref() == Some("slave");
            let maxmemory = section(answer, "maxmemory")
                .lines()
                .nth(1)
                .and_then(|bytes| number(Some(bytes)));
            PodStatus {
                pod: pod.clone(),
                master: field(&info, "master_host")
                    .filter(|_| is_replica)
                    .map(|host| pod_of(host).to_owned()),
                link: field(&info, "master_link_status")
                    .filter(|_| is_replica)
                    .map(str::to_owned),
                lag_seconds: lags.get(pod).copied(),
                used_memory: field(&info, "used_memory_human").map(str::to_owned),
                maxmemory: maxmemory.map(human_bytes),
                clients: number(field(&info, "connected_clients")),
                keys: role.as_ref().map(|_| {
                    field(&info, "db0")
                        .and_then(|db| db.split(',').find_map(|pair| pair.strip_prefix("keys=")))
                        .and_then(|keys| keys.parse().ok())
                        .unwrap_or(0)
                }),
                sentinel_names: section(answer, "sentinel-master")
                    .lines()
                    .next()
                    .filter(|host| !host.is_empty())
                    .map(|host| pod_of(host).to_owned()),
                slots: slots.get(pod).copied(),
                error: answer.as_ref().err().map(ToString::to_string),
                role,
            }
        })
        .collect()
}

/// Slots in `0-5460` or `5461`.
fn slot_count(range: &str) -> u64 {
    match range.split_once('-') {
        Some((first, last)) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(first), Ok(last)) if last >= first => last - first + 1,
            _ => 0,
        },
        None => u64::from(range.parse::<u64>().is_ok()),
    }
}

/// Bytes as Redis prints them (`256.00M`); 0 is `unlimited`.
fn human_bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "unlimited".to_owned();
    }
    let units = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", units[unit])
}

fn autoscaler(name: &str, rendered: &Value, live: Option<&Value>) -> AutoscalerStatus {
    let target = rendered["spec"]["scaleTargetRef"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(live) = live else {
        return AutoscalerStatus {
            name: name.to_owned(),
            target,
            exists: false,
            current_replicas: None,
            desired_replicas: None,
            min_replicas: None,
            max_replicas: None,
            metrics: Vec::new(),
        };
    };
    let current: Vec<&Value> = live["status"]["currentMetrics"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let metrics = live["spec"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|metric| {
            let resource = metric["resource"]["name"].as_str()?;
            let wanted = metric["resource"]["target"]["averageUtilization"].as_u64()?;
            let now = current
                .iter()
                .find(|current| current["resource"]["name"] == resource)
                .and_then(|current| current["resource"]["current"]["averageUtilization"].as_u64())
                .map_or("<unknown>".to_owned(), |now| format!("{now}%"));
            Some(format!("{resource} {now}/{wanted}%"))
        })
        .collect();
    AutoscalerStatus {
        name: name.to_owned(),
        target,
        exists: true,
        current_replicas: live["status"]["currentReplicas"].as_u64(),
        desired_replicas: live["status"]["desiredReplicas"].as_u64(),
        min_replicas: live["spec"]["minReplicas"].as_u64(),
        max_replicas: live["spec"]["maxReplicas"].as_u64(),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(pod: &str, sections: &[(&str, &str)]) -> (String, Answers) {
        (
            pod.to_owned(),
            Ok(sections
                .iter()
                .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
                .collect()),
        )
    }

    #[test]
    fn each_pod_row_says_role_link_lag_memory_clients_and_keys() {
        let master_info = "role:master\nconnected_clients:7\nused_memory_human:1.30M\n\
            slave0:ip=redis-1.redis-headless.ns.svc.cluster.local,port=6379,state=online,offset=9,lag=1\n\
            db0:keys=42,expires=0,avg_ttl=0\n";
        let replica_info = "role:slave\nmaster_host:redis-0.redis-headless.ns.svc.cluster.local\n\
            master_link_status:up\nconnected_clients:2\nused_memory_human:1.04M\ndb0:keys=42,expires=0,avg_ttl=0\n";
        let rows = pods(&[
            answered(
                "redis-0",
                &[
                    ("info", master_info),
                    ("maxmemory", "maxmemory\n268435456\n"),
                    (
                        "sentinel-master",
                        "redis-0.redis-headless.ns.svc.cluster.local\n6379\n",
                    ),
                ],
            ),
            answered(
                "redis-1",
                &[("info", replica_info), ("maxmemory", "maxmemory\n0\n")],
            ),
            (
                "redis-2".to_owned(),
                Err(ExecError::Failed("no answer within 10s".to_owned())),
            ),
        ]);
        let master = &rows[0];
        assert_eq!(master.role.as_deref(), Some("master"));
        assert_eq!((master.master.as_deref(), master.lag_seconds), (None, None));
        assert_eq!(master.maxmemory.as_deref(), Some("256.00M"));
        assert_eq!((master.clients, master.keys), (Some(7), Some(42)));
        assert_eq!(master.sentinel_names.as_deref(), Some("redis-0"));
        let replica = &rows[1];
        assert_eq!(replica.master.as_deref(), Some("redis-0"));
        assert_eq!(
            (replica.link.as_deref(), replica.lag_seconds),
            (Some("up"), Some(1))
        );
        assert_eq!(replica.maxmemory.as_deref(), Some("unlimited"));
        let silent = &rows[2];
        assert_eq!((silent.role.as_ref(), silent.keys), (None, None));
        assert_eq!(silent.error.as_deref(), Some("no answer within 10s"));
    }

    #[test]
    fn cluster_masters_show_their_slots() {
        let nodes = "a 10.0.0.1:6379@16379,redis-0.h master - 0 0 1 connected 0-5460\n\
            b 10.0.0.2:6379@16379,redis-1.h master - 0 0 2 connected 5461-10922 16000 [16001->-c]\n\
            c 10.0.0.3:6379@16379,redis-2.h slave a 0 0 1 connected\n";
        let rows = pods(&[
            answered(
                "redis-0",
                &[("info", "role:master\n"), ("cluster-nodes", nodes)],
            ),
            answered("redis-1", &[("info", "role:master\n")]),
            answered("redis-2", &[("info", "role:slave\n")]),
        ]);
        let slots: Vec<Option<u64>> = rows.iter().map(|row| row.slots).collect();
        assert_eq!(slots, [Some(5461), Some(5463), None]);
    }

    #[test]
    fn an_autoscaler_shows_its_replicas_and_metrics_or_that_it_is_missing() {
        let rendered = serde_json::json!({"spec": {"scaleTargetRef": {"name": "order-backend"}}});
        let live = serde_json::json!({
            "spec": {"minReplicas": 2, "maxReplicas": 10, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": 3, "desiredReplicas": 4, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 71}}}]}});
        let running = autoscaler("order-backend", &rendered, Some(&live));
        assert_eq!(
            (running.current_replicas, running.desired_replicas),
            (Some(3), Some(4))
        );
        assert_eq!(running.metrics, ["cpu 71%/50%"]);
        let missing = autoscaler("order-backend", &rendered, None);
        assert!(!missing.exists);
    }
}
