/// The fuzz targets: each feeds one input, as untrusted bytes, to one parser of qballoon and checks what must
/// hold whatever the bytes are. A failed check traps, which a fuzzer records as a crash.
///
/// The libFuzzer entry points live in the separate package under `Fuzz/` (a libFuzzer binary has no `main`
/// and must not be built by `swift build`); they call ``run(_:)``. The unit tests in `Tests/QBalloonFuzzTests`
/// replay every input under `Fixtures/fuzz/` through the same bodies, so the corpora and the regressions run
/// with every `swift test`.
///
/// ```swift
/// let input = try Array(Data(contentsOf: url))
/// input.withUnsafeBytes { FuzzTarget.json.run($0) }
/// ```
public enum FuzzTarget: String, Sendable, CaseIterable {
    /// Bytes as a QEMU monitor stream, fed whole, byte by byte and in chunks: the frame splitter, the frame
    /// decoder, `QMPMessage` and the session state machine.
    case qmpStream = "qmp-stream"
    /// Bytes as JSON text: `JSON.decode` under the default and tight limits, and the encoding round trip.
    case json
    /// Bytes as a config file: `QBalloonConfig.parse`, its error messages, and a config that loads run
    /// through a few rounds of the decision engine.
    case config
    /// Bytes as a rule expression (`when`, `set`, `pressure`): the parser and type checker, its error
    /// excerpts, and the compiled expression evaluated.
    case rules
    /// Bytes as a trace file: `Trace(parsing:)`, the need model, and a short simulation of what reads.
    case trace

    /// Runs the target on one input.
    public func run(_ input: UnsafeRawBufferPointer) {
        switch self {
        case .qmpStream: QMPStreamFuzzing.run(input)
        case .json: JSONFuzzing.run(input)
        case .config: ConfigFuzzing.run(input)
        case .rules: RuleExpressionFuzzing.run(input)
        case .trace: TraceFuzzing.run(input)
        }
    }
}

/// Traps with `message` when `condition` does not hold: a property every input must keep.
func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("fuzz check failed: \(message())", file: file, line: line) }
}
