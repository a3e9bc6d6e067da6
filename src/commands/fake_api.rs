//! A fake Kubernetes API for the request-shape tests: answers discovery,
//! keeps objects in memory, records every request it is sent, and fails
//! where a test asks it to (`FakeApi::fail`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};

use crate::cluster::connect::Connection;
use crate::cluster::retry;
use crate::render::KINDS;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
    pub at: std::time::Instant,
}

impl Recorded {
    pub fn query_has(&self, pair: &str) -> bool {
        self.query.split('&').any(|part| part == pair)
    }

    /// Whether the request changes something (or would, without dryRun).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

/// An error the fake answers instead of doing what it was asked: to requests
/// with `method` whose path contains `path`, the next `times` times.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path: String,
    pub status: StatusCode,
    pub body: Value,
    pub times: usize,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl Fault {
    /// A Status error as the API server sends it.
    pub fn status(method: &'static str, path: &str, status: StatusCode, message: &str) -> Fault {
        let reason = match status {
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            _ => "InternalError",
        };
        Fault {
            method,
            path: path.to_owned(),
            status,
            body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": message, "reason": reason, "code": status.as_u16()}),
            times: usize::MAX,
            retry_after: None,
        }
    }

    /// A server-side apply that another field manager's field stops, as
    /// kube-apiserver words it.
    pub fn field_conflict(path: &str, field: &str, manager: &str) -> Fault {
        let mut fault = Fault::status(
            "PATCH",
            path,
            StatusCode::CONFLICT,
            &format!("Apply failed with 1 conflict: conflict with \"{manager}\" using v1: {field}"),
        );
        fault.body["details"] = json!({"causes": [{"reason": "FieldManagerConflict",
            "message": format!("conflict with \"{manager}\" using v1"), "field": field}]});
        fault
    }

    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Fault {
        self.retry_after = Some(seconds);
        self
    }
}

#[derive(Clone, Default)]
pub struct FakeApi {
    /// Objects by their URL path (`/api/v1/namespaces/x/configmaps/y`).
    pub objects: Arc<Mutex<BTreeMap<String, Value>>>,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Group versions this API pretends not to serve (e.g. "policy/v1").
    pub unserved: Vec<&'static str>,
    pub faults: Arc<Mutex<Vec<Fault>>>,
}

fn plural(kind: &str) -> String {
    match kind {
        "NetworkPolicy" => "networkpolicies".to_owned(),
        "PodDisruptionBudget" => "poddisruptionbudgets".to_owned(),
        other => format!("{}s", other.to_lowercase()),
    }
}

/// The URL path of an object of `kind` (namespaced unless a Namespace).
pub fn object_path(api_version: &str, kind: &str, namespace: &str, name: &str) -> String {
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    if kind == "Namespace" {
        format!("{prefix}/namespaces/{name}")
    } else {
        format!("{prefix}/namespaces/{namespace}/{}/{name}", plural(kind))
    }
}

impl FakeApi {
    /// A connection whose client talks to this fake.
    pub fn connect(&self) -> Connection {
        self.connect_within(std::time::Duration::from_secs(5))
    }

