#!/usr/bin/env bash
# High availability on real pods (issue 9's table): runs the live-pod tests
# (tests/live_pods.rs) on the k8s lab, which disrupt each topology while a
# client writes and fail past the bounds (no acknowledged write lost; write
# gaps of at most 10 s when a sentinel master's pod is deleted, 4 s in a
# sentinel rolling update and 2 s per shard in a cluster's; every full
# restart converged within 60 s), and prints what they measured. CI runs the same tests (tests/run.sh).
#
#   bash tests/bench/ha.sh [test name filter]
#   (starts ../shared/k8s-lab as tests/run.sh does; needs root)
set -euo pipefail
cd "$(dirname "$0")/../.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

status=0
bash tests/run.sh --test live_pods -- --nocapture "$@" >"$log" 2>&1 || status=$?
grep -E '^test |^test result' "$log" || true
echo
echo "measured:"
sed -n 's/^MEASURED /  /p' "$log"
if [ "$status" -ne 0 ]; then
    echo
    echo "failed (exit $status); the failures:"
    sed -n '/^failures:/,$p' "$log"
fi
exit "$status"
