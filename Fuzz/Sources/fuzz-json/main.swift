// libFuzzer on FuzzTarget.json: `fuzz-json [LIBFUZZER OPTIONS] [CORPUS...]` (see scripts/fuzz.sh).
import FuzzDriver

fuzz(.json)
