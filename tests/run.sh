#!/usr/bin/env bash
# The whole test suite, the README's test command and CI's. Starts the k8s lab
# (../shared/k8s-lab, or CAFECTL_LAB=path/to/lab) when this machine can run it
# (root), so the cluster tiers (tests/e2e.rs, tests/live_pods.rs) run against
# real pods; without a cluster they are reported as ignored, with the reason.
# Under CI (CI set) a cluster that does not come up is a failure. Extra
# arguments go to `cargo test` (e.g. `bash tests/run.sh --test live_pods`).
set -euo pipefail
cd "$(dirname "$0")/.."

lab="${CAFECTL_LAB:-../shared/k8s-lab/lab}"
ci="${CI:-}"
[ "$ci" != false ] || ci=""

if [ -z "${CAFECTL_E2E_KUBECONFIG:-}" ]; then
    if [ -x "$lab" ] && [ "$(id -u)" -eq 0 ]; then
        # On failure the lab prints `lab: error: ... (log: FILE)`, and under CI the log's tail.
        "$lab" up --nodes || { echo "error: the k8s lab did not come up (see its log above)" >&2; exit 1; }
        eval "$("$lab" env)"
        export CAFECTL_E2E_KUBECONFIG="$KUBECONFIG"
        # The exporter image the metrics test deploys (the lab pulls nothing).
        CAFECTL_EXPORTER_IMAGE=$(CAFECTL_LAB="$lab" bash tests/exporter-image.sh) ||
            { echo "error: the redis_exporter image for the lab could not be built (see above)" >&2; exit 1; }
        export CAFECTL_EXPORTER_IMAGE
    elif [ -n "$ci" ]; then
        echo "error: CI runs the cluster tests, but the k8s lab ($lab) is missing or this is not root; set CAFECTL_LAB or CAFECTL_E2E_KUBECONFIG" >&2
        exit 1
    else
        echo "note: no cluster (the k8s lab needs root and $lab): the cluster tests are reported as ignored" >&2
    fi
fi

# The cluster tests are #[ignore]d with their reason; with a cluster, run them too.
cargo_args=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    cargo_args+=("$1")
    shift
done
[ $# -eq 0 ] || shift
if [ -n "${CAFECTL_E2E_KUBECONFIG:-}" ]; then
    set -- --include-ignored "$@"
fi
exec cargo test "${cargo_args[@]}" -- "$@"
