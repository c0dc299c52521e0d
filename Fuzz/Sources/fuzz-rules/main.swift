// libFuzzer on FuzzTarget.rules: `fuzz-rules [LIBFUZZER OPTIONS] [CORPUS...]` (see scripts/fuzz.sh).
import FuzzDriver

fuzz(.rules)
