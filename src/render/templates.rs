//! The templates, compiled into the binary so that `render` needs no files
//! beside it, and the order they are rendered in.

use std::sync::OnceLock;

use minijinja::{Environment, Template as Compiled, UndefinedBehavior};

use crate::profile::Topology;

/// A template's name under `templates/` and its text.
pub struct Template {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! template {
    ($name:literal) => {
        Template {
            name: $name,
            source: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)),
        }
    };
}

pub struct Component {
    pub template: Template,
    /// The `app.kubernetes.io/component` label of what it renders.
    pub component: &'static str,
    /// Its output is configuration the Redis pods read at start. Rendered
    /// before the checksums exist.
    pub feeds_config_checksum: bool,
}

/// In render order; configuration the pods read comes first.
pub const COMPONENTS: &[Component] = &[
    Component {
        template: template!("redis-config.yaml.j2"),
        component: "redis",
        feeds_config_checksum: true,
    },
    // Its scripts are hashed one by one, and put into it (see `render`).
    Component {
        template: template!("redis-scripts.yaml.j2"),
        component: "redis",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("namespace.yaml.j2"),
        component: "namespace",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("secret.yaml.j2"),
        component: "redis",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("app-config.yaml.j2"),
        component: "app-config",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("network-policy.yaml.j2"),
        component: "redis",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("services.yaml.j2"),
        component: "redis",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("metrics.yaml.j2"),
        component: super::context::METRICS_COMPONENT,
        feeds_config_checksum: false,
    },
    Component {
        template: template!("redis-statefulset.yaml.j2"),
        component: "redis",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("pod-disruption-budget.yaml.j2"),
        component: "redis",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("cluster-bootstrap-job.yaml.j2"),
        component: "cluster-bootstrap",
        feeds_config_checksum: false,
    },
    Component {
        template: template!("hpa.yaml.j2"),
        component: "autoscaler",
        feeds_config_checksum: false,
    },
];

/// Shell scripts the pods run, shipped in the scripts ConfigMap.
pub struct Script {
    pub file_name: &'static str,
    pub template: Template,
    pub topologies: &'static [Topology],
    /// Run by the Redis pods (a change restarts them), not only by the
    /// cluster bootstrap Job or by cafectl (a change starts a new Job, and
    /// no roll).
    pub run_by_pods: bool,
}

pub const SCRIPTS: &[Script] = &[
    Script {
        file_name: "lib.sh",
        template: template!("scripts/lib.sh.j2"),
        topologies: &[Topology::Standalone, Topology::Sentinel, Topology::Cluster],
        run_by_pods: true,
    },
    Script {
        file_name: "start-redis.sh",
        template: template!("scripts/start-redis.sh.j2"),
        topologies: &[Topology::Standalone, Topology::Sentinel, Topology::Cluster],
        run_by_pods: true,
    },
    Script {
        file_name: "probe.sh",
        template: template!("scripts/probe.sh.j2"),
        topologies: &[Topology::Standalone, Topology::Sentinel, Topology::Cluster],
        run_by_pods: true,
    },
    Script {
        file_name: "pre-stop.sh",
        template: template!("scripts/pre-stop.sh.j2"),
        topologies: &[Topology::Sentinel, Topology::Cluster],
        run_by_pods: true,
    },
    Script {
        file_name: "start-sentinel.sh",
        template: template!("scripts/start-sentinel.sh.j2"),
        topologies: &[Topology::Sentinel],
        run_by_pods: true,
    },
    Script {
        file_name: "cluster-bootstrap.sh",
        template: template!("scripts/cluster-bootstrap.sh.j2"),
        topologies: &[Topology::Cluster],
        run_by_pods: false,
    },
    Script {
        file_name: "shrink.sh",
        template: template!("scripts/shrink.sh.j2"),
        topologies: &[Topology::Sentinel, Topology::Cluster],
        run_by_pods: false,
    },
];

