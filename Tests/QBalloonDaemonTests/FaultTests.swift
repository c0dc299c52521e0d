import InMemoryLogging
import Logging
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import QBalloonTestSupport
import Testing

/// Faults stay with their VM: a VM that dies and comes back, a monitor that stops answering, a VM without
/// a balloon or without statistics. In virtual time: a monitor hung for 30 s takes no real time.
@Suite(.timeLimit(.minutes(1)))
struct FaultTests {
    static let mib = TestFleet.mib
    static let gib = TestFleet.gib

    @Test func aKilledVMIsReattachedWhileTheOthersGoOn() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("a")
            try await fleet.startVM("b")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"cooldown = "1s""#) + TestConfig.vm("a", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.quietRule,
                metrics: metrics)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.status == .ok } }

            await fleet.stopVM("a")
            try await fleet.waitFor("a unreachable") { report in
                #expect(report.row("b")?.status == .ok)
                return report.row("a")?.status.label == "unreachable"
            }
            // While a is away, b is still decided and its decisions applied.
            fleet.host.shortOfReserve(TestConfig.reserve, by: 512 << 20)
            let decided = try await fleet.waitFor("b decided while a is away") { !$0.changes(for: "b").isEmpty }
            #expect(decided.row("a")?.status != .ok)
            #expect(decided.changes(for: "a").isEmpty)
            let target = try #require(decided.changes(for: "b").first?.to)
            try await fleet.waitFor("b's balloon set") { _ in try await fleet.guest("b").target == target }

            try await fleet.startVM("a")  // QEMU restarted on the same socket
            try await fleet.waitFor("a reattached", within: 60) { $0.row("a")?.status == .ok }
            // A new QEMU on the same socket: the engine starts the VM's history over (new connection).
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
                    + TestConfig.vm("b", in: fleet) + TestConfig.vm("c", in: fleet) + TestConfig.quietRule)
            try await fleet.waitFor("all attached") { $0.rows.allSatisfy { $0.status == .ok } }
            try await fleet.setHung("hung", true)
            let hungFrom = fleet.history.count
            fleet.host.shortOfReserve(TestConfig.reserve, by: Self.gib)
            try await fleet.waitFor("b and c reclaimed while hung never answers") { _ in
                let b = try await fleet.guest("b")
                let c = try await fleet.guest("c")
                return b.target < 2 * Self.gib && c.target < 2 * Self.gib
            }
            // Still inside hung's 30 s command timeout: nothing waited for it to run out, and it was never
            // judged unreachable (its statistics may go stale meanwhile: they are what it last said).
            #expect(fleet.logs.matching("no reply", vm: "hung").isEmpty)
            #expect(fleet.history[hungFrom...].allSatisfy { $0.row("hung")?.status.label != "unreachable" })
            try await fleet.rounds(5) { report in
                #expect(report.row("b")?.status == .ok && report.row("c")?.status == .ok)
            }
        }
    }

    @Test func aMonitorThatStopsAnsweringTimesOutAndIsRetried() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("hung")
            try await fleet.startVM("b")
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"cooldown = "1s""#) + TestConfig.vm("hung", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.quietRule)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.status == .ok } }
            try await fleet.setHung("hung", true)
            let timedOut = try await fleet.waitFor("hung marked unreachable after the command timeout") { report in
                report.row("hung")?.status.label == "unreachable"
            }
            let health = "\(timedOut.row("hung")!.status)"
            #expect(health.contains("no reply within 1s"), "\(health)")
            // b is decided meanwhile.
            fleet.host.shortOfReserve(TestConfig.reserve, by: 512 << 20)
            try await fleet.waitFor("b reclaimed") { _ in try await fleet.guest("b").target < 2 * Self.gib }
            // The monitor answers again: the VM comes back.
            try await fleet.setHung("hung", false)
            try await fleet.waitFor("hung healthy again", within: 80) { $0.row("hung")?.status == .ok }
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
                return report.row("noballoon")?.status == .noBalloon && report.row("nostats")?.status == .noStats
                    && ok.target <= Self.gib && ok.actual == ok.target
            }
            try await fleet.rounds(5) { report in
                #expect(report.row("noballoon")?.status == .noBalloon)
                #expect(report.row("nostats")?.status == .noStats)
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

    /// Shutdown waits for the command a worker has in flight, then restores the guest: the `balloon` in flight
    /// can never land after the restore and leave the guest small.
    @Test func shutdownWaitsForTheCommandInFlightBeforeRestoring() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("slow")
            let vm = try #require(fleet.simulated["slow"])
            // The first balloon command takes 5 s (virtual) to be answered: shut down while it is in flight.
            vm.setCommandDelay(.seconds(5))
            try await fleet.startDaemon(
                config: TestConfig.daemon(commandTimeout: "30s", extra: "restore_on_exit = true") + TestConfig.defaults()
                    + TestConfig.vm("slow", in: fleet) + TestConfig.reclaimRule)
            let decided = try await fleet.waitFor("a shrink decided") { !$0.changes(for: "slow").isEmpty }
            let target = try #require(decided.changes(for: "slow").first?.to)
            #expect(vm.isParked, "the balloon command is in flight")
            let stopped = try await fleet.stopDaemonWhileAdvancing(by: .seconds(6))
            #expect(stopped)
            // The shrink was answered first, the restore came after it: the guest ends with its whole RAM.
            #expect(vm.commands == [target, 2 * Self.gib], "\(vm.commands)")
            #expect(try await fleet.guest("slow").target == 2 * Self.gib)
        }
    }

    /// QEMU's `SHUTDOWN` event: the worker closes its connection at once, and attaches again when the VM is back.
    @Test func aShutdownEventDisconnectsAndTheVMIsReattached() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("a")
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("a", in: fleet) + TestConfig.quietRule)
            try await fleet.waitFor("attached") { $0.row("a")?.status == .ok }
            fleet.simulated["a"]?.announceShutdown()
            try await fleet.waitFor("disconnected") { _ in !fleet.logs.matching("shutting down", vm: "a").isEmpty }
            try await fleet.waitFor("attached again") { _ in
                fleet.logs.matching("attached", vm: "a").filter { $0.message == "attached" }.count == 2
            }
            try await fleet.rounds(2) { #expect($0.row("a")?.status == .ok) }
        }
    }

    /// A VM that reports figures that cannot be true is quarantined: cut off at once, named once, never acted on,
    /// and tried again only after 5 minutes (10 the next time); once it tells the truth it is followed as before.
    @Test func aLyingVMIsQuarantinedAndTriedAgainAfterALongWait() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("liar")
            try await fleet.startVM("b")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("liar", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.quietRule,
                metrics: metrics)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.status == .ok } }
            let liar = try #require(fleet.simulated["liar"])
            liar.setLying(true)
            let quarantined = try await fleet.waitFor("the liar quarantined") { $0.row("liar")?.status.label == "quarantined" }
            let since = quarantined.time
            #expect(quarantined.row("b")?.status == .ok)
            #expect("\(quarantined.row("liar")!.status)".contains("balloon actual 4 GiB is above the VM's 2 GiB of RAM"))
            // Still lying when it is tried again after 5 minutes: quarantined again, not named again.
            let retried = try await fleet.waitFor("tried again", within: 2000) { _ in fleet.logs.matching("attached", vm: "liar").count >= 2 }
            #expect(retried.time - since >= 299, "tried again after \(retried.time - since) s")
            try await fleet.waitFor("quarantined again") { $0.row("liar")?.status.label == "quarantined" }
            #expect(fleet.logs.matching("quarantined", vm: "liar", level: .error).count == 1)
            #expect(MetricsText.value(metrics, "qballoon_vm_quarantined", vm: "liar") == 1)
            // The truth: followed again after the next, longer wait (10 minutes).
            liar.setLying(false)
            let back = try await fleet.waitFor("followed again", within: 4000) { $0.row("liar")?.status == .ok }
            #expect(back.time - retried.time >= 599, "after \(back.time - retried.time) s")
            #expect(!fleet.logs.matching("reachable again", vm: "liar").isEmpty)
            try await fleet.nextRound()
            #expect(MetricsText.value(metrics, "qballoon_vm_quarantined", vm: "liar") == 0)
        }
    }
}
