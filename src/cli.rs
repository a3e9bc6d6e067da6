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
    /// Show what `apply` would change: server-side dry-run compared with the live objects.
    #[command(
        after_help = "Exit codes: 0 no changes, 2 changes pending, 1 error. Secret values are always masked."
    )]
    Diff(DiffArgs),
    /// Server-side apply in dependency order, wait until ready, prune what the profile no longer has.
    Apply(ApplyArgs),
    /// Delete what the profile created, in reverse order; data volumes are kept unless asked.
    #[command(
        after_help = "Only objects labelled as this profile's are touched. A shared object (app-config) \
loses only the fields cafectl set. PersistentVolumeClaims are kept, and listed, unless --delete-data is given."
    )]
    Teardown(TeardownArgs),
    /// Show the health of what runs: each Redis pod's role, link, lag, memory, clients and keys,
    /// the sentinels' master and quorum or the cluster's slots, and the HPAs.
    #[command(
        after_help = "Redis is asked in its pods through the API server (needs create pods/exec). Exit codes: 0 healthy, 1 unhealthy or an error."
    )]
    Status(ReportArgs),
    /// Print the JSON Schema of a profile, for editors (yaml-language-server) and CI checks.
    #[command(
        after_help = "The shipped profiles name profiles/profile.schema.json, this schema, on their first line \
(# yaml-language-server: $schema=profile.schema.json). Rules across keys (a quorum within the sentinels, a \
request below its limit) are checked by cafectl itself."
    )]
    Schema,
    /// Print a shell completion script for cafectl.
    #[command(
        after_help = "bash: `source <(cafectl completions bash)`, or save it as \
~/.local/share/bash-completion/completions/cafectl. zsh: save it as _cafectl in a directory of $fpath. \
fish: save it as ~/.config/fish/completions/cafectl.fish."
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
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

/// How to reach the cluster, as kubectl does.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// How long to wait for the cluster, for each request and for objects to become ready
    /// (e.g. 30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// Print every request to the API server on stderr as it ends: method, URL, answer, how long
    /// it took and when it was sent (milliseconds after connecting), as kubectl -v=6 does.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Take over fields that another field manager owns, instead of failing on the conflict.
    #[arg(long)]
    pub force_conflicts: bool,

    /// Send everything as a server-side dry run: nothing is persisted. Exit code 2 if the cluster
    /// would change.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not wait for the workloads to become ready.
    #[arg(long)]
    pub no_wait: bool,

    /// Treat preflight warnings (an HPA target without CPU requests, no metrics API) as errors.
    #[arg(long)]
    pub strict: bool,

    /// After a password change, stop accepting the previous password (do this once no client
    /// uses it). Rolls the Redis pods once more.
    #[arg(long)]
    pub retire_previous_password: bool,

    /// Go ahead with changes `diff` calls destructive: a StatefulSet Kubernetes cannot change in
    /// place is deleted alone (its pods keep running and the new one adopts them), a topology
    /// or name switch goes ahead. Data volumes are never deleted.
    #[arg(long)]
    pub allow_recreate: bool,

    /// Apply only if nothing moved since `cafectl diff --out FILE` saved this plan: the same
    /// cluster, namespace and rendered objects, and every object it read at the same
    /// resourceVersion. Otherwise refuse, changing nothing.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<std::path::PathBuf>,

    /// One JSON object per line and object: what was done (applied, pruned, released); with
    /// --dry-run, the plan as `diff -o json` prints it.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum)]
    pub output: Option<OutputFormat>,
}

/// The longest --timeout: longer waits are a hung cluster, not patience, and
/// every deadline computed from it must stay far from `Instant`'s limits.
const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;

/// `30s`, `5m`, `1h` or plain seconds, from 1s to 24h.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let not_a_duration = || format!("{text:?} is not a duration (e.g. 30s, 5m, 1h)");
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    if number.is_empty() {
        return Err(not_a_duration());
    }
    let unit_seconds: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(not_a_duration()),
    };
    // Only digits are left, so a number that does not parse is too large.
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|value| value.checked_mul(unit_seconds))
        .filter(|seconds| *seconds <= MAX_TIMEOUT_SECONDS)
        .ok_or_else(|| {
            format!(
                "{text:?} is too long: the timeout may be at most {}h",
                MAX_TIMEOUT_SECONDS / 3600
            )
        })?;
    if seconds == 0 {
        return Err("the timeout must be longer than 0s".to_owned());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub report: ReportArgs,

    /// Also save the plan to FILE: `cafectl apply --plan FILE` then applies exactly it, or
    /// refuses, changing nothing, if the profile or any object it read has changed since.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// A verb that reads the cluster and reports (diff, status).
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Print the report as JSON instead of text (diff: the plan; status: pods, HPAs, problems).
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Also delete the PersistentVolumeClaims that hold Redis data. The data is lost.
    #[arg(long)]
    pub delete_data: bool,

    /// One JSON object per line and object: what was done (deleted, released, kept). Needs
    /// --yes: there is no question to answer.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FORMAT",
        value_enum,
        requires = "yes"
    )]
    pub output: Option<OutputFormat>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(parse_duration("90"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(
            parse_duration("24h"),
            Ok(std::time::Duration::from_secs(86_400))
        );
        for text in ["", "s", "5x", "1.5m", "-1s", "0s"] {
            assert!(parse_duration(text).is_err(), "{text:?} should be rejected");
        }
        for text in [
            "25h",
            "1441m",
            "86401",
            "18446744073709551615m",
            "99999999999999999999999s",
        ] {
            assert!(
                parse_duration(text).unwrap_err().contains("at most 24h"),
                "{text:?}"
            );
        }
    }
}
