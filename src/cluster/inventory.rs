//! The inventory: a ConfigMap in the namespace listing every object cafectl
//! applied for one profile and Redis, as kapp and Timoni keep one. Prune and
//! teardown delete only what an inventory lists, so labels alone (which a
//! second Redis of the same profile, or a shared object, also carries)
//! never decide a deletion.

use std::collections::BTreeSet;

use kube::api::DynamicObject;
use kube::ResourceExt;
use serde_json::{json, Value};

use super::live::{self, ApplyOptions};
use super::session::Session;
use crate::render::context::{object_labels, LABEL_PART_OF};
use crate::render::Object;

/// Marks a ConfigMap as an inventory; its value is the Redis's name.
pub const INVENTORY_LABEL: &str = "cafectl.io/inventory";
const OBJECTS_KEY: &str = "objects";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The ConfigMap's name.
    pub name: String,
    /// `profile/redis`, for messages.
    pub owner: String,
    /// The objects, as `Kind/namespace/name` (`Namespace/name`).
    pub objects: BTreeSet<String>,
}

/// The inventory's name for a profile and Redis: dots cannot occur in
/// either (DNS labels), so no two pairs share a name.
pub fn name(profile: &str, redis: &str) -> String {
    format!("cafectl-inventory.{profile}.{redis}")
}

/// The inventory name of the session's profile.
pub fn name_of(session: &Session) -> String {
    name(
        session.profile.name.as_str(),
        session.profile.profile.redis.name.as_str(),
    )
}

impl Inventory {
    /// The inventory a live ConfigMap holds, if it is one.
    pub fn read(object: &DynamicObject) -> Option<Inventory> {
        let labels = object.labels();
        let redis = labels.get(INVENTORY_LABEL)?;
        let profile = labels.get(LABEL_PART_OF).map_or("?", String::as_str);
        let objects = object.data["data"][OBJECTS_KEY]
            .as_str()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Inventory {
            name: object.name_any(),
            owner: format!("{profile}/{redis}"),
            objects,
        })
    }
}

/// Records `objects` as the session's inventory (server-side apply, so the
/// list is replaced whole).
pub async fn write<'a>(
    session: &Session,
    objects: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<()> {
    let listed: BTreeSet<&str> = objects.into_iter().collect();
    let mut labels = object_labels(session.profile.name.as_str(), "inventory");
    labels.insert(
        INVENTORY_LABEL.to_owned(),
        session.profile.profile.redis.name.to_string(),
    );
    let name = name_of(session);
    let body: Value = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": session.namespace(), "labels": labels},
        "data": {OBJECTS_KEY: listed.into_iter().map(|label| format!("{label}\n")).collect::<String>()},
    });
    let api = session.api_for("v1", "ConfigMap")?;
    live::apply(&api, &name, &body, ApplyOptions::default())
        .await
        .map_err(|error| anyhow::anyhow!("cannot record the inventory {name}: {error}"))?;
    Ok(())
}

/// The rendered objects as an inventory lists them.
pub fn labels_of(objects: &[Object]) -> Vec<String> {
    objects.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inventory_is_read_from_its_configmap_and_others_are_not_inventories() {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cafectl-inventory.cafe.redis", "labels": {
                INVENTORY_LABEL: "redis", LABEL_PART_OF: "cafe"}},
            "data": {OBJECTS_KEY: "Secret/ns/a\n\nService/ns/b\n"},
        }))
        .unwrap();
        let inventory = Inventory::read(&object).unwrap();
        assert_eq!(inventory.owner, "cafe/redis");
        assert_eq!(
            inventory.objects,
            BTreeSet::from(["Secret/ns/a".to_owned(), "Service/ns/b".to_owned()])
        );
        let plain: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}}))
        .unwrap();
        assert_eq!(Inventory::read(&plain), None);
        assert_ne!(name("a-b", "c"), name("a", "b-c"));
    }
}
