import Foundation
import QBalloonCore
import Testing

/// The plain values behind the bounds on what a peer may send and the judgment of what it reports.
@Suite struct PeerLimitsTests {
    static let gib: UInt64 = 1 << 30

    @Test func rateBudgetAllowsABurstThenTheSteadyRate() {
        var budget = RateBudget(burst: 10, perSecond: 2)
        func spend(_ amount: Double, at now: Double) -> Bool { budget.spend(amount, at: now) }
        for _ in 0..<10 { #expect(spend(1, at: 0)) }
        #expect(!spend(1, at: 0), "the burst is spent")
        #expect(!spend(1, at: 0.4), "0.8 came back, not 1")
        #expect(spend(1, at: 0.5))
        // A long quiet spell refills to the burst, never beyond.
        #expect(!spend(11, at: 1000))
        #expect(spend(10, at: 1000))
        // Time that runs backwards (a clock read on another thread) gives nothing back.
        #expect(!spend(1, at: 999))
    }

    @Test func plausibleFiguresPass() {
        let stats = GuestStats(
            swapIn: 1 << 20, majorFaults: 100, minorFaults: 1000, free: 100 << 20, total: 900 << 20,
            available: 400 << 20, lastUpdate: 100)
        let later = GuestStats(
            swapIn: 2 << 20, majorFaults: 200, minorFaults: 5000, free: 90 << 20, total: 1030 << 20,
            available: 300 << 20, lastUpdate: 102)
        #expect(Plausibility.check(actual: 1 * Self.gib, stats: stats, previous: nil, ramBytes: Self.gib) == nil)
        // A total a little above actual right after an inflation is lag, not a lie.
        #expect(Plausibility.check(actual: 512 << 20, stats: later, previous: stats, ramBytes: 2 * Self.gib) == nil)
        // A counter that went back is a rebooted guest.
        #expect(Plausibility.check(actual: Self.gib, stats: stats, previous: later, ramBytes: 2 * Self.gib) == nil)
    }

    @Test(arguments: [
        (UInt64(3) << 30, GuestStats(total: 900 << 20, available: 400 << 20), "balloon actual 3 GiB is above the VM's 2 GiB of RAM"),
        (UInt64(1) << 30, GuestStats(total: 4 << 30, available: 400 << 20), "4 GiB total memory, above its 2 GiB of RAM"),
        (UInt64(1) << 30, GuestStats(free: 1 << 30, total: 900 << 20), "1 GiB free of 900 MiB total"),
        (UInt64(1) << 30, GuestStats(total: 900 << 20, available: 1 << 30), "1 GiB available of 900 MiB total"),
    ])
    func impossibleFiguresAreNamed(actual: UInt64, stats: GuestStats, expected: String) throws {
        let lie = try #require(Plausibility.check(actual: actual, stats: stats, previous: nil, ramBytes: 2 * Self.gib))
        #expect(lie.contains(expected), "\(lie)")
    }

    @Test func moreRAMThanAnyMachineIsALie() throws {
        let lie = try #require(Plausibility.check(actual: nil, stats: nil, previous: nil, ramBytes: UInt64.max))
        #expect(lie.hasPrefix("the VM reports") && lie.contains("more than any machine has (at most 4 PiB)"), "\(lie)")
        #expect(Plausibility.check(actual: 1 << 40, stats: nil, previous: nil, ramBytes: 1 << 42) == nil, "4 TiB is a big VM, not a lie")
    }

    @Test func absurdRatesAreNamed() throws {
        let before = GuestStats(swapIn: 0, majorFaults: 0, total: 900 << 20, available: 400 << 20, lastUpdate: 100)
        var swap = before
        swap.swapIn = 100 * Self.gib
        swap.lastUpdate = 102
        let swapLie = try #require(Plausibility.check(actual: nil, stats: swap, previous: before, ramBytes: Self.gib))
        #expect(swapLie.contains("swap-in at 50 GiB/s"), "\(swapLie)")
        var faults = before
        faults.majorFaults = 1_000_000_000
        faults.lastUpdate = 101
        let faultLie = try #require(Plausibility.check(actual: nil, stats: faults, previous: before, ramBytes: Self.gib))
        #expect(faultLie.contains("major faults at 1000000000 a second"), "\(faultLie)")
        // The same report twice (last-update did not move) has no rate.
        var same = swap
        same.lastUpdate = 100
        #expect(Plausibility.check(actual: nil, stats: same, previous: before, ramBytes: Self.gib) == nil)
    }

    @Test func configFilesOthersCanWriteAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qbsafety-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o755)
        let file = directory + "/qballoon.toml"
        try "[daemon]\n".write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o644)
        #expect(ConfigFileSafety.problem(path: file) == nil)

        chmod(file, 0o666)
        #expect(ConfigFileSafety.problem(path: file) == "\(file) is writable by group and others (mode 0666): chmod go-w \(file)")
        chmod(file, 0o664)
        #expect(ConfigFileSafety.problem(path: file)?.contains("writable by group (mode 0664)") == true)
        chmod(file, 0o600)
        chmod(directory, 0o777)
        #expect(ConfigFileSafety.problem(path: file) == "\(directory) is writable by group and others (mode 0777): chmod go-w \(directory)")
        // A sticky directory owned by root, like /tmp, keeps others from replacing the file.
        if getuid() == 0 {
            chmod(directory, 0o1777)
            #expect(ConfigFileSafety.problem(path: file) == nil)
        }
        chmod(directory, 0o755)
        // Someone else's file.
        if getuid() == 0 {
            chown(file, 4242, 4242)
            #expect(ConfigFileSafety.problem(path: file) == "\(file) belongs to user 4242, not to root or the user running qballoon (0): chown it")
        }
        // Through a symlink, the file it points to is judged.
        let link = directory + "/link.toml"
        symlink(file, link)
        #expect(ConfigFileSafety.problem(path: link) == ConfigFileSafety.problem(path: file))
        #expect(ConfigFileSafety.problem(path: directory + "/missing.toml") == nil, "reading it reports a missing file")
    }
}
