import QBalloonCore
import QBalloonJSON
import QBalloonQMP
import QBalloonTestSupport
import Testing

@testable import QBalloonFakeQMP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

private let MiB: UInt64 = 1 << 20
private let GiB: UInt64 = 1 << 30

/// The server over real sockets, driven by the project's own QMPClient and by raw bytes.
@Suite("FakeQMPServer over sockets")
struct FakeQMPServerTests {
    @Test("QMPClient negotiates and runs commands over a unix socket; stop removes the socket")
    func unixSocket() async throws {
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }
        let path = directory + "/vm.qmp"
        let server = try await FakeQMPServer.start(
            listen: .unixDomainSocket(path: path), scenario: ServerHarness.scenario())
        #expect(server.boundAddress.unixPath == path)
        let client = try await QMPClient.connect(to: server.boundAddress)
        #expect(client.greeting.version.major == 7)
        #expect(client.greeting.version.minor == 2)
        #expect(client.greeting.capabilities == ["oob"])
        let balloon = try await client.execute("query-balloon")
        #expect(balloon["actual"]?.uint64Value == 2 * GiB)
        let summary = try await client.execute("query-memory-size-summary")
        #expect(summary["base-memory"]?.uint64Value == 2 * GiB)
        await client.close()
        await server.stop()
        #expect(access(path, F_OK) != 0)
    }

    @Test("tcp port 0 listens on a free port")
    func tcpPortZero() async throws {
        let server = try await FakeQMPServer.start(
            listen: .hostname("127.0.0.1", port: 0), scenario: ServerHarness.scenario())
        #expect(!server.boundAddress.description.hasSuffix(":0"))
        #expect(server.boundAddress.description.hasPrefix("tcp:127.0.0.1:"))
        let client = try await QMPClient.connect(to: server.boundAddress)
        let status = try await client.execute("query-status")
        #expect(status["running"] == true)
        await client.close()
        await server.stop()
    }

    @Test("a stale socket file is replaced; any other file is left alone and reported")
    func staleSocket() async throws {
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }
        let stale = directory + "/stale.qmp"
        // A socket file nobody listens on any more, as a killed QEMU leaves behind.
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(stale.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        close(descriptor)
        #expect(access(stale, F_OK) == 0)
        let server = try await FakeQMPServer.start(
            listen: .unixDomainSocket(path: stale), scenario: ServerHarness.scenario())
        let client = try await QMPClient.connect(to: server.boundAddress)
        await client.close()
        await server.stop()

        let regular = directory + "/notes.txt"
        TestPaths.writeText("keep me", to: regular)
        await #expect(throws: FakeQMPServerError.self) {
            _ = try await FakeQMPServer.start(
                listen: .unixDomainSocket(path: regular), scenario: ServerHarness.scenario())
        }
        #expect(TestPaths.readText(regular) == "keep me")
    }

    @Test("the wire: greeting, negotiation rules, errors without id, garbage answered and skipped")
    func wireRules() async throws {
        try await ServerHarness.withServer { server in
            let connection = try RawQMPConnection(to: server.boundAddress)
            defer { connection.close() }
            let greeting = try #require(try await connection.receive())
            #expect(greeting["QMP"]?["version"]?["qemu"] == ["micro": 22, "minor": 2, "major": 7])
            #expect(greeting["QMP"]?["capabilities"] == ["oob"])

            try await connection.send(#"{"execute": "query-balloon", "id": 1}"# + "\n")
            #expect(
                try await connection.receive()
                    == [
                        "id": 1,
                        "error": [
                            "class": "CommandNotFound",
                            "desc": "Expecting capabilities negotiation with 'qmp_capabilities'",
                        ],
                    ])
            try await connection.send("garbage{\"execute\": \"qmp_capabilities\"}")
            #expect(
                try await connection.receive() == [
                    "error": ["class": "GenericError", "desc": "JSON parse error, invalid keyword 'garbage'"]
                ])
            #expect(try await connection.receive() == ["return": [:]])
            try await connection.send(#"{"execute": "qmp_capabilities", "id": "again"}"# + "\n")
            #expect(
                try await connection.receive()
                    == [
                        "id": "again",
                        "error": [
                            "class": "CommandNotFound",
                            "desc": "Capabilities negotiation is already complete, command ignored",
                        ],
                    ])
            try await connection.send("[1, 2]\n")
            #expect(
                try await connection.receive() == [
                    "error": ["class": "GenericError", "desc": "QMP input must be a JSON object"]
                ])
            try await connection.send(#"{"execute": "query-balloon", "id": {"n": [1, 2.5]}}"# + "\r\n")
            #expect(
                try await connection.receive() == ["return": ["actual": .unsigned(2 * GiB)], "id": ["n": [1, 2.5]]])
            // Every message ends with CRLF, like QEMU's.
            try await connection.send(#"{"execute": "query-status"}"# + "\n")
            _ = try await connection.receive()
            #expect(connection.unparsed.isEmpty)
        }
    }

    @Test("BALLOON_CHANGE over the wire: at most one per second, the last value arrives")
    func balloonChangeRateLimit() async throws {
        let clock = ManualClock()
        try await ServerHarness.withServer(clock: .manual(clock)) { server in
            let connection = try RawQMPConnection(to: server.boundAddress)
            defer { connection.close() }
            _ = try await connection.receive()
            try await connection.send(json: ["execute": "qmp_capabilities"])
            _ = try await connection.receive()
            try await connection.send(json: ["execute": "balloon", "arguments": ["value": .unsigned(GiB)], "id": 1])
            #expect(try await connection.receive() == ["return": [:], "id": 1])
            let start = clock.now()
            var delivered: [(time: Double, actual: UInt64)] = []
            for _ in 1...60 {
                clock.advance(by: 0.1)
                try await server.tick()
                for message in try await connection.drain(grace: 0.01) {
                    #expect(message["event"] == "BALLOON_CHANGE")
                    #expect(message["timestamp"]?["seconds"]?.int64Value != nil)
                    delivered.append((clock.now() - start, message["data"]?["actual"]?.uint64Value ?? 0))
                }
            }
            #expect(delivered.count >= 4)
            #expect((delivered.first?.time ?? 99) <= 0.1 + 1e-6)
            for (earlier, later) in zip(delivered, delivered.dropFirst()) {
                #expect(later.time - earlier.time >= 1 - 1e-6, "events \(earlier) and \(later) closer than a second")
            }
            #expect(delivered.last?.actual == GiB)
            let state = try await server.guestState()
            #expect(state.actual == GiB)
        }
    }

    @Test("a client that has not negotiated gets no events while the balloon moves")
    func noEventsBeforeNegotiation() async throws {
        let clock = ManualClock()
        try await ServerHarness.withServer(clock: .manual(clock)) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            _ = try await client.execute("balloon", arguments: ["value": .unsigned(GiB)])
            await client.close()

            // The balloon is still moving, but the next client has not negotiated: nothing but the greeting.
            let connection = try RawQMPConnection(to: server.boundAddress)
            defer { connection.close() }
            #expect(try await connection.receive()?["QMP"] != nil)
            for _ in 1...5 {
                clock.advance(by: 1)
                try await server.tick()
            }
            #expect(try await connection.drain().isEmpty)
        }
    }

    @Test("one client at a time: the second gets its greeting when the first leaves")
    func oneClientAtATime() async throws {
        try await ServerHarness.withServer { server in
            let first = try RawQMPConnection(to: server.boundAddress)
            #expect(try await first.receive()?["QMP"] != nil)
            let second = try RawQMPConnection(to: server.boundAddress)
            defer { second.close() }
            try await second.send(json: ["execute": "qmp_capabilities", "id": 1])
            #expect(try await second.receive(timeout: 0.2) == nil)
            first.close()
            #expect(try await second.receive()?["QMP"] != nil)
            // What it sent while waiting is answered now.
            #expect(try await second.receive() == ["return": [:], "id": 1])
        }
    }

    @Test("quit: SHUTDOWN, the reply, the connection closes and the server stops")
    func quit() async throws {
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }
        let server = try await FakeQMPServer.start(
            listen: .unixDomainSocket(path: directory + "/q.qmp"), scenario: ServerHarness.scenario())
        let connection = try RawQMPConnection(to: server.boundAddress)
        defer { connection.close() }
        _ = try await connection.receive()
        try await connection.send(json: ["execute": "qmp_capabilities"])
        _ = try await connection.receive()
        try await connection.send(json: ["execute": "quit", "id": 5])
        let shutdown = try await connection.receive()
        #expect(shutdown?["event"] == "SHUTDOWN")
        #expect(shutdown?["data"] == ["guest": false, "reason": "host-qmp-quit"])
        #expect(try await connection.receive() == ["return": [:], "id": 5])
        #expect(try await connection.waitForClose())
        await server.waitUntilStopped()
        #expect(access(directory + "/q.qmp", F_OK) != 0)
    }

    @Test("statistics over the wire: polling on, reports at the interval")
    func statsOverTheWire() async throws {
        let clock = ManualClock()
        try await ServerHarness.withServer(clock: .manual(clock)) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            let path: JSON = "/machine/peripheral/balloon0"
            let before = try await client.execute("qom-get", arguments: ["path": path, "property": "guest-stats"])
            #expect(before["last-update"] == 0)
            #expect(before["stats"]?["stat-free-memory"]?.uint64Value == UInt64.max)
            _ = try await client.execute(
                "qom-set", arguments: ["path": path, "property": "guest-stats-polling-interval", "value": 2])
            let first = try await client.execute("qom-get", arguments: ["path": path, "property": "guest-stats"])
            let firstUpdate = try #require(first["last-update"]?.int64Value)
            #expect(firstUpdate > 0)
            #expect(first["stats"]?["stat-available-memory"]?.uint64Value ?? 0 > GiB)
            clock.advance(by: 5)
            let later = try await client.execute("qom-get", arguments: ["path": path, "property": "guest-stats"])
            #expect(later["last-update"]?.int64Value == firstUpdate + 4)
            await client.close()
        }
    }

    // MARK: Faults

    @Test("writes split into small chunks still make whole messages")
    func chunkedWrites() async throws {
        var faults = FakeQMPFaults()
        faults.writeChunkSize = 3
        try await ServerHarness.withServer(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let stats = try await client.execute(
                "qom-get", arguments: ["path": "/machine/peripheral/balloon0", "property": "guest-stats"])
            #expect(stats["stats"]?.objectValue?.count == 10)
            let schema = try await client.execute("query-commands")
            #expect(schema.arrayValue?.contains(["name": "balloon"]) == true)
            await client.close()
        }
    }

    @Test("no balloon device: DeviceNotActive")
    func noBalloonDevice() async throws {
        let scenario = try FakeGuestScenario.load(path: TestPaths.scenarios + "/no-balloon.json")
        try await ServerHarness.withServer(scenario: scenario) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let error = await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
            #expect(error?.code == .commandFailed)
            #expect(error?.serverError?.errorClass == "DeviceNotActive")
            let peripherals = try await client.execute("qom-list", arguments: ["path": "/machine/peripheral"])
            #expect(peripherals == [["name": "type", "type": "string"]])
            await client.close()
        }
    }

    @Test("a guest that never reports: all-ones and last-update 0 even with polling")
    func noGuestStats() async throws {
        let clock = ManualClock()
        let scenario = try FakeGuestScenario.load(path: TestPaths.scenarios + "/no-stats.json")
        try await ServerHarness.withServer(scenario: scenario, clock: .manual(clock)) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let path: JSON = "/machine/peripheral/balloon0"
            _ = try await client.execute(
                "qom-set", arguments: ["path": path, "property": "guest-stats-polling-interval", "value": 1])
            clock.advance(by: 10)
            let stats = try await client.execute("qom-get", arguments: ["path": path, "property": "guest-stats"])
            #expect(stats["last-update"] == 0)
            #expect(stats["stats"]?.objectValue?.values.allSatisfy { $0 == .uint(UInt64.max) } == true)
            await client.close()
        }
    }

    @Test("faults can change while the server runs")
    func changeFaults() async throws {
        try await ServerHarness.withServer { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            _ = try await client.execute("query-balloon")
            var faults = try await server.faults()
            faults.hangOn = .all
            try await server.setFaults(faults)
            let error = await FakeMonitor.qmpError {
                _ = try await client.execute("query-balloon", timeout: .milliseconds(300))
            }
            #expect(error?.code == .timeout)
            await client.close()
        }
    }
}
