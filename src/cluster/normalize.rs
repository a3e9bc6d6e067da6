//! Makes a live object and its dry-run comparable: drops what the server
//! keeps for itself, and masks every Secret value.

use serde_json::{Map, Value};

/// Metadata the server maintains; never part of a change.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

pub fn normalize(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            for key in SERVER_METADATA {
                metadata.remove(*key);
            }
            if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
                annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
                if annotations.is_empty() {
                    metadata.remove("annotations");
                }
            }
        }
    }
    object
}

/// Replaces every Secret value (`data`, `stringData`) and every annotation
/// whose key mentions a password or token with `*** (changed)` or
/// `*** (unchanged)`, comparing `before` with `after` key by key.
pub fn mask_pair(
    kind: &str,
    mut before: Option<Value>,
    mut after: Value,
) -> (Option<Value>, Value) {
    let secret_fields: &[&str] = if kind == "Secret" {
        &["data", "stringData"]
    } else {
        &[]
    };
    for field in secret_fields {
        mask_map(
            before.as_mut().map(|v| &mut v[*field]),
            Some(&mut after[*field]),
            |_| true,
        );
    }
    mask_map(
        before.as_mut().map(|v| &mut v["metadata"]["annotations"]),
        Some(&mut after["metadata"]["annotations"]),
        |key| {
            let key = key.to_ascii_lowercase();
            key.contains("password") && !key.starts_with("cafectl.io/")
                || key.contains("token")
                || key.contains("secret")
        },
    );
    if let Some(before) = &mut before {
        drop_nulls(before);
    }
    drop_nulls(&mut after);
    (before, after)
}

fn mask_map(
    before: Option<&mut Value>,
    after: Option<&mut Value>,
    sensitive: impl Fn(&str) -> bool,
) {
    let map_of = |side: &Option<&mut Value>| {
        side.as_ref()
            .and_then(|v| v.as_object())
            .cloned()
            .unwrap_or_default()
    };
    let (before_map, after_map) = (map_of(&before), map_of(&after));
    // A changed value reads `***` before and `*** (changed)` after, so the
    // diff shows a changed line without showing either value.
    let masked = |own: &Map<String, Value>,
                  other: &Map<String, Value>,
                  is_after: bool|
     -> Map<String, Value> {
        own.iter()
            .map(|(key, value)| {
                if !sensitive(key) {
                    return (key.clone(), value.clone());
                }
                let text = match (other.get(key) == Some(value), is_after) {
                    (true, _) => "*** (unchanged)",
                    (false, true) => "*** (changed)",
                    (false, false) => "***",
                };
                (key.clone(), Value::String(text.to_owned()))
            })
            .collect()
    };
    if let Some(before) = before.filter(|before| before.is_object()) {
        *before = Value::Object(masked(&before_map, &after_map, false));
    }
    if let Some(after) = after.filter(|after| after.is_object()) {
        *after = Value::Object(masked(&after_map, &before_map, true));
    }
}

/// `value["x"]` on a missing key inserts a null; take those out again.
fn drop_nulls(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, child| !child.is_null());
        for child in map.values_mut() {
            drop_nulls(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_what_the_server_maintains() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "uid": "1", "resourceVersion": "7", "generation": 2, "creationTimestamp": "t",
                         "managedFields": [{}], "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "data": {"a": "b"}, "status": {"x": 1}});
        assert_eq!(
            normalize(live),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}})
        );
    }

    #[test]
    fn masks_secret_values_and_says_whether_they_changed() {
        let before = json!({"kind": "Secret", "data": {"password": "c2VjcmV0", "other": "eA=="}, "metadata": {"name": "s"}});
        let after = json!({"kind": "Secret", "data": {"password": "c2VjcmV0", "other": "eQ=="}, "metadata": {"name": "s"}});
        let (before, after) = mask_pair("Secret", Some(before), after);
        let before = before.unwrap();
        assert_eq!(after["data"]["password"], "*** (unchanged)");
        assert_eq!(after["data"]["other"], "*** (changed)");
        assert_eq!(before["data"]["other"], "***");
        assert_eq!(before["data"]["password"], "*** (unchanged)");
        assert!(!after.to_string().contains("c2VjcmV0"));
        assert!(!before.to_string().contains("eA=="));
    }

    #[test]
    fn masks_a_new_secret_and_password_annotations() {
        let after = json!({"kind": "Secret", "stringData": {"password": "hunter2-hunter2-hunter2"},
            "metadata": {"name": "s", "annotations": {"example.com/db-password": "p", "cafectl.io/password": "generate-on-create"}}});
        let (before, after) = mask_pair("Secret", None, after);
        assert!(before.is_none());
        assert_eq!(after["stringData"]["password"], "*** (changed)");
        assert_eq!(
            after["metadata"]["annotations"]["example.com/db-password"],
            "*** (changed)"
        );
        assert_eq!(
            after["metadata"]["annotations"]["cafectl.io/password"],
            "generate-on-create"
        );
        assert!(!after.to_string().contains("hunter2"));
    }

    #[test]
    fn leaves_other_kinds_alone() {
        let config = json!({"kind": "ConfigMap", "data": {"password": "not-secret-here"}, "metadata": {"name": "c"}});
        let (_, after) = mask_pair("ConfigMap", None, config.clone());
        assert_eq!(after, config);
    }
}
