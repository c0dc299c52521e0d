// libFuzzer on FuzzTarget.config: `fuzz-config [LIBFUZZER OPTIONS] [CORPUS...]` (see scripts/fuzz.sh).
import FuzzDriver

fuzz(.config)
