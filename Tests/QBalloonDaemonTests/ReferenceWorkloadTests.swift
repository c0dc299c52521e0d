import Foundation
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import QBalloonTestSupport
import Testing

/// Every shipped config against the reference workloads, in virtual time with simulated guests: two 1 GiB guests
/// on an overcommitted host of 2.25 GiB (256 MiB of its own, reserve 10%), one idle with a burst within the
/// headroom, one whose need grows steadily (20 or 40 MiB/s) to 700 MiB, holds, frees, then bursts within the
/// headroom. The simulated guest has no swap to speak of: a workload that does not fit is a guest out of memory
/// (a real one would meet its OOM killer). Checked: never out of memory, short (available under 10% of what it
/// has) for at most a few seconds at each onset, and memory still returned to the host.
@Suite(.timeLimit(.minutes(2)))
struct ReferenceWorkloadTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    static let configs = ShippedConfigs.names

    /// A shipped config made to run here (``ShippedConfigs/adapted(_:in:)``): its VMs are the fleet's, nothing
    /// listens or logs outside the test, a reserve in bytes becomes the reference host's 10%.
    static func adapted(_ name: String, in fleet: TestFleet) throws -> String {
        try ShippedConfigs.adapted(name, in: .init(sockets: fleet.directory))
    }

    /// A 1 GiB guest like the real test guest: 63 MiB its kernel keeps outside MemTotal, 64 MiB more it never frees,
    /// 64 MiB of page cache when it has room, no swap to speak of.
    static func guest(_ workload: FakeWorkload) -> FakeGuestScenario {
        var scenario = FakeGuestScenario(
            name: "reference", ram: gib, balloon: .init(speed: 512 << 20),
            guest: .init(unfreeable: 64 << 20, shmem: 0, cache: 64 << 20, kernelReserved: 63 << 20), workload: workload)
        scenario.guest.thrashRate = 0.1
        return scenario
    }

    /// Idle: 48 MiB, a burst of 96 MiB from t = 200 s to 230 s.
    static let idle = FakeWorkload(points: [
        .init(at: 0, used: 48 << 20), .init(at: 200, used: 48 << 20), .init(at: 200.5, used: 144 << 20),
        .init(at: 230, used: 144 << 20), .init(at: 230.5, used: 48 << 20),
    ])

    /// Grows at `rate` MiB/s from t = 60 s to 700 MiB, holds 60 s, frees; bursts by 96 MiB at t = 250 s for 20 s.
    static func batch(rate: UInt64) -> FakeWorkload {
        let top: UInt64 = 700 << 20
        let start = 60.0
        let full = start + Double((top - (48 << 20)) / (rate << 20))
        return FakeWorkload(points: [
            .init(at: 0, used: 48 << 20), .init(at: start, used: 48 << 20), .init(at: full, used: top),
            .init(at: full + 60, used: top), .init(at: full + 61, used: 48 << 20), .init(at: 250, used: 48 << 20),
            .init(at: 250.5, used: 144 << 20), .init(at: 270, used: 144 << 20), .init(at: 270.5, used: 48 << 20),
        ])
    }

    /// The issue's side-by-side trial (6 minutes): the batch guest writes at 20 MiB/s from t = 30 s up to 700 MiB,
    /// holds it 90 s, frees it, and at t = 215 s takes 400 MiB at once for 30 s; the idle guest has a 100 MiB
    /// burst from t = 280 s to 310 s.
    static let trialBatch = FakeWorkload(points: [
        .init(at: 0, used: 48 << 20), .init(at: 30, used: 48 << 20), .init(at: 65, used: 748 << 20),
        .init(at: 155, used: 748 << 20), .init(at: 156, used: 48 << 20), .init(at: 215, used: 48 << 20),
        .init(at: 215.5, used: 448 << 20), .init(at: 245, used: 448 << 20), .init(at: 246, used: 48 << 20),
    ])
    static let trialIdle = FakeWorkload(points: [
        .init(at: 0, used: 48 << 20), .init(at: 280, used: 48 << 20), .init(at: 280.5, used: 148 << 20),
        .init(at: 310, used: 148 << 20), .init(at: 310.5, used: 48 << 20),
    ])

    struct Outcome: CustomStringConvertible {
        var config: String
        var rate: UInt64
        var outOfMemorySeconds = 0
        var shortSeconds: [String: Int] = [:]
        var longestShort: [String: Int] = [:]
        var returnedSum = 0.0
        var samples = 0
        var hostBelowReserve = 0
        var changes = 0

        var meanReturned: Double { returnedSum / Double(max(samples, 1)) }
        var description: String {
            "\(config) \(rate == 0 ? "on the trial" : "at \(rate) MiB/s"): out of memory \(outOfMemorySeconds) s, short \(shortSeconds) s (longest \(longestShort)), "
                + "returned \(String(format: "%.2f", meanReturned / Double(ReferenceWorkloadTests.gib))) GiB on average, "
                + "host below its reserve \(hostBelowReserve) s, \(changes) changes"
        }
    }

    /// Runs `config` on the reference workloads at `rate` MiB/s, or on the issue's trial with `rate` 0.
    static func run(_ config: String, rate: UInt64) async throws -> Outcome {
        var outcome = Outcome(config: config, rate: rate)
        try await TestFleet.run { fleet in
            try await fleet.startVM("idle", scenario: guest(rate == 0 ? trialIdle : idle))
            try await fleet.startVM("batch", scenario: guest(rate == 0 ? trialBatch : batch(rate: rate)))
            fleet.host.synthetic(total: 2 * gib + 256 * mib, hostUse: 256 * mib)
            try await fleet.startDaemon(config: try adapted(config, in: fleet))
            let reserve = try QBalloonConfig.parse(try adapted(config, in: fleet), file: config).host.reserve
                .bytes(ofMax: 2 * gib + 256 * mib)
            var running: [String: Int] = [:]
            try await fleet.advance(by: .seconds(rate == 0 ? 360 : 300)) {
                var held: UInt64 = 0
                for name in ["idle", "batch"] {
                    let guest = try await fleet.guest(name)
                    held += guest.actual
                    if guest.swapped >= 4096 { outcome.outOfMemorySeconds += 1 }
                    if Double(guest.available) < 0.1 * Double(guest.actual) {
                        outcome.shortSeconds[name, default: 0] += 1
                        running[name, default: 0] += 1
                        outcome.longestShort[name] = max(outcome.longestShort[name] ?? 0, running[name]!)
                    } else {
                        running[name] = 0
                    }
                }
                outcome.returnedSum += Double(2 * gib - held)
                outcome.samples += 1
                if 2 * gib - held + 4096 < reserve { outcome.hostBelowReserve += 1 }
            }
            outcome.changes = fleet.history.reduce(0) { $0 + $1.changes.count }
            if ProcessInfo.processInfo.environment["QBALLOON_TRACE"] == config {
                for report in fleet.history {
                    for change in report.changes { print("  t=\(Int(report.time - 1_700_000_000)) \(change)") }
                }
                print("  last: \(fleet.describe(fleet.history.last!))")
            }
        }
        return outcome
    }

    static let cases: [(String, UInt64)] = configs.flatMap { config in [(config, UInt64(20)), (config, UInt64(40)), (config, UInt64(0))] }

    @Test(arguments: cases)
    func noGuestRunsOutOfMemory(config: String, rate: UInt64) async throws {
        let outcome = try await Self.run(config, rate: rate)
        print("reference workload: \(outcome)")
        #expect(outcome.outOfMemorySeconds == 0, "\(outcome)")
        #expect((outcome.longestShort.values.max() ?? 0) <= 5, "\(outcome)")
        // Memory is still returned: at least what oVirt MoM returned on the same host (0.32 GiB on average).
        #expect(outcome.meanReturned >= 0.32 * Double(Self.gib), "\(outcome)")
    }

    @Test func everyShippedConfigIsCovered() {
        #expect(Self.configs.count >= 6, "\(Self.configs)")
    }
}