    /// A connection whose --timeout is `timeout`.
    pub fn connect_within(&self, timeout: std::time::Duration) -> Connection {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let response = fake.answer(request).await;
                respond.send_response(response);
            }
        });
        let service = tower::ServiceBuilder::new()
            .layer(retry::layer(timeout))
            .service(service);
        let client = Client::new(service, "default");
        Connection {
            exec_client: client.clone(),
            client,
            server: "https://fake.invalid/".to_owned(),
            timeout,
        }
    }

    pub fn insert(&self, api_version: &str, kind: &str, namespace: &str, object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        self.objects
            .lock()
            .unwrap()
            .insert(object_path(api_version, kind, namespace, &name), object);
    }

    /// From now on, answer matching requests with this error.
    pub fn fail(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    /// The error a test asked for in answer to this request, if any.
    fn fault_for(&self, method: &str, path: &str) -> Option<Response<Body>> {
        let mut faults = self.faults.lock().unwrap();
        let fault = faults.iter_mut().find(|fault| {
            fault.times > 0 && fault.method == method && path.contains(&fault.path)
        })?;
        fault.times -= 1;
        let mut response = reply(fault.status, fault.body.clone());
        if let Some(seconds) = fault.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, seconds.into());
        }
        Some(response)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn writes(&self) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(Recorded::is_write)
            .collect()
    }

    /// Every served group of cafectl's kinds, one version each.
    fn group_list(&self) -> Value {
        let mut versions: Vec<&str> = KINDS
            .iter()
            .map(|info| info.api_version)
            .filter(|api_version| api_version.contains('/'))
            .filter(|api_version| !self.unserved.contains(api_version))
            .collect();
        versions.sort_unstable();
        versions.dedup();
        let groups: Vec<Value> = versions
            .iter()
            .map(|group_version| {
                let (group, version) = group_version.split_once('/').unwrap();
                let version = json!({"groupVersion": group_version, "version": version});
                json!({"name": group, "versions": [version], "preferredVersion": version})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let content_type = request
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let body = String::from_utf8_lossy(
            &request
                .into_body()
                .collect_bytes()
                .await
                .unwrap_or_default(),
        )
        .into_owned();
        self.requests.lock().unwrap().push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type,
            body: body.clone(),
            at: std::time::Instant::now(),
        });
        if let Some(failure) = self.fault_for(&method, &path) {
            return failure;
        }
        let dry_run = query.contains("dryRun=All");
        let mut objects = self.objects.lock().unwrap();
        match method.as_str() {
            // The group lists discovery starts with (teardown looks
            // through every kind before it deletes a namespace).
            "GET" if path == "/api" => reply(
                StatusCode::OK,
                json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
            ),
            "GET" if path == "/apis" => reply(StatusCode::OK, self.group_list()),
            "GET"
                if path == "/api/v1"
                    || path.starts_with("/apis/") && path.matches('/').count() == 3 =>
            {
                let served = !self.unserved.iter().any(|gv| path.ends_with(gv));
                match resource_list(&path).filter(|_| served) {
                    Some(list) => reply(StatusCode::OK, list),
                    None => not_found(),
                }
            }
            // Like a user without `create pods/exec`: Redis itself cannot be asked.
            "GET" if path.ends_with("/exec") => reply(
                StatusCode::FORBIDDEN,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403}),
            ),
            "GET" => match objects.get(&path) {
                Some(object) => reply(StatusCode::OK, object.clone()),
                None if query.contains("labelSelector") || is_collection(&path) => {
                    let items: Vec<Value> = objects
                        .iter()
                        .filter(|(key, _)| {
                            key.rsplit_once('/').map(|(parent, _)| parent) == Some(path.as_str())
                        })
                        .map(|(_, object)| object.clone())
                        .filter(|object| selects(&query, object))
                        .collect();
                    reply(
                        StatusCode::OK,
                        json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}),
                    )
                }
                None => not_found(),
            },
            "PATCH" => {
                let applied: Value = crate::yaml::from_str(&body).unwrap_or(Value::Null);
                let mut result = objects.get(&path).cloned().unwrap_or_else(|| json!({}));
                merge(&mut result, &applied);
                record_manager(&mut result, &query, "Apply");
                if !dry_run {
                    objects.insert(path, result.clone());
                }
                reply(StatusCode::OK, result)
            }
            "POST" => {
                let mut created: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                record_manager(&mut created, &query, "Update");
                let name = created["metadata"]["name"].as_str().unwrap_or_default();
                let key = format!("{path}/{name}");
                if objects.contains_key(&key) {
                    return reply(
                        StatusCode::CONFLICT,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409}),
                    );
                }
                if !dry_run {
                    objects.insert(key, created.clone());
                }
                reply(StatusCode::CREATED, created)
            }
            "DELETE" => match objects.remove(&path) {
                Some(_) => reply(
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                ),
                None => not_found(),
            },
            _ => not_found(),
        }
    }
}

/// As the API server does: the request's field manager joins the object's
/// managedFields.
fn record_manager(object: &mut Value, query: &str, operation: &str) {
    let Some(manager) = query
        .split('&')
        .find_map(|part| part.strip_prefix("fieldManager="))
    else {
        return;
    };
    let entries = &mut object["metadata"]["managedFields"];
    if !entries.is_array() {
        *entries = json!([]);
    }
    let entries = entries.as_array_mut().unwrap();
    if !entries.iter().any(|entry| entry["manager"] == manager) {
        entries.push(json!({"manager": manager, "operation": operation}));
    }
}

fn is_collection(path: &str) -> bool {
    // /api/v1/namespaces/x/configmaps or /apis/g/v/namespaces/x/kind, or /api/v1/namespaces
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let base = if segments.first() == Some(&"api") {
        2
    } else {
        3
    };
    segments.len() == base + 1 || segments.len() == base + 3
}

fn selects(query: &str, object: &Value) -> bool {
    let Some(selector) = query
        .split('&')
        .find_map(|part| part.strip_prefix("labelSelector="))
    else {
        return true;
    };
    let selector = selector
        .replace("%3D", "=")
        .replace("%2C", ",")
        .replace("%2F", "/");
    selector.split(',').all(|requirement| {
        let (key, value) = requirement.split_once('=').unwrap_or((requirement, ""));
        object["metadata"]["labels"][key] == value
    })
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn not_found() -> Response<Body> {
    reply(
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

/// An APIResourceList for a group version cafectl uses.
fn resource_list(path: &str) -> Option<Value> {
    let group_version = path
        .trim_start_matches("/api/")
        .trim_start_matches("/apis/");
    let kinds = KINDS
        .iter()
        .map(|info| (info.api_version, info.kind))
        .chain([("apps/v1", "Deployment"), ("v1", "Pod")]);
    let resources: Vec<Value> = kinds
        .filter(|(api_version, _)| *api_version == group_version)
        .map(|(_, kind)| {
            json!({"name": plural(kind), "singularName": kind.to_lowercase(), "kind": kind,
                   "namespaced": kind != "Namespace", "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
        })
        .collect();
    (!resources.is_empty()).then(|| json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}
