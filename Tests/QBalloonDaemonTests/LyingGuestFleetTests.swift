import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import QBalloonTestSupport
import Testing

/// Lying guests against the whole daemon, in virtual time: one claims nothing is available (so it is always
/// under pressure), one claims all its memory is free, one tells the truth, on a host short of memory. The claimant of
/// pressure gets at most its max and never takes the host below its hard reserve; the one that claims nothing
/// is shrunk to its min and no further; the honest one keeps its use plus headroom.
@Suite(.timeLimit(.minutes(1)))
struct LyingGuestFleetTests {
    static let gib = TestFleet.gib
    static let mib = TestFleet.mib

    @Test func liarsGetNoMoreThanTheirLimitsAllow() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("needy")
            try await fleet.startVM("empty")
            fleet.simulated["needy"]?.setClaim(.pressure)
            fleet.simulated["empty"]?.setClaim(.allFree)
            try await fleet.startVM("honest", scenario: TestFleet.scenario(used: 700 << 20, cache: 100 << 20))
            // The claimant starts shrunk, so it has to be given memory; the host has 5 GiB for three 2 GiB guests,
            // and a reserve of 1 GiB (hard reserve 512 MiB).
            try await fleet.squeeze("needy", to: 1 << 30)
            fleet.host.synthetic(total: 6 << 30, hostUse: 1 << 30)
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults(#"min = "768MiB""#, #"cooldown = "2s""#)
                    + TestConfig.vm("needy", in: fleet) + TestConfig.vm("empty", in: fleet) + TestConfig.vm("honest", in: fleet)
                    + TestConfig.reclaimRule)
            let hardReserve = TestConfig.reserve / 2
            var hostAfterGrowth: [UInt64] = []
            var grantedNeedy: UInt64 = 0
            try await fleet.rounds(80) { report in
                if let available = report.host.available, report.changes.contains(where: { $0.vm == "needy" }) {
                    hostAfterGrowth.append(available)
                }
                for change in report.changes {
                    guard let target = change.to else { continue }
                    #expect(target <= 2 * Self.gib, "\(change)")
                    if change.vm == "needy", target > change.from { grantedNeedy += target - change.from }
                    if change.vm == "empty" { #expect(target >= 768 * Self.mib, "below its min: \(change)") }
                    if change.vm == "honest", target < change.from {
                        #expect(target >= 700 * Self.mib + 64 * Self.mib, "into its headroom: \(change)")
                    }
                }
            }
            let empty = try await fleet.guest("empty").actual
            #expect(empty == 768 * Self.mib, "believed down to its min, no further: \(empty >> 20) MiB\n\(fleet.logs.tail(20))")
            #expect(try await fleet.guest("honest").actual >= 764 * Self.mib)
            #expect(grantedNeedy > 0, "the claimant was given memory")
            #expect(try await fleet.guest("needy").actual == 2 * Self.gib, "at its max, no more")
            // The host as the daemon read it in the rounds that fed the claimant: the reserve gave way, never
            // the hard reserve (what the others gave back came first).
            let settled = try await fleet.nextRound()
            #expect((settled.host.available ?? 0) >= TestConfig.reserve, "host at \((settled.host.available ?? 0) >> 20) MiB")
            #expect(hostAfterGrowth.dropFirst().allSatisfy { $0 >= hardReserve }, "\(hostAfterGrowth.map { $0 >> 20 }) MiB")
        }
    }
}
