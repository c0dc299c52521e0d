// libFuzzer on FuzzTarget.qmpStream: `fuzz-qmp-stream [LIBFUZZER OPTIONS] [CORPUS...]` (see scripts/fuzz.sh).
import FuzzDriver

fuzz(.qmpStream)
