import Foundation
import QBalloonFuzzTargets
import QBalloonTestSupport
import Testing

/// Every seed input under `Fixtures/fuzz/TARGET/` and every input that once crashed a target, under
/// `Fixtures/fuzz/regressions/TARGET/`, run through the fuzz target's body: a check that fails traps the test
/// process, like the fuzzer's crash.
@Suite("Fuzz corpora replayed")
struct CorpusReplayTests {
    static let root = TestEnvironment.repositoryRoot + "/Fixtures/fuzz"

    static func inputs(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(directory)/\($0)" }
    }

    @Test("the seed corpus replays", arguments: FuzzTarget.allCases)
    func seeds(target: FuzzTarget) throws {
        let inputs = Self.inputs(in: "\(Self.root)/\(target.rawValue)")
        #expect(inputs.count >= 10, "Fixtures/fuzz/\(target.rawValue) holds \(inputs.count) seeds: run scripts/fuzz-seeds.py")
        for path in inputs {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes.withUnsafeBytes { target.run($0) }
        }
    }

    @Test("the regressions replay", arguments: FuzzTarget.allCases)
    func regressions(target: FuzzTarget) throws {
        for path in Self.inputs(in: "\(Self.root)/regressions/\(target.rawValue)") {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes.withUnsafeBytes { target.run($0) }
        }
    }
}
