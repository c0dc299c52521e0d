import Foundation
import QBalloon
import QBalloonCore
import QBalloonFakeQMP
import QBalloonTestSupport
import Testing

/// `qballoon record` as a user runs it, against a fake monitor: a trace that reads back, with the guest's figures,
/// and never written over another file.
@Suite(.timeLimit(.minutes(2)))
struct RecordCLITests {
    @Test func recordsATraceThatReadsBack() async throws {
        try await FakeMonitor.with(scenario: .idle) { server in
            let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbrec")
            defer { TestEnvironment.removeDirectory(directory) }
            let out = directory + "/idle.trace"
            let socket = try #require(server.boundAddress.unixPath)
            let result = try await BuiltCLI.run(
                ["record", "--qmp", socket, "--out", out, "--interval", "1s", "--duration", "3s", "--name", "idle"], timeout: 60)
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("qballoon: recorded 3 samples of idle every 1s into \(out)"), "\(result)")
            let trace = try Trace(parsing: try String(contentsOfFile: out, encoding: .utf8), file: out)
            #expect(trace.header.vm == "idle")
            #expect(trace.header.interval == 1)
            #expect(trace.header.qemu.hasPrefix("7.2"))
            #expect(trace.header.ramBytes == FakeGuestScenario.idle.ram)
            #expect(trace.samples.count == 3)
            for sample in trace.samples {
                #expect(sample.actual == trace.header.ramBytes)
                #expect(sample.stats.total != nil && sample.stats.available != nil, "\(sample)")
                #expect(sample.time >= trace.header.start)
            }
            #expect(zip(trace.samples, trace.samples.dropFirst()).allSatisfy { $1.time > $0.time }, "in time order")

            let again = try await BuiltCLI.run(["record", "--qmp", socket, "--out", out, "--duration", "1s"], timeout: 30)
            #expect(again.status == 1)
            #expect(again.stderr.contains("cannot write the trace \(out): it exists already"), "\(again)")
            let bad = try await BuiltCLI.run(["record", "--qmp", socket, "--out", out + "2", "--interval", "1.5s"], timeout: 30)
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("--interval must be whole seconds"), "\(bad)")
        }
    }
}
