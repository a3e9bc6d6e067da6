//! Rendered objects: labelled, checked against their Kubernetes types, and
//! staged in the order `apply` sends them.

use std::fmt;

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::Job,
    core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service},
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

use super::context::object_labels;

/// A kind cafectl renders (or, for volume claims, creates through a
/// StatefulSet): where it goes in the apply order and its typed check.
pub struct KindInfo {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// Its resource in the API's URLs (fixed by Kubernetes, or by the
    /// extension that defines the kind).
    pub plural: &'static str,
    pub stage: Stage,
    check: fn(&Value) -> Result<Value, String>,
    /// Served only where an extension installed it (a CRD): objects of
    /// the kind are left out, with a warning, where it is not.
    pub optional: bool,
}

/// Every kind that can carry this profile's labels.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        api_version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        stage: Stage::Namespace,
        check: round_trip::<Namespace>,
        optional: false,
    },
    KindInfo {
        api_version: "v1",
        kind: "Secret",
        plural: "secrets",
        stage: Stage::Config,
        check: round_trip::<Secret>,
        optional: false,
    },
    KindInfo {
        api_version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        stage: Stage::Config,
        check: round_trip::<ConfigMap>,
        optional: false,
    },
    KindInfo {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        stage: Stage::Config,
        check: round_trip::<NetworkPolicy>,
        optional: false,
    },
    KindInfo {
        api_version: "v1",
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
        stage: Stage::Storage,
        check: round_trip::<PersistentVolumeClaim>,
        optional: false,
    },
    KindInfo {
        api_version: "v1",
        kind: "Service",
        plural: "services",
        stage: Stage::Services,
        check: round_trip::<Service>,
        optional: false,
    },
    // The Prometheus Operator's.
    KindInfo {
        api_version: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        plural: "servicemonitors",
        stage: Stage::Services,
        check: custom_resource,
        optional: true,
    },
    KindInfo {
        api_version: "apps/v1",
        kind: "StatefulSet",
        plural: "statefulsets",
        stage: Stage::Workloads,
        check: round_trip::<StatefulSet>,
        optional: false,
    },
    KindInfo {
        api_version: "policy/v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        stage: Stage::Workloads,
        check: round_trip::<PodDisruptionBudget>,
        optional: false,
    },
    KindInfo {
        api_version: "batch/v1",
        kind: "Job",
        plural: "jobs",
        stage: Stage::Jobs,
        check: round_trip::<Job>,
        optional: false,
    },
    KindInfo {
        api_version: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        stage: Stage::Autoscalers,
        check: round_trip::<HorizontalPodAutoscaler>,
        optional: false,
    },
];

pub fn kind_info(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|info| info.api_version == api_version && info.kind == kind)
}

/// Apply order: each stage only needs what earlier stages created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Namespace,
    /// ConfigMaps, Secrets and NetworkPolicies: in place before any pod starts.
    Config,
    Storage,
    Services,
    /// StatefulSets and their PodDisruptionBudgets.
    Workloads,
    Jobs,
    Autoscalers,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub stage: Stage,
    /// Position of the template that rendered it; keeps the order stable.
    pub template_order: usize,
    /// As the typed round trip prints it: fields in schema order.
    pub value: Value,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{}/{}", self.kind, namespace, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

