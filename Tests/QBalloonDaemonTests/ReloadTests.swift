import Foundation
import InMemoryLogging
import Logging
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import QBalloonTestSupport
import Testing

/// `reload()` (what SIGHUP does): a good config takes effect and VMs whose entry did not change keep their
/// connections; a broken one is refused, logged, and the running config stays. In virtual time.
@Suite(.timeLimit(.minutes(1)))
struct ReloadTests {
    static let mib = TestFleet.mib
    static let gib = TestFleet.gib

    static func config(_ fleet: TestFleet, changedMin: String, added: Bool) -> String {
        TestConfig.daemon() + TestConfig.defaults(#"min = "1GiB""#) + TestConfig.vm("steady", in: fleet)
            + TestConfig.vm("changed", in: fleet, "min = \"\(changedMin)\"")
            + (added ? TestConfig.vm("added", in: fleet, #"min = "25%""#) : "") + TestConfig.reclaimRule
    }

    func settled(_ fleet: TestFleet, _ vm: String, at bytes: UInt64) async throws -> Bool {
        let guest = try await fleet.guest(vm)
        return guest.target == bytes && guest.actual == bytes
    }

    /// After a reload (which wakes the loop early) rounds come one interval apart again, not back to back: each
    /// step of the clock by one interval makes exactly one round.
    func expectPaced(_ fleet: TestFleet, interval: Double = 0.3) async throws {
        let first = try await fleet.nextRound()
        var previous = first.time
        for _ in 0..<4 {
            let round = try await fleet.nextRound()
            #expect(abs(round.time - previous - interval) < 1e-6, "rounds \(round.time - previous)s apart after a reload")
            previous = round.time
        }
    }

    func attachCount(_ fleet: TestFleet, _ vm: String) -> Int {
        fleet.logs.matching("attached", vm: vm).filter { "\($0.message)" == "attached" }.count
    }

    @Test func aGoodConfigTakesEffectAndUnchangedVMsKeepTheirConnection() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("steady")
            try await fleet.startVM("changed")
            try await fleet.startVM("added")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(config: Self.config(fleet, changedMin: "1.5GiB", added: false), metrics: metrics)
            try await fleet.waitFor("both at their min") { report in
                let steady = try await settled(fleet, "steady", at: Self.gib)
                let changed = try await settled(fleet, "changed", at: 1536 * Self.mib)
                return steady && changed
            }
            #expect(fleet.history.last?.row("added") == nil)

            try fleet.writeConfig(Self.config(fleet, changedMin: "768MiB", added: true))
            try await fleet.reload()
            try await fleet.waitFor("the new min and the new VM in force") { report in
                guard let added = report.row("added"), added.status == .ok else { return false }
                return try await settled(fleet, "changed", at: 768 * Self.mib)
            }
            try await fleet.waitFor("the new VM reclaimed") { _ in
                let added = try await fleet.guest("added")
                return added.target < Self.gib && added.actual == added.target
            }
            #expect(fleet.logs.matching("reloaded").count == 1)
            #expect(fleet.logs.matching("reattaching").isEmpty)
            try await expectPaced(fleet)
            #expect(attachCount(fleet, "steady") == 1, "steady lost its connection")
            #expect(attachCount(fleet, "changed") == 1, "changed lost its connection")
            #expect(MetricsText.value(metrics, "qballoon_qmp_reconnects_total", vm: "steady") == 0)
            #expect(try await fleet.guest("steady").target == Self.gib)
        }
    }

    @Test func aBrokenConfigIsRefusedAndTheRunningOneStays() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("steady")
            try await fleet.startVM("changed")
            try await fleet.startVM("added")
            try await fleet.startDaemon(config: Self.config(fleet, changedMin: "1.5GiB", added: true))
            try await fleet.waitFor("all settled") { report in
                let added = try await fleet.guest("added")
                let steady = try await settled(fleet, "steady", at: Self.gib)
                let changed = try await settled(fleet, "changed", at: 1536 * Self.mib)
                return steady && changed && added.target < Self.gib && added.actual == added.target
            }
            // Drops a VM and lowers a min, with an error: none of it may happen.
            try fleet.writeConfig(
                Self.config(fleet, changedMin: "768MiB", added: false).replacingOccurrences(
                    of: #"min = "1GiB""#, with: #"min = "lots""#))
            try await fleet.reload()
            #expect(!fleet.logs.matching("reload refused").isEmpty)
            let refusal = try #require(fleet.logs.matching("reload refused").first)
            #expect(refusal.level == .error)
            #expect("\(refusal.message)".contains(fleet.configPath))
            #expect("\(refusal.message)".contains("lots"))
            try await fleet.rounds(6) { report in
                #expect(report.rows.map(\.vm) == ["added", "changed", "steady"])
                #expect(report.rows.allSatisfy { $0.status == .ok })
                #expect(report.changes.isEmpty)
            }
            #expect(try await settled(fleet, "changed", at: 1536 * Self.mib))
            #expect(attachCount(fleet, "added") == 1)

            // A good config after the bad one is taken.
            try fleet.writeConfig(Self.config(fleet, changedMin: "1.5GiB", added: false))
            try await fleet.reload()
            try await fleet.waitFor("added detached") { $0.row("added") == nil }
            #expect(fleet.logs.matching("reloaded").count == 1)
        }
    }
}

extension ReloadTests {
    @Test func changedConnectionSettingsReattachOnlyThatVM() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("steady")
            try await fleet.startVM("switching")
            func config(_ connect: String) -> String {
                TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("steady", in: fleet)
                    + TestConfig.vm("switching", in: fleet, "connect = \"\(connect)\"") + TestConfig.quietRule
            }
            try await fleet.startDaemon(config: config("persistent"))
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.status == .ok } }
            try fleet.writeConfig(config("per-poll"))
            try await fleet.reload()
            try await fleet.waitFor("switching reattached per poll") { _ in
                !fleet.logs.matching("reattaching", vm: "switching").isEmpty
            }
            try await fleet.waitFor("switching healthy again") { $0.row("switching")?.status == .ok }
            try await expectPaced(fleet)
            #expect(fleet.logs.matching("reattaching", vm: "steady").isEmpty)
            #expect(attachCount(fleet, "steady") == 1)
        }
    }

    @Test func restoreOnExitGivesEveryGuestItsMaxBack() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("a")
            try await fleet.startVM("b", scenario: TestFleet.scenario(ram: 3 << 30))
            try await fleet.startDaemon(
                config: TestConfig.daemon(extra: "restore_on_exit = true") + TestConfig.defaults()
                    + TestConfig.vm("a", in: fleet) + TestConfig.vm("b", in: fleet) + TestConfig.reclaimRule)
            try await fleet.waitFor("both reclaimed") { _ in
                let a = try await fleet.guest("a")
                let b = try await fleet.guest("b")
                return a.target < Self.gib && b.target < Self.gib
            }
            try await fleet.stopDaemon()
            #expect(try await fleet.guest("a").target == 2 * Self.gib)
            #expect(try await fleet.guest("b").target == 3 * Self.gib)
            #expect(!fleet.logs.matching("restoring every guest").isEmpty)
        }
    }
}

extension ReloadTests {
    /// A reload that only changes which VMs a rule applies to (same number of rules) takes effect.
    @Test func aReloadThatMovesARuleToAnotherVMTakesEffect() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("first")
            try await fleet.startVM("second")
            func config(_ vm: String) -> String {
                TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("first", in: fleet) + TestConfig.vm("second", in: fleet)
                    + """
                    [[rule]]
                    name = "reclaim idle memory"
                    vms = ["\(vm)"]
                    when = "available > 40% of actual"
                    set = "used + 30% of used"

                    """
            }
            try await fleet.startDaemon(config: config("first"))
            try await fleet.waitFor("first reclaimed") { _ in try await fleet.guest("first").target < Self.gib }
            #expect(try await fleet.guest("second").target == 2 * Self.gib)
            try fleet.writeConfig(config("second"))
            try await fleet.reload()
            #expect(!fleet.logs.matching("reloaded").isEmpty)
            var reclaimed = false
            for _ in 0..<15 where !reclaimed {
                try await fleet.nextRound()
                reclaimed = try await fleet.guest("second").target < Self.gib
            }
            #expect(reclaimed, "second was not reclaimed within 15 rounds of the reload")
        }
    }
}
