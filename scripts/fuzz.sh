#!/usr/bin/env bash
# Builds the libFuzzer targets (the package in Fuzz/, with -sanitize=fuzzer,address) and runs each for
# FUZZ_SECONDS (default 60). Fails if a target crashes, trips a check, leaks, hangs (FUZZ_TIMEOUT seconds on
# one input, default 10) or runs out of memory; the input that did it is left in .build-fuzz/artifacts/ and
# the command to replay it is printed.
#
#   scripts/fuzz.sh                 every target: qmp-stream json config rules trace
#   scripts/fuzz.sh json rules      only these
#   FUZZ_SECONDS=600 scripts/fuzz.sh config
#
# Each target starts from its seeds (Fixtures/fuzz/TARGET/, written by scripts/fuzz-seeds.py) and the inputs
# that once crashed it (Fixtures/fuzz/regressions/TARGET/); what it finds new goes to .build-fuzz/corpus/TARGET/,
# which later runs on this machine start from too. FUZZ_ARGS adds libFuzzer options (`-jobs=2`, `-dict=...`).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
timeout="${FUZZ_TIMEOUT:-10}"
scratch=.build-fuzz
all=(qmp-stream json config rules trace)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for target in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $target "* ]] || { echo "fuzz: unknown target '$target' (known: ${all[*]})" >&2; exit 2; }
done

scripts/install-deps.sh --build-only
echo "fuzz: building the fuzz targets (release, -sanitize=fuzzer,address)"
# Every Swift, C and C++ module the targets link is instrumented (toml++ under TOMLKit too): coverage guides
# the fuzzer through all of it. jansson is the system's library, and is not.
# Linked with lld: gold fails on these binaries (an internal error in its DWARF reader).
flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -g -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
    -Xcc -fsanitize=fuzzer-no-link,address -Xcxx -fsanitize=fuzzer-no-link,address)
swift build --package-path Fuzz --scratch-path "$scratch" "${flags[@]}"
bin="$(swift build --package-path Fuzz --scratch-path "$scratch" "${flags[@]}" --show-bin-path)"

failed=()
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target"
    mkdir -p "$corpus" "$artifacts" "Fixtures/fuzz/regressions/$target"
    echo "fuzz: $target for ${seconds}s"
    touch "$scratch/$target.started"
    # Leaks are looked for in the QMP and JSON targets (jansson's reference counts). TOMLKit leaks a little on every
    # parse (Fuzz/leak-suppressions.txt), so the config and rule targets, which parse TOML each time, would run a
    # leak check after every input: there they are off.
    case "$target" in config | rules) leaks=0 ;; *) leaks=1 ;; esac
    # The Swift runtime's own crash backtracer would trip AddressSanitizer: libFuzzer reports the crash.
    if ! SWIFT_BACKTRACE=enable=no \
        LSAN_OPTIONS="suppressions=$PWD/Fuzz/leak-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
        "$bin/fuzz-$target" "$corpus" "Fixtures/fuzz/$target" "Fixtures/fuzz/regressions/$target" \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=4096 -detect_leaks="$leaks" \
        -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} 2>"$scratch/$target.log"; then
        tail -n 60 "$scratch/$target.log" >&2
        failed+=("$target")
        find "$artifacts" -type f -newer "$scratch/$target.started" | while read -r input; do
            echo "fuzz: $target: replay with: $bin/fuzz-$target $input" >&2
        done
        continue
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|#[0-9]+.*DONE' \
        "$scratch/$target.log" | sed "s/^/fuzz: $target: /" || true
    echo "fuzz: $target: corpus $(find "$corpus" -type f | wc -l) inputs"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (log in $scratch/TARGET.log, inputs in $scratch/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${targets[*]}: no crash in ${seconds}s each"
