// libFuzzer on FuzzTarget.trace: `fuzz-trace [LIBFUZZER OPTIONS] [CORPUS...]` (see scripts/fuzz.sh).
import FuzzDriver

fuzz(.trace)
