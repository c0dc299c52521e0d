import CLibFuzzer
import QBalloonFuzzTargets

#if canImport(Glibc)
import Glibc
#endif

// libFuzzer, fuzzing FuzzTarget.rules: `fuzz-rules [LIBFUZZER OPTIONS] [CORPUS...]` (see scripts/fuzz.sh).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(
    LLVMFuzzerRunDriver(&argc, &argv) { data, count in
        FuzzTarget.rules.run(UnsafeRawBufferPointer(start: data, count: count))
        return 0
    })
