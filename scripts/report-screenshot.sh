#!/usr/bin/env bash
# Renders a `qballoon simulate --report` page to a PNG with headless Chromium, to look at it as a user would.
#   scripts/report-screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]   (default 1400x900; a tall height shows more)
# A throwaway profile folder of its own, so runs side by side (and a user's browser) do not share one.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
size=${3:-1400x900}
if ! [[ $size =~ ^[0-9]+x[0-9]+$ ]]; then
    echo "$0: size must be WIDTHxHEIGHT, like 1400x900: '$size'" >&2
    exit 2
fi
[ -f "$report" ] || { echo "$0: no such file: $report" >&2; exit 1; }
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "$0: chromium is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
profile=$(mktemp -d /tmp/qballoon-chromium.XXXXXX)
trap 'rm -rf "$profile"' EXIT
case $report in /*) url="file://$report" ;; *) url="file://$PWD/$report" ;; esac
case $out in /*) ;; *) out="$PWD/$out" ;; esac
rm -f "$out"
# --virtual-time-budget lets the page finish laying out before the shot; timeout ends a Chromium that hangs.
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$profile" --window-size="${size/x/,}" --virtual-time-budget=2000 \
    --screenshot="$out" "$url" >"$profile/chromium.log" 2>&1 || {
    cat "$profile/chromium.log" >&2
    exit 1
}
[ -s "$out" ] || { cat "$profile/chromium.log" >&2; echo "$0: chromium wrote no $out" >&2; exit 1; }
echo "$out"
