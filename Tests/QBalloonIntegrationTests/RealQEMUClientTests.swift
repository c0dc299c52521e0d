import Foundation
import QBalloon
import QBalloonJSON
import QBalloonQMP
import QBalloonCore
import QBalloonTestSupport
import Testing

/// The QMP client and the balloon device against a real QEMU with no guest.
@Suite(requiresQEMU, .serialized)
struct RealQEMUClientTests {
    @Test(arguments: [RealQEMU.Monitor.unix, .tcp, .unixPretty])
    func statusOverEveryMonitorForm(monitor: RealQEMU.Monitor) async throws {
        let qemu = try RealQEMU(monitor: monitor)
        let client = try await QMPClient.connect(to: qemu.address)
        defer { Task { await client.close() } }
        #expect(client.greeting.version.major >= 7)
        #expect(client.greeting.capabilities.contains("oob"))
        let balloon = try await BalloonDevice.find(on: client)
        #expect(balloon.path == "/machine/peripheral/balloon0")
        #expect(try await balloon.actual() == qemu.ramBytes)
        #expect(try await balloon.maxBytes() == qemu.ramBytes)
        let stats = try await balloon.stats()
        #expect(stats.lastUpdate == nil, "no guest ever reports")
        #expect(stats.available == nil && stats.free == nil)
        #expect(stats.all["stat-free-memory"] == GuestStats.unreported)
        await client.close()
    }

    @Test func findsAnAnonymousBalloon() async throws {
        let qemu = try RealQEMU(balloon: .anonymous)
        let client = try await QMPClient.connect(to: qemu.address)
        let balloon = try await BalloonDevice.find(on: client)
        #expect(balloon.path.hasPrefix("/machine/peripheral-anon/"))
        try await balloon.setPollingInterval(seconds: 3)
        #expect(try await balloon.pollingInterval() == 3)
        await client.close()
    }

    @Test func noBalloonDeviceIsAClearError() async throws {
        let qemu = try RealQEMU(balloon: .none)
        let client = try await QMPClient.connect(to: qemu.address)
        let error = await #expect(throws: BalloonError.self) { try await BalloonDevice.find(on: client) }
        #expect(error?.code == .noDevice)
        #expect(error?.description.contains("\(qemu.address)") == true)
        let refused = await #expect(throws: QMPError.self) { try await client.execute("query-balloon") }
        #expect(refused?.serverError?.errorClass == "DeviceNotActive")
        await client.close()
    }

    @Test func qemuErrorsCarryClassAndDescription() async throws {
        let qemu = try RealQEMU()
        let client = try await QMPClient.connect(to: qemu.address)
        let zero = await #expect(throws: QMPError.self) {
            try await client.execute("balloon", arguments: ["value": 0])
        }
        #expect(zero?.code == .commandFailed)
        #expect(zero?.serverError == QMPServerError(errorClass: "GenericError", desc: "Parameter 'target' expects a size"))
        #expect(zero?.description.contains("\(qemu.address)") == true)
        let badPath = await #expect(throws: QMPError.self) {
            try await client.execute("qom-get", arguments: ["path": "/machine/nope", "property": "guest-stats"])
        }
        #expect(badPath?.serverError?.errorClass == "DeviceNotFound")
        let unknown = await #expect(throws: QMPError.self) { try await client.execute("no-such-command") }
        #expect(unknown?.serverError?.errorClass == "CommandNotFound")
        let balloon = try await BalloonDevice.find(on: client)
        let negative = await #expect(throws: QMPError.self) {
            try await client.execute(
                "qom-set", arguments: ["path": .string(balloon.path), "property": "guest-stats-polling-interval", "value": -1])
        }
        #expect(negative?.serverError?.desc.contains("timer value must be greater than zero") == true)
        // The session survives refused commands.
        #expect(try await balloon.actual() == qemu.ramBytes)
        await client.close()
    }

    @Test func manyCommandsInFlightFromManyTasks() async throws {
        let qemu = try RealQEMU()
        let client = try await QMPClient.connect(to: qemu.address)
        let actuals = try await withThrowingTaskGroup(of: UInt64?.self) { group in
            for index in 0..<64 {
                group.addTask {
                    if index % 2 == 0 { return try await client.execute("query-balloon")["actual"]?.uint64Value }
                    return try await client.execute("query-memory-size-summary")["base-memory"]?.uint64Value
                }
            }
            return try await group.reduce(into: [UInt64?]()) { $0.append($1) }
        }
        #expect(actuals.count == 64)
        #expect(actuals.allSatisfy { $0 == qemu.ramBytes })
        await client.close()
    }

    @Test func decodesTheLargeSchemaReply() async throws {
        let qemu = try RealQEMU()
        let client = try await QMPClient.connect(to: qemu.address)
        let schema = try await client.execute("query-qmp-schema")
        let entries = try #require(schema.arrayValue)
        #expect(entries.count > 1000)
        #expect(entries.contains { $0["name"]?.stringValue == "balloon" })
        await client.close()
    }

    @Test func eventsArriveInOrder() async throws {
        let qemu = try RealQEMU()
        let client = try await QMPClient.connect(to: qemu.address)
        _ = try await client.execute("cont")
        _ = try await client.execute("stop")
        var names: [String] = []
        for await event in client.events {
            names.append(event.name)
            if names.count == 2 { break }
        }
        #expect(names == ["RESUME", "STOP"])
        await client.close()
    }

    @Test func inflationWithoutAGuestStalls() async throws {
        let qemu = try RealQEMU()
        let client = try await QMPClient.connect(to: qemu.address)
        let balloon = try await BalloonDevice.find(on: client)
        let outcome = try await balloon.setTarget(
            256 << 20, waiting: .init(timeout: .seconds(30), stallAfter: .milliseconds(600), pollEvery: .milliseconds(100)))
        #expect(outcome.result == .stalled)
        #expect(outcome.actual == qemu.ramBytes)
        #expect(outcome.target == 256 << 20)
        await client.close()
    }

    @Test func aSecondClientGetsNoGreeting() async throws {
        let qemu = try RealQEMU()
        let first = try await QMPClient.connect(to: qemu.address)
        let error = await #expect(throws: QMPError.self) {
            try await QMPClient.connect(to: qemu.address, options: .init(connectTimeout: .milliseconds(500)))
        }
        #expect(error?.code == .noGreeting)
        await first.close()
    }

    @Test func aKilledQEMUFailsWaitingCommandsAndEndsEvents() async throws {
        let qemu = try RealQEMU()
        let client = try await QMPClient.connect(to: qemu.address)
        _ = try await client.execute("query-balloon")
        qemu.kill()
        await client.waitUntilClosed()
        let error = await #expect(throws: QMPError.self) { try await client.execute("query-balloon") }
        #expect(error?.code == .connectionClosed)
        var count = 0
        for await _ in client.events { count += 1 }
        #expect(count == 0)
    }

    @Test func aMissingSocketNamesThePath() async throws {
        let error = await #expect(throws: QMPError.self) {
            try await QMPClient.connect(to: .unixDomainSocket(path: "/tmp/qballoon-no-such.qmp"))
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.description.contains("/tmp/qballoon-no-such.qmp") == true)
    }
}

/// Fails under CI when QEMU is missing: there a skipped real-QEMU test is a failure.
@Test func realQEMUIsInstalledUnderCI() {
    expectQEMUUnderCI()
}
