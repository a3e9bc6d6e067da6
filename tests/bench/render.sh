#!/usr/bin/env bash
# Wall time of `cafectl render` for each shipped profile, as a whole process,
# in a release build. Target: under 2 ms each.
#
#   bash tests/bench/render.sh            # hyperfine if installed, else a loop
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release --quiet
binary=target/release/cafectl
profiles=(standalone sentinel cluster)

if command -v hyperfine >/dev/null; then
    commands=()
    for profile in "${profiles[@]}"; do
        commands+=(--command-name "$profile" "$binary render -p profiles/$profile.yaml")
    done
    hyperfine --warmup 20 --runs 200 --shell=none --output=null --style basic "${commands[@]}"
else
    runs=200
    for profile in "${profiles[@]}"; do
        start=$(date +%s%N)
        for _ in $(seq "$runs"); do
            "$binary" render -p "profiles/$profile.yaml" >/dev/null
        done
        end=$(date +%s%N)
        echo "$profile: $(( (end - start) / runs / 1000 )) µs per render (mean of $runs, including process start)"
    done
fi
