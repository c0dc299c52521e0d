import FoundationEssentials
import InMemoryLogging
import Logging
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonQMP
import QBalloonTestSupport
import Testing

/// The daemon's way into a VM over QMP, against the fake QEMU on real unix sockets: what the decision-loop
/// tests take for granted from their simulated VMs.
@Suite(.timeLimit(.minutes(1)))
struct QMPLinkTests {
    /// No test here waits for a timeout, so commands may take long: under the sanitizers, with the whole suite at
    /// once on two cores, replies came more than 2 s late.
    static func withServer(
        _ scenario: FakeGuestScenario = TestFleet.scenario(), faults: FakeQMPFaults? = nil,
        commandTimeout: Duration = .seconds(20),
        _ body: (FakeQMPServer, QMPLink, CapturedLogs) async throws -> Void
    ) async throws {
        try await FakeMonitor.with(scenario: scenario, faults: faults) { server in
            let logs = CapturedLogs()
            let link = QMPLink(address: server.boundAddress, commandTimeout: commandTimeout, logger: logs.logger())
            try await body(server, link, logs)
        }
    }

    @Test func connectTurnsPollingOnReadsAndSetsTheBalloon() async throws {
        try await Self.withServer { server, link, _ in
            #expect(link.description == server.boundAddress.description)
            let connection = try await link.connect(statsInterval: 1) { _ in }
            #expect(connection.ramBytes == 2 << 30)
            #expect(connection.qemu.hasPrefix("7.2."), "QEMU's version from the greeting: \(connection.qemu)")
            #expect(connection.preferredExecutor != nil, "QMP connections run on their event loop")
            let first = try await connection.read(includingActual: true)
            #expect(first.actual == 2 << 30)
            #expect(first.stats.lastUpdate != nil, "polling is on: the guest reported at once")
            #expect(try await connection.read(includingActual: false).actual == nil)
            try await connection.setTarget(1 << 30)
            #expect(try await server.guestState().target == 1 << 30)
            await connection.close()
        }
    }

    @Test func aReadWithoutATaskGivesWhatTheTasksReadGives() async throws {
        try await Self.withServer { server, link, _ in
            let connection = try #require(try await link.connect(statsInterval: 1) { _ in } as? any TasklessReading)
            let byTask = try await connection.read(includingActual: true)
            let withActual = try await Self.readWithoutTask(connection, includingActual: true).get()
            #expect(withActual.actual == byTask.actual)
            #expect(withActual.stats.total == byTask.stats.total && withActual.stats.lastUpdate != nil)
            let statsOnly = try await Self.readWithoutTask(connection, includingActual: false).get()
            #expect(statsOnly.actual == nil && statsOnly.stats.total == byTask.stats.total)
            await server.stop()
            let failed = await Self.readWithoutTask(connection, includingActual: true)
            #expect(throws: QMPError.self) { try failed.get() }
            await connection.close()
        }
    }

    @Test func aReadWithoutATaskOfAMisbehavingMonitorIsMisconduct() async throws {
        try await Self.withServer(faults: FakeQMPFaults(garbageOn: .only(["query-balloon"]))) { _, link, _ in
            let connection = try #require(try await link.connect(statsInterval: 1) { _ in } as? any TasklessReading)
            let result = await Self.readWithoutTask(connection, includingActual: true)
            let error = #expect(throws: VMLinkError.self) { try result.get() }
            #expect(error?.kind == .misconduct)
            await connection.close()
        }
    }

    /// Starts a read without a task on the connection's thread, as the orchestrator does, and waits for it.
    static func readWithoutTask(_ connection: any TasklessReading, includingActual: Bool) async -> Result<VMReading, any Error> {
        await withCheckedContinuation { continuation in
            connection.onReadThread {
                connection.read(includingActual: includingActual) { continuation.resume(returning: $0) }
            }
        }
    }

    @Test func balloonMovesArriveAsEvents() async throws {
        try await Self.withServer { server, link, _ in
            let (events, delivered) = AsyncStream.makeStream(of: VMEvent.self)
            let connection = try await link.connect(statsInterval: 1) { delivered.yield($0) }
            try await connection.setTarget(1 << 30)
            var iterator = events.makeAsyncIterator()
            var seen: UInt64?
            while let event = await iterator.next() {
                if case .actualChanged(let actual) = event, actual < 2 << 30 {
                    seen = actual
                    break
                }
            }
            #expect(seen != nil)
            await connection.close()
        }
    }

    @Test func aVMWithoutABalloonIsNoBalloonNotUnreachable() async throws {
        try await Self.withServer(faults: FakeQMPFaults(noBalloonDevice: true)) { _, link, _ in
            let error = await #expect(throws: VMLinkError.self) { try await link.connect(statsInterval: 1) { _ in } }
            #expect(error?.kind == .noBalloon)
            #expect(error?.description.contains("no balloon device") == true)
        }
    }

    @Test func aStoppedVMFailsReadsAndEndsEvents() async throws {
        try await Self.withServer { server, link, _ in
            let connection = try await link.connect(statsInterval: 1) { _ in }
            await server.stop()
            await #expect(throws: QMPError.self) { try await connection.read(includingActual: true) }
            await #expect(throws: QMPError.self) { try await link.connect(statsInterval: 1) { _ in } }
        }
    }

    @Test func theSocketScanFindsSocketsNotOtherFiles() async throws {
        try await Self.withServer { server, _, _ in
            let path = try #require(server.boundAddress.unixPath)
            let directory = String(path.dropLast("/qmp.sock".count))
            try "not a socket".write(toFile: directory + "/other.qmp", atomically: true, encoding: .utf8)
            try "not a socket".write(toFile: directory + "/plain.sock", atomically: true, encoding: .utf8)
            #expect(SocketScanner.sockets(matching: [directory + "/*.sock", directory + "/*.qmp"]) == [path])
        }
    }

    /// The whole daemon over real sockets: a VM whose QEMU dies and comes back on the same socket is reattached
    /// with backoff while the other goes on.
    @Test func aRestartedQEMUIsReattachedOverItsSocket() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("a")
            try await fleet.startVM("b")
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("a", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.quietRule)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.status == .ok } }
            await fleet.stopVM("a")
            try await fleet.waitFor("a unreachable") { $0.row("a")?.status.label == "unreachable" }
            try await fleet.startVM("a")
            try await fleet.waitFor("a reattached", within: 60) { report in
                report.row("a")?.status == .ok && report.row("b")?.status == .ok
            }
            #expect(fleet.logs.matching("attached", vm: "a").filter { $0.message == "attached" }.count == 2)
        }
    }
}
