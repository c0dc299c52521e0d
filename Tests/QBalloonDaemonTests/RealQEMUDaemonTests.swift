import Foundation
import InMemoryLogging
import Logging
import QBalloon
import QBalloonDaemon
import QBalloonQMP
import QBalloonRules
import QBalloonTestSupport
import Testing

/// The daemon wired to a real QEMU 7.2 with no guest: it attaches, reads actual and max, turns statistics
/// polling on, and holds the VM (no guest statistics) without sending a balloon command.
@Suite(requiresQEMU, .serialized, .timeLimit(.minutes(2)))
struct RealQEMUDaemonTests {
    static func config(_ qemu: RealQEMU, connect: String, daemon extra: String = "") -> String {
        // max = 50%: a VM at its full RAM is outside its limits, so acting on it would show.
        TestConfig.daemon(extra: extra) + TestConfig.defaults(#"max = "50%""#) + """
            [[vm]]
            name = "real"
            qmp = "\(qemu.address)"
            connect = "\(connect)"

            """ + TestConfig.reclaimRule
    }

    @Test func attachesReadsTurnsPollingOnAndHoldsAVMWithoutStatistics() async throws {
        let qemu = try RealQEMU()
        try await TestFleet.run(.sockets) { fleet in
            let logPath = fleet.directory + "/decisions.jsonl"
            try await fleet.startDaemon(
                config: Self.config(qemu, connect: "persistent", daemon: "decision_log = \"\(logPath)\""))
            let held = try await fleet.waitFor("the VM attached and held") { $0.row("real")?.status == .noStats }
            let row = try #require(held.row("real"))
            #expect(row.actual == qemu.ramBytes)
            #expect(row.max == qemu.ramBytes)
            #expect(row.target == nil)
            #expect(row.available == nil)
            try await fleet.rounds(5) { report in
                #expect(report.row("real")?.status == .noStats)
                #expect(report.changes.isEmpty)
            }
            try await fleet.stopDaemon()

            // The monitor is free again: look at what the daemon left behind.
            let client = try await QMPClient.connect(to: qemu.address)
            let balloon = try await BalloonDevice.find(on: client)
            #expect(try await balloon.pollingInterval() == 1, "the daemon turns statistics polling on (stats_interval 1s)")
            #expect(try await balloon.actual() == qemu.ramBytes)
            await client.close()
            #expect(try String(contentsOfFile: logPath, encoding: .utf8).isEmpty, "decisions were logged")
            #expect(fleet.logs.matching("set ").isEmpty)
            #expect(fleet.logs.matching("attached", vm: "real").contains { $0.message == "attached" })
        }
    }

    @Test func perPollSharesARealMonitor() async throws {
        let qemu = try RealQEMU()
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startDaemon(config: Self.config(qemu, connect: "per-poll"))
            try await fleet.waitFor("the VM read and held") { $0.row("real")?.status == .noStats }
            // Between polls another client gets the monitor, and sees polling on.
            let client = try await QMPClient.connect(
                to: qemu.address, options: .init(commandTimeout: .seconds(3), connectTimeout: .seconds(3)))
            let balloon = try await BalloonDevice.find(on: client)
            #expect(try await balloon.pollingInterval() == 1)
            #expect(try await balloon.maxBytes() == qemu.ramBytes)
            await client.close()
            try await fleet.waitFor("still held after sharing") { $0.row("real")?.status == .noStats }
            #expect(fleet.history.allSatisfy { $0.changes.isEmpty })
        }
    }
}

/// Fails under CI when QEMU is missing: there a skipped real-QEMU test is a failure.
@Test func daemonRealQEMUIsInstalledUnderCI() {
    expectQEMUUnderCI()
}
