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
    lab.kill(0, "redis");
    lab.start(0, "redis");
    let mut redis = lab.wait_for("redis to come back", START_TIMEOUT, || {
        lab.connect(0, REDIS_PORT).ok()
    });
    assert_eq!(
        text(redis.call(&["GET", "order:1"])),
        Some("latte".to_owned())
    );
    redis.call(&["SET", "order:2", "mocha"]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    lab.kill(0, "redis");
    lab.start(0, "redis");
    let mut redis = lab.wait_for("redis to come back after a kill", START_TIMEOUT, || {
        lab.connect(0, REDIS_PORT).ok()
    });
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
    assert_eq!(
        sentinel_master(&lab, 0, &master_name),
        Some(lab.hostname(new_master))
    );
    eprintln!("sentinel: {:?}", started.elapsed());
}
