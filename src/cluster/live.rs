//! Requests on live objects: server-side apply, get, list, delete. Every
//! error that reaches the user goes through `describe_error`, which never
//! carries a response body's object (a Secret's data) into the message.

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::Value;

use super::discovery::Resource;
use super::FIELD_MANAGER;

/// Where an object lives: its API and, if namespaced, its namespace.
pub fn api(client: &Client, resource: &Resource, namespace: &str) -> Api<DynamicObject> {
    if resource.namespaced {
        Api::namespaced_with(client.clone(), namespace, &resource.api)
    } else {
        Api::all_with(client.clone(), &resource.api)
    }
}

/// Another field manager owns a field this apply sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub field: String,
    pub manager: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{} owned by another field manager: {}; to take them over, re-run with --force-conflicts",
        if conflicts.len() == 1 { "a field is" } else { "fields are" },
        conflicts.iter().map(|c| format!("{} (manager \"{}\")", c.field, c.manager)).collect::<Vec<_>>().join(", "))]
    Conflict { conflicts: Vec<Conflict> },
    /// The object's namespace (or the object, for a non-apply) is missing.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Rejected(String),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    pub force: bool,
    pub dry_run: bool,
}

/// Server-side apply of one object with the field manager `cafectl`.
pub async fn apply(
    api: &Api<DynamicObject>,
    name: &str,
    object: &Value,
    options: ApplyOptions,
) -> Result<DynamicObject, ApplyError> {
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = options.force;
    params.dry_run = options.dry_run;
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .map_err(|error| match &error {
            kube::Error::Api(status) if status.is_conflict() => {
                let causes = status
                    .details
                    .as_ref()
                    .map(|details| details.causes.clone())
                    .unwrap_or_default();
                let conflicts: Vec<Conflict> = causes
                    .iter()
                    .map(|cause| Conflict {
                        field: cause.field.clone(),
                        manager: cause
                            .message
                            .split('"')
                            .nth(1)
                            .unwrap_or("unknown")
                            .to_owned(),
                    })
                    .collect();
                if conflicts.is_empty() {
                    ApplyError::Rejected(describe_error(&error))
                } else {
                    ApplyError::Conflict { conflicts }
                }
            }
            kube::Error::Api(status) if status.is_not_found() => {
                ApplyError::NotFound(describe_error(&error))
            }
            _ => ApplyError::Rejected(describe_error(&error)),
        })
}

/// The live object, or `None` if there is none.
pub async fn get(
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<Option<DynamicObject>, kube::Error> {
    api.get_opt(name).await
}

/// Creates an object with a plain create (not apply), so that its fields
/// belong to `manager` and a later apply never removes them.
pub async fn create(
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    manager: &str,
    dry_run: bool,
) -> Result<DynamicObject, kube::Error> {
    let params = PostParams {
        dry_run,
        field_manager: Some(manager.to_owned()),
    };
    api.create(&params, object).await
}

/// The objects `selector` picks; all of them for an empty selector, which
/// is then not sent at all (rather than as `labelSelector=`).
pub async fn list(
    api: &Api<DynamicObject>,
    selector: &str,
) -> Result<Vec<DynamicObject>, kube::Error> {
    let params = match selector {
        "" => ListParams::default(),
        selector => ListParams::default().labels(selector),
    };
    Ok(api.list(&params).await?.items)
}

/// Deletes with background propagation (the API server removes dependents,
/// such as a StatefulSet's pods). A missing object is not an error.
pub async fn delete(
    api: &Api<DynamicObject>,
    name: &str,
    dry_run: bool,
) -> Result<(), kube::Error> {
    let params = DeleteParams {
        dry_run,
        ..DeleteParams::background()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(error),
    }
}

/// One line about a failed request: the API's own message (which names the
/// field, never a value of a Secret cafectl sends without data), or the
/// transport error.
pub fn describe_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            };
            format!("{message} (HTTP {})", status.code)
        }
        // Transport errors nest wrappers ("client error (Connect)"); the
        // innermost two say what happened.
        other => {
            let mut chain = vec![other.to_string()];
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                chain.push(cause.to_string());
                source = cause.source();
            }
            let innermost = chain.len().saturating_sub(2);
            chain[innermost..].join(": ")
        }
    }
}
