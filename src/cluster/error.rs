//! A failed request, with its HTTP status kept for the code that branches
//! on it and a message that says what failed and what to do. The message
//! carries the API's own words (which name a field, never a value of a
//! Secret cafectl sends without data), never a response body's object.

use kube::api::{Api, DynamicObject};

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// The HTTP status, or `None` when no answer came (connection, TLS, timeout).
    pub status: Option<u16>,
    message: String,
}

impl RequestError {
    /// `verb` as kubectl names it (get, list, patch, create, delete) on
    /// `what` (as `Kind/namespace/name` or a resource), which `error` stopped.
    pub fn new(
        verb: &str,
        what: &str,
        resource: &RequestTarget,
        error: &kube::Error,
    ) -> RequestError {
        let (status, said) = describe(error);
        let advice = match status {
            Some(403) => format!(
                "; forbidden: cafectl may not {verb} {}{}; ask a cluster admin for that permission (check with `kubectl auth can-i {verb} {}{}`)",
                resource.plural,
                resource.namespace.as_ref().map(|ns| format!(" in namespace {ns}")).unwrap_or_default(),
                resource.plural,
                resource.namespace.as_ref().map(|ns| format!(" -n {ns}")).unwrap_or_default(),
            ),
            Some(401) => "; the kubeconfig's credentials were refused: log in again or pick another --context".to_owned(),
            Some(429 | 503 | 504) => "; the API server is overloaded and still was after cafectl retried within --timeout: try again later or raise --timeout".to_owned(),
            Some(500..=599) => "; the API server failed: try again, and look at the API server if it persists".to_owned(),
            _ => String::new(),
        };
        let message = format!("cannot {verb} {what}: {said}{advice}");
        RequestError { status, message }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}

/// The resource a request went to, as RBAC names it: its plural and, if
/// namespaced, its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    pub plural: String,
    pub namespace: Option<String>,
}

impl RequestTarget {
    /// Read from the API's URL (`/apis/apps/v1/namespaces/x/statefulsets`).
    pub fn of(api: &Api<DynamicObject>) -> RequestTarget {
        let segments: Vec<&str> = api.resource_url().rsplit('/').collect();
        // Reversed: [plural, namespace, "namespaces", ...] when namespaced.
        let namespace = match segments.as_slice() {
            [_, namespace, "namespaces", ..] => Some((*namespace).to_owned()),
            _ => None,
        };
        RequestTarget {
            plural: segments.first().copied().unwrap_or_default().to_owned(),
            namespace,
        }
    }
}

/// The HTTP status and one line on what happened: the API's own message
/// with its status, or for a transport error the innermost two causes
/// (kube nests wrappers such as "client error (Connect)").
pub fn describe(error: &kube::Error) -> (Option<u16>, String) {
    if let kube::Error::Api(status) = error {
        let said = if status.message.is_empty() {
            &status.reason
        } else {
            &status.message
        };
        return (Some(status.code), format!("{said} (HTTP {})", status.code));
    }
    (None, innermost_causes(error))
}

/// The innermost two causes of a transport error, which say what happened
/// (the outer ones are wrappers such as "client error (Connect)").
pub fn innermost_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    let innermost = chain.len().saturating_sub(2);
    chain[innermost..].join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn status(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(
            Status::failure(message, "Forbidden").with_code(code),
        ))
    }

    fn configmaps() -> RequestTarget {
        RequestTarget {
            plural: "configmaps".to_owned(),
            namespace: Some("cloud-cafe".to_owned()),
        }
    }

    #[test]
    fn a_403_names_the_verb_and_the_resource_and_how_to_check() {
        let error = RequestError::new(
            "patch",
            "ConfigMap/cloud-cafe/app-config",
            &configmaps(),
            &status(403, "configmaps \"app-config\" is forbidden"),
        );
        assert_eq!(error.status, Some(403));
        let message = error.to_string();
        assert!(message.starts_with("cannot patch ConfigMap/cloud-cafe/app-config: configmaps \"app-config\" is forbidden (HTTP 403); forbidden: cafectl may not patch configmaps in namespace cloud-cafe"), "{message}");
        assert!(
            message.contains("kubectl auth can-i patch configmaps -n cloud-cafe"),
            "{message}"
        );
    }

    #[test]
    fn a_busy_server_says_it_was_retried() {
        let error = RequestError::new(
            "list",
            "ConfigMaps",
            &configmaps(),
            &status(429, "slow down"),
        );
        assert_eq!(error.status, Some(429));
        assert!(
            error.to_string().contains("retried within --timeout"),
            "{error}"
        );
        assert!(!error.is_not_found());
        let error = RequestError::new("get", "x", &configmaps(), &status(404, "gone"));
        assert!(error.is_not_found());
    }
}
