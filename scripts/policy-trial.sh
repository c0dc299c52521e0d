#!/usr/bin/env bash
# The side-by-side policy trial of issue 9 on real guests, for every shipped config (and no daemon at all):
# two 1 GiB guests under qemu-system-x86_64 -accel tcg on a synthetic host of 2.25 GiB, 6 minutes each
# (Tests/QBalloonGuestTests/Support/PolicyTrial.swift). Prints the table POLICY.md shows. About 45 minutes.
#   scripts/policy-trial.sh [OUTPUT.md]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-/tmp/qballoon-policy-trial.md}"
scripts/install-deps.sh
scripts/build-guest.sh
swift build --build-tests
rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT
QBALLOON_TRIAL=full QBALLOON_TRIAL_REPORT="$rows" \
    swift test --skip-build --filter 'shippedConfigsStarveNoGuest' 2>&1 | grep -E '^\[e2e trial|✘|✔ Test shipped' || true
{
    echo "| manager | memory returned to the host (mean) | host below its reserve | guest short (idle / batch) | OOM kills | balloon changes |"
    echo "|---|---|---|---|---|---|"
    cat "$rows"
} >"$out"
cat "$out"
