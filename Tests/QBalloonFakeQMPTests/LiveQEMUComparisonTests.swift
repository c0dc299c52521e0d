import Foundation
import QBalloonCore
import QBalloonJSON
import QBalloonQMP
import QBalloonTestSupport
import Testing

@testable import QBalloonFakeQMP

/// Runs each recorded command sequence live against a real QEMU started with the recorded command line and
/// against the fake set up the same way, and compares the two replies' shapes message by message. Where
/// the transcript replay checks the fake against what QEMU said when it was recorded, this checks it against
/// the QEMU installed here now.
///
/// Outside CI a missing QEMU skips it (with the reason printed); under `CI=true` that is a failure.
@Suite("Fake and real QEMU side by side", requiresQEMU)
struct LiveQEMUComparisonTests {
    /// The transcripts of a VM without a guest: a live QEMU answers them the same way every time.
    static let transcripts = TestPaths.files(in: TestPaths.transcripts, endingWith: ".jsonl").filter {
        !$0.contains("guest")
    }

    @Test("the same commands get replies of the same shape", arguments: transcripts)
    func sideBySide(_ name: String) async throws {
        let binary = try #require(TestEnvironment.qemu, "qemu-system-x86_64 is not installed")
        let transcript = try Transcript(path: "\(TestPaths.transcripts)/\(name)")
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }

        // The recorded argv, with the recorder's $TMP pointing at this test's directory.
        guard case .note(let firstNote)? = transcript.steps.first?.kind, let argv = firstNote.components(separatedBy: "argv: ").last
        else {
            Issue.record("\(name): no command line in the first note")
            return
        }
        let arguments = argv.replacingOccurrences(of: "$TMP", with: directory).split(separator: " ").dropFirst().map(String.init)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        let socket = directory + "/qmp.sock"
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(50)) }

        let server = try await FakeQMPServer.start(
            listen: .unixDomainSocket(path: directory + "/fake.sock"), scenario: transcript.scenario)
        defer { Task { await server.stop() } }
        let real = try RawQMPConnection(to: .unixDomainSocket(path: socket))
        let fake = try RawQMPConnection(to: server.boundAddress)
        defer {
            real.close()
            fake.close()
        }

        var compared = try await compare(real, fake, at: "\(name): greeting", wait: 5)
        for step in transcript.steps {
            guard case .send(let bytes, _) = step.kind else { continue }
            try await real.send(bytes)
            try await fake.send(bytes)
            compared += try await compare(real, fake, at: "\(name):\(step.line)", wait: 1)
        }
        #expect(compared > 10, "\(name): too few replies compared")
    }

    /// Reads what each side sends after one input and compares them in order; returns how many were compared.
    private func compare(_ real: RawQMPConnection, _ fake: RawQMPConnection, at place: String, wait: Double) async throws -> Int {
        var fromReal: [JSON] = []
        if let first = try await real.receive(timeout: wait) { fromReal = [first] + (try await real.drain(grace: 0.03)) }
        // Wait for as many messages from the fake as QEMU sent, however slow this machine is (a sanitizer build:
        // only a fake that fails to answer waits this long), then take any extra one within the same grace.
        var fromFake: [JSON] = []
        while fromFake.count < fromReal.count, let next = try await fake.receive(timeout: 10) { fromFake.append(next) }
        if fromFake.count == fromReal.count { fromFake += try await fake.drain(grace: fromReal.isEmpty ? 0.1 : 0.03) }
        #expect(fromReal.count == fromFake.count, "\(place): QEMU sent \(fromReal), the fake sent \(fromFake)")
        for (expected, actual) in zip(fromReal, fromFake) {
            // query-qmp-schema: the fake's stand-in schema is a list too, but not QEMU's 1000-entry one.
            if let list = expected["return"]?.arrayValue, list.count > 100 {
                #expect(actual["return"]?.arrayValue != nil, "\(place): expected a list reply, got \(actual)")
                continue
            }
            let differences = JSONShape.differences(expected: expected, actual: actual)
            #expect(differences.isEmpty, "\(place): \(differences.joined(separator: "; "))\n  QEMU: \(expected)\n  fake: \(actual)")
        }
        return min(fromReal.count, fromFake.count)
    }
}
