//! A Redis Cluster master and its replicas on different nodes where the
//! nodes allow it. The scheduler spreads the pods (topology spread), but
//! `redis-cli --cluster create` and later failovers pair them without
//! knowing the nodes; after the rollout, apply swaps the masters of
//! replicas that share their master's node (`CLUSTER REPLICATE`, run in the
//! replica's pod), so that losing one node loses no shard.

use std::collections::BTreeMap;
use std::io::Write;

use super::exec;
use super::health::{pod_of, Expected};
use super::live;
use super::session::Session;
use crate::render::context::REDIS_PORT;

/// One cluster node as placement sees it: its pod, the Kubernetes node the
/// pod runs on, and for a replica its master's pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub pod: String,
    pub node: String,
    /// None for a master.
    pub master: Option<String>,
}

/// Which replicas to move to which master: each move takes a replica off
/// its master's node and another onto a different one, so that fewer
/// replicas share a node with their master after every swap.
pub fn swaps(members: &[Member]) -> Vec<(String, String)> {
    let node_of: BTreeMap<&str, &str> = members
        .iter()
        .map(|member| (member.pod.as_str(), member.node.as_str()))
        .collect();
    let mut following: BTreeMap<String, String> = members
        .iter()
        .filter_map(|member| Some((member.pod.clone(), member.master.clone()?)))
        .collect();
    let shares = |replica: &str, master: &str| node_of.get(replica) == node_of.get(master);
    let mut moves = Vec::new();
    let replicas: Vec<String> = following.keys().cloned().collect();
    for replica in &replicas {
        let master = following[replica].clone();
        if !shares(replica, &master) {
            continue;
        }
        // Another replica, of another master, that can take this one's
        // place without sharing a node with its new master.
        let partner = replicas.iter().find(|other| {
            let other_master = &following[*other];
            *other != replica
                && *other_master != master
                && !shares(replica, other_master)
                && !shares(other, &master)
        });
        if let Some(partner) = partner.cloned() {
            let other_master = following[&partner].clone();
            following.insert(replica.clone(), other_master.clone());
            following.insert(partner.clone(), master.clone());
            moves.push((replica.clone(), other_master));
            moves.push((partner, master));
        }
    }
    moves
}

