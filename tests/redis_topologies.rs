//! Every topology against real Redis: the rendered redis.conf, sentinel
//! settings, start-up scripts and cluster bootstrap, run as processes on
//! loopback (see `common::redis_lab` for what the harness substitutes).

mod common;

use std::time::{Duration, Instant};

use common::redis_lab::{available, Lab};
use common::resp::{info_field, Connection, Reply};

const REDIS_PORT: u16 = 6379;
const SENTINEL_PORT: u16 = 26379;
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn text(reply: std::io::Result<Reply>) -> Option<String> {
    reply.ok().and_then(|reply| reply.text())
}

/// INFO <section> of a pod, once it answers.
fn info(lab: &Lab, ordinal: usize, port: u16, section: &str) -> Option<String> {
    text(lab.connect(ordinal, port).ok()?.call(&["INFO", section]))
}

fn config_get(connection: &mut Connection, key: &str) -> String {
    let reply = connection.call(&["CONFIG", "GET", key]).unwrap();
    reply
        .items()
        .get(1)
        .and_then(Reply::text)
        .unwrap_or_else(|| panic!("CONFIG GET {key}: {reply:?}"))
}

fn assert_refused_without_password(lab: &Lab, ordinal: usize, port: u16) {
    let mut anonymous = Connection::open(lab.ip(ordinal), port).unwrap();
    match anonymous.call(&["PING"]).unwrap() {
        Reply::Error(message) => assert!(message.starts_with("NOAUTH"), "{message}"),
        other => panic!("PING without the password on port {port} answered {other:?}"),
    }
    match anonymous.call(&["AUTH", "not-the-password"]).unwrap() {
        Reply::Error(message) => assert!(
            message.contains("WRONGPASS") || message.contains("invalid"),
            "{message}"
        ),
        other => panic!("a wrong password was accepted on port {port}: {other:?}"),
    }
}

#[test]
fn standalone_config_auth_and_persistence() {
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new("standalone", &[]);
    lab.start(0, "redis");
    let mut redis = lab.wait_for("redis to answer", START_TIMEOUT, || {
        lab.connect(0, REDIS_PORT).ok()
    });

    let settings = &lab.profile.profile.redis;
    assert_eq!(
        config_get(&mut redis, "maxmemory"),
        settings.maxmemory.bytes().to_string()
    );
    assert_eq!(
        config_get(&mut redis, "maxmemory-policy"),
        settings.maxmemory_policy.as_str()
    );
    assert_eq!(
        config_get(&mut redis, "appendonly"),
        if settings.persistence.appendonly {
            "yes"
        } else {
            "no"
        }
    );
    let save: Vec<String> = settings
        .persistence
        .save
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(config_get(&mut redis, "save"), save.join(" "));
    assert_refused_without_password(&lab, 0, REDIS_PORT);

    // A clean shutdown writes the RDB; a kill leaves only the AOF (fsync every second).
    redis.call(&["SET", "order:1", "latte"]).unwrap();
    let _ = redis.call(&["SHUTDOWN"]);
    let mut redis = restart(&mut lab, 0);
    assert_eq!(
        text(redis.call(&["GET", "order:1"])),
        Some("latte".to_owned())
    );
    redis.call(&["SET", "order:2", "mocha"]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut redis = restart(&mut lab, 0);
    assert_eq!(
        text(redis.call(&["GET", "order:1"])),
        Some("latte".to_owned())
    );
    assert_eq!(
        text(redis.call(&["GET", "order:2"])),
        Some("mocha".to_owned()),
        "the AOF kept the write"
    );
    eprintln!("standalone: {:?}", started.elapsed());
}

/// Kills a pod's Redis (if it still runs) and starts it again on the same data.
fn restart(lab: &mut Lab, ordinal: usize) -> Connection {
    lab.kill(ordinal, "redis");
    lab.start(ordinal, "redis");
    lab.wait_for("redis to come back", START_TIMEOUT, || {
        lab.connect(ordinal, REDIS_PORT).ok()
    })
}

fn replication(lab: &Lab, ordinal: usize) -> Option<String> {
    info(lab, ordinal, REDIS_PORT, "replication")
}

fn sentinel_master(lab: &Lab, sentinel: usize, master_name: &str) -> Option<String> {
    let reply = lab
        .connect(sentinel, SENTINEL_PORT)
        .ok()?
        .call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name])
        .ok()?;
    reply.items().first().and_then(Reply::text)
}

