#!/usr/bin/env bash
# The redis_exporter image the live tests deploy as redis.metrics.image: the
# lab runs only the images it holds (nothing can be pulled), so this builds
# Debian bookworm's prometheus-redis-exporter into one layer, the way the lab
# builds its own (mmdebstrap, the lab's mkimage.py), and imports it into the
# lab's containerd, once. Prints the image's reference.
set -euo pipefail
lab="${CAFECTL_LAB:-$(dirname "$0")/../../shared/k8s-lab/lab}"
lab_dir=$(cd "$(dirname "$lab")" && pwd)
image=localhost/cafectl/redis-exporter:1.45
socket="${CAFECTL_LAB_CONTAINERD:-/run/cafectl-lab/containerd/containerd.sock}"

ctr_k8s() {
    ctr --address "$socket" --namespace k8s.io "$@"
}

if [ -n "$(ctr_k8s images ls -q "name==$image")" ]; then
    echo "$image"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# This machine's own bookworm sources (its mirror), as the lab uses them.
# shellcheck disable=SC2016 # apt-get expands the $(...) fields
mapfile -t sources < <(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' 2>/dev/null |
    awk '$3 == "main" && $2 ~ /^bookworm(-updates|-security)?$/ {print "deb " $1 " " $2 " main"}' | sort -u)
# Without bookworm main among them, mmdebstrap's own default mirrors.
printf '%s\n' "${sources[@]}" | grep -q ' bookworm main$' || sources=()
# The host's apt settings that decide whether its mirror can be used at all.
aptopts=()
while read -r line; do aptopts+=("--aptopt=$line"); done \
    < <(apt-config dump 2>/dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' || true)
# shellcheck disable=SC2016 # mmdebstrap passes the root as $1
mmdebstrap --variant=essential --include=prometheus-redis-exporter --skip=output/dev "${aptopts[@]}" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --customize-hook='test -x "$1/usr/bin/prometheus-redis-exporter"' \
    bookworm "$work/rootfs.tar" "${sources[@]}" </dev/null >"$work/build.log" 2>&1 ||
    { tail -n 30 "$work/build.log" >&2; echo "error: cannot build $image" >&2; exit 1; }
python3 "$lab_dir/mkimage.py" "$work/image.tar" --image "$image" "$work/rootfs.tar" \
    '{"Entrypoint": ["/usr/bin/prometheus-redis-exporter"], "Env": ["PATH=/usr/bin:/bin"]}'
ctr_k8s images import "$work/image.tar" >/dev/null
echo "$image"
