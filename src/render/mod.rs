//! Profile -> Kubernetes objects. Offline: nothing here talks to a cluster.
//!
//! Templates lay out values computed in `context`; every object they produce
//! is labelled here, parsed into its `k8s-openapi` type (a misspelled or
//! unknown field is an error, not silently dropped) and put in apply order.

mod checksum;
pub mod context;
mod objects;
pub mod passwords;
mod templates;

use minijinja::Value;

pub use objects::{kind_info, KindInfo, Object, Stage, KINDS};

use crate::profile::{Topology, ValidProfile};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {template} failed: {message}")]
    Template { template: String, message: String },
    #[error("template {template} produced an invalid object{object}: {message}")]
    InvalidObject {
        template: String,
        object: String,
        message: String,
    },
}

/// Starts compiling the templates on a second thread, for a render soon.
pub fn prepare() {
    // An error shows when the render asks for the templates.
    let _ = templates::Ahead::started();
}

/// `render` for a command: a render that fails is cafectl's bug, and the
/// error says so.
pub fn rendered(valid: &ValidProfile) -> anyhow::Result<Vec<Object>> {
    use anyhow::Context as _;
    render(valid).context("cafectl could not render this profile; this is a bug, please report it")
}

/// Renders every object of the profile, in apply order.
pub fn render(valid: &ValidProfile) -> Result<Vec<Object>, RenderError> {
    let templates = templates::Ahead::started().map_err(|error| RenderError::Template {
        template: error.name().unwrap_or("?").to_owned(),
        message: error.to_string(),
    })?;
    templates.rendering(valid.profile.redis.topology);
    let mut context = context::build(valid);
    // The context is handed to the templates as one value per stage, not
    // converted again for each template: once for the scripts and the
    // configuration, once with those and their checksums.
    let mut values = template_values(&context);
    let scripts = render_scripts(templates, &values, valid.profile.redis.topology)?;

    // What the pods read at start (a change rolls them), and that plus what
    // only the bootstrap Job runs (a change makes a new Job): a larger
    // cluster changes the bootstrap script alone, and rolls nothing while
    // its Job adds the new nodes.
    let (mut pods_digest, mut job_digest) = (checksum::Fnv64::new(), checksum::Fnv64::new());
    for script in templates::SCRIPTS {
        let Some(text) = scripts.get(script.file_name) else {
            continue;
        };
        for digest in [&mut job_digest]
            .into_iter()
            .chain(script.run_by_pods.then_some(&mut pods_digest))
        {
            digest.update(script.file_name.as_bytes());
            digest.update(text.as_bytes());
        }
    }
    let mut scripts = Some(scripts);
    let mut objects = Vec::new();
    for (order, component) in templates::COMPONENTS.iter().enumerate() {
        // Config components come first; the workloads see their checksums.
        if !component.feeds_config_checksum && context.config_checksum.is_empty() {
            context.set_config_checksums(pods_digest.hex(), &job_digest.hex());
            values = template_values(&context);
        }
        let text = render_template(templates, component.template.name, &values)?;
        // Rendering stays quick only while templates keep to plain block YAML.
        debug_assert!(
            crate::yaml::block::documents(&text).is_some(),
            "{} writes YAML that only the full parser reads:\n{text}",
            component.template.name
        );
        if component.feeds_config_checksum {
            pods_digest.update(text.as_bytes());
            job_digest.update(text.as_bytes());
        }
        for document in objects::documents(&text).map_err(|message| RenderError::InvalidObject {
            template: component.template.name.to_owned(),
            object: String::new(),
            message,
        })? {
            let mut object =
                Object::checked(document, &context.profile, component.component, order).map_err(
                    |(object, message)| RenderError::InvalidObject {
                        template: component.template.name.to_owned(),
                        object: format!(" {object}"),
                        message,
                    },
                )?;
            if object.kind == "ConfigMap" && object.name == context.redis.scripts_config_map {
                // Plain text in a ConfigMap's data needs no typed check.
                object.value["data"] = scripts.take().into_iter().flatten().collect();
            }
            objects.push(object);
        }
    }
    objects.sort_by_key(|object| (object.stage, object.template_order));
    Ok(objects)
}

/// All objects as one multi-document YAML stream.
pub fn to_yaml_stream(objects: &[Object]) -> String {
    objects
        .iter()
        .map(Object::to_yaml)
        .collect::<Vec<_>>()
        .join("---\n")
}

fn render_scripts(
    templates: &templates::Ahead,
    context: &Value,
    topology: Topology,
) -> Result<std::collections::BTreeMap<String, String>, RenderError> {
    templates::SCRIPTS
        .iter()
        .filter(|script| script.topologies.contains(&topology))
        .map(|script| {
            Ok((
                script.file_name.to_owned(),
                render_template(templates, script.template.name, context)?,
            ))
        })
        .collect()
}

/// What the templates see of `context`.
fn template_values(context: &context::Context) -> Value {
    Value::from(minijinja::value::Serde(context))
}

fn render_template(
    templates: &templates::Ahead,
    name: &str,
    context: &Value,
) -> Result<String, RenderError> {
    let failed = |message: String| RenderError::Template {
        template: name.to_owned(),
        message,
    };
    templates
        .get(name)
        .map_err(failed)?
        .render(context.clone())
        .map_err(|error| failed(error.to_string()))
}
