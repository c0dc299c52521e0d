#!/usr/bin/env bash
# Build a tiny Linux guest with the virtio balloon driver, from Debian packages only:
#   - the kernel that linux-image-amd64 depends on (apt-get download + dpkg -x),
#   - busybox-static,
#   - the virtio / virtio_pci / virtio_balloon modules (and their dependencies),
# packed into a gzip'd newc cpio initramfs whose /init is scripts/guest/init, with
# scripts/guest/memload (the reference workloads of the policy trial) as /bin/memload.
#
# Output: $QBALLOON_GUEST_DIR (default /var/cache/qballoon-guest) with
#   vmlinuz, initrd.gz, stamp
# A second run reuses the cache when the stamp (hash of this script, the init and memload)
# matches, and says so. Set QBALLOON_GUEST_REBUILD=1 to force a rebuild.
# Optional: QBALLOON_KERNEL_PKG=linux-image-6.1.0-XX-amd64 to pin the kernel.
#
# Boot (TCG; the guest prints "QBALLOON-GUEST-READY balloon=bound ..." on ttyS0):
#   qemu-system-x86_64 -accel tcg -m 512M -nodefaults -nographic -no-reboot \
#     -kernel $DIR/vmlinuz -initrd $DIR/initrd.gz -append "console=ttyS0 panic=-1 quiet" \
#     -serial unix:/tmp/x.console,server=on,wait=off -qmp unix:/tmp/x.qmp,server=on,wait=off \
#     -device virtio-balloon-pci,id=balloon0
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
init_src="$here/guest/init"
memload_src="$here/guest/memload"
out="${QBALLOON_GUEST_DIR:-/var/cache/qballoon-guest}"
log() { echo "build-guest: $*" >&2; }

for f in "$init_src" "$memload_src"; do [ -f "$f" ] || { log "missing $f"; exit 1; }; done
stamp_hash="$(cat "${BASH_SOURCE[0]}" "$init_src" "$memload_src" | sha256sum | cut -d' ' -f1)"

if [ "${QBALLOON_GUEST_REBUILD:-0}" != 1 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] &&
    [ -f "$out/stamp" ] && [ "$(sed -n 's/^hash=//p' "$out/stamp")" = "$stamp_hash" ]; then
    echo "build-guest: reusing cached guest in $out ($(sed -n 's/^kernel=//p' "$out/stamp"))"
    exit 0
fi

# --- tools -----------------------------------------------------------------
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v gzip >/dev/null 2>&1 || need+=(gzip)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
updated=0
apt_update() {
    if [ "$updated" = 0 ]; then
        log "apt-get update"
        $SUDO apt-get update -qq
        updated=1
    fi
}
if [ "${#need[@]}" -gt 0 ]; then
    log "installing: ${need[*]}"
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
busybox=/bin/busybox
[ -x "$busybox" ] || { log "no $busybox after installing busybox-static"; exit 1; }

# --- kernel package ----------------------------------------------------------
kernel_dep() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1
}
kpkg="${QBALLOON_KERNEL_PKG:-}"
if [ -z "$kpkg" ]; then
    kpkg="$(kernel_dep || true)"
    if [ -z "$kpkg" ]; then apt_update; kpkg="$(kernel_dep)"; fi
fi
[ -n "$kpkg" ] || { log "cannot find the kernel package linux-image-amd64 depends on"; exit 1; }

work="$(mktemp -d /tmp/qballoon-guest-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
log "downloading $kpkg"
# apt-get download writes to the cwd; let the unprivileged _apt user write there.
chmod 755 "$work"
if ! (cd "$work" && apt-get download -q "$kpkg" >/dev/null 2>&1); then
    apt_update
    (cd "$work" && apt-get download -q "$kpkg" >/dev/null)
fi
deb="$(ls "$work"/*.deb | head -n1)"
kver_pkg="$(dpkg-deb -f "$deb" Version)"
dpkg -x "$deb" "$work/k"
vmlinuz="$(ls "$work"/k/boot/vmlinuz-* | head -n1)"
kver="${vmlinuz##*/vmlinuz-}"
moddir="$work/k/lib/modules/$kver"
[ -d "$moddir" ] || { log "no module dir $moddir"; exit 1; }

# --- initramfs tree ------------------------------------------------------------
root="$work/root"
mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp,mnt,run,root,lib/modules}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$init_src" "$root/init"
cp "$memload_src" "$root/bin/memload"
chmod 755 "$root/init" "$root/bin/busybox" "$root/bin/memload"
if [ "$(id -u)" = 0 ]; then
    mknod -m 600 "$root/dev/console" c 5 1
    mknod -m 666 "$root/dev/null" c 1 3
fi

# Find a module by name (kernel treats - and _ alike), uncompressed into the tree.
find_mod() {
    local pat="${1//[-_]/[-_]}"
    find "$moddir/kernel" -type f \( -name "$pat.ko" -o -name "$pat.ko.xz" \
        -o -name "$pat.ko.gz" -o -name "$pat.ko.zst" \) | head -n1
}
stage_mod() { # name -> prints path of the plain .ko in the tree
    local name="$1" src dst
    dst="$root/lib/modules/$name.ko"
    if [ ! -f "$dst" ]; then
        src="$(find_mod "$name")"
        [ -n "$src" ] || return 1
        case "$src" in
            *.ko.xz) xz -dc "$src" >"$dst" ;;
            *.ko.gz) gzip -dc "$src" >"$dst" ;;
            *.ko.zst) zstd -qdc "$src" >"$dst" ;;
            *) cp "$src" "$dst" ;;
        esac
    fi
    echo "$dst"
}
builtin_mod() { grep -qE "/${1//[-_]/[-_]}\.ko\$" "$moddir/modules.builtin" 2>/dev/null; }
mod_deps() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '; }

order=()
declare -A seen=()
visit() { # depth-first: dependencies first
    local name="${1//-/_}" ko dep
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    if ! ko="$(stage_mod "$name")"; then
        if builtin_mod "$name"; then log "module $name is built in"; return 0; fi
        log "module $name not found in $kpkg"; exit 1
    fi
    for dep in $(mod_deps "$ko"); do visit "$dep"; done
    order+=("$name")
}
# virtio_pci: the PCI transport; virtio_balloon: the driver; virtio_mmio is harmless and
# covers microvm-style machines; virtio_console (hvc) for anyone who wants a second channel; virtio_blk for a
# disk whose reads fill the page cache (the bursty-cache trace of scripts/record-traces.sh).
for m in virtio_pci virtio_balloon virtio_mmio virtio_console virtio_blk; do visit "$m"; done
printf '%s\n' "${order[@]}" >"$root/etc/qballoon-modules"
log "modules (load order): ${order[*]}"

# --- pack ----------------------------------------------------------------------------
mkdir -p "$out"
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --quiet --reproducible -o -0 -H newc -R 0:0) |
    gzip -9n >"$work/initrd.gz"
cp "$vmlinuz" "$work/vmlinuz"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.gz" "$out/initrd.gz"
cat >"$out/stamp" <<EOF
hash=$stamp_hash
kernel=$kpkg $kver_pkg
modules=${order[*]}
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
echo "build-guest: built guest in $out (kernel $kpkg $kver_pkg, initrd $(du -k "$out/initrd.gz" | cut -f1) KiB)"
