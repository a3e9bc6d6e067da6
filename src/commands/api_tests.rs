//! Request shapes against a fake API: what each verb sends, and what it
//! must never send.

use http::StatusCode;
use k8s_openapi::ByteString;
use serde_json::{json, Value};

use super::fake_api::{object_path, FakeApi, Fault, Recorded};
use super::{apply, diff, teardown, Exit};
use crate::cli::{ApplyArgs, ConnectionArgs, ProfileArgs, ReportArgs, TeardownArgs};
use crate::cluster::session::Session;
use crate::profile::{self, ProfileRequest};

const NAMESPACE: &str = "cloud-cafe";
const INVENTORY: &str =
    "/api/v1/namespaces/cloud-cafe/configmaps/cafectl-inventory.cafe-cache.redis";

fn profile_args() -> ProfileArgs {
    ProfileArgs {
        profiles: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/standalone.yaml").into()],
        sets: Vec::new(),
        namespace: None,
    }
}

fn connection_args() -> ConnectionArgs {
    ConnectionArgs {
        kubeconfig: None,
        context: None,
        timeout: std::time::Duration::from_secs(5),
        verbose: false,
    }
}

fn apply_args(force_conflicts: bool) -> ApplyArgs {
    ApplyArgs {
        profile: profile_args(),
        connection: connection_args(),
        force_conflicts,
        dry_run: false,
        no_wait: true,
        strict: false,
        retire_previous_password: false,
        allow_recreate: false,
        plan: None,
        output: None,
    }
}

async fn session(fake: &FakeApi) -> Session {
    start(fake.connect()).await.unwrap()
}

/// A session with --timeout `timeout`.
async fn session_within(fake: &FakeApi, timeout: std::time::Duration) -> Session {
    start(fake.connect_within(timeout)).await.unwrap()
}

/// The shipped standalone profile's session over `connection`.
async fn start(connection: crate::cluster::connect::Connection) -> anyhow::Result<Session> {
    start_with(
        connection,
        ProfileRequest {
            files: profile_args().profiles,
            ..Default::default()
        },
    )
    .await
}

/// The session of the profile `request` asks for over `connection`.
async fn start_with(
    connection: crate::cluster::connect::Connection,
    request: ProfileRequest,
) -> anyhow::Result<Session> {
    Session::start(profile::load(&request).unwrap(), connection).await
}

fn labelled(name: &str, extra: Value) -> Value {
    let mut object = json!({"metadata": {"name": name, "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/managed-by": "cafectl", "app.kubernetes.io/part-of": "cafe-cache"}}});
    if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
        object.extend(extra.clone());
    }
    object
}

async fn run_apply(fake: &FakeApi, session: &Session, force: bool) -> (Exit, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = apply::execute(session, &apply_args(force), &mut out, &mut err)
        .await
        .unwrap();
    let _ = fake;
    (
        exit,
        String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap(),
    )
}

/// `diff` on a session: its result and what it printed on stdout.
async fn run_diff(
    session: &Session,
    output: Option<crate::cli::OutputFormat>,
) -> (anyhow::Result<Exit>, Vec<u8>) {
    let args = crate::cli::DiffArgs {
        report: ReportArgs {
            profile: profile_args(),
            connection: connection_args(),
            output,
        },
        out: None,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = diff::execute(session, &args, &mut out, &mut err).await;
    (result, out)
}

/// `teardown --yes` on a session: its result and what it printed (stdout,
/// then stderr).
async fn run_teardown(session: &Session, delete_data: bool) -> (anyhow::Result<Exit>, String) {
    run_teardown_with(session, delete_data, None).await
}

async fn run_teardown_with(
    session: &Session,
    delete_data: bool,
    output: Option<crate::cli::OutputFormat>,
) -> (anyhow::Result<Exit>, String) {
    let args = TeardownArgs {
        profile: profile_args(),
        connection: connection_args(),
        yes: true,
        delete_data,
        output,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = teardown::execute(session, &args, &mut out, &mut err).await;
    (
        result,
        String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap(),
    )
}

/// The server-side applies of rendered objects (not of the inventory).
fn patches(requests: &[Recorded]) -> Vec<&Recorded> {
    requests
        .iter()
        .filter(|request| request.method == "PATCH" && request.path != INVENTORY)
        .collect()
}

/// An object as cafectl's apply leaves it: labelled and managed by cafectl.
fn applied(name: &str, extra: Value) -> Value {
    let mut object = labelled(name, extra);
    object["metadata"]["managedFields"] = json!([{"manager": "cafectl", "operation": "Apply"}]);
    object
}

/// This profile's inventory, listing `objects`.
fn inventory(objects: &[&str]) -> Value {
    json!({"metadata": {"name": "cafectl-inventory.cafe-cache.redis", "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/managed-by": "cafectl", "app.kubernetes.io/part-of": "cafe-cache",
                   "cafectl.io/inventory": "redis"},
        "managedFields": [{"manager": "cafectl", "operation": "Apply"}]},
        "data": {"objects": objects.iter().map(|label| format!("{label}\n")).collect::<String>()}})
}

#[tokio::test]
async fn apply_sends_server_side_apply_as_cafectl_in_stage_order() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let (exit, output) = run_apply(&fake, &session, false).await;
    assert_eq!(exit, Exit::Success, "{output}");

    let requests = fake.recorded();
    let patches = patches(&requests);
    assert_eq!(patches.len(), session.objects.len());
    for patch in &patches {
        assert_eq!(
            patch.content_type, "application/apply-patch+yaml",
            "{}",
            patch.path
        );
        assert!(patch.query_has("fieldManager=cafectl"), "{}", patch.query);
        assert!(
            !patch.query.contains("force"),
            "force without --force-conflicts: {}",
            patch.query
        );
        assert!(!patch.query.contains("dryRun"), "{}", patch.query);
    }
    // Each object's PATCH comes after every PATCH of an earlier stage.
    let stage_of = |path: &str| {
        session
            .objects
            .iter()
            .find(|object| {
                object_path(&object.api_version, &object.kind, NAMESPACE, &object.name) == path
            })
            .map(|object| object.stage)
            .unwrap_or_else(|| panic!("unexpected PATCH {path}"))
    };
    let stages: Vec<_> = patches.iter().map(|patch| stage_of(&patch.path)).collect();
    assert!(
        stages.windows(2).all(|pair| pair[0] <= pair[1]),
        "{stages:?}"
    );
    // The inventory is recorded once the namespace exists and before the
    // next stage creates anything, then again at the end.
    let order: Vec<&str> = requests
        .iter()
        .filter(|request| request.method == "PATCH")
        .map(|request| request.path.as_str())
        .collect();
    let writes: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(_, path)| **path == INVENTORY)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(writes, [1, order.len() - 1], "{order:?}");
    assert!(order[0].ends_with("/namespaces/cloud-cafe"), "{order:?}");
}

