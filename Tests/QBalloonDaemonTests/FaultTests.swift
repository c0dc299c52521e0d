import QBalloon
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonQMP
import QBalloonRules
import Testing

/// Faults stay with their VM: a VM that dies and comes back, a monitor that stops answering, a VM without
/// a balloon or without statistics.
@Suite(.timeLimit(.minutes(2)))
struct FaultTests {
    static let mib = TestFleet.mib
    static let gib = TestFleet.gib

    /// Rules that never fire within a test: the host reserve is what moves balloons here.
    static let quietRule = """
        [[rule]]
        name = "reclaim idle memory after an hour"
        when = "available > 40% of actual for 1h"
        set = "used + 30% of used"

        """

    @Test func aKilledVMIsReattachedWhileTheOthersGoOn() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("a")
            try await fleet.startVM("b")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"cooldown = "1s""#) + TestConfig.vm("a", in: fleet)
                    + TestConfig.vm("b", in: fleet) + Self.quietRule,
                metrics: metrics)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.health == .healthy } }

            await fleet.stopVM("a")
            try await fleet.waitFor("a unreachable") { report in
                #expect(report.row("b")?.health == .healthy)
                return report.row("a")?.health.label == "unreachable"
            }
            // While a is away, b is still decided and its decisions applied.
            fleet.host.shortOfReserve(TestConfig.reserve, by: 512 << 20)
            let decided = try await fleet.waitFor("b decided while a is away") { !$0.changes(for: "b").isEmpty }
            #expect(decided.row("a")?.health != .healthy)
            #expect(decided.changes(for: "a").isEmpty)
            let target = try #require(decided.changes(for: "b").first?.to)
            try await fleet.waitFor("b's balloon set") { _ in try await fleet.guest("b").target == target }

            try await fleet.startVM("a")  // QEMU restarted on the same socket
            try await fleet.waitFor("a reattached", within: 60) { $0.row("a")?.health == .healthy }
            #expect(fleet.logs.matching("attached", vm: "a").filter { $0.message == "attached" }.count == 2)
            #expect(fleet.logs.matching("attached", vm: "b").filter { $0.message == "attached" }.count == 1)
            try await fleet.nextRound()
            #expect((MetricsText.value(metrics, "qballoon_qmp_reconnects_total", vm: "a") ?? 0) >= 1)
            #expect((MetricsText.value(metrics, "qballoon_qmp_reconnects_total", vm: "b") ?? 0) == 0)
            #expect(MetricsText.value(metrics, "qballoon_vm_healthy", vm: "a") == 1)
        }
    }

    @Test func aHungMonitorDoesNotDelayTheOthers() async throws {
        try await TestFleet.run { fleet in
            for name in ["hung", "b", "c"] { try await fleet.startVM(name) }
            // A long command timeout: the hung VM stays hung for the whole test.
            try await fleet.startDaemon(
                config: TestConfig.daemon(commandTimeout: "30s")
                    + TestConfig.defaults(#"cooldown = "1s""#) + TestConfig.vm("hung", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.vm("c", in: fleet) + Self.quietRule)
            try await fleet.waitFor("all attached") { $0.rows.allSatisfy { $0.health == .healthy } }
            try await fleet.servers["hung"]!.setFaults(FakeQMPFaults(hangOn: .all))
            let hungFrom = fleet.history.count
            fleet.host.shortOfReserve(TestConfig.reserve, by: Self.gib)
            try await fleet.waitFor("b and c reclaimed while hung never answers") { _ in
                let b = try await fleet.guest("b")
                let c = try await fleet.guest("c")
                return b.target < 2 * Self.gib && c.target < 2 * Self.gib
            }
            // Still inside hung's 30 s command timeout: nothing waited for it to run out.
            #expect(fleet.logs.matching("no reply", vm: "hung").isEmpty)
            #expect(fleet.history[hungFrom...].allSatisfy { $0.row("hung")?.health == .healthy })
            try await fleet.rounds(5) { report in
                #expect(report.row("b")?.health == .healthy && report.row("c")?.health == .healthy)
            }
        }
    }

    @Test func aMonitorThatStopsAnsweringTimesOutAndIsRetried() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("hung")
            try await fleet.startVM("b")
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"cooldown = "1s""#) + TestConfig.vm("hung", in: fleet)
                    + TestConfig.vm("b", in: fleet) + Self.quietRule)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.health == .healthy } }
            try await fleet.servers["hung"]!.setFaults(FakeQMPFaults(hangOn: .all))
            let timedOut = try await fleet.waitFor("hung marked unreachable after the command timeout") { report in
                report.row("hung")?.health.label == "unreachable"
            }
            let health = "\(timedOut.row("hung")!.health)"
            #expect(health.contains("no reply within 1s"), "\(health)")
            // b is decided meanwhile.
            fleet.host.shortOfReserve(TestConfig.reserve, by: 512 << 20)
            try await fleet.waitFor("b reclaimed") { _ in try await fleet.guest("b").target < 2 * Self.gib }
            // The monitor answers again: the VM comes back.
            try await fleet.servers["hung"]!.setFaults(.none)
            try await fleet.waitFor("hung healthy again", within: 80) { $0.row("hung")?.health == .healthy }
        }
    }

    @Test func aVMWithoutBalloonOrStatisticsIsHeldAndReported() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("noballoon", faults: FakeQMPFaults(noBalloonDevice: true))
            try await fleet.startVM("nostats", faults: FakeQMPFaults(noGuestStats: true))
            try await fleet.startVM("ok")
            // max = 1 GiB: a VM at 2 GiB is outside its limits, so acting on the held VMs would show.
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"max = "1GiB""#) + TestConfig.vm("noballoon", in: fleet)
                    + TestConfig.vm("nostats", in: fleet) + TestConfig.vm("ok", in: fleet) + TestConfig.reclaimRule)
            try await fleet.waitFor("held VMs reported, ok reclaimed") { report in
                let ok = try await fleet.guest("ok")
                return report.row("noballoon")?.health == .noBalloon && report.row("nostats")?.health == .noStats
                    && ok.target <= Self.gib && ok.actual == ok.target
            }
            try await fleet.rounds(5) { report in
                #expect(report.row("noballoon")?.health == .noBalloon)
                #expect(report.row("nostats")?.health == .noStats)
            }
            let acted = fleet.history.flatMap(\.changes).filter { $0.vm != "ok" }
            #expect(acted.isEmpty, "held VMs were acted on: \(acted)")
            #expect(try await fleet.guest("nostats").target == 2 * Self.gib)
            #expect(try await fleet.guest("noballoon").target == 2 * Self.gib)
            let last = try #require(fleet.history.last)
            #expect(last.row("nostats")?.actual == 2 * Self.gib, "the held VM is still read")
            #expect(last.row("nostats")?.target == nil)
            #expect(fleet.logs.matching("no balloon device", vm: "noballoon").count >= 1)
        }
    }
}
