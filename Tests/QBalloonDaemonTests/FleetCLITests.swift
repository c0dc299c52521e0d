import Foundation
import QBalloon
import QBalloonTestSupport
import Testing

/// `qballoon fleet` as a user runs it: a trace per VM from the shipped shapes, never into a folder that holds
/// anything, and its limits said plainly.
@Suite(.timeLimit(.minutes(2)))
struct FleetCLITests {
    static let shapes = ["idle", "nightly-batch", "slow-leak", "bursty-cache"].map {
        TestEnvironment.repositoryRoot + "/Fixtures/traces/\($0).trace"
    }

    @Test func writesATracePerVMThatReadsBack() async throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbfleet")
        defer { TestEnvironment.removeDirectory(directory) }
        let out = directory + "/fleet"
        let result = try await BuiltCLI.run(
            ["fleet", "--vms", "6", "--duration", "2h", "--interval", "10s", "--seed", "3", "--out", out] + Self.shapes, timeout: 60)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("qballoon: wrote 6 traces of 2h into \(out)"), "\(result)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == (1...6).map { "vm00\($0).trace" })
        for file in files {
            let trace = try Trace(parsing: try String(contentsOfFile: "\(out)/\(file)", encoding: .utf8), file: file)
            #expect(trace.header.qemu == "synthetic" && trace.header.interval == 10)
            #expect(trace.samples.count == 720)
        }
        // The same seed again: the same traces.
        let again = try await BuiltCLI.run(
            ["fleet", "--vms", "6", "--duration", "2h", "--interval", "10s", "--seed", "3", "--out", out + "2"] + Self.shapes, timeout: 60)
        #expect(again.status == 0, "\(again)")
        for file in files {
            #expect(FileManager.default.contents(atPath: "\(out)/\(file)") == FileManager.default.contents(atPath: "\(out)2/\(file)"))
        }
        // Never into a folder that holds anything.
        let refused = try await BuiltCLI.run(["fleet", "--vms", "1", "--out", out] + Self.shapes, timeout: 60)
        #expect(refused.status == 1 && refused.stderr.contains("\(out) is not empty"), "\(refused)")
    }

    /// With no shapes named, the shipped ones: from a checkout, Fixtures/traces/; elsewhere (nothing installed
    /// beside a built binary) it asks for them.
    @Test func drawsFromTheShippedShapesByDefault() async throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbfleet")
        defer { TestEnvironment.removeDirectory(directory) }
        let result = try await BuiltCLI.run(
            ["fleet", "--vms", "40", "--duration", "10m", "--interval", "60s", "--out", directory + "/fleet"], timeout: 60,
            workingDirectory: TestEnvironment.repositoryRoot)
        #expect(result.status == 0, "\(result)")
        for shape in ["idle", "nightly-batch", "slow-leak", "bursty-cache"] {
            #expect(result.stdout.contains(" \(shape)"), "\(result)")
        }
        let lost = try await BuiltCLI.run(["fleet", "--out", directory + "/none"], timeout: 60, workingDirectory: directory)
        #expect(lost.status == 2 && lost.stderr.contains("no shape traces in Fixtures/traces"), "\(lost)")
    }

    @Test(arguments: [
        (["--vms", "0"], "--vms must be from 1 to 10000"),
        (["--vms", "10001"], "--vms must be from 1 to 10000"),
        (["--duration", "169h"], "at most 168h"),
        (["--duration", "soon"], "--duration: bad duration 'soon'"),
        (["--interval", "0s"], "--interval must be more than 0"),
    ])
    func refusesWhatItCannotDraw(arguments: [String], message: String) async throws {
        let result = try await BuiltCLI.run(["fleet", "--out", "/nonexistent/fleet"] + arguments + Self.shapes, timeout: 30)
        #expect(result.status == 2 && result.stderr.contains(message), "\(result)")
    }
}
