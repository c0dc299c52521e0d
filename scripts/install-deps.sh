#!/usr/bin/env bash
# Installs the Debian packages qballoon needs, with apt-get, only when they are missing.
#   libjansson-dev, pkg-config  to build (the JSON codec is jansson)
#   libvirt-dev                 to build (VMs managed by libvirt go through libvirt's C API)
#   libvirt-daemon-system, libvirt-clients  for the tests against a real libvirtd (libvirtd, virtlogd, virsh)
#   qemu-system-x86             for the tests against a real QEMU (pass --build-only to skip)
#   time                        /usr/bin/time, for the tests that measure a command's peak memory
#   prometheus                  promtool, to check contrib/prometheus/alerts.yml
#   systemd                     systemd-analyze, to verify contrib/systemd/qballoon.service
#   tmux                        a terminal for the tests that drive `qballoon top` as a user would
#   chromium                    headless, to render the simulator's HTML report to a PNG (scripts/report-screenshot.sh)
# With --package (make deb, make package-test): dpkg-dev (dpkg-deb, dpkg-shlibdeps), binutils (strip), man-db (man
# -l checks the man pages), debootstrap (the fresh Debian 12 root the package is tried in), systemd-container
# (systemd-nspawn boots that root to run the unit under a real systemd).
set -euo pipefail
packages=(libjansson-dev pkg-config libvirt-dev)
case "${1:-}" in
--build-only) ;;
--package) packages+=(dpkg-dev binutils man-db debootstrap systemd-container) ;;
*) packages+=(qemu-system-x86 libvirt-daemon-system libvirt-clients time prometheus systemd tmux chromium) ;;
esac
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