impl Object {
    /// Labels a rendered document and checks it against its Kubernetes type.
    /// The error names the object as well as it can.
    pub(super) fn checked(
        mut document: Value,
        profile: &str,
        component: &str,
        template_order: usize,
    ) -> Result<Object, (String, String)> {
        let text_at = |document: &Value, keys: &[&str]| -> Option<String> {
            keys.iter()
                .try_fold(document, |node, key| node.get(*key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let api_version = text_at(&document, &["apiVersion"]).unwrap_or_default();
        let kind = text_at(&document, &["kind"]).unwrap_or_default();
        let name = text_at(&document, &["metadata", "name"]).unwrap_or_default();
        let namespace = text_at(&document, &["metadata", "namespace"]);
        let label = format!("{kind}/{name}");

        let labels = document
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| (label.clone(), "has no metadata".to_owned()))?
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        let labels = labels
            .as_object_mut()
            .ok_or_else(|| (label.clone(), "metadata.labels is not a mapping".to_owned()))?;
        for (key, value) in object_labels(profile, component) {
            labels.insert(key.to_owned(), Value::from(value));
        }

        let Some(info) = kind_info(&api_version, &kind) else {
            return Err((
                label,
                format!("{api_version} {kind} is not a kind cafectl renders"),
            ));
        };
        let (stage, value) = (info.stage, (info.check)(&document));
        let value = value.map_err(|message| (label.clone(), message))?;
        if name.is_empty() {
            return Err((label, "has no metadata.name".to_owned()));
        }
        Ok(Object {
            api_version,
            kind,
            name,
            namespace,
            stage,
            template_order,
            value,
        })
    }

    /// `<kind>-<name>.yaml`, as `render -o DIR` writes it.
    pub fn file_name(&self) -> String {
        format!("{}-{}.yaml", self.kind.to_lowercase(), self.name)
    }

    /// Whether this object's file must be readable by its owner only: a
    /// Secret may carry the password the user gave.
    pub fn is_secret(&self) -> bool {
        self.kind == "Secret"
    }

    pub fn to_yaml(&self) -> String {
        crate::yaml::to_string(&self.value)
    }
}

/// Splits a template's output into its non-empty YAML documents.
pub(super) fn documents(text: &str) -> Result<Vec<Value>, String> {
    crate::yaml::documents(text).map_err(|error| match error.position {
        Some((line, column)) => format!("not valid YAML at {line}:{column}: {error}"),
        None => format!("not valid YAML: {error}"),
    })
}

/// Parses `document` into its Kubernetes type and prints it back. What the
/// type does not know (a misspelled field) is lost on the way, and what it
/// requires but the template left out comes back filled in: either way the
/// two differ, and that is an error.
fn round_trip<T: DeserializeOwned + Serialize>(document: &Value) -> Result<Value, String> {
    // Tracking the path costs on every field; it is only wanted for an error.
    let typed = T::deserialize(document).or_else(|_| {
        serde_path_to_error::deserialize::<_, T>(document)
            .map_err(|error| format!("{}: {}", error.path(), error.inner()))
    })?;
    let printed = serde_json::to_value(&typed).map_err(|error| error.to_string())?;
    // One comparison; the two ways round only to say where they differ.
    if printed == *document {
        return Ok(printed);
    }
    if let Some(path) = first_difference(document, &printed) {
        return Err(format!(
            "{path} is not a field of this kind (or has the wrong shape)"
        ));
    }
    match first_difference(&printed, document) {
        Some(path) => Err(format!("{path} is required but missing")),
        None => Ok(printed),
    }
}

/// A custom resource has no type here: its spec must be a mapping; the
/// server that serves the kind checks the rest.
fn custom_resource(document: &Value) -> Result<Value, String> {
    if document.get("spec").is_some_and(Value::is_object) {
        Ok(document.clone())
    } else {
        Err(".spec is required but missing".to_owned())
    }
}

/// The first path at which `left` has something `right` lacks or holds
/// differently, as `spec.ports[0].port`.
fn first_difference(left: &Value, right: &Value) -> Option<String> {
    let mut steps = Vec::new();
    if !differs(left, right, &mut steps) {
        return None;
    }
    if steps.is_empty() {
        return Some("the object".to_owned());
    }
    let mut path = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Key(key) if path.is_empty() => path.push_str(key),
            Step::Key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Step::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    Some(path)
}

/// A step into a value: a mapping key or a list index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Whether `left` has something `right` lacks or holds differently; if so,
/// `steps` holds the path to it, innermost step first. (Built only on the
/// way out of a difference: comparing equal objects allocates nothing.)
fn differs<'a>(left: &'a Value, right: &Value, steps: &mut Vec<Step<'a>>) -> bool {
    let found = match (left, right) {
        (Value::Object(left), Value::Object(right)) => left.iter().find_map(|(key, value)| {
            let deeper = match right.get(key) {
                Some(right) => differs(value, right, steps),
                None => true,
            };
            deeper.then_some(Step::Key(key))
        }),
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => left
            .iter()
            .zip(right)
            .enumerate()
            .find_map(|(index, (left, right))| {
                differs(left, right, steps).then_some(Step::Index(index))
            }),
        (left, right) => return left != right,
    };
    match found {
        Some(step) => {
            steps.push(step);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Object, (String, String)> {
        Object::checked(crate::yaml::from_str(text).unwrap(), "demo", "redis", 0)
    }

    #[test]
    fn labels_every_object_and_keeps_its_own_labels() {
        let object = check("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {mine: x}}\ndata: {a: b}\n").unwrap();
        let labels = &object.value["metadata"]["labels"];
        assert_eq!(labels["mine"], Value::from("x"));
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            Value::from("cafectl")
        );
        assert_eq!(labels["app.kubernetes.io/part-of"], Value::from("demo"));
        assert_eq!(labels["app.kubernetes.io/component"], Value::from("redis"));
        assert_eq!(object.stage, Stage::Config);
    }

    #[test]
    fn a_misspelled_field_is_an_error() {
        let (object, message) =
            check("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1, targetPrt: 2}]}\n")
                .unwrap_err();
        assert_eq!(object, "Service/s");
        assert_eq!(
            message,
            "spec.ports[0].targetPrt is not a field of this kind (or has the wrong shape)"
        );
    }

    #[test]
    fn a_wrong_type_or_missing_required_field_is_an_error() {
        let (_, message) = check(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: http}]}\n",
        )
        .unwrap_err();
        assert!(
            message.starts_with("spec.ports[0].port: invalid type"),
            "{message}"
        );
        let (_, message) = check(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec: {maxReplicas: 3}\n",
        )
        .unwrap_err();
        assert_eq!(message, "spec.scaleTargetRef is required but missing");
    }

    #[test]
    fn an_unknown_kind_is_an_error() {
        let (_, message) = check("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n").unwrap_err();
        assert_eq!(message, "v1 Pod is not a kind cafectl renders");
    }
}
