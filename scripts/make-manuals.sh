#!/usr/bin/env bash
# The man pages, one per subcommand (qballoon.1, qballoon.run.1, ...), into the folder given: argument-parser's
# generate-manual plugin writes them from the same help text `qballoon help` prints. Two touches: an empty line
# (between two paragraphs of a discussion) becomes the paragraph macro .Pp, which mdoc wants, and the footer
# names qballoon and its version. Every page must then render with `man -l` without a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/make-manuals.sh OUTPUT_DIR}"
SWIFT="${SWIFT:-swift}"
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo unknown)}"
# The date of the commit, not of the build: the same source gives the same pages.
date="$(git log -1 --format=%cs 2>/dev/null || date -u +%F)"
generated=.build/plugins/GenerateManual/outputs/qballoon
rm -rf "$generated"
"$SWIFT" package generate-manual --multi-page --configuration debug --date "$date" >&2
mkdir -p "$out"
count=0
for page in "$generated"/*.1; do
    sed -e 's/^$/.Pp/' -e "s/^\.Os\$/.Os qballoon $version/" "$page" >"$out/$(basename "$page")"
    count=$((count + 1))
done
[ "$count" -gt 1 ] || { echo "make-manuals: generate-manual wrote no pages in $generated" >&2; exit 1; }
failed=0
for page in "$out"/*.1; do
    warnings="$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>&1 >/dev/null || true)"
    if [ -n "$warnings" ]; then
        echo "make-manuals: $page: $warnings" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] || exit 1
echo "make-manuals: $count pages in $out" >&2
