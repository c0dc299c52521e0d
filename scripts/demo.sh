#!/usr/bin/env bash
# The main job until the daemon exists: the one-shot CLI against the fake QMP server, which simulates a
# VM whose guest holds lots of idle memory (Fixtures/scenarios/idle.json). No QEMU needed.
set -euo pipefail
qballoon="${1:-.build/debug/qballoon}"
work=$(mktemp -d)
socket="$work/demo.qmp"
"$qballoon" fake-qmp --listen "unix:$socket" --scenario Fixtures/scenarios/idle.json &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.05; done

run() { printf '\n$ qballoon %s\n' "$*"; "$qballoon" "$@"; }
run status --qmp "$socket"
run stats --qmp "$socket" --interval 1 --count 3
run set --qmp "$socket" 1GiB
run stats --qmp "$socket" --count 1 --json
run set --qmp "$socket" 256MiB --stall-after 2s || echo "(exit $?: the guest cannot give that much back)"
run set --qmp "$socket" 100% --json
run status --qmp "$socket" --json
