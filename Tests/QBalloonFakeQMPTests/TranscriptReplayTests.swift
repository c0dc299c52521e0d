import QBalloonCore
import QBalloonJSON
import QBalloonQMP
import Testing

@testable import QBalloonFakeQMP

/// Replays every recorded QEMU 7.2 transcript (`Fixtures/transcripts/*.jsonl`) against the fake, set up like
/// the recorded VM, and compares every message by shape (``JSONShape``): this is what keeps the fake from
/// drifting away from QEMU.
@Suite("Recorded QEMU transcripts")
struct TranscriptReplayTests {
    static let transcripts = TestPaths.files(in: TestPaths.transcripts, endingWith: ".jsonl")

    @Test("there are transcripts to replay")
    func transcriptsExist() {
        #expect(!Self.transcripts.isEmpty, "no transcripts in \(TestPaths.transcripts)")
    }

    @Test("the fake answers like QEMU", arguments: transcripts)
    func replay(_ name: String) async throws {
        let path = "\(TestPaths.transcripts)/\(name)"
        let transcript = try Transcript(path: path)
        let clock = ManualClock(start: 1_795_750_000)
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }
        let server = try await FakeQMPServer.start(
            listen: .unixDomainSocket(path: directory + "/qmp.sock"), scenario: transcript.scenario,
            clock: .manual(clock))
        defer { Task { await server.stop() } }
        let connection = try RawQMPConnection(to: server.boundAddress)
        defer { connection.close() }

        var lastSentID: JSON?
        var compared = 0
        for step in transcript.steps {
            let place = "\(name):\(step.line)"
            switch step.kind {
            case .send(let bytes, let id):
                // QEMU was recorded at a human pace: let simulated time pass between inputs.
                clock.advance(by: 1.5)
                try await server.tick()
                try await connection.send(bytes)
                lastSentID = id
            case .recv(let expected):
                let isEvent = expected["event"] != nil
                var message = try await connection.receive(timeout: isEvent ? 0.05 : 5)
                if isEvent {
                    // Events come from the simulated guest: move its time on until the next one is sent.
                    var steps = 0
                    while message == nil, !connection.isClosed, steps < 60 {
                        clock.advance(by: 0.1)
                        try await server.tick()
                        message = try await connection.receive(timeout: 0.05)
                        steps += 1
                    }
                }
                guard let message else {
                    Issue.record("\(place): expected \(expected), got nothing")
                    return
                }
                let differences = JSONShape.differences(expected: expected, actual: message)
                #expect(
                    differences.isEmpty,
                    "\(place): \(differences.joined(separator: "; "))\n  QEMU: \(expected)\n  fake: \(message)")
                compared += 1
            case .note(let text):
                if text.contains("reply elided") {
                    // Too big to record (query-qmp-schema): a list reply with the sent id will do.
                    let message = try await connection.receive()
                    #expect(
                        message?["return"]?.arrayValue != nil,
                        "\(place): expected a list reply, got \(String(describing: message))")
                    #expect(message?["id"] == lastSentID, "\(place): reply id")
                    compared += 1
                } else if text.contains("connection closed") {
                    #expect(try await connection.waitForClose(), "\(place): the fake should close the connection")
                }
            }
        }
        #expect(compared > 0)
        let leftover = try await connection.drain()
        #expect(leftover.isEmpty, "\(name): the fake sent more than QEMU: \(leftover)")
    }
}

/// A recorded session: JSON lines of `{"send": OBJECT}`, `{"raw": TEXT}` (or `{"send": {"raw": TEXT}}`),
/// `{"recv": OBJECT}` and `{"note": TEXT}`; the first note holds QEMU's command line.
struct Transcript {
    enum Kind {
        case send([UInt8], id: JSON?)
        case recv(JSON)
        case note(String)
    }

    struct Step {
        var line: Int
        var kind: Kind
    }

    var steps: [Step] = []
    /// A fake VM set up like the recorded one.
    var scenario: FakeGuestScenario

    init(path: String) throws {
        guard let text = TestPaths.readText(path) else {
            throw RawQMPConnection.Failure(description: "cannot read \(path)")
        }
        var commandLine = ""
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.allSatisfy({ $0 == " " }) else { continue }
            let entry = try JSON.decode(String(line))
            let number = index + 1
            if let note = entry["note"]?.stringValue {
                if commandLine.isEmpty { commandLine = note }
                steps.append(Step(line: number, kind: .note(note)))
            } else if let raw = entry["raw"]?.stringValue ?? entry["send"]?["raw"]?.stringValue {
                steps.append(Step(line: number, kind: .send(Array(raw.utf8), id: nil)))
            } else if let command = entry["send"] {
                var bytes = command.encoded()
                bytes.append(0x0A)
                steps.append(Step(line: number, kind: .send(bytes, id: command["id"])))
            } else if let message = entry["recv"] {
                steps.append(Step(line: number, kind: .recv(message)))
            } else {
                throw RawQMPConnection.Failure(description: "\(path):\(number): unknown entry \(entry)")
            }
        }
        scenario = Self.scenario(for: commandLine)
    }

    /// Reads QEMU's arguments: `-m`, `-S`, `-kernel` (a guest that runs and reports statistics), and the
    /// balloon `-device` with or without `id`, `deflate-on-oom`, `free-page-reporting`.
    static func scenario(for commandLine: String) -> FakeGuestScenario {
        let words = commandLine.split(separator: " ").map(String.init)
        var scenario = FakeGuestScenario(name: "transcript")
        if let index = words.firstIndex(of: "-m"), index + 1 < words.count, let ram = try? MemorySize.bytes(parsing: words[index + 1]) {
            scenario.ram = ram
        }
        scenario.workload = .constant(16 << 20)
        scenario.guest = FakeGuestScenario.Guest(unfreeable: 24 << 20, shmem: 2 << 20, cache: 8 << 20)
        scenario.startPaused = words.contains("-S")
        let hasGuest = words.contains("-kernel") && !scenario.startPaused
        scenario.guest.statsAtBoot = hasGuest
        scenario.faults.noGuestStats = !hasGuest
        scenario.balloon.speed = hasGuest ? 256 << 20 : 0
        if let index = words.firstIndex(of: "-device"), index + 1 < words.count,
            words[index + 1].hasPrefix("virtio-balloon-pci")
        {
            let options = words[index + 1].split(separator: ",").dropFirst()
            let id = options.first { $0.hasPrefix("id=") }.map { String($0.dropFirst(3)) }
            scenario.balloon.id = id
            scenario.balloon.deflateOnOOM = options.contains("deflate-on-oom=on")
            scenario.balloon.freePageReporting = options.contains("free-page-reporting=on")
        } else {
            scenario.faults.noBalloonDevice = true
        }
        return scenario
    }
}
