#!/usr/bin/env bash
# `make deb`: dist/qballoon_VERSION_amd64.deb, built with dpkg-deb from `make install` into a staging root
# (PREFIX=/usr, the unit in /lib/systemd/system, /etc/qballoon/qballoon.toml a conffile), the binary stripped.
# Depends comes from dpkg-shlibdeps on the binary: the C libraries it links, at the versions their symbols need.
#
# VERSION: the package's version (default: from git describe: v1.2.3 -> 1.2.3; 1.2.3-4-gHASH -> 1.2.3+4.gHASH;
# no tag -> 0.0~gitDATE.HASH), also stamped into the binary (`qballoon --version`).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "make-deb: $*" >&2; }

scripts/install-deps.sh --package

version="${VERSION:-}"
if [ -z "$version" ]; then
    if described="$(git describe --tags --match 'v[0-9]*' 2>/dev/null)"; then
        version="$(echo "${described#v}" | sed -E 's/-([0-9]+)-g([0-9a-f]+)$/+\1.g\2/')"
    else
        version="0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d).$(git rev-parse --short HEAD)"
    fi
    git diff --quiet HEAD 2>/dev/null || version="$version+dirty"
fi
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { log "'$version' is not a Debian version (VERSION=1.2.3)"; exit 1; }
arch="$(dpkg --print-architecture)"

make --no-print-directory release VERSION="$version"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/stage"
DESTDIR="$stage" PREFIX=/usr UNITDIR=/lib/systemd/system SYSCONFDIR=/etc CONFFILE=always VERSION="$version" \
    scripts/install.sh >&2
strip --strip-unneeded "$stage/usr/bin/qballoon"

# What the binary links, as package relations (dpkg-shlibdeps wants a debian/control to stand in).
mkdir -p "$work/shlibs/debian"
printf 'Source: qballoon\n\nPackage: qballoon\nArchitecture: any\n' >"$work/shlibs/debian/control"
depends="$(cd "$work/shlibs" && dpkg-shlibdeps -O "$stage/usr/bin/qballoon" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { log "dpkg-shlibdeps found no dependencies for the binary"; exit 1; }

install -d "$stage/usr/share/doc/qballoon"
cat >"$stage/usr/share/doc/qballoon/copyright" <<'COPYRIGHT'
qballoon: a memory-balloon orchestrator for QEMU.
Copyright: the qballoon developers.
The Swift runtime and the Swift packages linked into the binary (swift-nio, swift-argument-parser, swift-log,
swift-service-lifecycle, swift-metrics, swift-prometheus, swift-collections, TOMLKit) are under the Apache
License 2.0 (TOMLKit and the toml++ library it wraps: MIT); see /usr/share/common-licenses/Apache-2.0.
COPYRIGHT

mkdir -p "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: qballoon
Version: $version
Architecture: $arch
Maintainer: qballoon developers <qballoon@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Suggests: qemu-system-x86, libvirt0, prometheus
Section: admin
Priority: optional
Description: memory-balloon orchestrator for QEMU virtual machines
 qballoon attaches to running QEMU instances over their QMP monitor sockets,
 reads each guest's memory statistics from its virtio balloon, and, by the
 rules of a TOML config, moves memory from guests that hold it idle to guests
 that need it, without ever taking a guest below its floor or shrinking one
 that is short of memory. It runs as a systemd service (Type=notify, with a
 watchdog), exports Prometheus metrics, and is also a one-shot command:
 qballoon status / stats / set --qmp SOCKET.
CONTROL
echo /etc/qballoon/qballoon.toml >"$stage/DEBIAN/conffiles"

# systemd picks up the unit; the service is not enabled or started by the package: `systemctl enable --now
# qballoon` once the config is as wanted (as installed it watches and changes nothing).
cat >"$stage/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    # An upgrade restarts a running daemon on the new binary.
    if systemctl is-active --quiet qballoon.service; then systemctl restart qballoon.service || true; fi
fi
SCRIPT
cat >"$stage/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl disable --now qballoon.service >/dev/null 2>&1 || true
fi
SCRIPT
cat >"$stage/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
if [ "$1" = purge ]; then rm -rf /var/lib/qballoon /var/log/qballoon; rmdir /etc/qballoon 2>/dev/null || true; fi
SCRIPT
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

mkdir -p dist
deb="dist/qballoon_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
log "$deb ($(du -h "$deb" | cut -f1)); Depends: $depends"
echo "$deb"
