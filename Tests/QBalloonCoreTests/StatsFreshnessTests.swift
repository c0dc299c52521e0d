import QBalloonCore
import Testing

@Suite struct StatsFreshnessTests {
    static let now = 1_700_000_100.0

    static func stats(reportedAt second: Int64?) -> GuestStats {
        GuestStats(total: 2 << 30, available: 1 << 30, lastUpdate: second)
    }

    @Test(arguments: [
        (Int64(1_700_000_100), StatsFreshness.fresh(age: 0)),
        (1_700_000_094, .fresh(age: 6)),
        (1_700_000_093, .stale(age: 7)),
        (1_700_000_200, .fresh(age: 0)),  // a report stamped ahead of our clock is not older than now
    ])
    func judgesByAge(reportedAt: Int64, expected: StatsFreshness) {
        #expect(StatsFreshness(Self.stats(reportedAt: reportedAt), now: Self.now, staleAfter: 6) == expected)
    }

    @Test func neverReported() {
        #expect(StatsFreshness(nil, now: Self.now, staleAfter: 6) == .neverReported)
        #expect(StatsFreshness(Self.stats(reportedAt: nil), now: Self.now, staleAfter: 6) == .neverReported)
        #expect(StatsFreshness.neverReported.age == nil)
        #expect(!StatsFreshness.neverReported.isFresh)
    }
}
