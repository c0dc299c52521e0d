import QBalloon
import QBalloonDaemon
import QBalloonRules
import Testing

/// Guest statistics arrive in whole seconds (QEMU's `last-update` is a Unix second and its polling period
/// is at least 1 s), whatever the daemon's interval.
@Suite(.timeLimit(.minutes(2)))
struct StaleStatsTests {
    @Test func aGuestReportingEverySecondStaysHealthyWithTheDefaultStaleAfter() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("steady")
            try await fleet.startDaemon(
                config: """
                    [daemon]
                    interval = "300ms"

                    """ + TestConfig.defaults() + TestConfig.vm("steady", in: fleet) + FaultTests.quietRule)
            try await fleet.waitFor("attached") { report in
                report.row("steady")?.health == .healthy || report.row("steady")?.health == .noStats
            }
            var unhealthy = 0
            try await fleet.rounds(12) { report in
                if report.row("steady")?.health != .healthy { unhealthy += 1 }
            }
            // A report's age runs up to stats_interval + 1 s (whole-second `last-update`); the default
            // stale_after leaves room for that.
            #expect(unhealthy == 0, "a guest reporting every second was 'no statistics' in \(unhealthy) of 12 rounds")
        }
    }
}
