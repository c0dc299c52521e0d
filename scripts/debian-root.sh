#!/usr/bin/env bash
# A fresh Debian 12 root for the package test (scripts/package-test.sh): `debootstrap --variant=minbase bookworm`,
# plus what lets the test look where users look: man-db (man), bash-completion, zsh and fish. No Swift, no jansson:
# the .deb's Depends must bring what qballoon needs.
#
# Output: $QBALLOON_DEBIAN_ROOT_DIR (default /var/cache/qballoon-debian12) with rootfs.tar and stamp. A second run
# reuses the cache when the stamp (hash of this script) matches; QBALLOON_DEBIAN_ROOT_REBUILD=1 forces a rebuild.
# The mirror is the one this machine's apt uses (QBALLOON_DEBIAN_MIRROR overrides it).
set -euo pipefail
out="${QBALLOON_DEBIAN_ROOT_DIR:-/var/cache/qballoon-debian12}"
log() { echo "debian-root: $*" >&2; }
stamp_hash="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
if [ "${QBALLOON_DEBIAN_ROOT_REBUILD:-0}" != 1 ] && [ -s "$out/rootfs.tar" ] && [ -f "$out/stamp" ] &&
    [ "$(sed -n 's/^hash=//p' "$out/stamp")" = "$stamp_hash" ]; then
    log "reusing the cached Debian 12 root in $out"
    exit 0
fi

"$(dirname "${BASH_SOURCE[0]}")/install-deps.sh" --package

# The Debian mirror apt already uses here (deb822 sources first, then the one-line format).
mirror="${QBALLOON_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)"
fi
if [ -z "$mirror" ]; then
    mirror="$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' |
        grep -v security | head -1 || true)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "debootstrap --variant=minbase bookworm${mirror:+ from $mirror} (a few minutes, once)"
debootstrap --variant=minbase --include=man-db,bash-completion,zsh,fish bookworm "$work/root" ${mirror:+"$mirror"} \
    >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
# Nothing of the package caches: the test's apt fetches what the .deb depends on.
rm -rf "$work/root/var/cache/apt/archives/"*.deb
mkdir -p "$out"
tar -C "$work/root" -cf "$out/rootfs.tar.part" .
mv "$out/rootfs.tar.part" "$out/rootfs.tar"
printf 'hash=%s\nmirror=%s\nbuilt=%s\n' "$stamp_hash" "$mirror" "$(date -u +%FT%TZ)" >"$out/stamp"
log "cached in $out ($(du -sh "$out/rootfs.tar" | cut -f1))"