#[tokio::test]
async fn the_password_secret_is_created_once_and_never_printed() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let (_, output) = run_apply(&fake, &session, false).await;
    let requests = fake.recorded();
    let creates: Vec<&Recorded> = requests
        .iter()
        .filter(|request| request.method == "POST")
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].path, "/api/v1/namespaces/cloud-cafe/secrets");
    assert!(
        creates[0].query_has("fieldManager=cafectl-password"),
        "{}",
        creates[0].query
    );
    let secret: Value = serde_json::from_str(&creates[0].body).unwrap();
    let password = secret["stringData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 32);
    assert!(!output.contains(&password));
    // The server-side apply of the Secret carries no password.
    let secret_patch = patches(&requests)
        .into_iter()
        .find(|patch| patch.path.ends_with("/secrets/redis-auth"))
        .unwrap()
        .clone();
    assert!(!secret_patch.body.contains("stringData") && !secret_patch.body.contains(&password));

    // A second apply does not create it again.
    let before = fake.recorded().len();
    run_apply(&fake, &session, false).await;
    assert!(fake.recorded()[before..]
        .iter()
        .all(|request| request.method != "POST"));
}

#[tokio::test]
async fn force_is_sent_only_with_force_conflicts() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    run_apply(&fake, &session, true).await;
    let requests = fake.recorded();
    assert!(patches(&requests)
        .iter()
        .all(|patch| patch.query_has("force=true")));
}

#[tokio::test]
async fn prune_deletes_only_what_the_inventory_lists_and_releases_shared_objects() {
    let fake = FakeApi::default();
    // Listed in the inventory and no longer rendered: pruned.
    fake.insert(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        NAMESPACE,
        applied("old-tier", json!({})),
    );
    // Listed, but another tool keeps keys in it: released, not deleted.
    let mut shared = applied("cache-config", json!({"data": {"DB_HOST": "mysql"}}));
    shared["metadata"]["managedFields"] = json!([{"manager": "cafectl", "operation": "Apply"}, {"manager": "kubectl-create", "operation": "Update"}]);
    fake.insert("v1", "ConfigMap", NAMESPACE, shared);
    // Labelled as this profile's but not in its inventory (another Redis's,
    // say): left alone.
    fake.insert(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        NAMESPACE,
        applied("unlisted", json!({})),
    );
    fake.insert(
        "v1",
        "ConfigMap",
        NAMESPACE,
        json!({"metadata": {"name": "mysql-config", "namespace": NAMESPACE}}),
    );
    fake.insert(
        "v1",
        "PersistentVolumeClaim",
        NAMESPACE,
        labelled("data-redis-0", json!({})),
    );
    fake.insert(
        "v1",
        "ConfigMap",
        NAMESPACE,
        inventory(&[
            "HorizontalPodAutoscaler/cloud-cafe/old-tier",
            "ConfigMap/cloud-cafe/cache-config",
            "PersistentVolumeClaim/cloud-cafe/data-redis-0",
        ]),
    );
    let session = session(&fake).await;
    let (_, output) = run_apply(&fake, &session, false).await;
    assert!(
        output.contains("HorizontalPodAutoscaler/cloud-cafe/old-tier pruned"),
        "{output}"
    );
    assert!(
        output.contains(
            "ConfigMap/cloud-cafe/cache-config released (other managers keep it: kubectl-create)"
        ),
        "{output}"
    );
    assert!(
        output.contains(
            "note: PersistentVolumeClaim/cloud-cafe/data-redis-0 not pruned: apply never deletes"
        ),
        "{output}"
    );
    let deletes: Vec<Recorded> = fake
        .writes()
        .into_iter()
        .filter(|request| request.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(deletes[0]
        .path
        .ends_with("/horizontalpodautoscalers/old-tier"));
    assert!(
        deletes[0]
            .body
            .contains("\"propagationPolicy\":\"Background\""),
        "{}",
        deletes[0].body
    );
    // The inventory now lists exactly the render.
    let recorded = fake.objects.lock().unwrap()[INVENTORY]["data"]["objects"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut expected: Vec<String> = session.objects.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(recorded.lines().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn without_an_inventory_apply_prunes_nothing_and_names_what_it_left() {
    // As an apply by a cafectl from before the inventory leaves it: labels only.
    let fake = FakeApi::default();
    fake.insert(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        NAMESPACE,
        applied("old-tier", json!({})),
    );
    let session = session(&fake).await;
    let (exit, output) = run_apply(&fake, &session, false).await;
    assert_eq!(exit, Exit::Success, "{output}");
    assert!(
        fake.writes()
            .iter()
            .all(|request| request.method != "DELETE"),
        "{:?}",
        fake.writes()
    );
    assert!(
        output.contains("note: HorizontalPodAutoscaler/cloud-cafe/old-tier not pruned: no cafectl inventory lists it"),
        "{output}"
    );
    assert!(fake.objects.lock().unwrap().contains_key(INVENTORY));
}

#[tokio::test]
async fn diff_sends_only_dry_runs_and_reports_pending_changes() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let (exit, out) = run_diff(&session, Some(crate::cli::OutputFormat::Json)).await;
    assert_eq!(exit.unwrap(), Exit::ChangesPending);
    let writes = fake.writes();
    assert!(!writes.is_empty());
    for write in &writes {
        assert_eq!(write.method, "PATCH");
        assert!(write.query_has("dryRun=All"), "{}", write.query);
        assert!(write.query_has("fieldManager=cafectl"));
    }
    let plan: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        plan["create"].as_array().unwrap().len(),
        session.objects.len()
    );
    assert!(
        fake.objects.lock().unwrap().is_empty(),
        "a dry run persisted something"
    );
}

#[tokio::test]
async fn teardown_deletes_what_it_owns_keeps_data_and_releases_shared_objects() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    run_apply(&fake, &session, false).await;
    fake.insert(
        "v1",
        "PersistentVolumeClaim",
        NAMESPACE,
        labelled(
            "data-redis-0",
            json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
        ),
    );
    // app-config also holds keys another tool wrote.
    let app_config = object_path("v1", "ConfigMap", NAMESPACE, "app-config");
    fake.objects.lock().unwrap().get_mut(&app_config).unwrap()["metadata"]["managedFields"] = json!([{"manager": "cafectl", "operation": "Apply"}, {"manager": "kubectl-create", "operation": "Update"}]);
    let before = fake.recorded().len();

    let (exit, output) = run_teardown(&session, false).await;
    assert_eq!(exit.unwrap(), Exit::Success, "{output}");
    assert!(
        output.contains("keep    PersistentVolumeClaim/cloud-cafe/data-redis-0 (data (1Gi); delete with --delete-data)"),
        "{output}"
    );

    let requests = &fake.recorded()[before..];
    let deleted: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.as_str())
        .collect();
    assert!(
        deleted
            .iter()
            .all(|path| !path.contains("persistentvolumeclaims")),
        "{deleted:?}"
    );
    assert!(
        !deleted.contains(&app_config.as_str()),
        "a shared object was deleted"
    );
    assert!(deleted
        .iter()
        .any(|path| path.ends_with("/statefulsets/redis")));
    for delete in requests.iter().filter(|r| r.method == "DELETE") {
        assert!(
            delete.body.contains("\"propagationPolicy\":\"Background\""),
            "{}",
            delete.body
        );
    }
    let release = requests
        .iter()
        .find(|r| r.method == "PATCH" && r.path == app_config)
        .expect("app-config released");
    assert_eq!(release.content_type, "application/apply-patch+yaml");
    assert!(
        !release.body.contains("REDIS_HOST"),
        "the release must drop cafectl's keys: {}",
        release.body
    );
    // The data is kept, so the namespace and the inventory naming it stay.
    assert!(
        output.contains("Namespace/cloud-cafe kept (it still holds the kept data volumes"),
        "{output}"
    );
    assert!(!deleted
        .iter()
        .any(|path| path.ends_with("/namespaces/cloud-cafe") || *path == INVENTORY));
    let recorded = fake.objects.lock().unwrap()[INVENTORY]["data"]["objects"].clone();
    assert_eq!(recorded, json!("Namespace/cloud-cafe\n"));
}

