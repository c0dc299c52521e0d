import QBalloonCore
import Testing

@testable import QBalloonFakeQMP

private let MiB: UInt64 = 1 << 20
private let GiB: UInt64 = 1 << 30

/// The guest simulation alone: no sockets, time given by hand.
@Suite("FakeGuest simulation")
struct FakeGuestTests {
    static let start = 1_700_000_000.0

    /// 2 GiB, 300 MiB used, 128 MiB unfreeable, 16 MiB shmem, 400 MiB cache, 256 MiB/s.
    static func idle(statsAtBoot: Bool = false) -> FakeGuestScenario {
        var scenario = FakeGuestScenario(name: "test", ram: 2 * GiB, workload: .constant(300 * MiB))
        scenario.guest = .init(unfreeable: 128 * MiB, shmem: 16 * MiB, cache: 400 * MiB, statsAtBoot: statsAtBoot)
        scenario.balloon.speed = 256 * MiB
        return scenario
    }

    @Test("the report as the simulator reads it has every figure QEMU's names give, unreported ones left out")
    func guestStatsMatchTheReport() {
        var scenario = FakeGuestScenario.idle
        scenario.guest.unreportedStats = ["stat-disk-caches", "stat-htlb-pgfail"]
        var guest = FakeGuest(scenario: scenario, startTime: Self.start, reportsStats: true)
        var expected = GuestStats(qemuNames: guest.stats.values, lastUpdate: guest.stats.lastUpdate)
        expected.all = [:]
        #expect(guest.guestStats == expected)
        guest.setPollingInterval(2, at: Self.start)
        guest.setTarget(Int64(GiB), at: Self.start)
        guest.advance(to: Self.start + 5)
        expected = GuestStats(qemuNames: guest.stats.values, lastUpdate: guest.stats.lastUpdate)
        expected.all = [:]
        #expect(guest.guestStats == expected)
        #expect(guest.guestStats.diskCaches == nil && guest.guestStats.total != nil && guest.guestStats.lastUpdate == Int64(Self.start) + 4)
        let silent = FakeGuest(scenario: .idle, startTime: Self.start, reportsStats: false)
        #expect(silent.guestStats == GuestStats() && silent.stats == .none)
    }

    @Test("a guest of absurd size (the largest RAM a number holds) is simulated without trapping")
    func absurdSizesDoNotTrap() {
        var guest = FakeGuest(scenario: FakeGuestScenario(ram: .max, workload: .constant(.max)), startTime: Self.start)
        guest.setPollingInterval(1, at: Self.start)
        guest.setTarget(1 << 30, at: Self.start)
        guest.advance(to: Self.start + 3)
        let state = guest.state
        #expect(state.used == 18_446_744_073_709_549_568 && state.floor == 18_446_744_073_709_549_568)
        #expect(guest.stats.values["stat-total-memory"] != nil && guest.guestStats.total != nil)
    }

    @Test("a new guest has all its RAM and reports nothing")
    func initialState() {
        let guest = FakeGuest(scenario: Self.idle(), startTime: Self.start)
        #expect(guest.actual == 2 * GiB)
        #expect(guest.target == 2 * GiB)
        #expect(guest.stats == .none)
        #expect(guest.stats.lastUpdate == 0)
        #expect(guest.stats["stat-free-memory"] == UInt64.max)
    }

    @Test("the balloon moves toward the target at its speed, then stops there")
    func movesAtSpeed() {
        var guest = FakeGuest(scenario: Self.idle(), startTime: Self.start)
        guest.setTarget(Int64(GiB), at: Self.start)
        guest.advance(to: Self.start + 1)
        #expect(guest.actual == 2 * GiB - 256 * MiB)
        guest.advance(to: Self.start + 2.5)
        #expect(guest.actual == 2 * GiB - 640 * MiB)
        guest.advance(to: Self.start + 10)
        #expect(guest.actual == GiB)
        #expect(guest.isBalloonSettled)
        // Growing back moves at the same speed.
        guest.setTarget(Int64(2 * GiB), at: Self.start + 10)
        guest.advance(to: Self.start + 11)
        #expect(guest.actual == GiB + 256 * MiB)
        guest.advance(to: Self.start + 20)
        #expect(guest.actual == 2 * GiB)
    }

