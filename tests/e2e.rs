//! End-to-end against a real Kubernetes API server: CAFECTL_E2E_KUBECONFIG
//! names its kubeconfig. Without a cluster these tests are ignored;
//! `tests/run.sh` starts the k8s lab and runs them. Each test works in a
//! fresh namespace and deletes it afterwards. They are about the API (the
//! real-pod tier is tests/live_pods.rs), so they use --no-wait except for the
//! wait's timeout.

mod common;

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::{json, Value};

use common::profile_path;

const SELECTOR: &str = "app.kubernetes.io/managed-by=cafectl,app.kubernetes.io/part-of=cafe-cache";

fn kubeconfig() -> PathBuf {
    std::env::var_os("CAFECTL_E2E_KUBECONFIG")
        .map(PathBuf::from)
        .expect("CAFECTL_E2E_KUBECONFIG is not set: run the cluster tests with `bash tests/run.sh`, which starts the k8s lab")
}

/// A fresh namespace for one test, deleted (with everything in it) on drop.
struct Scratch {
    kubeconfig: PathBuf,
    namespace: String,
    runtime: tokio::runtime::Runtime,
    client: Client,
    outputs: Vec<String>,
    /// `--set` flags for every run: without volume claims unless a test is
    /// about the data, so the tests leave the lab's few volumes to the
    /// real-pod tier.
    sets: Vec<&'static str>,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let kubeconfig = kubeconfig();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = runtime.block_on(async {
            let config = Config::from_custom_kubeconfig(
                Kubeconfig::read_from(&kubeconfig).unwrap(),
                &KubeConfigOptions::default(),
            )
            .await
            .unwrap();
            Client::try_from(config).unwrap()
        });
        let namespace = common::fresh_namespace("e2e", test);
        Scratch {
            kubeconfig,
            namespace,
            runtime,
            client,
            outputs: Vec::new(),
            sets: vec!["--set", "redis.persistence.enabled=false"],
        }
    }

    /// Runs cafectl on the standalone profile in this namespace.
    fn cafectl(&mut self, args: &[&str]) -> Output {
        self.cafectl_on("standalone", args)
    }

    /// Runs cafectl on a shipped profile in this namespace.
    fn cafectl_on(&mut self, profile: &str, args: &[&str]) -> Output {
        let verb = args[0];
        let output = Command::cargo_bin("cafectl")
            .unwrap()
            .arg(verb)
            .arg("-p")
            .arg(profile_path(profile))
            .args(["-n", &self.namespace, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(&self.sets)
            .args(&args[1..])
            .output()
            .unwrap();
        self.outputs.push(common::describe(&output));
        output
    }

    /// Runs a verb on a pseudo-terminal (util-linux `script`), typing `input`.
    fn on_terminal(&mut self, verb: &str, input: &str) -> String {
        use std::io::Write as _;
        let command = format!(
            "{} {verb} -p {} -n {} --kubeconfig {} {}",
            assert_cmd::cargo::cargo_bin("cafectl").display(),
            profile_path("standalone").display(),
            self.namespace,
            self.kubeconfig.display(),
            self.sets.join(" ")
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Answer once the question is up.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        self.outputs.push(text.clone());
        text
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// resourceVersion of every object cafectl applies, by kind and name; for
    /// objects whose status a controller updates, their generation and the
    /// time of cafectl's last write instead.
    fn resource_versions(&self) -> Vec<(String, String)> {
        // Volume claims are made by the StatefulSet controller, in its own time.
        let kinds = cafectl::render::KINDS
            .iter()
            .filter(|info| !matches!(info.kind, "Namespace" | "PersistentVolumeClaim"))
            // Served only while a test installs its CRD.
            .filter(|info| !info.optional);
        let mut versions = Vec::new();
        for info in kinds {
            let (group, version) = info
                .api_version
                .rsplit_once('/')
                .unwrap_or(("", info.api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, info.kind);
            let resource = kube::api::ApiResource::from_gvk(&gvk);
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
            let list = self
                .runtime
                .block_on(api.list(&ListParams::default().labels(SELECTOR)))
                .unwrap();
            for item in list {
                // Controllers update status (a PodDisruptionBudget's, say)
                // on their own; what cafectl wrote shows in its own
                // managedFields entry, which a no-op apply leaves alone.
                let written_by_cafectl = item
                    .managed_fields()
                    .iter()
                    .filter(|entry| entry.manager.as_deref() == Some("cafectl"))
                    .map(|entry| format!("{:?}", entry.time))
                    .collect::<Vec<_>>()
                    .join(",");
                let version =
                    if item.metadata.generation.is_some() || info.kind == "PodDisruptionBudget" {
                        format!(
                            "generation {:?}, cafectl {written_by_cafectl}",
                            item.metadata.generation
                        )
                    } else {
                        item.resource_version().unwrap_or_default()
                    };
                versions.push((format!("{}/{}", info.kind, item.name_any()), version));
            }
        }
        versions.sort();
        versions
    }

    /// The namespace's HorizontalPodAutoscalers.
    fn hpas(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
            )),
        )
    }

    fn password(&self) -> String {
        let secret = self
            .runtime
            .block_on(self.api::<Secret>().get("redis-auth"))
            .unwrap();
        String::from_utf8(secret.data.unwrap()["password"].0.clone()).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let _ = self
            .runtime
            .block_on(api.delete(&self.namespace, &DeleteParams::background()));
    }
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn diff_apply_diff_apply_converges_and_changes_nothing_twice() {
    let mut scratch = Scratch::new("converge");
    let diff = scratch.cafectl(&["diff"]);
    assert_eq!(code(&diff), Some(2), "{}", common::describe(&diff));
    assert!(
        stdout(&diff).starts_with("12 to create, 0 to change, 0 to prune, 0 unchanged"),
        "{}",
        stdout(&diff)
    );

    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    let diff = scratch.cafectl(&["diff"]);
    assert_eq!(code(&diff), Some(0), "{}", common::describe(&diff));
    assert_eq!(
        stdout(&diff),
        "0 to create, 0 to change, 0 to prune, 12 unchanged\n"
    );

    let before = scratch.resource_versions();
    let password = scratch.password();
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0));
    assert_eq!(
        scratch.resource_versions(),
        before,
        "a second apply changed objects"
    );
    assert_eq!(scratch.password(), password, "the password changed");

    // A --set change shows up as exactly that change.
    let diff = scratch.cafectl(&["diff", "--set", "redis.maxmemory=200mb"]);
    assert_eq!(code(&diff), Some(2));
    let changed: Vec<String> = stdout(&diff)
        .lines()
        .filter(|line| {
            (line.starts_with('+') || line.starts_with('-'))
                && !line.starts_with("+++")
                && !line.starts_with("---")
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(changed.len(), 4, "{changed:?}");
    assert!(
        changed.contains(&"-    maxmemory 256mb".to_owned())
            && changed.contains(&"+    maxmemory 200mb".to_owned()),
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .filter(|line| line.contains("cafectl.io/config-checksum"))
            .count()
            == 2,
        "{changed:?}"
    );

    for output in &scratch.outputs {
        assert!(!output.contains(&password), "the password was printed");
    }
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_field_owned_by_another_manager_is_a_conflict_until_forced() {
    let mut scratch = Scratch::new("conflict");
    assert_eq!(code(&scratch.cafectl(&["apply", "--no-wait"])), Some(0));
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}, "data": {"REDIS_PORT": "6380"}});
    scratch
        .runtime
        .block_on(scratch.api::<ConfigMap>().patch(
            "app-config",
            &PatchParams::apply("other-tool").force(),
            &Patch::Apply(&other),
        ))
        .unwrap();

    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(1));
    let stderr = String::from_utf8_lossy(&apply.stderr).into_owned();
    assert!(
        stderr.contains(".data.REDIS_PORT")
            && stderr.contains("\"other-tool\"")
            && stderr.contains("--force-conflicts"),
        "{stderr}"
    );

    assert_eq!(
        code(&scratch.cafectl(&["apply", "--no-wait", "--force-conflicts"])),
        Some(0)
    );
    let config = scratch
        .runtime
        .block_on(scratch.api::<ConfigMap>().get("app-config"))
        .unwrap();
    assert_eq!(config.data.unwrap()["REDIS_PORT"], "6379");
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn switching_an_autoscaler_off_prunes_it() {
    let mut scratch = Scratch::new("prune");
    assert_eq!(code(&scratch.cafectl(&["apply", "--no-wait"])), Some(0));
    let diff = scratch.cafectl(&["diff", "--set", "autoscaling[1].enabled=false"]);
    assert_eq!(code(&diff), Some(2));
    assert!(
        stdout(&diff).contains(&format!(
            "- HorizontalPodAutoscaler/{}/frontend (to prune)",
            scratch.namespace
        )),
        "{}",
        stdout(&diff)
    );
    let apply = scratch.cafectl(&[
        "apply",
        "--no-wait",
        "--set",
        "autoscaling[1].enabled=false",
    ]);
    assert!(
        stdout(&apply).contains("frontend pruned"),
        "{}",
        common::describe(&apply)
    );
    let hpas = scratch.hpas();
    let names: Vec<String> = scratch
        .runtime
        .block_on(hpas.list(&ListParams::default()))
        .unwrap()
        .iter()
        .map(|hpa| hpa.name_any())
        .collect();
    assert_eq!(names, ["order-backend"]);
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn teardown_keeps_data_shared_keys_and_foreign_objects_and_is_safe_twice() {
    let mut scratch = Scratch::new("teardown");
    scratch.sets.clear(); // the volume claim is kept
                          // The namespace and app-config exist before cafectl, as in the lessons.
    scratch.create_namespace();
    for (name, data) in [
        ("app-config", json!({"DB_HOST": "mysql-service"})),
        ("mysql-config", json!({"MYSQL_DATABASE": "cloudcafe"})),
    ] {
        scratch.create_foreign(
            "v1",
            "ConfigMap",
            json!({"metadata": {"name": name}, "data": data}),
        );
    }
    // The diff of the shared ConfigMap adds cafectl's keys and touches no other.
    let diff = scratch.cafectl(&["diff"]);
    let app_config_diff: String = stdout(&diff)
        .split("\n--- ")
        .find(|section| section.starts_with(&format!("ConfigMap/{}/app-config", scratch.namespace)))
        .unwrap_or_default()
        .to_owned();
    assert!(
        app_config_diff.contains("+  REDIS_HOST: redis-svc"),
        "{app_config_diff}"
    );
    assert!(
        !app_config_diff
            .lines()
            .any(|line| line.starts_with('-') && !line.starts_with("---")),
        "{app_config_diff}"
    );
    assert!(
        app_config_diff.contains("   DB_HOST: mysql-service"),
        "unchanged context: {app_config_diff}"
    );
    assert_eq!(code(&scratch.cafectl(&["apply", "--no-wait"])), Some(0));
    let app_config = scratch
        .runtime
        .block_on(scratch.api::<ConfigMap>().get("app-config"))
        .unwrap()
        .data
        .unwrap();
    assert_eq!(app_config["DB_HOST"], "mysql-service");
    assert_eq!(app_config["REDIS_HOST"], "redis-svc");

    // The StatefulSet controller makes the data claim from the template;
    // teardown lists it with its size (the bound volume's, once bound).
    let claim = "data-redis-0".to_owned();
    let mut claim_size = None;
    for _ in 0..100 {
        let live = scratch
            .runtime
            .block_on(scratch.api::<PersistentVolumeClaim>().get_opt(&claim))
            .unwrap();
        claim_size = live.and_then(|live| live.status?.capacity?.get("storage").cloned());
        if claim_size.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let claim_size = claim_size
        .expect("the data claim was made and bound within 20 s")
        .0;

    let no_yes = scratch.cafectl(&["teardown"]);
    assert_eq!(
        code(&no_yes),
        Some(1),
        "without a terminal, --yes is required"
    );
    // On a terminal it asks, and "n" deletes nothing.
    let on_terminal = scratch.on_terminal("teardown", "n\n");
    assert!(
        on_terminal.contains("Proceed? [y/N]")
            && on_terminal.contains("teardown cancelled; nothing was deleted"),
        "{on_terminal}"
    );
    assert!(scratch
        .runtime
        .block_on(scratch.api::<Secret>().get_opt("redis-auth"))
        .unwrap()
        .is_some());
    let teardown = scratch.cafectl(&["teardown", "--yes"]);
    assert_eq!(code(&teardown), Some(0), "{}", common::describe(&teardown));
    assert!(
        stdout(&teardown).contains(&format!(
            "keep    PersistentVolumeClaim/{}/{claim} (data ({claim_size}); delete with --delete-data)",
            scratch.namespace
        )),
        "{}",
        stdout(&teardown)
    );
    assert!(scratch
        .runtime
        .block_on(scratch.api::<PersistentVolumeClaim>().get_opt(&claim))
        .unwrap()
        .is_some());
    scratch.assert_app_config_released();
    assert!(scratch
        .runtime
        .block_on(scratch.api::<ConfigMap>().get_opt("mysql-config"))
        .unwrap()
        .is_some());
    assert!(scratch
        .runtime
        .block_on(scratch.api::<Secret>().get_opt("redis-auth"))
        .unwrap()
        .is_none());
    assert!(scratch.namespace_exists(), "not cafectl's namespace");

    let again = scratch.cafectl(&["teardown", "--yes"]);
    assert_eq!(code(&again), Some(0), "{}", common::describe(&again));
    assert!(
        stdout(&again).starts_with("nothing to delete"),
        "{}",
        stdout(&again)
    );
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn the_wait_names_what_is_not_ready() {
    let mut scratch = Scratch::new("wait");
    let apply = scratch.cafectl(&["apply", "--timeout", "6s"]);
    assert_eq!(code(&apply), Some(1));
    let stderr = String::from_utf8_lossy(&apply.stderr).into_owned();
    assert!(
        stderr.contains("timed out after 6s waiting for:"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("StatefulSet/{}/redis:", scratch.namespace)),
        "{stderr}"
    );
    assert!(
        stderr.contains("waiting: StatefulSet"),
        "a progress line: {stderr}"
    );
    // And why: the lab pulls no image, and the pod says so.
    assert!(
        stderr.contains("redis-0: container redis is waiting: ErrImagePull")
            || stderr.contains("redis-0: container redis is waiting: ImagePullBackOff"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_resized_cluster_converges_with_a_new_bootstrap_job() {
    let mut scratch = Scratch::new("resize");
    let apply = scratch.cafectl_on("cluster", &["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    let first_job = stdout(&apply)
        .lines()
        .find(|line| line.starts_with("Job/"))
        .unwrap()
        .trim_end_matches(" applied")
        .to_owned();

    let resized = scratch.cafectl_on(
        "cluster",
        &["apply", "--no-wait", "--set", "redis.cluster.masters=4"],
    );
    assert_eq!(code(&resized), Some(0), "{}", common::describe(&resized));
    assert!(
        stdout(&resized).contains(&format!("{first_job} pruned")),
        "{}",
        stdout(&resized)
    );
    let diff = scratch.cafectl_on("cluster", &["diff", "--set", "redis.cluster.masters=4"]);
    assert_eq!(code(&diff), Some(0), "{}", stdout(&diff));
    let statefulsets: Api<k8s_openapi::api::apps::v1::StatefulSet> = scratch.api();
    let replicas = scratch
        .runtime
        .block_on(statefulsets.get("redis"))
        .unwrap()
        .spec
        .unwrap()
        .replicas;
    assert_eq!(replicas, Some(8));
}

/// The uid of pod redis-0 and of its owner, once it has one.
fn pod_and_owner(
    scratch: &Scratch,
    pods: &Api<k8s_openapi::api::core::v1::Pod>,
) -> Option<(String, String)> {
    let pod = scratch.runtime.block_on(pods.get_opt("redis-0")).unwrap()?;
    let owner = pod
        .metadata
        .owner_references
        .unwrap_or_default()
        .first()?
        .uid
        .clone();
    Some((pod.metadata.uid.unwrap(), owner))
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_new_volume_size_is_refused_until_allowed_then_the_new_statefulset_adopts_the_pod() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Pod;
    let mut scratch = Scratch::new("volume-size");
    // The volume claim template is the point; a class no volume has keeps
    // the claim pending, so the lab's volumes stay for the real-pod tier.
    scratch.sets = vec![
        "--set",
        "redis.persistence.storageClass=cafectl-e2e-unbound",
    ];
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    let statefulsets: Api<StatefulSet> = scratch.api();
    let pods: Api<Pod> = scratch.api();
    let within = |what: &str, check: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !check() {
            assert!(started.elapsed().as_secs() < 60, "{what} within 60 s");
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    };
    within("the pod is created", &|| {
        pod_and_owner(&scratch, &pods).is_some()
    });
    let (pod, _) = pod_and_owner(&scratch, &pods).unwrap();

    let size = ["--set", "redis.persistence.size=2Gi"];
    let before = scratch.resource_versions();
    let refused = scratch.cafectl(&[&["apply", "--no-wait"][..], &size].concat());
    assert_eq!(code(&refused), Some(1), "{}", common::describe(&refused));
    let said = common::describe(&refused);
    assert!(
        said.contains("volume claim template data: size 1Gi -> 2Gi"),
        "{said}"
    );
    assert!(said.contains("nothing was applied"), "{said}");
    assert_eq!(scratch.resource_versions(), before, "nothing was applied");
    let diff = scratch.cafectl(&[&["diff"][..], &size].concat());
    assert_eq!(code(&diff), Some(2), "{}", common::describe(&diff));
    assert!(
        stdout(&diff).contains("-          storage: 1Gi\n+          storage: 2Gi"),
        "{}",
        stdout(&diff)
    );
    assert!(
        stdout(&diff).contains("! StatefulSet/"),
        "{}",
        stdout(&diff)
    );

    let allowed =
        scratch.cafectl(&[&["apply", "--no-wait", "--allow-recreate"][..], &size].concat());
    assert_eq!(code(&allowed), Some(0), "{}", common::describe(&allowed));
    let statefulset = scratch.runtime.block_on(statefulsets.get("redis")).unwrap();
    let claims = statefulset.spec.unwrap().volume_claim_templates.unwrap();
    assert_eq!(
        claims[0]
            .spec
            .as_ref()
            .unwrap()
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"]
            .0,
        "2Gi"
    );
    // The same pod, adopted by the new StatefulSet.
    let new_uid = statefulset.metadata.uid.unwrap();
    within("the new StatefulSet adopts the pod", &|| {
        pod_and_owner(&scratch, &pods).is_some_and(|(_, owner)| owner == new_uid)
    });
    assert_eq!(
        pod_and_owner(&scratch, &pods).unwrap().0,
        pod,
        "the pod was not replaced"
    );
    let diff = scratch.cafectl(&[&["diff"][..], &size].concat());
    assert_eq!(code(&diff), Some(0), "{}", stdout(&diff));
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_changed_password_shows_as_a_masked_change() {
    let mut scratch = Scratch::new("password");
    let password = "correct-horse-battery-staple-42";
    let set = format!("redis.auth.password={password}");
    assert_eq!(
        code(&scratch.cafectl(&["apply", "--no-wait", "--set", &set])),
        Some(0)
    );
    assert_eq!(code(&scratch.cafectl(&["diff", "--set", &set])), Some(0));
    let changed = format!("redis.auth.password={password}-rotated");
    // The change's first step: the pods also accept the new password.
    let diff = scratch.cafectl(&["diff", "--set", &changed]);
    assert_eq!(code(&diff), Some(2));
    assert!(
        stdout(&diff).contains("-  accepted-passwords: \"***\"\n+  accepted-passwords: \"*** (changed)\"\n   password: \"*** (unchanged)\"\n"),
        "{}",
        stdout(&diff)
    );
    for output in &scratch.outputs {
        assert!(!output.contains(password), "the password was printed");
    }
}

impl Scratch {
    /// The pre-existing `app-config` is still there with the other tool's
    /// key, and without cafectl's key or label.
    fn assert_app_config_released(&self) {
        let app_config = self
            .runtime
            .block_on(self.api::<ConfigMap>().get_opt("app-config"))
            .unwrap()
            .expect("the other tool's app-config was deleted");
        let data = app_config.data.clone().unwrap_or_default();
        assert_eq!(
            data.get("DB_HOST").map(String::as_str),
            Some("mysql-service")
        );
        assert!(!data.contains_key("REDIS_HOST"), "{data:?}");
        assert!(!app_config
            .labels()
            .contains_key("app.kubernetes.io/managed-by"));
    }

    /// The API of `kind` in this namespace.
    fn dynamic_api(&self, api_version: &str, kind: &str) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            group, version, kind,
        ));
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    /// Creates `object` in this namespace as `kubectl create` would, for
    /// objects other tools own.
    fn create_foreign(&self, api_version: &str, kind: &str, object: serde_json::Value) {
        let api = self.dynamic_api(api_version, kind);
        let mut object: DynamicObject = serde_json::from_value(object).unwrap();
        object.types = Some(kube::api::TypeMeta {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        });
        let create = PostParams {
            field_manager: Some("kubectl-create".to_owned()),
            ..Default::default()
        };
        self.runtime.block_on(api.create(&create, &object)).unwrap();
    }

    fn create_namespace(&self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": self.namespace}})).unwrap();
        let create = PostParams {
            field_manager: Some("kubectl-create".to_owned()),
            ..Default::default()
        };
        self.runtime
            .block_on(namespaces.create(&create, &namespace))
            .unwrap();
    }

    fn namespace_exists(&self) -> bool {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        self.runtime
            .block_on(namespaces.get_opt(&self.namespace))
            .unwrap()
            .is_some()
    }

    fn exists<K>(&self, name: &str) -> bool
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.runtime
            .block_on(self.api::<K>().get_opt(name))
            .unwrap()
            .is_some()
    }
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn renaming_a_shared_app_config_releases_it_instead_of_pruning_it() {
    let mut scratch = Scratch::new("shared");
    scratch.create_namespace();
    scratch.create_foreign(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "app-config"}, "data": {"DB_HOST": "mysql-service"}}),
    );
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    let renamed = scratch.cafectl(&["apply", "--no-wait", "--set", "appConfig.name=cache-config"]);
    assert_eq!(code(&renamed), Some(0), "{}", common::describe(&renamed));
    assert!(
        stdout(&renamed).contains(&format!(
            "ConfigMap/{}/app-config released (other managers keep it: kubectl-create)",
            scratch.namespace
        )),
        "{}",
        common::describe(&renamed)
    );
    scratch.assert_app_config_released();
    let cache_config = scratch
        .runtime
        .block_on(scratch.api::<ConfigMap>().get("cache-config"))
        .unwrap();
    assert!(cache_config.data.unwrap().contains_key("REDIS_HOST"));
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn teardown_keeps_a_namespace_that_holds_what_others_put_there() {
    let mut scratch = Scratch::new("foreign");
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    // Kinds cafectl never renders: only discovery finds them.
    scratch.create_foreign(
        "v1",
        "ServiceAccount",
        json!({"metadata": {"name": "ci-bot"}}),
    );
    scratch.create_foreign(
        "batch/v1",
        "CronJob",
        json!({"metadata": {"name": "nightly-report"}, "spec": {"schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "report", "image": "localhost/lab/client:1"}]}}}}}}),
    );
    scratch.create_foreign(
        "networking.k8s.io/v1",
        "Ingress",
        json!({"metadata": {"name": "cafe"}, "spec": {"defaultBackend": {
            "service": {"name": "frontend", "port": {"number": 80}}}}}),
    );
    let teardown = scratch.cafectl(&["teardown", "--yes", "--delete-data"]);
    assert_eq!(code(&teardown), Some(0), "{}", common::describe(&teardown));
    let kept = stdout(&teardown)
        .lines()
        .find(|line| {
            line.starts_with(&format!(
                "Namespace/{} kept (it still holds",
                scratch.namespace
            ))
        })
        .unwrap_or_default()
        .to_owned();
    for foreign in [
        "ServiceAccount/ci-bot",
        "CronJob/nightly-report",
        "Ingress/cafe",
    ] {
        assert!(
            kept.contains(foreign),
            "{foreign} not named: {}",
            stdout(&teardown)
        );
    }
    assert!(scratch.namespace_exists());
    assert!(scratch.exists::<k8s_openapi::api::core::v1::ServiceAccount>("ci-bot"));
    assert!(scratch.exists::<k8s_openapi::api::batch::v1::CronJob>("nightly-report"));
    assert!(scratch.exists::<k8s_openapi::api::networking::v1::Ingress>("cafe"));
    assert!(
        !scratch.exists::<Secret>("redis-auth"),
        "cafectl's own objects go"
    );

    // Once the others are gone, teardown again deletes the namespace.
    for (api_version, kind, name) in [
        ("v1", "ServiceAccount", "ci-bot"),
        ("batch/v1", "CronJob", "nightly-report"),
        ("networking.k8s.io/v1", "Ingress", "cafe"),
    ] {
        let api = scratch.dynamic_api(api_version, kind);
        scratch
            .runtime
            .block_on(api.delete(name, &DeleteParams::default()))
            .unwrap();
    }
    let again = scratch.cafectl(&["teardown", "--yes", "--delete-data"]);
    assert_eq!(code(&again), Some(0), "{}", common::describe(&again));
    assert!(
        stdout(&again).contains(&format!("Namespace/{} deleted", scratch.namespace)),
        "{}",
        common::describe(&again)
    );
    assert!(!scratch.namespace_exists());
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn keeping_the_data_then_deleting_it_leaves_no_namespace() {
    let mut scratch = Scratch::new("keep-data");
    scratch.sets.clear(); // the data claim is the point
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    let claim = "data-redis-0";
    for _ in 0..100 {
        if scratch.exists::<PersistentVolumeClaim>(claim) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        scratch.exists::<PersistentVolumeClaim>(claim),
        "the StatefulSet made its claim"
    );

    let keep = scratch.cafectl(&["teardown", "--yes"]);
    assert_eq!(code(&keep), Some(0), "{}", common::describe(&keep));
    assert!(
        stdout(&keep).contains(&format!(
            "Namespace/{} kept (it still holds the kept data volumes",
            scratch.namespace
        )),
        "{}",
        common::describe(&keep)
    );
    assert!(scratch.exists::<PersistentVolumeClaim>(claim));
    assert!(scratch.namespace_exists());
    let again = scratch.cafectl(&["teardown", "--yes"]);
    assert_eq!(code(&again), Some(0), "{}", common::describe(&again));
    assert!(
        stdout(&again).starts_with("nothing to delete\n")
            && stdout(&again).contains(&format!(
                "keep    Namespace/{} (it holds the kept data; teardown --delete-data deletes it)",
                scratch.namespace
            )),
        "{}",
        common::describe(&again)
    );

    let delete = scratch.cafectl(&["teardown", "--yes", "--delete-data"]);
    assert_eq!(code(&delete), Some(0), "{}", common::describe(&delete));
    assert!(
        stdout(&delete).contains(&format!(
            "PersistentVolumeClaim/{}/{claim} deleted",
            scratch.namespace
        )),
        "{}",
        common::describe(&delete)
    );
    assert!(
        !scratch.namespace_exists(),
        "an orphaned namespace: {}",
        common::describe(&delete)
    );
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn two_redis_of_one_profile_in_one_namespace_leave_each_other_alone() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let mut scratch = Scratch::new("two-redis");
    let apply = scratch.cafectl(&["apply", "--no-wait", "--set", "redis.name=cache-a"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    // The second takes over the shared app-config: the apps would switch
    // to an empty Redis, so apply wants it said.
    let before = scratch.resource_versions();
    let refused = scratch.cafectl(&["apply", "--no-wait", "--set", "redis.name=cache-b"]);
    assert_eq!(code(&refused), Some(1), "{}", common::describe(&refused));
    assert!(
        common::describe(&refused).contains(
            "redis.name cache-a -> cache-b: the apps (app-config) switch to a new Redis cache-b"
        ),
        "{}",
        common::describe(&refused)
    );
    assert_eq!(scratch.resource_versions(), before, "nothing was applied");
    {
        let redis = "cache-b";
        let apply = scratch.cafectl(&[
            "apply",
            "--no-wait",
            "--allow-recreate",
            "--set",
            &format!("redis.name={redis}"),
        ]);
        assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
        assert!(
            !stdout(&apply).contains("pruned"),
            "{}",
            common::describe(&apply)
        );
    }
    assert!(
        scratch.exists::<StatefulSet>("cache-a"),
        "applying cache-b pruned cache-a"
    );
    assert!(scratch.exists::<StatefulSet>("cache-b"));

    let teardown = scratch.cafectl(&["teardown", "--yes", "--set", "redis.name=cache-b"]);
    assert_eq!(code(&teardown), Some(0), "{}", common::describe(&teardown));
    assert!(!scratch.exists::<StatefulSet>("cache-b"));
    assert!(
        scratch.exists::<StatefulSet>("cache-a"),
        "teardown of cache-b took cache-a"
    );
    assert!(scratch.exists::<Secret>("cache-a-auth"));
    // What both share stays while cache-a's inventory lists it.
    assert!(scratch.exists::<ConfigMap>("app-config"));
    assert!(
        stdout(&teardown).contains("cafectl's inventory for cafe-cache/cache-a still lists it"),
        "{}",
        common::describe(&teardown)
    );
    assert!(scratch.namespace_exists());
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_user_who_may_only_read_is_told_which_verb_on_which_resource_is_forbidden() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let mut scratch = Scratch::new("forbidden");
    scratch.create_namespace();
    scratch.create_foreign(
        "v1",
        "ServiceAccount",
        json!({"metadata": {"name": "viewer"}}),
    );
    scratch.create_foreign(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        json!({"metadata": {"name": "viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": scratch.namespace}]}),
    );
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 600}}))
            .unwrap();
    let token = scratch
        .runtime
        .block_on(scratch.api::<ServiceAccount>().create_token_request(
            "viewer",
            &PostParams::default(),
            &request,
        ))
        .unwrap()
        .status
        .unwrap()
        .token;
    // The lab's kubeconfig with the viewer's token instead of the admin's.
    let mut kubeconfig: Value =
        cafectl::yaml::from_str(&std::fs::read_to_string(&scratch.kubeconfig).unwrap()).unwrap();
    kubeconfig["users"][0]["user"] = json!({"token": token});
    let viewer = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(viewer.path(), cafectl::yaml::to_string(&kubeconfig)).unwrap();
    let admin = std::mem::replace(&mut scratch.kubeconfig, viewer.path().to_owned());

    let diff = scratch.cafectl(&["diff"]);
    assert_eq!(code(&diff), Some(1), "{}", common::describe(&diff));
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    scratch.kubeconfig = admin;
    assert_eq!(code(&apply), Some(1), "{}", common::describe(&apply));
    let stderr = String::from_utf8_lossy(&apply.stderr);
    // Its first refusal: reading what runs (the view role reads no Secrets).
    assert!(
        stderr.contains("(HTTP 403); forbidden: cafectl may not list secrets"),
        "{stderr}"
    );
    assert!(
        stderr.contains("kubectl auth can-i list secrets "),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !scratch.exists::<ConfigMap>("app-config"),
        "nothing is created by a refused apply"
    );
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_timeout_too_long_for_a_clock_is_refused_before_any_request() {
    let mut scratch = Scratch::new("timeout");
    for verb in ["diff", "apply", "teardown"] {
        let run = scratch.cafectl(&[verb, "--timeout", "18446744073709551615m"]);
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert_eq!(code(&run), Some(64), "{verb}: {stderr}");
        assert!(stderr.contains("--timeout"), "{verb}: {stderr}");
        assert!(!stderr.contains("panicked"), "{verb}: {stderr}");
    }
    assert!(!scratch.namespace_exists(), "nothing was applied");
}

/// A TCP proxy on loopback to the API server that counts the connections
/// made through it.
struct CountingProxy {
    address: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingProxy {
    /// To `server` (`https://host:port`).
    fn to(server: &str) -> CountingProxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let upstream = server
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let directions = [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ];
                for (mut from, mut to) in directions {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        CountingProxy {
            address,
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn an_apply_and_a_diff_send_all_their_requests_over_one_connection() {
    let mut scratch = Scratch::new("one-connection");
    // The lab's kubeconfig, pointed at a proxy that counts connections.
    let mut kubeconfig: Value =
        cafectl::yaml::from_str(&std::fs::read_to_string(&scratch.kubeconfig).unwrap()).unwrap();
    let server = kubeconfig["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_owned();
    let proxy = CountingProxy::to(&server);
    kubeconfig["clusters"][0]["cluster"]["server"] =
        Value::from(format!("https://{}", proxy.address));
    let proxied = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(proxied.path(), cafectl::yaml::to_string(&kubeconfig)).unwrap();
    scratch.kubeconfig = proxied.path().to_owned();

    // Dozens of requests each, most of them at once: over HTTP/2, one
    // connection (over HTTP/1.1 it took five).
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    assert_eq!(proxy.connections(), 1, "apply");
    let diff = scratch.cafectl(&["diff", "--set", "redis.maxmemory=200mb", "--verbose"]);
    assert_eq!(code(&diff), Some(2), "{}", common::describe(&diff));
    assert_eq!(proxy.connections(), 2, "diff");

    // --verbose: a line per request as it ends, naming the request, the
    // answer and the time; among them a dry run of every object.
    let log = String::from_utf8_lossy(&diff.stderr);
    let origin = format!("https://{}/", proxy.address);
    for line in log.lines() {
        let (request, timing) = line.split_once(" in ").unwrap_or_else(|| panic!("{line}"));
        assert!(
            timing.ends_with(" ms)") && timing.contains(" ms (sent at "),
            "{line}"
        );
        let (method, rest) = request.split_once(' ').unwrap();
        assert!(["GET", "PATCH"].contains(&method), "{line}");
        assert!(rest.starts_with(&origin), "{line}");
    }
    let dry_runs = log
        .lines()
        .filter(|line| line.starts_with("PATCH ") && line.contains("dryRun=All"))
        .collect::<Vec<_>>();
    let objects = Command::cargo_bin("cafectl")
        .unwrap()
        .args(["render", "-p"])
        .arg(profile_path("standalone"))
        .args(["-n", &scratch.namespace])
        .args(&scratch.sets)
        .output()
        .unwrap();
    let rendered = String::from_utf8_lossy(&objects.stdout)
        .lines()
        .filter(|line| line.starts_with("kind: "))
        .count();
    assert_eq!(dry_runs.len(), rendered, "{log}");
    assert!(
        dry_runs.iter().all(|line| line.contains(" 200 OK in ")),
        "{log}"
    );
    assert!(log.contains(&format!(
        "PATCH {origin}apis/apps/v1/namespaces/{}/statefulsets/redis?",
        scratch.namespace
    )));
    // Without it, nothing of the kind.
    assert!(!String::from_utf8_lossy(&apply.stderr).contains(&origin));
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_reader_that_leaves_early_stops_neither_apply_nor_the_exit_code() {
    let scratch = Scratch::new("closed-pipe");
    // As `cafectl ... | head` once head has its lines: the pipe's reader is gone.
    let run = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        std::process::Command::new(assert_cmd::cargo::cargo_bin("cafectl"))
            .args(args)
            .arg("-p")
            .arg(profile_path("standalone"))
            .args(["-n", &scratch.namespace, "--kubeconfig"])
            .arg(&scratch.kubeconfig)
            .args(&scratch.sets)
            .stdout(writer)
            .output()
            .unwrap()
    };
    let apply = run(&["apply", "--no-wait", "-o", "json"]);
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert_eq!(code(&apply), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    // Every stage was applied, the last (the HPAs) too.
    let hpas = scratch.hpas();
    let applied = scratch
        .runtime
        .block_on(hpas.list(&ListParams::default().labels(SELECTOR)))
        .unwrap();
    assert_eq!(applied.items.len(), 2);
    let diff = run(&["diff", "--set", "redis.maxmemory=200mb"]);
    assert_eq!(
        code(&diff),
        Some(2),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(
        diff.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
}

/// The Prometheus Operator's ServiceMonitor CRD (its names, any spec),
/// installed for one test and removed after it.
struct ServiceMonitorCrd {
    client: Client,
}

const SERVICE_MONITOR_CRD: &str = "servicemonitors.monitoring.coreos.com";

impl ServiceMonitorCrd {
    fn crds(client: &Client) -> Api<CustomResourceDefinition> {
        Api::all(client.clone())
    }

    /// Waits until the CRD is gone (an earlier run may have left it).
    fn absent(scratch: &Scratch) {
        let crds = Self::crds(&scratch.client);
        let _ = scratch
            .runtime
            .block_on(crds.delete(SERVICE_MONITOR_CRD, &DeleteParams::default()));
        for _ in 0..120 {
            if scratch
                .runtime
                .block_on(crds.get_opt(SERVICE_MONITOR_CRD))
                .unwrap()
                .is_none()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("{SERVICE_MONITOR_CRD} is still there");
    }

    fn install(scratch: &Scratch) -> ServiceMonitorCrd {
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": SERVICE_MONITOR_CRD},
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {"plural": "servicemonitors", "singular": "servicemonitor",
                          "kind": "ServiceMonitor", "listKind": "ServiceMonitorList"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}}]
            }
        }))
        .unwrap();
        let crds = Self::crds(&scratch.client);
        scratch
            .runtime
            .block_on(crds.create(&PostParams::default(), &crd))
            .unwrap();
        for _ in 0..120 {
            let established = scratch
                .runtime
                .block_on(crds.get(SERVICE_MONITOR_CRD))
                .unwrap()
                .status
                .and_then(|status| status.conditions)
                .into_iter()
                .flatten()
                .any(|condition| condition.type_ == "Established" && condition.status == "True");
            if established {
                return ServiceMonitorCrd {
                    client: scratch.client.clone(),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("{SERVICE_MONITOR_CRD} was not established");
    }
}

impl Drop for ServiceMonitorCrd {
    fn drop(&mut self) {
        let crds = Self::crds(&self.client);
        let _ = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(crds.delete(SERVICE_MONITOR_CRD, &DeleteParams::default()));
    }
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn metrics_bring_a_service_monitor_only_where_the_kind_is_served() {
    let mut scratch = Scratch::new("metrics");
    scratch.sets.extend(["--set", "redis.metrics.enabled=true"]);
    ServiceMonitorCrd::absent(&scratch);
    let namespace = scratch.namespace.clone();
    let monitor = format!("ServiceMonitor/{namespace}/redis-metrics");

    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    let said = common::describe(&apply);
    assert!(
        said.contains(&format!(
            "warning: {monitor} is left out: the cluster does not serve monitoring.coreos.com/v1 ServiceMonitor"
        )) && said.contains(&format!("Service/{namespace}/redis-metrics applied")),
        "{said}"
    );

    let _crd = ServiceMonitorCrd::install(&scratch);
    let apply = scratch.cafectl(&["apply", "--no-wait"]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    assert!(
        stdout(&apply).contains(&format!("{monitor} applied")),
        "{}",
        common::describe(&apply)
    );
    let monitors = scratch.dynamic_api("monitoring.coreos.com/v1", "ServiceMonitor");
    let applied = scratch
        .runtime
        .block_on(monitors.get("redis-metrics"))
        .unwrap();
    assert_eq!(applied.data["spec"]["endpoints"][0]["port"], "metrics");
    let diff = scratch.cafectl(&["diff"]);
    assert_eq!(code(&diff), Some(0), "{}", stdout(&diff));

    let teardown = scratch.cafectl(&["teardown", "--yes"]);
    assert_eq!(code(&teardown), Some(0), "{}", common::describe(&teardown));
    assert!(scratch
        .runtime
        .block_on(monitors.get_opt("redis-metrics"))
        .unwrap()
        .is_none());
}

#[test]
#[ignore = "needs a Kubernetes API server: `bash tests/run.sh` starts the k8s lab and runs it"]
fn a_saved_plan_applies_only_while_nothing_moved() {
    let mut scratch = Scratch::new("plan");
    let directory = tempfile::tempdir().unwrap();
    let plan = directory.path().join("plan.json");
    let plan_arg = plan.to_str().unwrap().to_owned();

    // A plan of a first apply: everything to create.
    let diff = scratch.cafectl(&["diff", "--out", &plan_arg]);
    assert_eq!(code(&diff), Some(2), "{}", common::describe(&diff));
    let saved = std::fs::read_to_string(&plan).unwrap();
    assert!(saved.contains("\"cafectl_plan\": 1"), "{saved}");
    let apply = scratch.cafectl(&["apply", "--no-wait", "--plan", &plan_arg]);
    assert_eq!(code(&apply), Some(0), "{}", common::describe(&apply));
    assert!(
        common::describe(&apply).contains("nothing moved since it was saved"),
        "{}",
        common::describe(&apply)
    );
    // Used up: the apply itself moved what it read.
    let again = scratch.cafectl(&["apply", "--no-wait", "--plan", &plan_arg]);
    assert_eq!(code(&again), Some(1), "{}", common::describe(&again));

    // Someone changes an object between the review and the apply.
    let diff = scratch.cafectl(&["diff", "--out", &plan_arg]);
    assert_eq!(code(&diff), Some(0), "{}", common::describe(&diff));
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}, "data": {"OTHER": "1"}});
    scratch
        .runtime
        .block_on(scratch.api::<ConfigMap>().patch(
            "app-config",
            &PatchParams::apply("other-tool"),
            &Patch::Apply(&other),
        ))
        .unwrap();
    let before = scratch.resource_versions();
    let refused = scratch.cafectl(&["apply", "--no-wait", "--plan", &plan_arg]);
    assert_eq!(code(&refused), Some(1), "{}", common::describe(&refused));
    let said = common::describe(&refused);
    assert!(
        said.contains("is out of date; nothing was applied")
            && said.contains(&format!(
                "ConfigMap/{}/app-config changed since",
                scratch.namespace
            )),
        "{said}"
    );
    assert_eq!(scratch.resource_versions(), before, "nothing was written");

    // A profile that renders differently from the reviewed one.
    let diff = scratch.cafectl(&["diff", "--out", &plan_arg]);
    assert_eq!(code(&diff), Some(0), "{}", common::describe(&diff));
    let changed = scratch.cafectl(&[
        "apply",
        "--no-wait",
        "--plan",
        &plan_arg,
        "--set",
        "redis.maxmemory=100mb",
    ]);
    assert_eq!(code(&changed), Some(1), "{}", common::describe(&changed));
    assert!(
        common::describe(&changed).contains("renders differently from the profile now"),
        "{}",
        common::describe(&changed)
    );
    assert_eq!(scratch.resource_versions(), before, "nothing was written");
}
