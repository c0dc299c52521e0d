import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import Testing

/// The daemon's main job, in virtual time against simulated guests: take idle memory back, give it back
/// before a guest runs out, keep the host's reserve, split memory by shares.
@Suite(.timeLimit(.minutes(1)))
struct ReclaimTests {
    static let mib = TestFleet.mib
    static let gib = TestFleet.gib
    /// What the test guests use by default: 300 MiB of applications, 128 MiB of kernel, 16 MiB of shmem.
    static let guestUsed: UInt64 = (300 + 128 + 16) << 20

    @Test func idleMemoryIsReclaimedToTheRuleTargetAndNeverBelowMin() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("roomy")  // min 25% = 512 MiB: the rule's target is above it
            try await fleet.startVM("floored")  // min 1 GiB: above the rule's target
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("roomy", in: fleet)
                    + TestConfig.vm("floored", in: fleet, #"min = "1GiB""#) + TestConfig.reclaimRule)
            let minimum = ["roomy": 512 * Self.mib, "floored": Self.gib]
            let ruleTarget = UInt64(Double(Self.guestUsed) * 1.3)

            func checkFloor(_ report: RoundReport) async throws {
                for row in report.rows {
                    if let actual = row.actual { #expect(actual >= minimum[row.vm]!, "\(row.vm) went below min") }
                    if let target = row.target { #expect(target >= minimum[row.vm]!, "\(row.vm) was sent a target below min") }
                    let guest = try await fleet.guest(row.vm)
                    #expect(guest.target >= minimum[row.vm]!, "\(row.vm)'s balloon target is below min")
                }
            }
            try await fleet.waitFor("both VMs reclaimed and settled") { report in
                try await checkFloor(report)
                let roomy = try await fleet.guest("roomy")
                let floored = try await fleet.guest("floored")
                return roomy.actual == roomy.target && roomy.target < Self.gib && floored.actual == floored.target
                    && floored.target == Self.gib
            }
            let roomy = try await fleet.guest("roomy")
            let gap = roomy.target > ruleTarget ? roomy.target - ruleTarget : ruleTarget - roomy.target
            #expect(gap <= 21 * Self.mib, "roomy settled at \(roomy.target >> 20) MiB, the rule asks for \(ruleTarget >> 20) MiB")
            // Settled: nothing more changes, and nothing goes below min.
            try await fleet.rounds(5) { report in
                try await checkFloor(report)
                #expect(report.changes.isEmpty, "changes after settling: \(report.changes)")
            }
            #expect(try await fleet.guest("roomy").target == roomy.target)
            #expect(try await fleet.guest("floored").target == Self.gib)
            let reasons = Set(fleet.history.flatMap(\.changes).map(\.reason))
            #expect(reasons == [.rule("reclaim idle memory")])
        }
    }

    @Test func aGrowingGuestGetsMemoryBackBeforeItRunsOut() async throws {
        try await TestFleet.run { fleet in
            // 300 MiB of use for 3 s (reclaimed meanwhile), then growing by 120 MiB/s to 900 MiB.
            var scenario = TestFleet.scenario()
            scenario.workload = FakeWorkload(points: [
                .init(at: 0, used: 300 << 20), .init(at: 3, used: 300 << 20), .init(at: 8, used: 900 << 20),
            ])
            try await fleet.startVM("growing", scenario: scenario)
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"step = "2GiB""#) + TestConfig.vm("growing", in: fleet) + """
                    [[rule]]
                    name = "guest is short: give memory back"
                    when = "available < 35% of actual"
                    set = "actual + 60% of actual"

                    [[rule]]
                    name = "reclaim idle memory"
                    when = "available > 70% of actual"
                    set = "used + 100% of used"

                    """)
            var lowest = UInt64.max
            var pressuredRounds = 0
            var longestPressure = 0
            var pressureRun = 0
            func follow(_ report: RoundReport) async throws {
                let guest = try await fleet.guest("growing")
                lowest = min(lowest, guest.target)
                if guest.isUnderPressure {
                    pressuredRounds += 1
                    pressureRun += 1
                    longestPressure = max(longestPressure, pressureRun)
                } else {
                    pressureRun = 0
                }
            }
            try await fleet.waitFor("the idle guest reclaimed") { report in
                try await follow(report)
                return lowest <= Self.gib
            }
            let reclaimedTo = lowest
            try await fleet.waitFor("the workload at its peak and the guest given room for it", within: 60) { report in
                try await follow(report)
                let guest = try await fleet.guest("growing")
                return guest.used >= 900 << 20 && !guest.isUnderPressure && guest.actual == guest.target
            }
            try await fleet.rounds(4) { report in try await follow(report) }
            let guest = try await fleet.guest("growing")
            #expect(guest.target > reclaimedTo + 400 * Self.mib, "target went from \(reclaimedTo >> 20) MiB to \(guest.target >> 20) MiB")
            #expect(!guest.isUnderPressure)
            #expect(longestPressure <= 2, "the guest was short for \(longestPressure) rounds in a row (\(pressuredRounds) in all)")
            let grown = fleet.history.flatMap(\.changes).filter { $0.reason == .rule("guest is short: give memory back") }
            #expect(!grown.isEmpty)
        }
    }

    @Test func aGuestUnderPressureGrowsWithNoRuleAsking() async throws {
        try await TestFleet.run { fleet in
            // Squeezed to 700 MiB by hand; from 2.5 s its applications grow from 300 MiB to 1.2 GiB and swap.
            var scenario = TestFleet.scenario()
            scenario.workload = FakeWorkload(points: [
                .init(at: 0, used: 300 << 20), .init(at: 2.5, used: 300 << 20), .init(at: 4.5, used: 1200 << 20),
            ])
            try await fleet.startVM("swapping", scenario: scenario)
            try await fleet.squeeze("swapping", to: 700 << 20)
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"grow_step = "256MiB""#)
                    + TestConfig.vm("swapping", in: fleet) + TestConfig.quietRule)
            var wasPressured = false
            try await fleet.waitFor("the guest grown out of pressure", within: 60) { report in
                let guest = try await fleet.guest("swapping")
                wasPressured = wasPressured || guest.isUnderPressure
                return guest.used >= 1200 << 20 && !guest.isUnderPressure && guest.actual == guest.target
            }
            #expect(wasPressured, "the workload never outgrew the guest: the test proves nothing")
            let grown = fleet.history.flatMap(\.changes)
            #expect(!grown.isEmpty && grown.allSatisfy { [.pressure, .headroom].contains($0.reason) }, "\(grown)")
            // Growth is never held back: the first time it was under pressure, the guest got its max at once,
            // not grow_step (256 MiB) a round.
            let pressure = try #require(grown.first { $0.reason == .pressure }, "\(grown)")
            #expect(pressure.to == 2 * Self.gib && pressure.adjustments.contains(.grownAtOnce), "\(pressure)")
            #expect(try await fleet.guest("swapping").target >= (1200 + 144) << 20)
        }
    }

    @Test func growthStopsAtTheHostReserve() async throws {
        try await TestFleet.run { fleet in
            // A guest using 700 MiB squeezed to 1 GiB before the daemon starts; it asks for all its RAM.
            try await fleet.startVM("hungry", scenario: TestFleet.scenario(used: 700 << 20, cache: 256 << 20))
            try await fleet.squeeze("hungry", to: Self.gib)
            let room: UInt64 = 256 << 20
            fleet.host.aboveReserve(TestConfig.reserve, by: room)
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"cooldown = "1s""#) + TestConfig.vm("hungry", in: fleet)
                    + """
                    [[rule]]
                    name = "wants everything"
                    when = "available < 50% of actual"
                    set = "max"

                    """)
            let ceiling = Self.gib + room
            var cut = 0
            try await fleet.rounds(20) { report in
                let guest = try await fleet.guest("hungry")
                #expect(guest.target <= ceiling, "target \(guest.target >> 20) MiB is past the host's room")
                if let available = report.host.available {
                    #expect(available >= TestConfig.reserve, "the host fell to \(available >> 20) MiB")
                }
                cut += report.changes.filter { decision in
                    decision.adjustments.contains { if case .growthCutByHostReserve = $0 { true } else { false } }
                }.count
            }
            let guest = try await fleet.guest("hungry")
            #expect(cut > 0, "no growth was cut by the host reserve")
            #expect(guest.target > Self.gib, "the guest got none of the host's room")
            #expect(guest.target >= ceiling - 32 * Self.mib, "the guest got \(guest.target >> 20) MiB, the room allows \(ceiling >> 20) MiB")
        }
    }

    @Test func belowTheReserveIdleMemoryIsTakenBack() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("idle")
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"cooldown = "1s""#) + TestConfig.vm("idle", in: fleet)
                    + """
                    [[rule]]
                    name = "reclaim idle memory after an hour"
                    when = "available > 40% of actual for 1h"
                    set = "used + 30% of used"

                    """)
            try await fleet.waitFor("attached") { $0.row("idle")?.status == .ok }
            try await fleet.rounds(2) { #expect($0.changes.isEmpty) }
            let short: UInt64 = 512 << 20
            fleet.host.shortOfReserve(TestConfig.reserve, by: short)
            let taken = try await fleet.waitFor("memory taken for the host") { !$0.changes(for: "idle").isEmpty }
            let decision = try #require(taken.changes(for: "idle").first)
            #expect(decision.reason == .hostReserve)
            #expect(decision.adjustments.contains(.reclaimedForHostReserve(short)))
            try await fleet.waitFor("the host back at its reserve") { report in
                let guest = try await fleet.guest("idle")
                return guest.actual == guest.target && (report.host.available ?? 0) >= TestConfig.reserve
            }
            try await fleet.rounds(4) { #expect($0.changes.isEmpty, "more taken than the host needed: \($0.changes)") }
            let guest = try await fleet.guest("idle")
            #expect(guest.target == 2 * Self.gib - short)
        }
    }

    @Test func sharesSplitWhatTheHostTakesBack() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("gold")
            try await fleet.startVM("bronze")
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"cooldown = "1s""#)
                    + TestConfig.vm("gold", in: fleet, "shares = 2000") + TestConfig.vm("bronze", in: fleet, "shares = 1000"))
            try await fleet.waitFor("both attached") { report in report.rows.allSatisfy { $0.status == .ok } }
            let short = Self.gib
            fleet.host.shortOfReserve(TestConfig.reserve, by: short)
            let round = try await fleet.waitFor("memory taken for the host") { !$0.changes.isEmpty }
            let gold = try #require(round.changes(for: "gold").first?.to)
            let bronze = try #require(round.changes(for: "bronze").first?.to)
            let goldGives = 2 * Self.gib - gold
            let bronzeGives = 2 * Self.gib - bronze
            #expect(goldGives + bronzeGives >= short - 8 * Self.mib && goldGives + bronzeGives <= short)
            #expect(bronzeGives > 2 * goldGives, "bronze (1000 shares) gives \(bronzeGives >> 20) MiB, gold (2000) \(goldGives >> 20) MiB")
            try await fleet.waitFor("both settled") { _ in
                let gold = try await fleet.guest("gold")
                let bronze = try await fleet.guest("bronze")
                return gold.actual == gold.target && bronze.actual == bronze.target
            }
            #expect(try await fleet.guest("bronze").actual < fleet.guest("gold").actual)
        }
    }
}
