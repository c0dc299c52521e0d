#!/usr/bin/env bash
# The .deb on a host without Swift: `make deb`, then into a fresh Debian 12 root (debootstrap --variant=minbase,
# cached by scripts/debian-root.sh) with apt, which must find everything the package depends on. Inside it:
# `qballoon --version`, `qballoon check` on the installed /etc/qballoon/qballoon.toml, `qballoon demo --duration
# 5s` from outside any checkout, the man pages where `man` looks, the completions where bash, zsh and fish load
# them; qballoon.service under a real systemd (scripts/systemd-test.sh: the root booted with systemd-nspawn); then a
# purge takes everything away, and `make install` under /usr/local gets the same checks. DEB=path skips `make deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "package-test: $*" >&2; }
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }

deb="${DEB:-}"
if [ -z "$deb" ]; then
    deb="$(scripts/make-deb.sh | tail -1)"
fi
[ -f "$deb" ] || fail "no package at $deb"
scripts/debian-root.sh
cache="${QBALLOON_DEBIAN_ROOT_DIR:-/var/cache/qballoon-debian12}"

root="$(mktemp -d /tmp/qballoon-debian12.XXXXXX)"
# /proc, /sys and /dev for the commands run in the root (taken down while systemd-nspawn boots it).
mounted=()
mount_api() {
    for fs in proc sys dev; do mount --rbind "/$fs" "$root/$fs" && mounted+=("$root/$fs"); done
}
unmount_api() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    mounted=()
}
cleanup() {
    unmount_api
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$cache/rootfs.tar"
mount_api
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"; }

# What a user finds on the host once qballoon is installed under PREFIX ($1), version $2.
check_installed() {
    local prefix="$1" share="$1/share"
    local unitdir="/lib/systemd/system"
    [ "$prefix" = /usr ] || unitdir="$prefix/lib/systemd/system"
    log "qballoon --version"
    version_text="$(in_root "$prefix/bin/qballoon" --version)" || fail "qballoon --version failed"
    echo "$version_text" >&2
    [ "$(head -1 <<<"$version_text")" = "qballoon $2" ] || fail "--version does not say qballoon $2"
    grep -q "tested against QEMU" <<<"$version_text" || fail "--version does not name the QEMU it was tested against"
    in_root sh -c 'find / -xdev -name "libswift*" | grep -q .' && fail "installing it brought Swift libraries"

    log "qballoon check --config /etc/qballoon/qballoon.toml"
    in_root "$prefix/bin/qballoon" check --config /etc/qballoon/qballoon.toml >"$root/tmp/check.out" || fail "check failed: $(cat "$root/tmp/check.out")"
    grep -q "/run/qemu/\*.qmp" "$root/tmp/check.out" || fail "the default config does not attach /run/qemu/*.qmp"

    log "qballoon run with no --config, for 3 seconds"
    in_root timeout -s TERM 3 "$prefix/bin/qballoon" run >"$root/tmp/run.out" 2>&1 || true
    grep -q "config=/etc/qballoon/qballoon.toml" "$root/tmp/run.out" || fail "run did not read /etc/qballoon/qballoon.toml: $(cat "$root/tmp/run.out")"
    grep -q "stopped" "$root/tmp/run.out" || fail "run did not stop cleanly on SIGTERM: $(cat "$root/tmp/run.out")"

    log "libvirt is loaded only for a libvirt VM: the binary does not link it, and without libvirt0 the error says so"
    in_root ldd "$prefix/bin/qballoon" | grep -q libvirt && fail "the binary links libvirt: $(in_root ldd "$prefix/bin/qballoon" | grep libvirt)"
    if in_root sh -c 'ls /usr/lib/*/libvirt.so.0 /lib/*/libvirt.so.0' >/dev/null 2>&1; then
        log "  (libvirt0 is installed in this root: the missing-library error is not checked)"
    else
        in_root "$prefix/bin/qballoon" status --libvirt qemu:///system --domain vm1 >"$root/tmp/virt.out" 2>&1 &&
            fail "status through libvirt succeeded without libvirt0"
        grep -q "install it (Debian: libvirt0)" "$root/tmp/virt.out" || fail "without libvirt0: $(cat "$root/tmp/virt.out")"
        cat "$root/tmp/virt.out" >&2
    fi

    log "qballoon demo --duration 5s (run from /, outside any checkout)"
    in_root sh -c "cd / && $prefix/bin/qballoon demo --duration 5s" >"$root/tmp/demo.out" 2>&1 || fail "demo failed: $(tail -5 "$root/tmp/demo.out")"
    grep -q "$share/qballoon/configs/demo.toml" "$root/tmp/demo.out" || fail "the demo did not use the installed config"
    tail -4 "$root/tmp/demo.out" >&2

    log "qballoon fleet from the installed traces, then qballoon simulate on it (run from /)"
    in_root sh -c "rm -rf /tmp/fleet && cd / && $prefix/bin/qballoon fleet --vms 3 --duration 20m --interval 10s --out /tmp/fleet" \
        >"$root/tmp/fleet.out" 2>&1 || fail "fleet failed: $(cat "$root/tmp/fleet.out")"
    in_root sh -c "cd / && $prefix/bin/qballoon simulate --config $share/qballoon/configs/conservative.toml \
        --compare $share/qballoon/configs/aggressive-reclaim.toml /tmp/fleet/vm001.trace /tmp/fleet/vm002.trace \
        /tmp/fleet/vm003.trace --report /tmp/fleet.html" >"$root/tmp/simulate.out" 2>&1 ||
        fail "simulate failed: $(cat "$root/tmp/simulate.out")"
    grep -q "^3 VMs (vm001, vm002, vm003) over 20m" "$root/tmp/simulate.out" || fail "simulate said: $(cat "$root/tmp/simulate.out")"
    grep -q "<svg" "$root/tmp/fleet.html" || fail "simulate wrote no report"
    head -6 "$root/tmp/simulate.out" >&2

    log "man pages where man looks"
    for page in qballoon qballoon.run qballoon.set qballoon.status qballoon.stats qballoon.check qballoon.demo qballoon.simulate qballoon.fleet; do
        in_root man -w "$page" >/dev/null || fail "man -w $page found nothing"
    done
    in_root sh -c 'MANWIDTH=80 man qballoon.run 2>&1' | grep -q "SIGHUP" || fail "man qballoon.run does not show the run command's text"

    log "completions where the shells load them"
    in_root bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader qballoon; complete -p qballoon' |
        grep -q "qballoon" || fail "bash-completion does not load qballoon's completion"
    in_root zsh -fc 'autoload -Uz compinit; compinit -u -d /tmp/zcompdump; print -r -- ${_comps[qballoon]}' |
        grep -qx "_qballoon" || fail "zsh's compinit does not find _qballoon"
    # fish reads vendor completions outside /usr only from XDG_DATA_DIRS (the XDG default: /usr/local/share:/usr/share).
    local xdg=()
    [ "$prefix" = /usr ] || xdg=(XDG_DATA_DIRS=/usr/local/share:/usr/share)
    in_root env "${xdg[@]}" fish -c 'complete -C"qballoon "' | grep -q "^set" ||
        fail "fish does not complete qballoon's subcommands"

    log "systemd unit and shared files"
    for file in "$unitdir/qballoon.service" $share/qballoon/grafana/qballoon.json \
        $share/qballoon/prometheus/alerts.yml $share/qballoon/configs/example.toml $share/doc/qballoon/README.md \
        $share/qballoon/traces/nightly-batch.trace; do
        [ -f "$root$file" ] || fail "$file is missing"
    done
    grep -q "^ExecStart=$prefix/bin/qballoon run" "$root$unitdir/qballoon.service" || fail "the unit does not run $prefix/bin/qballoon"
}

# No Swift here, before or after.
in_root sh -c 'command -v swift || find / -xdev -name "libswiftCore*" | grep -q .' && fail "the root has Swift in it"

log "apt-get install ./$(basename "$deb") in a fresh Debian 12 root"
in_root sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/tmp/$0" >/dev/null' \
    "$(basename "$deb")" || fail "apt could not install the package"
in_root dpkg-query -W -f='installed ${Package} ${Version}; Depends: ${Depends}\n' qballoon
grep -qx /etc/qballoon/qballoon.toml "$root/var/lib/dpkg/info/qballoon.conffiles" ||
    fail "/etc/qballoon/qballoon.toml is not a conffile"

check_installed /usr "$(dpkg-deb -f "$deb" Version)"

# The unit under a real systemd, in this root booted as a container.
unmount_api
scripts/systemd-test.sh "$root" || fail "the unit under systemd"
mount_api

log "apt-get purge qballoon"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq qballoon >/dev/null' || fail "purge failed"
for file in /usr/bin/qballoon /etc/qballoon/qballoon.toml /usr/share/man/man1/qballoon.1.gz; do
    [ ! -e "$root$file" ] || fail "$file is still there after purge"
done
# `make install` into the same root, under /usr/local: the same checks, then `make uninstall`.
log "make install PREFIX=/usr/local DESTDIR=(the root)"
DESTDIR="$root" PREFIX=/usr/local BINARY=.build/release/qballoon scripts/install.sh >&2
check_installed /usr/local "$(.build/release/qballoon --version | head -1 | cut -d" " -f2)"
DESTDIR="$root" PREFIX=/usr/local scripts/install.sh --uninstall >&2
[ ! -e "$root/usr/local/bin/qballoon" ] && [ ! -e "$root/usr/local/share/qballoon" ] || fail "make uninstall left files"
log "passed: $deb installs, runs and leaves cleanly on Debian 12 minbase; so does make install under /usr/local"
