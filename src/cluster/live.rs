//! Requests on live objects: server-side apply, get, list, create, delete.
//! Every failure is a `RequestError`: its status for the code, and a message
//! that never carries a response body's object (a Secret's data).

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::Value;

use super::discovery::Resource;
use super::error::{RequestError, RequestTarget};
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
    #[error(transparent)]
    Request(#[from] RequestError),
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
                    failed(api, "patch", Some(name), &error).into()
                } else {
                    ApplyError::Conflict { conflicts }
                }
            }
            _ => failed(api, "patch", Some(name), &error).into(),
        })
}

/// The live object, or `None` if there is none.
pub async fn get(
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<Option<DynamicObject>, RequestError> {
    api.get_opt(name)
        .await
        .map_err(|error| failed(api, "get", Some(name), &error))
}

/// Creates an object with a plain create (not apply), so that its fields
/// belong to `manager` and a later apply never removes them. `Ok(false)`:
/// it exists already.
pub async fn create(
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    manager: &str,
    dry_run: bool,
) -> Result<bool, RequestError> {
    let params = PostParams {
        dry_run,
        field_manager: Some(manager.to_owned()),
    };
    match api.create(&params, object).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
        Err(error) => Err(failed(
            api,
            "create",
            object.metadata.name.as_deref(),
            &error,
        )),
    }
}

/// The objects `selector` picks; all of them for an empty selector, which
/// is then not sent at all (rather than as `labelSelector=`).
pub async fn list(
    api: &Api<DynamicObject>,
    selector: &str,
) -> Result<Vec<DynamicObject>, RequestError> {
    let params = match selector {
        "" => ListParams::default(),
        selector => ListParams::default().labels(selector),
    };
    Ok(api
        .list(&params)
        .await
        .map_err(|error| failed(api, "list", None, &error))?
        .items)
}

/// Deletes with background propagation (the API server removes dependents,
/// such as a StatefulSet's pods). A missing object is not an error.
pub async fn delete(api: &Api<DynamicObject>, name: &str) -> Result<(), RequestError> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(failed(api, "delete", Some(name), &error)),
    }
}

/// Deletes with orphan propagation: the object goes, its dependents (a
/// StatefulSet's pods) stay. A missing object is not an error.
pub async fn delete_orphaning(api: &Api<DynamicObject>, name: &str) -> Result<(), RequestError> {
    match api.delete(name, &DeleteParams::orphan()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(failed(api, "delete", Some(name), &error)),
    }
}

/// `verb` on `name` (or on the whole resource) failed with `error`.
fn failed(
    api: &Api<DynamicObject>,
    verb: &str,
    name: Option<&str>,
    error: &kube::Error,
) -> RequestError {
    let resource = RequestTarget::of(api);
    let what = match name {
        Some(name) => format!("{}/{name}", resource.plural),
        None => resource.plural.clone(),
    };
    RequestError::new(verb, &what, &resource, error)
}
