import QBalloonCore
import Testing

/// ``GuestStats`` keeps its ten figures as words and a bit each (issue 14: every poll copies a sample through the
/// worker's async frames, and a task keeps memory for its deepest frames).
@Suite struct GuestStatsLayoutTests {
    @Test func aSampleIsSmall() {
        // Ten optional words would take 160 bytes alone.
        #expect(MemoryLayout<GuestStats>.size <= 112)
    }

    @Test func aFigureTakenAwayIsAsNeverGiven() {
        var stats = GuestStats(total: 2 << 30, available: 1 << 30, lastUpdate: 1_700_000_000)
        stats.free = 5
        stats.free = nil
        #expect(stats == GuestStats(total: 2 << 30, available: 1 << 30, lastUpdate: 1_700_000_000))
        #expect(stats.hashValue == GuestStats(total: 2 << 30, available: 1 << 30, lastUpdate: 1_700_000_000).hashValue)
        stats.lastUpdate = nil
        #expect(stats.lastUpdate == nil)
        #expect(stats == GuestStats(total: 2 << 30, available: 1 << 30))
    }

    @Test func zeroIsAFigure() {
        let stats = GuestStats(swapIn: 0, lastUpdate: 0)
        #expect(stats.swapIn == 0)
        #expect(stats.swapOut == nil)
        #expect(stats.lastUpdate == 0)
        #expect(stats != GuestStats(lastUpdate: 0))
        #expect(stats.all == ["stat-swap-in": 0])
    }
}
