import QBalloonJSON
import QBalloonQMP
import QBalloonTestSupport

@testable import QBalloonFakeQMP

private let MiB: UInt64 = 1 << 20
private let GiB: UInt64 = 1 << 30

/// Starting fake servers on a unix socket in a fresh temporary directory.
enum ServerHarness {
    /// 2 GiB, 300 MiB used, balloon at 256 MiB/s, no boot report.
    static func scenario() -> FakeGuestScenario {
        var scenario = FakeGuestScenario(name: "test", ram: 2 * GiB, workload: .constant(300 * MiB))
        scenario.balloon.speed = 256 * MiB
        scenario.guest.statsAtBoot = false
        return scenario
    }

    /// Runs `body` with a started server (``scenario()`` unless given), then stops it.
    static func withServer<T>(
        scenario: FakeGuestScenario = scenario(), faults: FakeQMPFaults? = nil, clock: FakeClock = .system,
        _ body: (FakeQMPServer) async throws -> T
    ) async throws -> T {
        try await FakeMonitor.with(scenario: scenario, faults: faults, clock: clock, body)
    }
}