    @Test("asking for more than RAM means RAM; targets round to whole pages like QEMU")
    func clampsAndRounds() {
        var guest = FakeGuest(scenario: Self.idle(), startTime: Self.start)
        guest.setTarget(Int64(8 * GiB), at: Self.start)
        #expect(guest.target == 2 * GiB)
        guest.advance(to: Self.start + 5)
        #expect(guest.actual == 2 * GiB)
        guest.setTarget(Int64(GiB) + 1000, at: Self.start + 5)
        #expect(guest.target == GiB + 4096)
        guest.advance(to: Self.start + 20)
        #expect(guest.actual == GiB + 4096)
    }

    @Test("inflation stalls where the guest cannot free more, and resumes when it can")
    func stallsAtFloor() {
        var scenario = Self.idle()
        scenario.workload = FakeWorkload(points: [
            .init(at: 0, used: 900 * MiB), .init(at: 30, used: 900 * MiB), .init(at: 40, used: 400 * MiB),
        ])
        var guest = FakeGuest(scenario: scenario, startTime: Self.start)
        guest.setTarget(Int64(512 * MiB), at: Self.start)
        guest.advance(to: Self.start + 20)
        // Floor: 900 used + 128 unfreeable + 16 shmem = 1044 MiB, above the 512 MiB target.
        let floor = 1044 * MiB
        #expect(guest.actual == floor)
        let state = guest.state
        #expect(state.isStalled)
        #expect(!state.isUnderPressure)
        #expect(state.floor == floor)
        #expect(state.cache == 0)
        #expect(state.free == 0)
        #expect(!guest.isBalloonSettled)
        // The workload shrinks to 400 MiB: the floor drops to 544 MiB and the balloon follows it.
        guest.advance(to: Self.start + 40)
        #expect(guest.actual <= 560 * MiB)
        guest.advance(to: Self.start + 60)
        #expect(guest.actual == 544 * MiB)
    }

    @Test("a workload that outgrows the guest puts it under pressure: swapping and major faults")
    func pressure() {
        var scenario = Self.idle()
        scenario.workload = FakeWorkload(points: [
            .init(at: 0, used: 300 * MiB), .init(at: 20, used: 300 * MiB), .init(at: 30, used: 1200 * MiB),
        ])
        var guest = FakeGuest(scenario: scenario, startTime: Self.start)
        guest.setTarget(Int64(GiB), at: Self.start)
        guest.setPollingInterval(1, at: Self.start)
        guest.advance(to: Self.start + 19)
        let calm = guest.stats
        #expect(!guest.state.isUnderPressure)
        #expect(calm["stat-swap-in"] == 0)
        #expect(calm["stat-major-faults"] == 0)
        #expect(calm["stat-available-memory"] > 400 * MiB)

        guest.advance(to: Self.start + 35)
        let squeezed = guest.stats
        let state = guest.state
        #expect(state.isUnderPressure)
        // 1200 used + 144 fixed in 1024: 320 MiB swapped out; the balloon does not give memory back.
        #expect(state.swapped == 320 * MiB)
        #expect(guest.actual == GiB)
        #expect(squeezed["stat-available-memory"] == 0)
        #expect(squeezed["stat-free-memory"] == 0)
        #expect(squeezed["stat-swap-out"] >= 320 * MiB)
        #expect(squeezed["stat-swap-in"] > 0)
        #expect(squeezed["stat-major-faults"] > 0)

        guest.advance(to: Self.start + 45)
        let later = guest.stats
        #expect(later["stat-swap-in"] > squeezed["stat-swap-in"])
        #expect(later["stat-major-faults"] > squeezed["stat-major-faults"])
        #expect(later["stat-minor-faults"] > squeezed["stat-minor-faults"])
    }

    @Test("statistics stay unreported until polling is on, then update at the interval")
    func pollingControlsReports() {
        var guest = FakeGuest(scenario: Self.idle(statsAtBoot: false), startTime: Self.start)
        guest.advance(to: Self.start + 30)
        #expect(guest.stats == .none)

        guest.setPollingInterval(2, at: Self.start + 30.4)
        // The guest answers at once.
        #expect(guest.stats.lastUpdate == Int64(Self.start) + 30)
        #expect(guest.stats["stat-total-memory"] == 2 * GiB)
        guest.advance(to: Self.start + 32.3)
        #expect(guest.stats.lastUpdate == Int64(Self.start) + 30)
        guest.advance(to: Self.start + 32.5)
        #expect(guest.stats.lastUpdate == Int64(Self.start) + 32)
        guest.advance(to: Self.start + 41)
        #expect(guest.stats.lastUpdate == Int64(Self.start) + 40)

        guest.setPollingInterval(0, at: Self.start + 41)
        guest.advance(to: Self.start + 100)
        #expect(guest.stats.lastUpdate == Int64(Self.start) + 40)
        #expect(guest.pollingInterval == 0)
    }

