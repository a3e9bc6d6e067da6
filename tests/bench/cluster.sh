#!/usr/bin/env bash
# cafectl against kubectl on a real cluster: `apply --no-wait` vs
# `kubectl apply --server-side`, and `diff` vs `kubectl diff --server-side`,
# of the same rendered objects, each into fresh namespaces. Prints the
# median wall time of each and the ratio. Target: cafectl at most 0.3.
#
# The volume claims ask for a StorageClass nobody serves: they stay Pending
# and take none of the cluster's volumes, and the pods stay unscheduled, so
# no pod starting on the same machine weighs on one tool's figures more than
# the other's. The diffs take turns going first.
#
#   KUBECONFIG=path/to/kubeconfig bash tests/bench/cluster.sh [runs]
#   (kubectl from $KUBECTL or PATH; the namespaces it makes are deleted)
#
# RTT_MS=20 puts the lab's API server 20 ms away (tests/bench/delay_proxy.py
# delays every byte), as a cluster in a cloud region is: what counts there
# is round trips, which a server on loopback hides.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${KUBECONFIG:?set KUBECONFIG to the cluster to measure on}"
kubectl=${KUBECTL:-kubectl}
runs=${1:-7}
profile=profiles/standalone.yaml
unbound=(--set redis.persistence.storageClass=cafectl-bench-unbound)

cargo build --release --quiet
cafectl=target/release/cafectl
work=$(mktemp -d)
namespaces=()
cleanup() {
    for namespace in "${namespaces[@]}"; do
        "$kubectl" delete namespace "$namespace" --wait=false >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -n "${RTT_MS:-}" ]]; then
    python3 tests/bench/delay_proxy.py --rtt "$RTT_MS" --kubeconfig "$KUBECONFIG" \
        --write-kubeconfig "$work/kubeconfig" &
    proxy=$!
    trap 'cleanup; kill $proxy' EXIT
    for _ in $(seq 50); do [[ -s "$work/kubeconfig" ]] && break; sleep 0.1; done
    export KUBECONFIG="$work/kubeconfig"
fi

# Milliseconds a command takes; its output goes to the run's log.
milliseconds() {
    local start end
    start=$(date +%s%N)
    "$@" >>"$work/log" 2>&1 || true
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

median() {
    sort -n | awk '{ values[NR] = $1 } END { print values[int((NR + 1) / 2)] }'
}

# The same change each way: one key of the Redis config.
diff_ours() {
    milliseconds "$cafectl" diff -p "$profile" "${unbound[@]}" -n "$ours" --set redis.maxmemory=200mb >>"$work/cafectl-diff"
}
diff_theirs() {
    milliseconds "$kubectl" diff --server-side --field-manager=bench -f "$work/$theirs-changed.yaml" >>"$work/kubectl-diff"
}

suffix=$$
for run in $(seq "$runs"); do
    ours="bench-cafectl-$suffix-$run"
    theirs="bench-kubectl-$suffix-$run"
    namespaces+=("$ours" "$theirs")
    "$cafectl" render -p "$profile" "${unbound[@]}" -n "$theirs" >"$work/$theirs.yaml"
    milliseconds "$cafectl" apply -p "$profile" "${unbound[@]}" -n "$ours" --no-wait >>"$work/cafectl-apply"
    milliseconds "$kubectl" apply --server-side --field-manager=bench -f "$work/$theirs.yaml" >>"$work/kubectl-apply"
    sed 's/maxmemory 256mb/maxmemory 200mb/' "$work/$theirs.yaml" >"$work/$theirs-changed.yaml"
    if ((run % 2)); then
        diff_ours
        diff_theirs
    else
        diff_theirs
        diff_ours
    fi
done

report() {
    local ours theirs
    ours=$(median <"$work/cafectl-$1")
    theirs=$(median <"$work/kubectl-$1")
    awk -v verb="$1" -v ours="$ours" -v theirs="$theirs" 'BEGIN {
        printf "%-6s cafectl %5d ms   kubectl %5d ms   ratio %.2f\n", verb, ours, theirs, ours / theirs
    }'
}
echo "median of $runs runs, $(grep -c '' "$profile") -line profile, $("$cafectl" render -p "$profile" | grep -c '^kind:') objects${RTT_MS:+, API server ${RTT_MS} ms away}:"
report apply
report diff
