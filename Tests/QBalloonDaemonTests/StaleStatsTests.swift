import QBalloonDaemon
import QBalloonFakeQMP
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

                    """ + TestConfig.defaults() + TestConfig.vm("steady", in: fleet) + TestConfig.quietRule)
            try await fleet.waitFor("attached") { $0.row("steady")?.status == .ok }
            var unhealthy = 0
            try await fleet.rounds(12) { report in
                if report.row("steady")?.status != .ok { unhealthy += 1 }
            }
            // A report's age runs up to stats_interval + 1 s (whole-second `last-update`); the default
            // stale_after leaves room for that.
            #expect(unhealthy == 0, "a guest reporting every second was 'no statistics' in \(unhealthy) of 12 rounds")
        }
    }

    /// What the engine judged is what metrics and the live view show: a VM whose guest stopped reporting is
    /// "statistics N s old" and unhealthy in metrics, while the engine still acts on it (it may only grow).
    @Test func staleStatisticsAreShownAsTheEngineJudgedThem() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("quiet")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("quiet", in: fleet)
                    + TestConfig.reclaimRule, metrics: metrics)
            try await fleet.waitFor("attached and reclaimed") { report in
                let guest = try await fleet.guest("quiet")
                return report.row("quiet")?.status == .ok && report.changes(for: "quiet").isEmpty && guest.target < TestFleet.gib
            }
            #expect(MetricsText.value(metrics, "qballoon_vm_healthy", vm: "quiet") == 1)
            // The guest's driver stops reporting (paused guest, driver gone): its last report ages.
            fleet.simulated["quiet"]?.stopReporting()
            let stale = try await fleet.waitFor("judged stale") { report in
                if case .staleStats = report.row("quiet")?.status { return true }
                return false
            }
            #expect(MetricsText.value(metrics, "qballoon_vm_healthy", vm: "quiet") == 0)
            let age = try #require(MetricsText.value(metrics, "qballoon_vm_stats_age_seconds", vm: "quiet"))
            #expect(age > 3, "stale_after is 3s; the metric shows \(age)s")
            #expect("\(stale.row("quiet")!.status)".hasPrefix("statistics "))
            // Never shrunk on stale statistics.
            try await fleet.rounds(5) { report in
                #expect(report.changes(for: "quiet").allSatisfy { ($0.to ?? 0) >= $0.from })
            }
        }
    }
}