    @Test("a report is a snapshot of the moment it was taken")
    func reportIsSnapshot() {
        var guest = FakeGuest(scenario: Self.idle(), startTime: Self.start)
        guest.setPollingInterval(10, at: Self.start)
        guest.setTarget(Int64(GiB), at: Self.start)
        guest.advance(to: Self.start + 9)
        // The balloon has reached 1 GiB, but the last report is from time 0.
        #expect(guest.actual == GiB)
        #expect(guest.stats["stat-total-memory"] == 2 * GiB)
        guest.advance(to: Self.start + 10)
        #expect(guest.stats["stat-total-memory"] == GiB)
    }

    @Test("a Linux-like guest reports once at start, then the report goes stale")
    func bootReport() {
        var guest = FakeGuest(scenario: Self.idle(statsAtBoot: true), startTime: Self.start)
        #expect(guest.stats.lastUpdate == Int64(Self.start))
        #expect(guest.stats["stat-free-memory"] != UInt64.max)
        guest.advance(to: Self.start + 60)
        #expect(guest.stats.lastUpdate == Int64(Self.start))
    }

    @Test("a guest that never reports keeps all-ones even with polling on")
    func neverReports() {
        var guest = FakeGuest(scenario: Self.idle(statsAtBoot: true), startTime: Self.start, reportsStats: false)
        guest.setPollingInterval(1, at: Self.start)
        guest.advance(to: Self.start + 10)
        #expect(guest.stats == .none)
    }

    @Test("statistics add up: total is actual, available is free plus cache, disk caches include shmem")
    func statsAddUp() {
        var scenario = Self.idle()
        scenario.guest.unreportedStats = ["stat-htlb-pgfail"]
        var guest = FakeGuest(scenario: scenario, startTime: Self.start)
        guest.setPollingInterval(1, at: Self.start)
        let stats = guest.stats
        #expect(stats["stat-total-memory"] == 2 * GiB)
        // 2048 - 300 used - 128 - 16 = 1604 MiB of room: 400 cache, 1204 free.
        #expect(stats["stat-free-memory"] == 1204 * MiB)
        #expect(stats["stat-available-memory"] == 1604 * MiB)
        #expect(stats["stat-disk-caches"] == 416 * MiB)
        #expect(stats["stat-htlb-pgalloc"] == 0)
        #expect(stats["stat-htlb-pgfail"] == UInt64.max)
        #expect(Set(stats.values.keys) == Set(FakeGuestStats.names))

        // Squeezing takes free memory first, then cache.
        guest.setTarget(Int64(800 * MiB), at: Self.start)
        guest.advance(to: Self.start + 10)
        let squeezed = guest.stats
        #expect(squeezed["stat-total-memory"] == 800 * MiB)
        #expect(squeezed["stat-free-memory"] == 0)
        #expect(squeezed["stat-disk-caches"] == (800 - 300 - 144 + 16) * MiB)
    }

    @Test("a paused VM's guest does nothing")
    func paused() {
        var scenario = Self.idle(statsAtBoot: true)
        scenario.startPaused = true
        var guest = FakeGuest(scenario: scenario, startTime: Self.start)
        guest.setTarget(Int64(GiB), at: Self.start)
        guest.setPollingInterval(1, at: Self.start)
        guest.advance(to: Self.start + 30)
        #expect(guest.actual == 2 * GiB)
        #expect(guest.stats == .none)
        #expect(guest.isBalloonSettled)
    }

    @Test("speed 0 is a guest without a balloon driver")
    func noDriver() {
        var scenario = Self.idle()
        scenario.balloon.speed = 0
        var guest = FakeGuest(scenario: scenario, startTime: Self.start)
        guest.setTarget(Int64(GiB), at: Self.start)
        guest.advance(to: Self.start + 30)
        #expect(guest.actual == 2 * GiB)
        #expect(guest.target == GiB)
    }

    @Test("the last change of actual is remembered for event timestamps")
    func lastChange() {
        var guest = FakeGuest(scenario: Self.idle(), startTime: Self.start)
        guest.setTarget(Int64(2 * GiB - 128 * MiB), at: Self.start + 1)
        guest.advance(to: Self.start + 5)
        // 128 MiB at 256 MiB/s: done half a second after the command.
        #expect(abs(guest.lastActualChange - (Self.start + 1.5)) < 0.11)
    }
}
