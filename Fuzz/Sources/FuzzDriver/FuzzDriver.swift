import CLibFuzzer
import QBalloonFuzzTargets

#if canImport(Glibc)
import Glibc
#endif

/// The target libFuzzer's callback runs: a C function pointer captures nothing, so it reads it from here.
nonisolated(unsafe) private var current = FuzzTarget.json

/// Runs libFuzzer's driver on `target` with this process's arguments (`fuzz-NAME [LIBFUZZER OPTIONS]
/// [CORPUS...]`, see scripts/fuzz.sh), and exits with its status.
public func fuzz(_ target: FuzzTarget) -> Never {
    current = target
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(
        LLVMFuzzerRunDriver(&argc, &argv) { data, count in
            current.run(UnsafeRawBufferPointer(start: data, count: count))
            return 0
        })
}