#[tokio::test]
async fn apply_dry_run_persists_nothing_and_reports_pending_changes() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let args = ApplyArgs {
        dry_run: true,
        ..apply_args(false)
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = apply::execute(&session, &args, &mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(exit, Exit::ChangesPending);
    assert!(fake
        .writes()
        .iter()
        .all(|write| write.method == "PATCH" && write.query_has("dryRun=All")));
    assert!(fake.objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn strict_turns_preflight_warnings_into_an_error_before_any_write() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let args = ApplyArgs {
        strict: true,
        ..apply_args(false)
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let error = apply::execute(&session, &args, &mut out, &mut err)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("--strict: nothing was applied"),
        "{error}"
    );
    let warnings = String::from_utf8(err).unwrap();
    assert!(
        warnings.contains("warning: the metrics API (metrics.k8s.io/v1beta1) is not served"),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "warning: HPA order-backend: Deployment cloud-cafe/order-backend does not exist"
        ),
        "{warnings}"
    );
    assert!(fake.writes().is_empty());
}

#[tokio::test]
async fn preflight_warns_about_a_target_without_cpu_requests() {
    let fake = FakeApi::default();
    for (name, requests) in [
        ("order-backend", json!({})),
        ("frontend", json!({"cpu": "100m"})),
    ] {
        let deployment = json!({"metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"template": {"spec": {"containers": [{"name": name, "resources": {"requests": requests}}]}}}});
        fake.insert("apps/v1", "Deployment", NAMESPACE, deployment);
    }
    let session = session(&fake).await;
    let warnings = session.preflight().await.unwrap();
    let about_cpu: Vec<&String> = warnings
        .iter()
        .filter(|warning| warning.contains("has no cpu request"))
        .collect();
    assert_eq!(about_cpu.len(), 1, "{warnings:?}");
    assert!(
        about_cpu[0].starts_with("HPA order-backend: container order-backend"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn teardown_leaves_the_same_profiles_other_namespaces_alone() {
    let fake = FakeApi::default();
    let mut other = labelled("cloud-cafe-staging", json!({}));
    other["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    fake.insert("v1", "Namespace", "", other);
    let session = session(&fake).await;
    let (exit, output) = run_teardown(&session, true).await;
    assert_eq!(exit.unwrap(), Exit::Success);
    assert_eq!(output, "nothing to delete\n");
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_kind_the_server_does_not_serve_stops_everything_before_any_write() {
    let fake = FakeApi {
        unserved: vec!["policy/v1"],
        ..FakeApi::default()
    };
    // Discovery goes out with the first round of reads, and its answer
    // stops each verb before any write.
    let session = session(&fake).await;
    let unserved = "the cluster at https://fake.invalid/ does not serve policy/v1 PodDisruptionBudget; nothing was changed";
    let mut apply_args = apply_args(false);
    apply_args.no_wait = false;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let applied = apply::execute(&session, &apply_args, &mut out, &mut err).await;
    assert_eq!(applied.unwrap_err().to_string(), unserved);
    let (diffed, _) = run_diff(&session, None).await;
    assert_eq!(diffed.unwrap_err().to_string(), unserved);
    let (torn_down, _) = run_teardown(&session, false).await;
    assert_eq!(torn_down.unwrap_err().to_string(), unserved);
    // The diff's dry runs went out with its reads; nothing else did.
    let writes = fake.writes();
    assert!(
        writes
            .iter()
            .all(|write| write.query.contains("dryRun=All")),
        "{writes:?}"
    );
}

/// The resource (plural) each PATCH went to, in order.
fn patched_kinds(fake: &FakeApi) -> Vec<String> {
    patches(&fake.recorded())
        .iter()
        .map(|patch| patch.path.rsplit('/').nth(1).unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn diff_of_a_namespace_that_does_not_exist_plans_every_object_as_new() {
    let fake = FakeApi::default();
    // Inside a missing namespace the server refuses every dry-run with 404.
    fake.fail(Fault::status(
        "PATCH",
        "/namespaces/cloud-cafe/",
        StatusCode::NOT_FOUND,
        "namespaces \"cloud-cafe\" not found",
    ));
    let session = session(&fake).await;
    let (exit, out) = run_diff(&session, None).await;
    assert_eq!(exit.unwrap(), Exit::ChangesPending);
    let summary = String::from_utf8(out).unwrap();
    assert!(
        summary.starts_with(&format!(
            "{} to create, 0 to change, 0 to prune, 0 unchanged",
            session.objects.len()
        )),
        "{summary}"
    );
}

#[tokio::test]
async fn diff_of_an_existing_object_the_server_cannot_dry_run_is_an_error() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    run_apply(&fake, &session, false).await;
    fake.fail(Fault::status(
        "PATCH",
        "/configmaps/redis-config",
        StatusCode::NOT_FOUND,
        "the server could not find the requested resource",
    ));
    let (result, _) = run_diff(&session, None).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "ConfigMap/cloud-cafe/redis-config: the server could not dry-run an object that exists"
    );
}

#[tokio::test]
async fn a_field_conflict_names_the_field_and_the_manager_and_stops_later_stages() {
    let fake = FakeApi::default();
    fake.fail(Fault::field_conflict(
        "/configmaps/app-config",
        ".data.REDIS_PORT",
        "other-tool",
    ));
    let session = session(&fake).await;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let error = apply::execute(&session, &apply_args(false), &mut out, &mut err)
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains(
            "a field is owned by another field manager: .data.REDIS_PORT (manager \"other-tool\"); to take them over, re-run with --force-conflicts"
        ),
        "{message}"
    );
    let kinds = patched_kinds(&fake);
    for later in ["services", "statefulsets", "horizontalpodautoscalers"] {
        assert!(
            !kinds.iter().any(|kind| kind == later),
            "{later} was applied after the conflict: {kinds:?}"
        );
    }
}

/// `apply` over a connection with --timeout `timeout`: its result, and the
/// PATCH requests of the StatefulSet it sent.
async fn apply_within(
    fake: &FakeApi,
    timeout: std::time::Duration,
) -> (anyhow::Result<Exit>, Vec<Recorded>) {
    let session = session_within(fake, timeout).await;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = apply::execute(&session, &apply_args(false), &mut out, &mut err).await;
    let sent = patches(&fake.recorded())
        .into_iter()
        .filter(|patch| patch.path.ends_with("/statefulsets/redis"))
        .cloned()
        .collect();
    (result, sent)
}

#[tokio::test]
async fn a_busy_api_server_is_retried_after_its_retry_after() {
    let fake = FakeApi::default();
    fake.fail(
        Fault::status(
            "PATCH",
            "/statefulsets/redis",
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests, please try again later",
        )
        .retry_after(1)
        .times(1),
    );
    let (result, sent) = apply_within(&fake, std::time::Duration::from_secs(5)).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert_eq!(sent.len(), 2);
    let waited = sent[1].at - sent[0].at;
    assert!(
        waited >= std::time::Duration::from_secs(1),
        "Retry-After: 1 but the retry came after {waited:?}"
    );
}

/// The API server's answer to the StatefulSet's apply while it is overloaded.
fn statefulset_unavailable() -> Fault {
    Fault::status(
        "PATCH",
        "/statefulsets/redis",
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is currently unable to handle the request",
    )
}

#[tokio::test]
async fn an_unavailable_api_server_is_retried_with_backoff() {
    let fake = FakeApi::default();
    fake.fail(statefulset_unavailable().times(2));
    let (result, sent) = apply_within(&fake, std::time::Duration::from_secs(5)).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert_eq!(sent.len(), 3);
    assert!(
        sent[2].at - sent[1].at > sent[1].at - sent[0].at,
        "the backoff grows"
    );
}

#[tokio::test]
async fn a_server_busy_past_the_timeout_stops_apply_saying_it_retried() {
    let fake = FakeApi::default();
    fake.fail(statefulset_unavailable().retry_after(1));
    let (result, sent) = apply_within(&fake, std::time::Duration::from_secs(2)).await;
    let text = format!("{:#}", result.unwrap_err());
    assert!(
        text.contains("cannot patch statefulsets/redis: the server is currently unable to handle the request (HTTP 503); the API server is overloaded and still was after cafectl retried within --timeout"),
        "{text}"
    );
    // Sent at 0 s and 1 s; waiting another second would pass the 2 s timeout.
    assert_eq!(sent.len(), 2);
    assert_no_autoscaler_applied(&fake);
}

/// A failing stage stops apply: the last stage, the autoscalers, never came.
fn assert_no_autoscaler_applied(fake: &FakeApi) {
    let kinds = patched_kinds(fake);
    assert!(
        !kinds.iter().any(|kind| kind == "horizontalpodautoscalers"),
        "a later stage was applied: {kinds:?}"
    );
}

#[tokio::test]
async fn a_failing_or_forbidding_api_server_stops_apply_at_once_saying_what_failed() {
    for (status, message, expected) in [
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "etcdserver: request timed out",
            "cannot patch statefulsets/redis: etcdserver: request timed out (HTTP 500); the API server failed: try again",
        ),
        (
            StatusCode::FORBIDDEN,
            "statefulsets.apps \"redis\" is forbidden: User \"dev\" cannot patch resource \"statefulsets\"",
            "(HTTP 403); forbidden: cafectl may not patch statefulsets in namespace cloud-cafe; ask a cluster admin for that permission (check with `kubectl auth can-i patch statefulsets -n cloud-cafe`)",
        ),
    ] {
        let fake = FakeApi::default();
        fake.fail(Fault::status(
            "PATCH",
            "/statefulsets/redis",
            status,
            message,
        ));
        let (result, sent) = apply_within(&fake, std::time::Duration::from_secs(5)).await;
        let text = format!("{:#}", result.unwrap_err());
        assert!(text.contains(expected), "{text}");
        assert_eq!(sent.len(), 1, "HTTP {status} is not retried");
        assert_no_autoscaler_applied(&fake);
    }
}

#[tokio::test]
async fn the_teardown_wait_looks_again_after_a_failed_read() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    run_apply(&fake, &session, false).await;
    let statefulset = object_path("apps/v1", "StatefulSet", NAMESPACE, "redis");
    fake.fail(
        Fault::status(
            "GET",
            &statefulset,
            StatusCode::INTERNAL_SERVER_ERROR,
            "etcd leader changed",
        )
        .times(2),
    );
    let (result, output) = run_teardown(&session, false).await;
    assert_eq!(result.unwrap(), Exit::Success, "{output}");
    let reads = fake
        .recorded()
        .iter()
        .filter(|request| request.method == "GET" && request.path == statefulset)
        .count();
    assert_eq!(reads, 3, "two failed reads, then the one that saw it gone");
}

#[tokio::test]
async fn the_teardown_wait_times_out_naming_what_is_still_there() {
    let fake = FakeApi::default();
    let session = session_within(&fake, std::time::Duration::from_secs(1)).await;
    run_apply(&fake, &session, false).await;
    // The StatefulSet stays: a finalizer, say, that nothing removes.
    fake.fail(Fault::status(
        "DELETE",
        "/statefulsets/redis",
        StatusCode::OK,
        "Success",
    ));
    let (result, output) = run_teardown(&session, false).await;
    let error = result.unwrap_err().to_string();
    assert_eq!(
        error, "timed out after 1s; still present:\n  StatefulSet/cloud-cafe/redis",
        "{output}"
    );
}

/// The shipped cluster profile's session (a StatefulSet and a bootstrap Job).
async fn cluster_session(fake: &FakeApi, timeout: std::time::Duration) -> Session {
    let request = ProfileRequest {
        files: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/cluster.yaml").into()],
        ..Default::default()
    };
    start_with(fake.connect_within(timeout), request)
        .await
        .unwrap()
}

/// The session's workloads as the cluster has them: the StatefulSet ready,
/// the bootstrap Job still running (its controller has not marked it
/// Complete yet) and its pod in `phase`.
fn insert_workloads(fake: &FakeApi, session: &Session, phase: &str) {
    let object = |kind: &str| {
        session
            .objects
            .iter()
            .find(|object| object.kind == kind)
            .unwrap()
    };
    let statefulset = object("StatefulSet");
    let replicas = statefulset.value["spec"]["replicas"].clone();
    fake.insert(
        "apps/v1",
        "StatefulSet",
        NAMESPACE,
        json!({
        "metadata": {"name": statefulset.name, "namespace": NAMESPACE, "generation": 1},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": replicas, "availableReplicas": replicas}}),
    );
    let job = object("Job");
    fake.insert(
        "batch/v1",
        "Job",
        NAMESPACE,
        json!({
        "metadata": {"name": job.name, "namespace": NAMESPACE},
        "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}},
        "status": {"active": 1}}),
    );
    fake.insert(
        "v1",
        "Pod",
        NAMESPACE,
        json!({
        "metadata": {"name": format!("{}-x1", job.name), "namespace": NAMESPACE,
                     "labels": {"batch.kubernetes.io/controller-uid": "u1"}},
        "status": {"phase": phase}}),
    );
}

/// Apply's wait on the cluster profile's workloads, with the bootstrap
/// Job's pod in `phase` (and the pods readable or not); `Err`: the wait's
/// error (within a second).
async fn wait_with_job_pod(phase: &str, pods_readable: bool) -> (FakeApi, Result<(), String>) {
    let fake = FakeApi::default();
    let session = cluster_session(&fake, std::time::Duration::from_secs(1)).await;
    insert_workloads(&fake, &session, phase);
    if !pods_readable {
        fake.fail(Fault::status(
            "GET",
            "/api/v1/namespaces/cloud-cafe/pods",
            StatusCode::FORBIDDEN,
            "pods is forbidden: cannot list resource \"pods\"",
        ));
    }
    let mut err = Vec::new();
    let result = crate::cluster::wait::until_ready(&session, &mut err)
        .await
        .map_err(|error| error.to_string());
    (fake, result)
}

#[tokio::test]
async fn the_wait_takes_a_job_as_done_when_its_pod_succeeded() {
    let (fake, result) = wait_with_job_pod("Succeeded", true).await;
    result.unwrap();
    let pod_lists: Vec<Recorded> = fake
        .recorded()
        .into_iter()
        .filter(|request| request.path.ends_with("/pods"))
        .collect();
    assert_eq!(pod_lists.len(), 1, "one look at the Job's pods");
    assert!(pod_lists[0].query_has("labelSelector=batch.kubernetes.io%2Fcontroller-uid%3Du1"));
}

#[tokio::test]
async fn the_wait_goes_on_while_a_jobs_pod_runs() {
    let (_, result) = wait_with_job_pod("Running", true).await;
    let error = result.unwrap_err();
    assert!(
        error.contains("Job/cloud-cafe/redis-cluster-bootstrap"),
        "{error}"
    );
    assert!(error.contains("1 pod(s) running"), "{error}");
}

#[tokio::test]
async fn the_wait_goes_by_the_job_when_its_pods_cannot_be_read() {
    let (_, result) = wait_with_job_pod("Succeeded", false).await;
    let error = result.unwrap_err();
    assert!(error.contains("timed out"), "{error}");
    assert!(
        error.contains("Job/cloud-cafe/redis-cluster-bootstrap"),
        "{error}"
    );
}

const OLD_PASSWORD: &str = "the-old-password-0123";
const NEW_PASSWORD: &str = "the-new-password-4567";

/// The shipped standalone profile with `--set redis.auth.password=NEW_PASSWORD`,
/// over a cluster whose Secret holds `secret_data` (and a rolled-out
/// StatefulSet, if `running`), perhaps with --retire-previous-password: what apply says, what it printed, and the fake.
async fn apply_a_new_password(
    secret_data: Value,
    running: bool,
    retire_previous_password: bool,
) -> (anyhow::Result<Exit>, String, FakeApi) {
    let fake = FakeApi::default();
    fake.insert(
        "v1",
        "Secret",
        NAMESPACE,
        json!({"metadata": {"name": "redis-auth", "namespace": NAMESPACE}, "data": secret_data}),
    );
    let request = ProfileRequest {
        files: profile_args().profiles,
        sets: vec![format!("redis.auth.password={NEW_PASSWORD}")
            .parse()
            .unwrap()],
        ..Default::default()
    };
    let session = start_with(fake.connect(), request).await.unwrap();
    if running {
        insert_running_statefulset(&fake, &session);
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let args = ApplyArgs {
        retire_previous_password,
        ..apply_args(false)
    };
    let result = apply::execute(&session, &args, &mut out, &mut err).await;
    let output = String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap();
    (result, output, fake)
}

/// The session's StatefulSet as rendered, running and rolled out.
fn insert_running_statefulset(fake: &FakeApi, session: &Session) {
    let statefulset = session
        .objects
        .iter()
        .find(|object| object.kind == "StatefulSet")
        .unwrap();
    let mut live = serde_json::to_value(&statefulset.value).unwrap();
    live["status"] = json!({"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1});
    fake.insert("apps/v1", "StatefulSet", NAMESPACE, live);
}

/// The password Secret's values and the pod template's password checksum,
/// as each server-side apply in turn sent them.
fn password_states(fake: &FakeApi) -> (Vec<(String, String)>, Vec<String>) {
    let requests = fake.recorded();
    let bodies = |suffix: &str| -> Vec<Value> {
        patches(&requests)
            .into_iter()
            .filter(|patch| patch.path.ends_with(suffix) && !patch.query_has("dryRun=All"))
            .map(|patch| serde_json::from_str(&patch.body).unwrap())
            .collect()
    };
    let secrets = bodies("/secrets/redis-auth")
        .iter()
        .map(|secret| {
            let value = |key: &str| secret["stringData"][key].as_str().unwrap().to_owned();
            (value("password"), value("accepted-passwords"))
        })
        .collect();
    let checksums = bodies("/statefulsets/redis")
        .iter()
        .map(|statefulset| {
            statefulset["spec"]["template"]["metadata"]["annotations"]
                ["cafectl.io/password-checksum"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    (secrets, checksums)
}

#[tokio::test]
async fn a_new_password_is_rolled_out_in_two_steps_and_never_printed() {
    let (result, output, fake) = apply_a_new_password(
        json!({"password": ByteString(OLD_PASSWORD.into())}),
        true,
        false,
    )
    .await;
    assert_eq!(result.unwrap(), Exit::Success, "{output}");
    let (secrets, checksums) = password_states(&fake);
    let pair = |sent: &str, accepted: String| (sent.to_owned(), accepted);
    assert_eq!(
        secrets,
        [
            pair(OLD_PASSWORD, format!("{OLD_PASSWORD} {NEW_PASSWORD}")),
            pair(NEW_PASSWORD, format!("{NEW_PASSWORD} {OLD_PASSWORD}")),
        ]
    );
    assert_eq!(checksums.len(), 2);
    assert_ne!(checksums[0], checksums[1], "each step rolls the pods");
    assert!(
        output.contains("password change, step 1 of 2: every pod also accepts the new password"),
        "{output}"
    );
    assert!(
        output.contains("step 2 of 2: every pod sends the new password"),
        "{output}"
    );
    assert!(output.contains("--retire-previous-password"), "{output}");
    assert!(
        !output.contains(OLD_PASSWORD) && !output.contains(NEW_PASSWORD),
        "{output}"
    );
}

/// The Secret's values once the new password is sent and the old one still accepted.
fn sending_the_new_accepting_both() -> (String, String) {
    (
        NEW_PASSWORD.to_owned(),
        format!("{NEW_PASSWORD} {OLD_PASSWORD}"),
    )
}

fn changed_secret() -> Value {
    json!({"password": ByteString(NEW_PASSWORD.into()),
           "accepted-passwords": ByteString(format!("{NEW_PASSWORD} {OLD_PASSWORD}").into_bytes())})
}

#[tokio::test]
async fn the_previous_password_stays_accepted_until_retired() {
    let (result, output, fake) = apply_a_new_password(changed_secret(), true, false).await;
    assert_eq!(result.unwrap(), Exit::Success, "{output}");
    let (secrets, _) = password_states(&fake);
    assert_eq!(secrets, [sending_the_new_accepting_both()]);
    assert!(output.contains("--retire-previous-password"), "{output}");
}

#[tokio::test]
async fn retiring_the_previous_password_rolls_the_pods_once_more() {
    let (result, output, fake) = apply_a_new_password(changed_secret(), true, true).await;
    assert_eq!(result.unwrap(), Exit::Success, "{output}");
    let (secrets, checksums) = password_states(&fake);
    assert_eq!(
        secrets,
        [
            sending_the_new_accepting_both(),
            (NEW_PASSWORD.to_owned(), NEW_PASSWORD.to_owned()),
        ]
    );
    assert_ne!(checksums[0], checksums[1]);
    assert!(
        output.contains("step 2 of 2: every pod accepts only the new password"),
        "{output}"
    );
    assert!(!output.contains("--retire-previous-password"), "{output}");
}

#[tokio::test]
async fn a_third_password_is_refused_while_the_previous_one_is_accepted() {
    let (result, _, fake) = apply_a_new_password(
        json!({"password": ByteString("the-third-password-89".into()),
               "accepted-passwords": ByteString(format!("the-third-password-89 {OLD_PASSWORD}").into_bytes())}),
        true,
        false,
    )
    .await;
    let error = format!("{:#}", result.unwrap_err());
    assert!(error.contains("--retire-previous-password"), "{error}");
    assert!(error.contains("Secret/cloud-cafe/redis-auth"), "{error}");
    assert!(
        !error.contains(OLD_PASSWORD) && !error.contains(NEW_PASSWORD),
        "{error}"
    );
    assert!(fake.writes().is_empty(), "nothing is applied");
}

#[tokio::test]
async fn apply_sets_a_new_password_when_no_pod_runs_on_the_old_one() {
    let (result, _, fake) = apply_a_new_password(
        json!({"password": ByteString(OLD_PASSWORD.into())}),
        false,
        false,
    )
    .await;
    assert_eq!(result.unwrap(), Exit::Success);
    let (secrets, _) = password_states(&fake);
    assert_eq!(
        secrets,
        [(NEW_PASSWORD.to_owned(), NEW_PASSWORD.to_owned())]
    );
}

/// Apply of the standalone profile with `sets` over a cluster running it as
/// shipped (its StatefulSet, as rendered), perhaps with --allow-recreate:
/// what apply says, and the fake.
async fn apply_over_the_shipped_statefulset(
    sets: &[&str],
    allow_recreate: bool,
) -> (anyhow::Result<Exit>, FakeApi) {
    let fake = FakeApi::default();
    insert_running_statefulset(&fake, &session(&fake).await);
    let request = ProfileRequest {
        files: profile_args().profiles,
        sets: sets.iter().map(|set| set.parse().unwrap()).collect(),
        ..Default::default()
    };
    let session = start_with(fake.connect(), request).await.unwrap();
    let args = ApplyArgs {
        allow_recreate,
        ..apply_args(false)
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = apply::execute(&session, &args, &mut out, &mut err).await;
    (result, fake)
}

#[tokio::test]
async fn a_destructive_change_is_refused_before_anything_is_applied() {
    let (result, fake) =
        apply_over_the_shipped_statefulset(&["redis.persistence.size=2Gi"], false).await;
    let error = format!("{:#}", result.unwrap_err());
    assert!(
        error.contains("StatefulSet/cloud-cafe/redis: volume claim template data: size 1Gi -> 2Gi"),
        "{error}"
    );
    assert!(
        error.contains("nothing was applied") && error.contains("--allow-recreate"),
        "{error}"
    );
    assert!(
        fake.writes().is_empty(),
        "nothing is applied: {:?}",
        fake.writes()
    );
}

#[tokio::test]
async fn allowed_a_statefulset_is_deleted_alone_before_it_is_applied_again() {
    let (result, fake) =
        apply_over_the_shipped_statefulset(&["redis.persistence.size=2Gi"], true).await;
    assert_eq!(result.unwrap(), Exit::Success);
    let path = object_path("apps/v1", "StatefulSet", NAMESPACE, "redis");
    let writes: Vec<Recorded> = fake
        .writes()
        .into_iter()
        .filter(|write| write.path == path)
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].method, "DELETE");
    assert!(
        writes[0].body.contains("\"propagationPolicy\":\"Orphan\""),
        "{}",
        writes[0].body
    );
    assert_eq!(writes[1].method, "PATCH");
    assert!(writes[1].body.contains("2Gi"));
    // Nothing else is deleted: the pods stay for the new StatefulSet.
    assert!(
        fake.writes()
            .iter()
            .filter(|write| write.method == "DELETE")
            .count()
            == 1
    );
}

#[tokio::test]
async fn a_change_kubernetes_makes_in_place_is_not_destructive() {
    let (result, fake) =
        apply_over_the_shipped_statefulset(&["redis.maxmemory=200mb"], false).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert!(fake.writes().iter().all(|write| write.method != "DELETE"));
}

#[tokio::test]
async fn status_says_it_needs_pods_exec() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let args = ReportArgs {
        profile: profile_args(),
        connection: connection_args(),
        output: None,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let error = super::status::execute(&session, &args, &mut out, &mut err)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("create pods/exec is forbidden"),
        "{error:#}"
    );
}

#[tokio::test]
async fn a_smaller_cluster_moves_its_slots_first_and_without_exec_nothing_is_applied() {
    let cluster = |sets: &[&str]| ProfileRequest {
        files: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/cluster.yaml").into()],
        sets: sets.iter().map(|set| set.parse().unwrap()).collect(),
        ..Default::default()
    };
    let fake = FakeApi::default();
    let larger = start_with(fake.connect(), cluster(&["redis.cluster.masters=4"]))
        .await
        .unwrap();
    insert_running_statefulset(&fake, &larger);
    let shipped = start_with(fake.connect(), cluster(&[])).await.unwrap();

    let (exit, out) = run_diff(&shipped, None).await;
    assert_eq!(exit.unwrap(), Exit::ChangesPending);
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("> StatefulSet/cloud-cafe/redis: 8 -> 6 pods: before redis-6, redis-7 go, apply moves their slots"),
        "{out}"
    );
    assert!(!out.contains("destructive"), "{out}");
    // The fake API refuses pod exec: the slots cannot be moved.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let error = apply::execute(&shipped, &apply_args(false), &mut out, &mut err)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains(
            "StatefulSet/cloud-cafe/redis cannot shrink yet; no pod was removed and nothing was applied: cafectl may not run redis-cli"
        ),
        "{error:#}"
    );
    // Only the diff's dry runs reached the server.
    assert!(
        fake.writes()
            .iter()
            .all(|write| write.query_has("dryRun=All")),
        "nothing is applied: {:?}",
        fake.writes()
    );
}

#[tokio::test]
async fn a_service_monitor_is_applied_where_served_and_left_out_with_a_warning_elsewhere() {
    let with_metrics = || ProfileRequest {
        files: profile_args().profiles,
        sets: vec!["redis.metrics.enabled=true".parse().unwrap()],
        ..Default::default()
    };
    let fake = FakeApi::default();
    let session = start_with(fake.connect(), with_metrics()).await.unwrap();
    let (exit, output) = run_apply(&fake, &session, false).await;
    assert_eq!(exit, Exit::Success, "{output}");
    let kinds = patched_kinds(&fake);
    assert!(kinds.contains(&"servicemonitors".to_owned()), "{kinds:?}");

    let fake = FakeApi {
        unserved: vec!["monitoring.coreos.com/v1"],
        ..FakeApi::default()
    };
    let session = start_with(fake.connect(), with_metrics()).await.unwrap();
    let (exit, output) = run_apply(&fake, &session, false).await;
    assert_eq!(exit, Exit::Success, "{output}");
    assert!(
        output.contains("warning: ServiceMonitor/cloud-cafe/redis-metrics is left out: the cluster does not serve monitoring.coreos.com/v1 ServiceMonitor"),
        "{output}"
    );
    let kinds = patched_kinds(&fake);
    assert!(
        !kinds.contains(&"servicemonitors".to_owned()) && kinds.contains(&"services".to_owned()),
        "{kinds:?}"
    );
    // Nothing asks the server for a kind it does not serve.
    assert!(
        fake.recorded()
            .iter()
            .all(|request| !request.path.contains("servicemonitors")),
        "{:?}",
        fake.recorded()
    );
}

#[tokio::test]
async fn a_custom_kind_deleted_after_discovery_holds_nothing() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    // Its definition goes between discovery and the list (another run's
    // cleanup): the list answers 404.
    fake.fail(Fault::status(
        "GET",
        "/apis/monitoring.coreos.com/v1/namespaces/cloud-cafe/servicemonitors",
        StatusCode::NOT_FOUND,
        "the server could not find the requested resource",
    ));
    let (exit, output) = run_apply(&fake, &session, false).await;
    assert_eq!(exit, Exit::Success, "{output}");
    let (exit, output) = run_teardown(&session, false).await;
    assert_eq!(exit.unwrap(), Exit::Success, "{output}");
    assert!(
        output.contains("Namespace/cloud-cafe deleted") && !output.contains("ServiceMonitor"),
        "{output}"
    );
}

#[tokio::test]
async fn without_aggregated_discovery_teardown_still_sees_what_others_put_in_the_namespace() {
    // The fake API serves only the plain group lists (as servers before
    // Kubernetes 1.26 do).
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let (exit, output) = run_apply(&fake, &session, false).await;
    assert_eq!(exit, Exit::Success, "{output}");
    fake.insert(
        "v1",
        "ConfigMap",
        NAMESPACE,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-notes", "namespace": NAMESPACE}}),
    );
    let (exit, output) = run_teardown(&session, false).await;
    assert_eq!(exit.unwrap(), Exit::Success, "{output}");
    assert!(
        output.contains("Namespace/cloud-cafe kept (it still holds ConfigMap/team-notes;"),
        "{output}"
    );
}

#[tokio::test]
async fn apply_and_teardown_say_what_they_did_as_a_json_line_per_object() {
    let fake = FakeApi::default();
    let session = session(&fake).await;
    let args = ApplyArgs {
        output: Some(crate::cli::OutputFormat::Json),
        ..apply_args(false)
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    apply::execute(&session, &args, &mut out, &mut err)
        .await
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let applied: Vec<&str> = lines
        .iter()
        .map(|line| {
            assert_eq!(line["action"], "applied", "{line}");
            line["object"].as_str().unwrap()
        })
        .collect();
    let rendered: Vec<String> = session.objects.iter().map(ToString::to_string).collect();
    assert_eq!(applied, rendered);

    let (result, output) =
        run_teardown_with(&session, false, Some(crate::cli::OutputFormat::Json)).await;
    result.unwrap();
    let lines: Vec<Value> = output
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!lines.is_empty(), "{output}");
    assert!(
        lines.iter().all(|line| matches!(
            line["action"].as_str(),
            Some("deleted" | "released" | "kept")
        )),
        "{output}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["object"] == "StatefulSet/cloud-cafe/redis"
                && line["action"] == "deleted"),
        "{output}"
    );
}

#[tokio::test]
async fn replicas_are_spread_over_nodes_only_where_redis_can_be_asked() {
    let fake = FakeApi::default();
    let request = ProfileRequest {
        files: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/cluster.yaml").into()],
        ..Default::default()
    };
    let session = start_with(fake.connect(), request).await.unwrap();
    let expected = crate::cluster::health::Expected::of(&session).unwrap();
    let mut err = Vec::new();
    // One node: nothing to spread, nothing asked.
    for ordinal in 0..6 {
        fake.insert(
            "v1",
            "Pod",
            NAMESPACE,
            json!({"metadata": {"name": format!("redis-{ordinal}"), "namespace": NAMESPACE},
                   "spec": {"nodeName": "node-a"}}),
        );
    }
    let moved = crate::cluster::placement::spread(&session, &expected, &mut err)
        .await
        .unwrap();
    assert!(!moved && err.is_empty());
    assert!(fake
        .recorded()
        .iter()
        .all(|request| !request.path.ends_with("/exec")));
    // Two nodes, but pod exec is forbidden (as the fake answers): a warning.
    fake.insert(
        "v1",
        "Pod",
        NAMESPACE,
        json!({"metadata": {"name": "redis-3", "namespace": NAMESPACE}, "spec": {"nodeName": "node-b"}}),
    );
    let moved = crate::cluster::placement::spread(&session, &expected, &mut err)
        .await
        .unwrap();
    assert!(!moved);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "warning: cafectl may not run redis-cli in the pods (create pods/exec is forbidden): the masters' replicas were not spread over the nodes\n"
    );
}