/// Replicas a sentinel knows and sees up.
fn known_replicas(lab: &Lab, sentinel: usize, master_name: &str) -> usize {
    let Ok(mut connection) = lab.connect(sentinel, SENTINEL_PORT) else {
        return 0;
    };
    let replicas = connection
        .call(&["SENTINEL", "REPLICAS", master_name])
        .map(|reply| reply.items())
        .unwrap_or_default();
    replicas
        .iter()
        .filter(|replica| {
            let fields: Vec<String> = replica.items().iter().filter_map(Reply::text).collect();
            let flags = fields
                .iter()
                .position(|field| field == "flags")
                .and_then(|index| fields.get(index + 1));
            flags.is_some_and(|flags| flags == "slave")
        })
        .count()
}

fn all_sentinels_have_quorum(lab: &Lab, master_name: &str) -> bool {
    (0..lab.pods()).all(|sentinel| {
        text(
            lab.connect(sentinel, SENTINEL_PORT)
                .and_then(|mut connection| connection.call(&["SENTINEL", "CKQUORUM", master_name])),
        )
        .is_some_and(|reply| reply.starts_with("OK"))
    })
}

/// The replica's link to `master` is up.
fn follows(lab: &Lab, replica: usize, master: usize) -> bool {
    replication(lab, replica).is_some_and(|info| {
        info_field(&info, "role").as_deref() == Some("slave")
            && info_field(&info, "master_host").as_deref() == Some(&lab.hostname(master))
            && info_field(&info, "master_link_status").as_deref() == Some("up")
    })
}