/// Spreads each master's replicas off its node, when the pods run on more
/// than one node; says what it moved.
pub async fn spread(
    session: &Session,
    expected: &Expected,
    stderr: &mut dyn Write,
) -> anyhow::Result<bool> {
    let pods = live::list(&session.pods()?, "").await?;
    let nodes: BTreeMap<String, String> = pods
        .iter()
        .filter_map(|pod| {
            let name = pod.metadata.name.clone()?;
            let node = pod.data["spec"]["nodeName"].as_str()?.to_owned();
            expected.pods.contains(&name).then_some((name, node))
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = nodes.values().collect();
    if distinct.len() < 2 {
        return Ok(false);
    }
    let api = session.pod_api();
    let first = &expected.pods[0];
    let view = match exec::run(
        &api,
        first,
        &exec::with_password(&format!(
            "timeout 5 redis-cli -p {REDIS_PORT} CLUSTER NODES | tr -d '\\r'"
        )),
        &["cluster-nodes"],
        |_| {},
    )
    .await
    {
        Err(exec::ExecError::Forbidden) => {
            writeln!(
                stderr,
                "warning: {}: the masters' replicas were not spread over the nodes",
                exec::ExecError::Forbidden
            )?;
            return Ok(false);
        }
        view => view?,
    };
    let (members, ids) = members(&view, &nodes);
    let moves = swaps(&members);
    for (replica, master) in &moves {
        writeln!(
            stderr,
            "placement: {replica} follows {master} instead: its master shared its node {}",
            nodes.get(replica).map_or("?", String::as_str)
        )?;
        let id = &ids[master];
        let replicated = exec::run(
            &api,
            replica,
            &exec::with_password(&format!(
                "[ \"$(timeout 5 redis-cli -p {REDIS_PORT} CLUSTER REPLICATE {id} | tr -d '\\r')\" = OK ]"
            )),
            &["replicate"],
            |_| {},
        )
        .await;
        // Not worth failing an apply whose objects are in place: the wait
        // for health that follows shows what a half-done swap left.
        if let Err(error) = replicated {
            writeln!(
                stderr,
                "warning: placement: {replica} could not follow {master} ({error}); no more replicas are moved"
            )?;
            break;
        }
    }
    Ok(!moves.is_empty())
}

/// The members of a CLUSTER NODES view whose pods have nodes, and each
/// master's node id by pod.
fn members(
    view: &str,
    nodes: &BTreeMap<String, String>,
) -> (Vec<Member>, BTreeMap<String, String>) {
    // id address flags master-id ...
    let lines: Vec<Vec<&str>> = view
        .lines()
        .map(|line| line.split_whitespace().collect())
        .filter(|fields: &Vec<&str>| fields.len() > 3 && !fields[2].contains("fail"))
        .collect();
    let pod_of_line = |fields: &Vec<&str>| -> Option<String> {
        let host = fields[1].split_once(',')?.1;
        Some(pod_of(host).to_owned())
    };
    let pod_by_id: BTreeMap<&str, String> = lines
        .iter()
        .filter_map(|fields| Some((fields[0], pod_of_line(fields)?)))
        .collect();
    let mut ids = BTreeMap::new();
    let mut members = Vec::new();
    for fields in &lines {
        let Some(pod) = pod_of_line(fields) else {
            continue;
        };
        let Some(node) = nodes.get(&pod) else {
            continue;
        };
        let master = if fields[2].contains("slave") {
            match pod_by_id.get(fields[3]) {
                Some(master) => Some(master.clone()),
                None => continue,
            }
        } else {
            ids.insert(pod.clone(), fields[0].to_owned());
            None
        };
        members.push(Member {
            pod,
            node: node.clone(),
            master,
        });
    }
    (members, ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(pod: &str, node: &str, master: Option<&str>) -> Member {
        Member {
            pod: pod.to_owned(),
            node: node.to_owned(),
            master: master.map(str::to_owned),
        }
    }

    /// How many replicas share their master's node.
    fn sharing(members: &[Member], moves: &[(String, String)]) -> usize {
        let node = |pod: &str| {
            members
                .iter()
                .find(|member| member.pod == pod)
                .map(|member| member.node.clone())
        };
        members
            .iter()
            .filter_map(|member| {
                let master = moves
                    .iter()
                    .rev()
                    .find(|(replica, _)| *replica == member.pod)
                    .map(|(_, master)| master.clone())
                    .or(member.master.clone())?;
                Some(node(&member.pod) == node(&master))
            })
            .filter(|shared| *shared)
            .count()
    }

    #[test]
    fn replicas_that_share_their_masters_node_trade_masters() {
        // Three nodes; each master's replica landed beside it.
        let members = [
            member("redis-0", "a", None),
            member("redis-1", "b", None),
            member("redis-2", "c", None),
            member("redis-3", "a", Some("redis-0")),
            member("redis-4", "b", Some("redis-1")),
            member("redis-5", "c", Some("redis-2")),
        ];
        assert_eq!(sharing(&members, &[]), 3);
        let moves = swaps(&members);
        assert_eq!(sharing(&members, &moves), 0, "{moves:?}");
        assert_eq!(
            moves[..2],
            [
                ("redis-3".to_owned(), "redis-1".to_owned()),
                ("redis-4".to_owned(), "redis-0".to_owned())
            ]
        );
    }

    #[test]
    fn nothing_moves_when_every_replica_is_elsewhere_or_no_swap_helps() {
        let spread = [
            member("redis-0", "a", None),
            member("redis-1", "b", None),
            member("redis-2", "a", Some("redis-1")),
            member("redis-3", "b", Some("redis-0")),
        ];
        assert_eq!(swaps(&spread), Vec::new());
        // Two nodes, everything of one shard on one of them and the other
        // shard's pair split: a swap would put the other pair together.
        let stuck = [
            member("redis-0", "a", None),
            member("redis-1", "a", None),
            member("redis-2", "a", Some("redis-0")),
            member("redis-3", "b", Some("redis-1")),
        ];
        assert_eq!(swaps(&stuck), Vec::new());
    }

    #[test]
    fn a_cluster_nodes_view_becomes_members_with_their_nodes() {
        let view = "\
m0 10.0.0.1:6379@16379,redis-0.h.ns.svc.cluster.local myself,master - 0 0 1 connected 0-8191
m1 10.0.0.2:6379@16379,redis-1.h.ns.svc.cluster.local master - 0 0 2 connected 8192-16383
r2 10.0.0.3:6379@16379,redis-2.h.ns.svc.cluster.local slave m0 0 0 1 connected
r3 10.0.0.4:6379@16379,redis-3.h.ns.svc.cluster.local slave,fail m1 0 0 2 connected
";
        let nodes: BTreeMap<String, String> = [
            ("redis-0", "a"),
            ("redis-1", "b"),
            ("redis-2", "a"),
            ("redis-3", "b"),
        ]
        .into_iter()
        .map(|(pod, node)| (pod.to_owned(), node.to_owned()))
        .collect();
        let (members, ids) = members(view, &nodes);
        assert_eq!(
            members,
            [
                member("redis-0", "a", None),
                member("redis-1", "b", None),
                member("redis-2", "a", Some("redis-0")),
            ]
        );
        assert_eq!(ids["redis-1"], "m1");
    }
}
