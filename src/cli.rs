//! The command line: verbs, flags and their help. Parsing only; the work is
//! in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::profile::{ProfileRequest, SetOverride};

const ABOUT: &str = "Turn one declarative profile into a highly available Redis cache plus \
HorizontalPodAutoscalers on Kubernetes, and keep the cluster in step with it.";

const AFTER_HELP: &str = "\
Examples:
  cafectl render -p profiles/standalone.yaml
  cafectl render -p profiles/sentinel.yaml -p my-overrides.yaml --set redis.maxmemory=512mb
  cafectl render -p profiles/cluster.yaml -n staging -o out/

Exit codes: 0 success (diff: no changes), 1 error, 2 changes pending (diff, apply --dry-run),
64 command-line usage error.";

#[derive(Debug, Parser)]
#[command(name = "cafectl", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the Kubernetes YAML for a profile, in apply order. Offline: never contacts a cluster.
    #[command(
        after_help = "The YAML goes to stdout as one multi-document stream, or with -o/--output-dir \
to one file per object named <kind>-<name>.yaml.\nWithout redis.auth.password the Secret is printed \
without a value: `cafectl apply` generates the password when it first creates the Secret."
    )]
    Render(RenderArgs),
    /// Show what `apply` would change: server-side dry-run compared with the live objects. [not built yet]
    Diff(ProfileArgs),
    /// Server-side apply in dependency order, wait until ready, prune what the profile no longer has. [not built yet]
    Apply(ProfileArgs),
    /// Delete what the profile created, in reverse order; data volumes are kept unless asked. [not built yet]
    Teardown(ProfileArgs),
}

/// Which profile, shared by every verb.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// Profile file (YAML). Repeat to layer files: later files override earlier ones, key by key;
    /// autoscaling entries are matched by name.
    #[arg(short = 'p', long = "profile", value_name = "FILE", required = true)]
    pub profiles: Vec<PathBuf>,

    /// Override one profile key after all files, Helm-style: --set redis.maxmemory=512mb,
    /// --set autoscaling[0].maxReplicas=20. Repeatable; applied in order.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<SetOverride>,

    /// Namespace for every object, instead of the profile's `namespace`.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

impl ProfileArgs {
    pub fn request(&self) -> ProfileRequest {
        ProfileRequest {
            files: self.profiles.clone(),
            sets: self.sets.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,

    /// Write one file per object, <kind>-<name>.yaml, into this directory (created if missing)
    /// instead of printing to stdout.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}