#[test]
fn sentinel_fails_over_and_the_old_master_rejoins() {
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new("sentinel", &[]);
    let settings = lab.profile.profile.redis.sentinel.clone().unwrap();
    let master_name = settings.master_name.clone();
    for pod in 0..lab.pods() {
        lab.start(pod, "redis");
        lab.start(pod, "sentinel");
    }

    // Replication up, the sentinels agree, the master is found by name.
    lab.wait_for("both replicas to sync from pod 0", START_TIMEOUT, || {
        (1..lab.pods())
            .all(|replica| follows(&lab, replica, 0))
            .then_some(())
    });
    let master_info = replication(&lab, 0).unwrap();
    assert_eq!(info_field(&master_info, "role").as_deref(), Some("master"));
    assert_eq!(
        info_field(&master_info, "connected_slaves").as_deref(),
        Some("2")
    );
    lab.wait_for("SENTINEL CKQUORUM on every sentinel", START_TIMEOUT, || {
        all_sentinels_have_quorum(&lab, &master_name).then_some(())
    });
    for sentinel in 0..lab.pods() {
        assert_eq!(
            sentinel_master(&lab, sentinel, &master_name),
            Some(lab.hostname(0))
        );
    }
    // A sentinel learns the replicas from the master's INFO, every 10 s;
    // only a replica it knows can be promoted or reconfigured.
    lab.wait_for(
        "every sentinel to know both replicas",
        START_TIMEOUT,
        || {
            (0..lab.pods())
                .all(|sentinel| known_replicas(&lab, sentinel, &master_name) == lab.pods() - 1)
                .then_some(())
        },
    );
    for pod in 0..lab.pods() {
        assert_refused_without_password(&lab, pod, REDIS_PORT);
        assert_refused_without_password(&lab, pod, SENTINEL_PORT);
    }

    // Writes that both replicas acknowledged (WAIT) must survive the failover.
    let mut master = lab.connect(0, REDIS_PORT).unwrap();
    for order in 0..200 {
        master
            .call(&["SET", &format!("order:{order}"), &format!("coffee-{order}")])
            .unwrap();
    }
    assert_eq!(
        master.call(&["WAIT", "2", "5000"]).unwrap(),
        Reply::Integer(2)
    );

    // The whole pod is lost: its Redis and its sentinel.
    let killed = Instant::now();
    lab.kill(0, "redis");
    lab.kill(0, "sentinel");
    let deadline = Duration::from_millis(u64::from(
        settings.down_after_milliseconds + settings.failover_timeout,
    ));
    let new_master = lab.wait_for("a replica to be promoted", deadline, || {
        let host = sentinel_master(&lab, 1, &master_name)?;
        let ordinal = lab.ordinal_of(&host).filter(|ordinal| *ordinal != 0)?;
        let role = info_field(&replication(&lab, ordinal)?, "role")?;
        (role == "master").then_some(ordinal)
    });
    eprintln!(
        "sentinel: promoted pod {new_master} {:?} after the kill",
        killed.elapsed()
    );
    let other = if new_master == 1 { 2 } else { 1 };
    lab.wait_for(
        "the other replica to follow the new master",
        deadline,
        || follows(&lab, other, new_master).then_some(()),
    );
    let mut promoted = lab.connect(new_master, REDIS_PORT).unwrap();
    for order in 0..200 {
        assert_eq!(
            text(promoted.call(&["GET", &format!("order:{order}")])),
            Some(format!("coffee-{order}")),
            "order:{order} was acknowledged by WAIT before the kill"
        );
    }

    // The old master comes back with the same start-up scripts as a replica.
    lab.start(0, "redis");
    lab.start(0, "sentinel");
    lab.wait_for(
        "the old master to rejoin as a replica",
        START_TIMEOUT,
        || follows(&lab, 0, new_master).then_some(()),
    );
    lab.wait_for("SENTINEL CKQUORUM after the rejoin", START_TIMEOUT, || {
        all_sentinels_have_quorum(&lab, &master_name).then_some(())
    });
    // Its sentinel starts from what it recorded and learns of the failover
    // from the others' hello messages (every 2 s).
    lab.wait_for(
        "the old master's sentinel to name the new master",
        START_TIMEOUT,
        || (sentinel_master(&lab, 0, &master_name)? == lab.hostname(new_master)).then_some(()),
    );

    // Every pod restarts at once: no sentinel is left to ask, so each pod
    // goes by the master its sentinel recorded, and the promoted pod stays
    // the master.
    for pod in 0..lab.pods() {
        lab.kill(pod, "redis");
        lab.kill(pod, "sentinel");
    }
    for pod in 0..lab.pods() {
        lab.start(pod, "redis");
        lab.start(pod, "sentinel");
    }
    lab.wait_for(
        "the replicas to follow the promoted master after a full restart",
        START_TIMEOUT,
        || {
            (0..lab.pods())
                .filter(|pod| *pod != new_master)
                .all(|pod| follows(&lab, pod, new_master))
                .then_some(())
        },
    );
    lab.wait_for(
        "every sentinel to agree on the promoted master",
        START_TIMEOUT,
        || {
            (0..lab.pods())
                .all(|sentinel| {
                    sentinel_master(&lab, sentinel, &master_name) == Some(lab.hostname(new_master))
                })
                .then_some(())
        },
    );
    let mut promoted = lab.connect(new_master, REDIS_PORT).unwrap();
    assert_eq!(
        text(promoted.call(&["GET", "order:199"])),
        Some("coffee-199".to_owned())
    );
    eprintln!("sentinel: {:?}", started.elapsed());
}

/// One line of CLUSTER NODES.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClusterNode {
    id: String,
    address: String,
    master: bool,
    myself: bool,
    master_id: String,
    connected: bool,
    slots: Vec<String>,
}

fn cluster_nodes(lab: &Lab, ordinal: usize) -> Option<Vec<ClusterNode>> {
    let text = text(
        lab.connect(ordinal, REDIS_PORT)
            .ok()?
            .call(&["CLUSTER", "NODES"]),
    )?;
    Some(
        text.lines()
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                ClusterNode {
                    id: fields[0].to_owned(),
                    address: fields[1].split('@').next().unwrap().to_owned(),
                    master: fields[2].contains("master"),
                    myself: fields[2].contains("myself"),
                    master_id: fields[3].to_owned(),
                    connected: fields[7] == "connected",
                    slots: fields[8..].iter().map(|slot| slot.to_string()).collect(),
                }
            })
            .collect(),
    )
}

