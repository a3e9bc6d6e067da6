//! Properties every rendered object must have, whatever the profile.

mod common;

use cafectl::render::Stage;
use common::{render_profile, VARIANTS};
use serde_json::Value;

fn each_variant(mut check: impl FnMut(&str, &cafectl::render::Object)) {
    for (profile, sets) in VARIANTS {
        for object in render_profile(profile, sets) {
            check(&format!("{profile} {sets:?}: {object}"), &object);
        }
    }
}

/// The pod spec of every workload of every variant.
fn each_pod_spec(mut check: impl FnMut(&str, &Value)) {
    each_variant(|label, object| {
        if matches!(object.kind.as_str(), "StatefulSet" | "Job") {
            check(label, &object.value["spec"]["template"]["spec"]);
        }
    });
}

#[test]
fn every_object_is_labelled_as_this_profiles() {
    each_variant(|label, object| {
        let labels = &object.value["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            Value::from("cafectl"),
            "{label}"
        );
        assert_eq!(
            labels["app.kubernetes.io/part-of"],
            Value::from("cafe-cache"),
            "{label}"
        );
        assert!(
            labels["app.kubernetes.io/component"].as_str().is_some(),
            "{label}"
        );
    });
}

#[test]
fn objects_come_in_apply_order() {
    for (profile, sets) in VARIANTS {
        let stages: Vec<Stage> = render_profile(profile, sets)
            .iter()
            .map(|object| object.stage)
            .collect();
        let mut sorted = stages.clone();
        sorted.sort();
        assert_eq!(stages, sorted, "{profile} {sets:?}");
        assert_eq!(stages.last(), Some(&Stage::Autoscalers));
    }
}

#[test]
fn every_container_is_limited_and_unprivileged() {
    each_pod_spec(|label, pod_spec| {
        assert_eq!(
            pod_spec["securityContext"]["runAsNonRoot"],
            Value::Bool(true),
            "{label}"
        );
        for container in pod_spec["containers"].as_array().unwrap() {
            let name = container["name"].as_str().unwrap();
            for kind in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        container["resources"][kind][resource].as_str().is_some(),
                        "{label} {name} {kind}.{resource}"
                    );
                }
            }
            let security = &container["securityContext"];
            assert_eq!(
                security["allowPrivilegeEscalation"],
                Value::Bool(false),
                "{label} {name}"
            );
            assert_eq!(
                security["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{label} {name}"
            );
        }
    });
}

