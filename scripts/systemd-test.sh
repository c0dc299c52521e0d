#!/usr/bin/env bash
# qballoon.service under a real systemd: boots ROOT (a Debian 12 root with the qballoon package installed and
# nothing mounted in it; the package test's) as a container with systemd-nspawn, with systemd added and a unit that runs
# scripts/systemd/unit-check.sh at boot: start (Type=notify: READY), the status line, metrics, a reload and a
# refused reload, the watchdog restarting a stopped daemon, a clean stop. Prints what the check saw; fails unless
# it says "RESULT pass".
#   scripts/systemd-test.sh ROOT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${1:?usage: scripts/systemd-test.sh ROOT}"
log() { echo "systemd-test: $*" >&2; }
"$here/install-deps.sh" --package

# systemd-nspawn mounts /proc and /dev for the command it runs, as for the boot below.
log "adding systemd to the root"
systemd-nspawn --quiet --directory="$root" --register=no --keep-unit --setenv=DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get install -y -qq systemd systemd-sysv dbus >/dev/null 2>&1' </dev/null ||
    { log "apt could not install systemd in the root"; exit 1; }

install -m 0755 "$here/systemd/unit-check.sh" "$root/usr/local/sbin/qballoon-unit-check"
install -m 0644 "$here/systemd/qballoon-unit-check.service" "$root/etc/systemd/system/"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/qballoon-unit-check.service "$root/etc/systemd/system/multi-user.target.wants/"
rm -f "$root/root/unit-check.log"

log "booting it with systemd-nspawn"
timeout 300 systemd-nspawn --quiet --directory="$root" --boot --register=no --keep-unit --machine=qballoon-test \
    </dev/null >"$root/root/nspawn.out" 2>&1 || true
if [ ! -s "$root/root/unit-check.log" ]; then
    tail -30 "$root/root/nspawn.out" >&2
    log "FAILED: the container wrote no result"
    exit 1
fi
sed 's/^/  /' "$root/root/unit-check.log" >&2
grep -qx "RESULT pass" "$root/root/unit-check.log" || { log "FAILED"; exit 1; }
log "passed"