/// The templates' environment: filters, syntax and where each template's
/// text is. Templates are compiled through `Ahead`.
pub fn environment() -> Result<&'static Environment<'static>, minijinja::Error> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    if let Some(environment) = ENVIRONMENT.get() {
        return Ok(environment);
    }
    // Only the filters and tests the templates use: building minijinja's
    // hundred built-ins took longer than compiling a template.
    let mut environment = Environment::empty();
    environment.add_filter("items", minijinja::filters::items);
    environment.add_filter("join", minijinja::filters::join);
    environment.add_filter("replace", minijinja::filters::replace);
    environment.add_filter("tojson", minijinja::filters::tojson);
    environment.add_test("none", minijinja::tests::is_none);
    // A typo in a template is an error, never an empty string.
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    // minijinja would JSON-escape every value of a `.yaml` template; values
    // that need quoting go through `tojson` explicitly instead.
    environment.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    environment.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    environment.set_loader(|name| Ok(source(name).map(str::to_owned)));
    Ok(ENVIRONMENT.get_or_init(|| environment))
}

/// Every template, each compiled once, by whichever thread comes to it
/// first: compiling is a third of a render, so a second thread, started
/// before the profile is even read, compiles from the last template back
/// while the render works from the first (and waits for one being
/// compiled). Once the profile is read, it skips the scripts of other
/// topologies.
pub struct Ahead {
    environment: &'static Environment<'static>,
    names: Vec<&'static str>,
    compiled: Vec<OnceLock<Result<Compiled<'static, 'static>, String>>>,
    /// The topology of the profile being rendered, once it is known.
    topology: OnceLock<Topology>,
}

impl Ahead {
    /// The templates, and the thread compiling them (started on the first
    /// call; without it the render compiles each template itself).
    pub fn started() -> Result<&'static Ahead, minijinja::Error> {
        static AHEAD: OnceLock<Ahead> = OnceLock::new();
        let environment = environment()?;
        let mut first = false;
        let ahead = AHEAD.get_or_init(|| {
            first = true;
            let names: Vec<_> = SCRIPTS
                .iter()
                .map(|script| script.template.name)
                .chain(COMPONENTS.iter().map(|component| component.template.name))
                .collect();
            let compiled = names.iter().map(|_| OnceLock::new()).collect();
            Ahead {
                environment,
                names,
                compiled,
                topology: OnceLock::new(),
            }
        });
        if first {
            // Never writes anywhere: the main thread may hold stdout's or
            // stderr's lock all along.
            let _ = std::thread::Builder::new()
                .name("compile-templates".to_owned())
                .spawn(|| ahead.compile_backwards());
        }
        Ok(ahead)
    }

    /// The template called `name`, compiled; or what is wrong with it.
    pub fn get(&self, name: &str) -> Result<&Compiled<'static, 'static>, String> {
        let Some(index) = self.names.iter().position(|known| *known == name) else {
            return Err(format!("{name} is not among this render's templates"));
        };
        self.compiled[index]
            .get_or_init(|| self.compile(name))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Says which topology is rendered: the thread need not compile the
    /// scripts of the others (a render of another in the same process
    /// compiles them as it comes to them).
    pub fn rendering(&self, topology: Topology) {
        let _ = self.topology.set(topology);
    }

    /// Compiles every template the render may need, the last one first.
    fn compile_backwards(&self) {
        for (name, compiled) in self.names.iter().zip(&self.compiled).rev() {
            let unneeded = self.topology.get().is_some_and(|topology| {
                SCRIPTS.iter().any(|script| {
                    script.template.name == *name && !script.topologies.contains(topology)
                })
            });
            if !unneeded {
                compiled.get_or_init(|| self.compile(name));
            }
        }
    }

    fn compile(&self, name: &str) -> Result<Compiled<'static, 'static>, String> {
        self.environment
            .get_template(name)
            .map_err(|error| error.to_string())
    }
}

/// The text of the template called `name`.
fn source(name: &str) -> Option<&'static str> {
    COMPONENTS
        .iter()
        .map(|component| &component.template)
        .chain(SCRIPTS.iter().map(|script| &script.template))
        .find(|template| template.name == name)
        .map(|template| template.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_compiled_in_and_compiles() {
        let environment = environment().unwrap();
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut on_disk = Vec::new();
        for folder in [directory.to_owned(), format!("{directory}/scripts")] {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let name = path
                        .strip_prefix(directory)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    assert!(
                        environment.get_template(&name).is_ok(),
                        "{name} is not compiled in"
                    );
                    on_disk.push(name);
                }
            }
        }
        assert_eq!(on_disk.len(), COMPONENTS.len() + SCRIPTS.len());
    }
}