#[test]
fn every_pod_runs_as_the_profiles_user() {
    for profile in ["standalone", "sentinel", "cluster"] {
        for (sets, user) in [
            (&[][..], 999),
            (&["redis.runAsUser=1000680000"][..], 1000680000),
        ] {
            for object in render_profile(profile, sets) {
                if !matches!(object.kind.as_str(), "StatefulSet" | "Job") {
                    continue;
                }
                let security = &object.value["spec"]["template"]["spec"]["securityContext"];
                for field in ["runAsUser", "runAsGroup", "fsGroup"] {
                    assert_eq!(
                        security[field].as_i64(),
                        Some(user),
                        "{profile} {sets:?} {object} {field}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_password_is_a_file_never_in_the_environment_but_the_exporters() {
    each_pod_spec(|label, pod_spec| {
        let volume = pod_spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|volume| volume["name"] == "auth")
            .unwrap_or_else(|| panic!("{label}: no password volume"));
        assert!(volume["secret"]["secretName"].as_str().is_some(), "{label}");
        // 0440: the owner and the Redis group only.
        assert_eq!(
            volume["secret"]["defaultMode"],
            Value::from(0o440),
            "{label}"
        );
        for container in pod_spec["containers"].as_array().unwrap() {
            let name = container["name"].as_str().unwrap();
            if name == "metrics" {
                // The one exception, documented: redis_exporter's image has
                // no shell to read a file; it gets the Secret's key only.
                let variables: Vec<&Value> = container["env"].as_array().unwrap().iter().collect();
                assert_eq!(variables.len(), 1, "{label} {name}");
                assert_eq!(variables[0]["name"], "REDIS_PASSWORD", "{label} {name}");
                assert!(
                    variables[0]["valueFrom"]["secretKeyRef"]["name"].is_string(),
                    "{label} {name}"
                );
                continue;
            }
            let mounted = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|mount| mount["name"] == "auth" && mount["mountPath"] == "/etc/redis-auth");
            assert!(mounted, "{label} {name}: the password file is not mounted");
            for variable in container["env"].as_array().into_iter().flatten() {
                assert!(
                    variable["valueFrom"]["secretKeyRef"].is_null(),
                    "{label} {name}: a Secret in the environment: {variable:?}"
                );
            }
        }
    });
}

#[test]
fn no_password_is_rendered_unless_the_user_gave_one() {
    for (profile, sets) in VARIANTS {
        let objects = render_profile(profile, sets);
        let yaml = cafectl::render::to_yaml_stream(&objects);
        let given = sets
            .iter()
            .any(|set| set.starts_with("redis.auth.password="));
        assert_eq!(yaml.contains("stringData"), given, "{profile} {sets:?}");
        assert_eq!(
            yaml.contains("correct-horse-battery-staple"),
            given,
            "{profile} {sets:?}"
        );
        // A given password is in the Secret and nowhere else.
        for object in objects.iter().filter(|object| object.kind != "Secret") {
            let text = cafectl::render::to_yaml_stream(std::slice::from_ref(object));
            assert!(
                !text.contains("correct-horse-battery-staple"),
                "{profile}: {object}"
            );
        }
        // Every setting that carries a password takes it from the Secret's
        // files (read into REDIS_PASSWORD, the one sent, and
        // ACCEPTED_PASSWORDS) when the pod starts.
        let settings = ["masterauth", "auth-pass", "sentinel-pass", "user default"];
        let carrying: Vec<&str> = yaml
            .lines()
            .filter(|line| line.contains("printf '"))
            .filter(|line| settings.iter().any(|setting| line.contains(setting)))
            .collect();
        assert!(
            !carrying.is_empty(),
            "{profile}: no password setting at all"
        );
        for line in carrying {
            assert!(
                line.contains("\"$REDIS_PASSWORD\"")
                    || line.contains("user default on resetpass %s"),
                "{profile}: {line}"
            );
        }
        assert!(
            !yaml.contains("'requirepass"),
            "{profile}: requirepass takes one password"
        );
    }
}

#[test]
fn autoscalers_match_the_seed_lesson() {
    let objects = render_profile("standalone", &[]);
    let hpas: Vec<_> = objects
        .iter()
        .filter(|object| object.kind == "HorizontalPodAutoscaler")
        .collect();
    let summary: Vec<(String, i64, i64, i64)> = hpas
        .iter()
        .map(|hpa| {
            let spec = &hpa.value["spec"];
            (
                spec["scaleTargetRef"]["name"].as_str().unwrap().to_owned(),
                spec["minReplicas"].as_i64().unwrap(),
                spec["maxReplicas"].as_i64().unwrap(),
                spec["metrics"][0]["resource"]["target"]["averageUtilization"]
                    .as_i64()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("order-backend".to_owned(), 2, 10, 50),
            ("frontend".to_owned(), 2, 5, 70)
        ]
    );
}

#[test]
fn sentinel_and_cluster_sizes_follow_the_profile() {
    let replicas = |profile: &str, sets: &[&str]| {
        render_profile(profile, sets)
            .into_iter()
            .find(|object| object.kind == "StatefulSet")
            .map(|object| object.value["spec"]["replicas"].as_i64().unwrap())
    };
    assert_eq!(replicas("standalone", &[]), Some(1));
    assert_eq!(replicas("sentinel", &[]), Some(3));
    assert_eq!(
        replicas(
            "sentinel",
            &["redis.sentinel.replicas=5", "redis.sentinel.quorum=3"]
        ),
        Some(5)
    );
    assert_eq!(replicas("cluster", &[]), Some(6));
    assert_eq!(
        replicas(
            "cluster",
            &[
                "redis.cluster.masters=4",
                "redis.cluster.replicasPerMaster=2"
            ]
        ),
        Some(12)
    );
}

#[test]
fn app_config_tells_clients_how_to_connect() {
    let app_config = |profile: &str| {
        render_profile(profile, &[])
            .into_iter()
            .find(|object| object.kind == "ConfigMap" && object.name == "app-config")
            .unwrap()
            .value["data"]
            .clone()
    };
    let standalone = app_config("standalone");
    assert_eq!(standalone["REDIS_HOST"], Value::from("redis-svc"));
    assert_eq!(standalone["REDIS_PORT"], Value::from("6379"));
    let sentinel = app_config("sentinel");
    assert_eq!(sentinel["REDIS_MASTER_NAME"], Value::from("mymaster"));
    assert_eq!(
        sentinel["REDIS_SENTINELS"]
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        3,
        "one entry per sentinel"
    );
    let cluster = app_config("cluster");
    assert_eq!(cluster["REDIS_MODE"], Value::from("cluster"));
    assert_eq!(
        cluster["REDIS_CLUSTER_NODES"]
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        6
    );
}

#[test]
fn network_policy_admits_clients_and_peers_on_their_ports() {
    let ports = |rule: &Value| -> Vec<i64> {
        rule["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|port| port["port"].as_i64().unwrap())
            .collect()
    };
    for (profile, client_ports, peer_ports) in [
        ("standalone", vec![6379], None),
        ("sentinel", vec![6379, 26379], Some(vec![6379, 26379])),
        ("cluster", vec![6379], Some(vec![6379, 16379])),
    ] {
        let objects = render_profile(profile, &[]);
        let policy = &objects
            .iter()
            .find(|object| object.kind == "NetworkPolicy")
            .unwrap()
            .value["spec"];
        let redis_pods = &policy["podSelector"]["matchLabels"];
        let rules = policy["ingress"].as_array().unwrap();
        let clients = &rules[0]["from"][0]["podSelector"]["matchLabels"];
        assert_eq!(
            clients["cafectl.io/redis-client"],
            Value::from("true"),
            "{profile}"
        );
        assert_eq!(ports(&rules[0]), client_ports, "{profile}");
        match peer_ports {
            Some(peer_ports) => {
                assert_eq!(
                    &rules[1]["from"][0]["podSelector"]["matchLabels"], redis_pods,
                    "{profile}"
                );
                assert_eq!(ports(&rules[1]), peer_ports, "{profile}");
            }
            None => assert_eq!(rules.len(), 1, "{profile}: a single pod has no peers"),
        }
        // The bootstrap Job is a client, so the policy lets it reach the
        // nodes; its own policy lets nothing reach it, and it reaches only
        // the Redis pods' client port and DNS.
        if let Some(job) = objects.iter().find(|object| object.kind == "Job") {
            let labels = &job.value["spec"]["template"]["metadata"]["labels"];
            assert_eq!(labels["cafectl.io/redis-client"], Value::from("true"));
            let own = &objects
                .iter()
                .find(|object| {
                    object.kind == "NetworkPolicy" && object.name == "redis-cluster-bootstrap"
                })
                .expect("the bootstrap pod's NetworkPolicy")
                .value["spec"];
            for (key, value) in own["podSelector"]["matchLabels"].as_object().unwrap() {
                assert_eq!(
                    &labels[key], value,
                    "{profile}: the policy selects the bootstrap pod"
                );
            }
            assert_eq!(
                own["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
                Value::from("cluster-bootstrap")
            );
            assert_eq!(own["policyTypes"], serde_json::json!(["Ingress", "Egress"]));
            assert!(
                own["ingress"].is_null(),
                "{profile}: nothing may connect to the bootstrap pod"
            );
            let egress = own["egress"].as_array().unwrap();
            assert_eq!(
                &egress[0]["to"][0]["podSelector"]["matchLabels"],
                redis_pods
            );
            assert_eq!(ports(&egress[0]), vec![6379]);
            assert_eq!(ports(&egress[1]), vec![53, 53]);
            assert_eq!(egress.len(), 2);
        }
        assert_eq!(
            objects
                .iter()
                .filter(|object| object.kind == "NetworkPolicy")
                .count(),
            if profile == "cluster" { 2 } else { 1 },
            "{profile}"
        );
    }
}

#[test]
fn a_larger_cluster_gets_a_new_bootstrap_job_and_no_roll() {
    let checksum_and_job = |sets: &[&str]| {
        let objects = render_profile("cluster", sets);
        let statefulset = objects.iter().find(|o| o.kind == "StatefulSet").unwrap();
        let job = objects.iter().find(|o| o.kind == "Job").unwrap();
        (
            statefulset.value["spec"]["template"]["metadata"]["annotations"]
                ["cafectl.io/config-checksum"]
                .as_str()
                .unwrap()
                .to_owned(),
            job.name.clone(),
        )
    };
    let shipped = checksum_and_job(&[]);
    let larger = checksum_and_job(&["redis.cluster.masters=4"]);
    assert_eq!(larger.0, shipped.0, "the pods read nothing that changed");
    assert_ne!(
        larger.1, shipped.1,
        "the new bootstrap script runs in a new Job"
    );
    let reconfigured = checksum_and_job(&["redis.maxmemory=200mb"]);
    assert_ne!(reconfigured.0, shipped.0);
    assert_ne!(reconfigured.1, shipped.1);
}
