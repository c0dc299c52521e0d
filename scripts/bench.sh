#!/usr/bin/env bash
# Builds qballoon-bench in release mode and runs it against a QEMU it starts itself.
# Usage: scripts/bench.sh [qballoon-bench options]   (e.g. --quick, --rounds 5 --per-round 600, --simulate --vms 10)
# With no options it runs the simulator's benchmark too (section 5), before the QEMU run.
# The last line of stdout is one JSON object with every figure.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
pkg-config --exists jansson 2>/dev/null || need+=(libjansson-dev)
if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}" >&2
fi

echo "building qballoon-bench (release, .build-release)" >&2
swift build -c release --product qballoon-bench --scratch-path .build-release >&2

workdir=$(mktemp -d /tmp/qballoon-bench.XXXXXX)
cleanup() {
    # The bench stops its QEMU itself; this only catches one left behind by a crash.
    if [[ -s $workdir/qemu.pid ]]; then
        pid=$(cat "$workdir/qemu.pid")
        if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs" >&2
# The simulator first (no QEMU: 100 VMs x 24 h drawn from Fixtures/traces), unless options ask for something else;
# the QEMU run's JSON stays the last line.
if (($# == 0)); then .build-release/release/qballoon-bench --simulate; fi
.build-release/release/qballoon-bench --workdir "$workdir" "$@"
