#!/usr/bin/env bash
# Builds and runs the tests under ThreadSanitizer and AddressSanitizer (`make sanitize`; CI runs it after
# `make test`). Each sanitizer has its own scratch path (.build-tsan, .build-asan): the normal build is untouched.
#
#   scripts/sanitize.sh [thread] [address]     (both when none is named)
#
# Every test runs except the end-to-end suite with real guests (QBalloonGuestTests: TCG guests for about 20
# minutes, run by `make test`), which is skipped here explicitly with `--skip`. The real-QEMU tests without a guest
# run, and under CI=true may not be skipped, as in `make test`. Sanitizer reports, from the test process and from
# every `qballoon` the tests start (built with the same sanitizer), go to files through `log_path`; any report
# fails the run and is printed, as does any failing test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
swift=${SWIFT:-swift}
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)

# The end-to-end tests with real guests: named here so the skip is explicit, never silent.
skip='^QBalloonGuestTests\.'

failed=()
summary=()
for sanitizer in "${sanitizers[@]}"; do
    case "$sanitizer" in
    thread) scratch=.build-tsan ;;
    address) scratch=.build-asan ;;
    *) echo "sanitize.sh: unknown sanitizer '$sanitizer' (thread or address)" >&2; exit 2 ;;
    esac
    reports=$(mktemp -d /tmp/qbsan-"$sanitizer".XXXXXX)
    # Tests that measure memory know their figures mean nothing under a sanitizer's shadow memory.
    export QBALLOON_SANITIZER="$sanitizer"
    output="$reports/test-output.txt"
    case "$sanitizer" in
    thread)
        export TSAN_OPTIONS="log_path=$reports/report:suppressions=$root/scripts/sanitizers/tsan.supp:history_size=4:second_deadlock_stack=1"
        ;;
    address)
        # detect_leaks=0: LeakSanitizer only looks at process exit, where it reports what is still alive in
        # reference cycles (a SwiftNIO channel pipeline of a `qballoon` that exits with a connection open,
        # XCTest's own run objects), not memory that grows while a process runs.
        export ASAN_OPTIONS="log_path=$reports/report:suppressions=$root/scripts/sanitizers/asan.supp:detect_leaks=0"
        ;;
    esac

    echo "== sanitize: $sanitizer: building into $scratch"
    start=$(date +%s)
    "$swift" build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
    built=$(date +%s)

    echo "== sanitize: $sanitizer: testing (skipped: the end-to-end suite with real guests, QBalloonGuestTests)"
    status=0
    "$swift" test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" --skip "$skip" 2>&1 | tee "$output" || status=$?
    tested=$(date +%s)

    count=$(grep -ho 'Test run with [0-9]* tests\? in [0-9]* suites\?' "$output" | tail -1 || true)
    shopt -s nullglob
    found=("$reports"/report.*)
    shopt -u nullglob
    if [ ${#found[@]} -gt 0 ]; then
        echo "== sanitize: $sanitizer: ${#found[@]} process(es) reported:"
        for file in "${found[@]}"; do echo "--- $file"; cat "$file"; done
    fi
    line="$sanitizer: build $((built - start))s, tests $((tested - built))s (${count:-no test count}), exit $status, reports ${#found[@]}"
    summary+=("$line")
    if [ "$status" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
        failed+=("$sanitizer")
        echo "== sanitize: $sanitizer FAILED: the output and reports are in $reports"
    else
        rm -rf "$reports"
    fi
    unset TSAN_OPTIONS ASAN_OPTIONS
done

echo "== sanitize: summary"
printf '  %s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || { echo "sanitize: failed under: ${failed[*]}" >&2; exit 1; }
