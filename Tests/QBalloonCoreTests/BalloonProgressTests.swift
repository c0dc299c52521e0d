import QBalloonCore
import Testing

private let gib: UInt64 = 1 << 30
private let page: UInt64 = 4096

@Suite struct BalloonProgressTests {
    static let targets: [(requested: UInt64, ram: UInt64, expected: UInt64)] = [
        (gib, 2 * gib, gib),
        // QEMU keeps floor((ram - target) / 4096) pages: a target inside a page rounds up to its end.
        (gib + 1, 2 * gib, gib + page),
        (gib + page - 1, 2 * gib, gib + page),
        (gib + page, 2 * gib, gib + page),
        (gib - 1, 2 * gib, gib),
        // Above RAM is clamped to RAM.
        (2 * gib, 2 * gib, 2 * gib),
        (2 * gib + 1, 2 * gib, 2 * gib),
        (UInt64.max, 2 * gib, 2 * gib),
        (2 * gib - page, 2 * gib, 2 * gib - page),
        (2 * gib - 1, 2 * gib, 2 * gib),
        // RAM that is not whole pages.
        (1000, 10_000, 1808),
        (0, 2 * gib, 0),
    ]

    @Test(arguments: targets)
    func effectiveTarget(requested: UInt64, ram: UInt64, expected: UInt64) {
        #expect(BalloonPages.effectiveTarget(requested: requested, ramBytes: ram) == expected)
        #expect(BalloonProgress(requested: requested, ramBytes: ram, startedAt: 0, stallAfter: 5).target == expected)
    }

    @Test func movesThenReaches() {
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 100, stallAfter: 5)
        #expect(progress.observe(actual: 2 * gib, at: 100) == .moving)
        #expect(progress.observe(actual: 2 * gib - 256 << 20, at: 101) == .moving)
        #expect(progress.observe(actual: gib + 300 << 20, at: 102) == .moving)
        #expect(progress.observe(actual: gib, at: 103) == .reached)
        #expect(progress.observe(actual: gib, at: 200) == .reached, "reached does not turn into stalled")
    }

    static let nearTarget: [(actual: UInt64, status: BalloonProgress.Status)] = [
        (gib, .reached),
        (gib + page - 1, .reached),
        (gib - (page - 1), .reached),
        (gib + page, .moving),
        (gib - page, .moving),
    ]

    @Test(arguments: nearTarget)
    func reachedWithinAPage(actual: UInt64, status: BalloonProgress.Status) {
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 0, stallAfter: 5)
        #expect(progress.observe(actual: actual, at: 1) == status)
    }

    @Test func reachedUsesTheEffectiveTarget() {
        // Asked for one byte over 1 GiB: QEMU stops at 1 GiB + one page.
        var progress = BalloonProgress(requested: gib + 1, ramBytes: 2 * gib, startedAt: 0, stallAfter: 5)
        #expect(progress.observe(actual: gib + page, at: 1) == .reached)
        var clamped = BalloonProgress(requested: 8 * gib, ramBytes: 2 * gib, startedAt: 0, stallAfter: 5)
        #expect(clamped.observe(actual: 2 * gib, at: 1) == .reached)
    }

    @Test(arguments: [0.0, 1, 4.9, 4.999])
    func neverStalledBeforeTheWindow(elapsed: Double) {
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 50, stallAfter: 5)
        #expect(progress.observe(actual: 2 * gib, at: 50) == .moving)
        #expect(progress.observe(actual: 2 * gib, at: 50 + elapsed) == .moving)
    }

    @Test(arguments: [5.0, 5.001, 60])
    func stalledOnceTheWindowPassesWithoutMovement(elapsed: Double) {
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 50, stallAfter: 5)
        #expect(progress.observe(actual: 2 * gib, at: 50) == .moving)
        #expect(progress.observe(actual: 2 * gib, at: 50 + elapsed) == .stalled)
    }

    @Test func theWindowRestartsWithEveryMove() {
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 0, stallAfter: 5)
        let stuck = gib + 512 << 20
        #expect(progress.observe(actual: 2 * gib, at: 0) == .moving)
        #expect(progress.observe(actual: 2 * gib - 64 << 20, at: 4) == .moving)
        #expect(progress.observe(actual: stuck, at: 8) == .moving)
        #expect(progress.observe(actual: stuck, at: 12.5) == .moving)
        #expect(progress.observe(actual: stuck, at: 13) == .stalled)
        #expect(progress.observe(actual: stuck, at: 14) == .stalled)
        // The guest frees more after all.
        #expect(progress.observe(actual: stuck - 64 << 20, at: 15) == .moving)
        #expect(progress.observe(actual: stuck - 64 << 20, at: 19) == .moving)
        #expect(progress.observe(actual: stuck - 64 << 20, at: 20) == .stalled)
    }

    @Test func theWindowCountsFromTheFirstSample() {
        // A guest with no driver never moves: the first sample starts the window.
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 0, stallAfter: 2)
        #expect(progress.observe(actual: 2 * gib, at: 10) == .moving)
        #expect(progress.observe(actual: 2 * gib, at: 11.5) == .moving)
        #expect(progress.observe(actual: 2 * gib, at: 12) == .stalled)
    }

    @Test func growingTowardTheTargetIsMovingToo() {
        var progress = BalloonProgress(requested: 2 * gib, ramBytes: 4 * gib, startedAt: 0, stallAfter: 5)
        #expect(progress.observe(actual: gib, at: 0) == .moving)
        #expect(progress.observe(actual: gib + 256 << 20, at: 1) == .moving)
        #expect(progress.observe(actual: 2 * gib, at: 2) == .reached)
    }

    @Test func movingAwayFromTheTargetIsNotProgress() {
        // An inflation the guest fights (deflate-on-OOM, another tool): actual goes up, not toward the target.
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 0, stallAfter: 2, from: 2 * gib)
        #expect(progress.observe(actual: 2 * gib - 256 << 20, at: 1) == .moving)
        #expect(progress.observe(actual: 2 * gib - 128 << 20, at: 2) == .moving)
        #expect(progress.observe(actual: 2 * gib - 64 << 20, at: 3) == .stalled, "no closer since t=1")
        #expect(progress.isInflating(actual: 2 * gib - 64 << 20))
    }

    @Test func bouncingIsNotProgress() {
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 0, stallAfter: 2, from: 2 * gib)
        let low = gib + 512 << 20
        #expect(progress.observe(actual: low, at: 1) == .moving)
        #expect(progress.observe(actual: low + 64 << 20, at: 2) == .moving)
        #expect(progress.observe(actual: low, at: 2.5) == .moving, "back where it was: not closer than ever")
        #expect(progress.observe(actual: low, at: 3) == .stalled)
    }

    @Test func aKnownStartCountsFromTheSend() {
        // The daemon knows `actual` when it sends: an untouched balloon stalls stall_after after the send.
        var progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 10, stallAfter: 2, from: 2 * gib)
        #expect(progress.observe(actual: 2 * gib, at: 11) == .moving)
        #expect(progress.observe(actual: 2 * gib, at: 12) == .stalled)
    }

    @Test func directions() {
        let progress = BalloonProgress(requested: gib, ramBytes: 2 * gib, startedAt: 0, stallAfter: 2)
        #expect(progress.isInflating(actual: gib + 2 * page))
        #expect(!progress.isInflating(actual: gib + page))
        #expect(progress.isDeflating(actual: gib - 2 * page))
        #expect(!progress.isDeflating(actual: gib))
    }
}

