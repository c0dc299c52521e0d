#!/usr/bin/env bash
# Record the real traces in Fixtures/traces/: for each shape, boot the test guest of scripts/build-guest.sh under
# TCG (1 GiB, a virtio balloon, and for bursty-cache a 1 GiB sparse raw disk to read into the page cache), start
# the shape's workload inside it through its serial console (`memload shape NAME`, scripts/guest/memload), record
# it with `qballoon record` at 1 s for 360 s, and shut the guest down.
#
#   scripts/record-traces.sh [SHAPE...]      default: idle nightly-batch slow-leak bursty-cache
#
# Environment: QBALLOON_TRACES_OUT (default Fixtures/traces), QBALLOON_TRACE_SECONDS (default 360; the shapes are
# scripted for 360 s), QBALLOON_GUEST_DIR (the guest's cache, as for build-guest.sh), QBALLOON_TRACES_PARALLEL
# (shapes recorded at once, default 1: each guest keeps a TCG core busy, and a busy host delays its reports).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
out="${QBALLOON_TRACES_OUT:-Fixtures/traces}"
seconds="${QBALLOON_TRACE_SECONDS:-360}"
parallel="${QBALLOON_TRACES_PARALLEL:-1}"
guest_dir="${QBALLOON_GUEST_DIR:-/var/cache/qballoon-guest}"
shapes=("$@")
[ "${#shapes[@]}" -gt 0 ] || shapes=(idle nightly-batch slow-leak bursty-cache)
log() { echo "record-traces: $*" >&2; }

for shape in "${shapes[@]}"; do
    case "$shape" in
        idle | nightly-batch | slow-leak | bursty-cache) ;;
        *) log "no shape $shape (idle, nightly-batch, slow-leak, bursty-cache)"; exit 2 ;;
    esac
done

QBALLOON_GUEST_DIR="$guest_dir" scripts/build-guest.sh
swift build --product qballoon >&2
qballoon="$(swift build --product qballoon --show-bin-path)/qballoon"
mkdir -p "$out"
work="$(mktemp -d /tmp/qballoon-record-traces.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# One shape: boot, start the workload, record, shut down. Runs in a subshell of its own.
record_one() {
    local shape="$1" dir="$work/$1" disk=() qemu_pid
    mkdir -p "$dir"
    if [ "$shape" = bursty-cache ]; then
        truncate -s 1G "$dir/disk.raw"
        disk=(-drive "file=$dir/disk.raw,format=raw,if=virtio,cache=unsafe")
    fi
    qemu-system-x86_64 -accel tcg -m 1G -nodefaults -nographic -no-reboot \
        -kernel "$guest_dir/vmlinuz" -initrd "$guest_dir/initrd.gz" -append "console=ttyS0 panic=-1 quiet" \
        -serial "unix:$dir/console,server=on,wait=off" -qmp "unix:$dir/qmp,server=on,wait=off" \
        -device virtio-balloon-pci,id=balloon0 "${disk[@]}" >"$dir/qemu.log" 2>&1 &
    qemu_pid=$!
    trap 'kill "$qemu_pid" 2>/dev/null || true' EXIT
    python3 scripts/guest-console.py --wait-ready --timeout 180 "$dir/console" true
    # Let the boot settle so the trace starts from a quiet guest.
    sleep 10
    python3 scripts/guest-console.py "$dir/console" "memload shape $shape >/tmp/shape.log 2>&1 &"
    log "$shape: recording $seconds s"
    # Into the work folder first (record never writes over a file), then over the old trace.
    "$qballoon" record --qmp "unix:$dir/qmp" --out "$dir/$shape.trace" --interval 1s --duration "${seconds}s" --name "$shape"
    log "$shape: what the guest did (seconds since the shape began):"
    python3 scripts/guest-console.py --timeout 20 "$dir/console" "cat /tmp/shape.log" | sed "s/^/  $shape: /" >&2
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    mv -f "$dir/$shape.trace" "$out/$shape.trace"
    log "$shape: wrote $out/$shape.trace ($(wc -l <"$out/$shape.trace") lines, $(du -k "$out/$shape.trace" | cut -f1) KiB)"
}

failed=0
running=0
for shape in "${shapes[@]}"; do
    record_one "$shape" &
    pids+=($!)
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
[ "$failed" = 0 ] || { log "a recording failed"; exit 1; }
log "done: $(cd "$out" && ls -1 ./*.trace | tr '\n' ' ')"