fn cluster_info(lab: &Lab, ordinal: usize, field: &str) -> Option<String> {
    let info = text(
        lab.connect(ordinal, REDIS_PORT)
            .ok()?
            .call(&["CLUSTER", "INFO"]),
    )?;
    info_field(&info, field)
}

/// redis-cli in cluster mode (-c): follows MOVED redirections, as a
/// cluster-aware client does.
fn cluster_cli(lab: &Lab, ordinal: usize, args: &[&str]) -> String {
    let output = std::process::Command::new("redis-cli")
        .env("REDISCLI_AUTH", &lab.password)
        .args([
            "-c",
            "-h",
            &lab.ip(ordinal).to_string(),
            "-p",
            &REDIS_PORT.to_string(),
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "redis-cli -c {args:?}: {}",
        common::describe(&output)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned()
}

/// Whether every node sees a healthy cluster of `nodes` nodes.
fn cluster_healthy(lab: &Lab, nodes: usize) -> bool {
    (0..lab.pods()).all(|pod| {
        cluster_info(lab, pod, "cluster_state").as_deref() == Some("ok")
            && cluster_info(lab, pod, "cluster_known_nodes") == Some(nodes.to_string())
            && cluster_nodes(lab, pod).is_some_and(|view| view.iter().all(|node| node.connected))
    })
}

#[test]
fn cluster_forms_once_survives_a_new_ip_and_serves_every_shard() {
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new("cluster", &[]);
    let settings = lab.profile.profile.redis.cluster.clone().unwrap();
    let (masters, replicas_per_master) = (
        settings.masters as usize,
        settings.replicas_per_master as usize,
    );
    for pod in 0..lab.pods() {
        lab.start(pod, "redis");
    }

    let (succeeded, output) = lab.run_job(0, Duration::from_secs(120));
    assert!(succeeded, "bootstrap failed:\n{output}\n{}", lab.logs());
    lab.wait_for("every node to see cluster_state:ok", START_TIMEOUT, || {
        cluster_healthy(&lab, lab.pods()).then_some(())
    });
    for pod in 0..lab.pods() {
        assert_eq!(
            cluster_info(&lab, pod, "cluster_slots_assigned").as_deref(),
            Some("16384")
        );
        assert_eq!(
            cluster_info(&lab, pod, "cluster_slots_ok").as_deref(),
            Some("16384")
        );
        assert_refused_without_password(&lab, pod, REDIS_PORT);
    }
    // Gossip spreads the replica assignments within a few heartbeats.
    let view = lab.wait_for(
        "masters with their replicas in every node's view",
        START_TIMEOUT,
        || {
            let views: Vec<Vec<ClusterNode>> = (0..lab.pods())
                .map(|pod| cluster_nodes(&lab, pod))
                .collect::<Option<_>>()?;
            views
                .iter()
                .all(|view| {
                    let masters_with_slots: Vec<&ClusterNode> = view
                        .iter()
                        .filter(|node| node.master && !node.slots.is_empty())
                        .collect();
                    masters_with_slots.len() == masters
                        && view.len() == masters * (1 + replicas_per_master)
                        && masters_with_slots.iter().all(|master| {
                            view.iter()
                                .filter(|node| node.master_id == master.id)
                                .count()
                                == replicas_per_master
                        })
                })
                .then(|| views[0].clone())
        },
    );
    // Replicas synced from their masters: masterauth works.
    lab.wait_for("every replica's link to its master", START_TIMEOUT, || {
        (0..lab.pods())
            .all(|pod| {
                replication(&lab, pod).is_some_and(|info| {
                    info_field(&info, "role").as_deref() == Some("master")
                        || info_field(&info, "master_link_status").as_deref() == Some("up")
                })
            })
            .then_some(())
    });
    eprintln!("cluster: formed after {:?}", started.elapsed());

    // A second run creates nothing and succeeds.
    let (succeeded, output) = lab.run_job(1, Duration::from_secs(60));
    assert!(succeeded, "second bootstrap failed:\n{output}");
    assert!(output.contains("not creating one"), "{output}");
    let mut again = cluster_nodes(&lab, 0).unwrap();
    let mut before = view.clone();
    for nodes in [&mut again, &mut before] {
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let shape = |nodes: &[ClusterNode]| -> Vec<(String, bool, String, Vec<String>)> {
        nodes
            .iter()
            .map(|node| {
                (
                    node.id.clone(),
                    node.master,
                    node.master_id.clone(),
                    node.slots.clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        shape(&again),
        shape(&before),
        "the second run changed the cluster"
    );

    // Keys through a cluster-aware client land on every shard.
    let keys: Vec<String> = (0..90).map(|order| format!("order:{order}")).collect();
    for key in &keys {
        assert_eq!(
            cluster_cli(&lab, 0, &["SET", key, &format!("{key}-value")]),
            "OK"
        );
    }
    let master_pods: Vec<usize> = (0..lab.pods())
        .filter(|pod| {
            cluster_nodes(&lab, *pod)
                .unwrap()
                .iter()
                .any(|node| node.myself && node.master)
        })
        .collect();
    assert_eq!(master_pods.len(), masters);
    let mut stored = 0;
    for pod in &master_pods {
        let size = lab
            .connect(*pod, REDIS_PORT)
            .unwrap()
            .call(&["DBSIZE"])
            .unwrap();
        let Reply::Integer(size) = size else {
            panic!("DBSIZE: {size:?}")
        };
        assert!(size > 0, "master pod {pod} holds no keys");
        stored += size;
        for key in &keys {
            assert_eq!(
                cluster_cli(&lab, *pod, &["GET", key]),
                format!("{key}-value"),
                "via pod {pod}"
            );
        }
    }
    assert_eq!(stored as usize, keys.len());

    // A master comes back with its nodes.conf but a new IP, as a
    // rescheduled pod does; it must rejoin under its old identity.
    let moved = master_pods[0];
    let identity = cluster_nodes(&lab, moved)
        .unwrap()
        .into_iter()
        .find(|node| node.myself)
        .unwrap();
    lab.kill(moved, "redis");
    let new_ip = lab.readdress(moved);
    lab.start(moved, "redis");
    let witness = (moved + 1) % lab.pods();
    lab.wait_for(
        "the other nodes to see the new address",
        START_TIMEOUT,
        || {
            let view = cluster_nodes(&lab, witness)?;
            let node = view.into_iter().find(|node| node.id == identity.id)?;
            (node.address == format!("{new_ip}:{REDIS_PORT}") && node.connected).then_some(())
        },
    );
    lab.wait_for("the cluster to be healthy again", START_TIMEOUT, || {
        cluster_healthy(&lab, lab.pods()).then_some(())
    });
    let rejoined = cluster_nodes(&lab, moved)
        .unwrap()
        .into_iter()
        .find(|node| node.myself)
        .unwrap();
    assert_eq!(rejoined.id, identity.id);
    for key in &keys {
        assert_eq!(
            cluster_cli(&lab, moved, &["GET", key]),
            format!("{key}-value")
        );
    }

    // Every pod comes back at once, each with a new IP: nobody can reach
    // anybody at the old addresses, so each node must find its peers by
    // the hostnames nodes.conf keeps.
    let identities: Vec<String> = (0..lab.pods())
        .map(|pod| {
            cluster_nodes(&lab, pod)
                .unwrap()
                .into_iter()
                .find(|node| node.myself)
                .unwrap()
                .id
        })
        .collect();
    for pod in 0..lab.pods() {
        lab.kill(pod, "redis");
        lab.readdress(pod);
    }
    for pod in 0..lab.pods() {
        lab.start(pod, "redis");
    }
    lab.wait_for(
        "the cluster to re-form after a full restart",
        Duration::from_secs(60),
        || cluster_healthy(&lab, lab.pods()).then_some(()),
    );
    for (pod, identity) in identities.iter().enumerate() {
        let myself = cluster_nodes(&lab, pod)
            .unwrap()
            .into_iter()
            .find(|node| node.myself)
            .unwrap();
        assert_eq!(&myself.id, identity, "pod {pod} kept its identity");
        assert_eq!(myself.address, format!("{}:{REDIS_PORT}", lab.ip(pod)));
    }
    for key in &keys {
        assert_eq!(cluster_cli(&lab, 0, &["GET", key]), format!("{key}-value"));
    }

    // A larger profile: its Job joins the two new pods, as a master and
    // its replica, and moves slots (with their keys) onto the new master.
    let before = lab.pods();
    lab.render_again("cluster", &["redis.cluster.masters=4"]);
    for pod in before..lab.pods() {
        lab.start(pod, "redis");
    }
    let (succeeded, output) = lab.run_job(2, Duration::from_secs(120));
    assert!(
        succeeded,
        "the resizing bootstrap failed:\n{output}\n{}",
        lab.logs()
    );
    assert!(
        output.contains("joins as a master") && output.contains("joins as a replica"),
        "{output}"
    );
    lab.wait_for(
        "every node to see the larger cluster",
        START_TIMEOUT,
        || cluster_healthy(&lab, lab.pods()).then_some(()),
    );
    assert_shards(&lab, 4, replicas_per_master);
    for key in &keys {
        assert_eq!(cluster_cli(&lab, 0, &["GET", key]), format!("{key}-value"));
    }
    let (succeeded, output) = lab.run_job(3, Duration::from_secs(60));
    assert!(
        succeeded && !output.contains("joins"),
        "a second run changes nothing:\n{output}"
    );

    // A run that stopped after a node joined and before it followed its
    // master (the Job's container killed in between) left an empty master
    // beyond the profile's: the next run makes it a replica, where the
    // rebalance would have given it slots.
    let before = lab.pods();
    lab.render_again(
        "cluster",
        &[
            "redis.cluster.masters=4",
            "redis.cluster.replicasPerMaster=2",
        ],
    );
    for pod in before..lab.pods() {
        lab.start(pod, "redis");
    }
    let stray = before;
    lab.wait_for("the new pods to answer", START_TIMEOUT, || {
        (before..lab.pods())
            .all(|pod| cluster_info(&lab, pod, "cluster_state").is_some())
            .then_some(())
    });
    let meet = lab.connect(0, REDIS_PORT).unwrap().call(&[
        "CLUSTER",
        "MEET",
        &lab.ip(stray).to_string(),
        &REDIS_PORT.to_string(),
    ]);
    assert_eq!(text(meet).as_deref(), Some("OK"));
    lab.wait_for(
        "the stray node to join as an empty master",
        START_TIMEOUT,
        || {
            (cluster_info(&lab, stray, "cluster_known_nodes") == Some((before + 1).to_string()))
                .then_some(())
        },
    );
    let (succeeded, output) = lab.run_job(4, Duration::from_secs(120));
    assert!(
        succeeded && output.contains("beyond the profile's 4: it becomes a replica"),
        "the bootstrap after a stopped run failed:\n{output}\n{}",
        lab.logs()
    );
    lab.wait_for("every node to see 4 shards of 3", START_TIMEOUT, || {
        cluster_healthy(&lab, lab.pods()).then_some(())
    });
    assert_shards(&lab, 4, 2);
    for key in &keys {
        assert_eq!(cluster_cli(&lab, 0, &["GET", key]), format!("{key}-value"));
    }
    eprintln!("cluster: {:?}", started.elapsed());
}

#[test]
fn a_cluster_with_fewer_replicas_per_master_moves_off_the_going_pods_first() {
    if !available() {
        return;
    }
    let mut lab = Lab::new("cluster", &["redis.cluster.replicasPerMaster=2"]);
    for pod in 0..lab.pods() {
        lab.start(pod, "redis");
    }
    let (succeeded, output) = lab.run_job(0, Duration::from_secs(120));
    assert!(succeeded, "bootstrap failed:\n{output}\n{}", lab.logs());
    lab.wait_for("the 3x2 cluster", START_TIMEOUT, || {
        cluster_healthy(&lab, 9).then_some(())
    });
    let keys: Vec<String> = (0..200).map(|index| format!("key-{index}")).collect();
    for key in &keys {
        cluster_cli(&lab, 0, &["SET", key, &format!("{key}-value")]);
    }
    // The worst case for the pods that stay: a going pod is a master.
    let view = cluster_nodes(&lab, 0).unwrap();
    let going_replica = view
        .iter()
        .find(|node| !node.master && pod_of(&lab, node).is_some_and(|pod| pod >= 6))
        .unwrap();
    let pod = pod_of(&lab, going_replica).unwrap();
    // A manual failover gives up after 5 s when the replica cannot catch
    // up in time: asked again until it took.
    let promoted = (0..5).any(|_| {
        let _ = lab
            .connect(pod, REDIS_PORT)
            .unwrap()
            .call(&["CLUSTER", "FAILOVER"]);
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(6) {
            if cluster_nodes(&lab, pod)
                .is_some_and(|view| view.iter().any(|node| node.myself && node.master))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    });
    assert!(
        promoted,
        "a going pod did not become a master\n{}",
        lab.logs()
    );

    lab.render_again("cluster", &[]);
    let (succeeded, output) = lab.run_shrink(
        0,
        &["redis-6", "redis-7", "redis-8"],
        Duration::from_secs(120),
    );
    assert!(succeeded, "shrink failed:\n{output}\n{}", lab.logs());
    assert!(output.contains("takes over from redis-"), "{output}");
    let (succeeded, again) = lab.run_shrink(
        0,
        &["redis-6", "redis-7", "redis-8"],
        Duration::from_secs(60),
    );
    assert!(
        succeeded && !again.contains("takes over") && !again.contains("follows"),
        "a second run changes nothing:\n{again}\nthe first run:\n{output}\n{}",
        lab.logs()
    );
    // The pods that stay: three masters holding every slot, one replica
    // each, and still so after the pods' loop that meets moved peers (every
    // 3 s) has run.
    std::thread::sleep(Duration::from_secs(4));
    for pod in 0..6 {
        assert_eq!(
            cluster_info(&lab, pod, "cluster_known_nodes").as_deref(),
            Some("6"),
            "{output}"
        );
        assert_eq!(
            cluster_info(&lab, pod, "cluster_state").as_deref(),
            Some("ok")
        );
    }
    assert_shards(&lab, 3, 1);
    let view = cluster_nodes(&lab, 0).unwrap();
    for master in view.iter().filter(|node| node.master) {
        assert!(pod_of(&lab, master).unwrap() < 6, "{view:?}");
    }
    for key in &keys {
        assert_eq!(cluster_cli(&lab, 0, &["GET", key]), format!("{key}-value"));
    }
    // The going nodes were reset: alone, and they never rejoin.
    for pod in 6..9 {
        assert_eq!(
            cluster_info(&lab, pod, "cluster_known_nodes").as_deref(),
            Some("1")
        );
    }
}

/// Node 0 sees `masters` masters, each holding slots and followed by
/// `replicas_per_master` replicas.
fn assert_shards(lab: &Lab, masters: usize, replicas_per_master: usize) {
    let view = cluster_nodes(lab, 0).unwrap();
    let holding: Vec<&ClusterNode> = view.iter().filter(|node| node.master).collect();
    assert_eq!(holding.len(), masters, "{view:?}");
    for master in &holding {
        assert!(
            !master.slots.is_empty(),
            "every master holds slots: {view:?}"
        );
        let replicas = view
            .iter()
            .filter(|node| node.master_id == master.id)
            .count();
        assert_eq!(replicas, replicas_per_master, "{view:?}");
    }
}

/// The pod of a node in a CLUSTER NODES view.
fn pod_of(lab: &Lab, node: &ClusterNode) -> Option<usize> {
    lab.ordinal_of(node.address.split(':').next()?)
}