@Suite struct StallRecoveryTests {
    /// 1/16 of RAM, at least 64 MiB.
    static let giveBacks: [(UInt64, UInt64)] = [(2 * gib, 128 << 20), (512 << 20, 64 << 20), (256 << 20, 64 << 20), (16 * gib, gib)]

    @Test(arguments: giveBacks)
    func theDefaultGiveBack(ram: UInt64, expected: UInt64) {
        #expect(StallRecovery.giveBack(ramBytes: ram) == expected)
    }

    @Test func aConfiguredGiveBackKeepsTheMinimumAndTheFloorGiven() {
        #expect(StallRecovery.giveBack(.bytes(1 << 20), ramBytes: 2 * gib) == 64 << 20)
        #expect(StallRecovery.giveBack(.bytes(300 << 20), ramBytes: 2 * gib) == 300 << 20)
        #expect(StallRecovery.giveBack(.percentOfMax(1), ramBytes: 2 * gib, atLeast: 100 << 20) == 100 << 20)
    }

    @Test func theTargetAfterAStallIsAboveWhereItStoppedAndNeverAboveRAM() {
        #expect(StallRecovery.target(stoppedAt: gib, ramBytes: 2 * gib, giveBack: 128 << 20) == gib + 128 << 20)
        #expect(StallRecovery.target(stoppedAt: 2 * gib - 64 << 20, ramBytes: 2 * gib, giveBack: 128 << 20) == 2 * gib)
        #expect(StallRecovery.target(stoppedAt: 2 * gib, ramBytes: 2 * gib, giveBack: 128 << 20) == 2 * gib)
    }
}
