import QBalloonCore
import Testing
@testable import QBalloonRules

/// Guests lie (their statistics come from the guest kernel): one that always claims pressure gets at most its
/// max, never takes the host below its hard reserve, takes from the others no more than their floors allow and,
/// competing with another, no more than its shares; one that claims huge free memory is shrunk no further than
/// its min. Random fleets, many rounds, balloons that move at once.
@Suite("Lying guests")
struct LyingGuestTests {
    static let hostTotal = 16 * GiB
    static let hostOwn = 2 * GiB
    static let reserve = 2 * GiB
    static let hardReserve = 1 * GiB

    struct Guest {
        var name: String
        var ram: UInt64
        var actual: UInt64
        var used: UInt64
        var shares: Int
        var min: UInt64
        var lie: Lie?
    }

    enum Lie { case pressure, plenty }

    func stats(of guest: Guest) -> GuestStats {
        switch guest.lie {
        case .pressure?:
            // Nothing available, faults pouring in.
            return GuestStats(majorFaults: 0, free: 0, total: guest.actual, available: 0)
        case .plenty?:
            return GuestStats(majorFaults: 0, free: guest.actual, total: guest.actual, available: guest.actual)
        case nil:
            let available = guest.actual > guest.used ? guest.actual - guest.used : 0
            return GuestStats(majorFaults: 0, free: available / 2, total: guest.actual, available: available)
        }
    }

    @Test("a guest that always claims pressure: at most its max, the host never below its hard reserve, the others never below their floors, shares between claimants", arguments: 0..<40)
    func alwaysUnderPressure(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) &* 104_729 &+ 3)
        let config = try makeConfig(
            defaults: "min = \"25%\"\nstep = \"512MiB\"\ncooldown = \"4s\"\nheadroom = \"64MiB\"",
            host: "reserve = \"\(Self.reserve >> 20)MiB\"\nhard_reserve = \"\(Self.hardReserve >> 20)MiB\"",
            rules: [("reclaim idle memory", "available > 40% of actual for 10s", "used + 30% of used")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        var guests: [Guest] = []
        let liars = Int.random(in: 1...2, using: &rng)
        for index in 0..<Int.random(in: 3...5, using: &rng) {
            let ram = UInt64(Int.random(in: 2...4, using: &rng)) * GiB
            guests.append(
                Guest(
                    name: "vm\(index)", ram: ram, actual: ram, used: UInt64(Int.random(in: 2...12, using: &rng)) * 64 * MiB,
                    shares: Int.random(in: 1...4, using: &rng) * 500, min: ram / 4, lie: index < liars ? .pressure : nil))
        }
        let headroom = 64 * MiB
        for round in 0..<60 {
            let now = Double(round) * 2
            let held = guests.reduce(0) { $0 + $1.actual }
            let available = Self.hostTotal > Self.hostOwn + held ? Self.hostTotal - Self.hostOwn - held : 0
            let samples = guests.map { guest in
                sample(
                    guest.name, config: config, actual: guest.actual, ram: guest.ram, stats: stats(of: guest), age: 1, at: now,
                    shares: guest.shares, min: .bytes(guest.min))
            }
            let result = engine.decide(&state, samples: samples, host: HostSample(total: Self.hostTotal, available: available), now: now)
            var grown: [Int: UInt64] = [:]
            for decision in result.decisions {
                guard let target = decision.to, let index = guests.firstIndex(where: { $0.name == decision.vm }) else { continue }
                let guest = guests[index]
                #expect(target <= guest.ram, "seed \(seed) round \(round): \(guest.name) above its max: \(decision)")
                if guest.lie == nil, target < guest.actual {
                    #expect(target >= guest.min, "seed \(seed) round \(round): \(guest.name) below its min: \(decision)")
                    #expect(target >= guest.used + headroom, "seed \(seed) round \(round): \(guest.name) into its headroom: \(decision)")
                }
                if target > guest.actual { grown[index] = target - guest.actual }
            }
            // Growth never takes the host below its hard reserve (what it had, if it was already lower).
            let growth = grown.values.reduce(0, +)
            #expect(
                available < Self.hardReserve || available - Self.hardReserve >= growth,
                "seed \(seed) round \(round): \(growth >> 20) MiB granted with \(available >> 20) MiB available")
            // Two claimants with room for neither in full: the room is split by shares.
            let claimants = grown.keys.filter { guests[$0].lie == .pressure }.sorted()
            if claimants.count == 2 {
                let asks = claimants.map { guests[$0].ram - guests[$0].actual }
                let gets = claimants.map { grown[$0] ?? 0 }
                if gets[0] < asks[0], gets[1] < asks[1] {
                    let perShare = zip(claimants, gets).map { Double($1) / Double(guests[$0].shares) }
                    #expect(abs(perShare[0] - perShare[1]) * 4000 < Double(8 * MiB), "seed \(seed) round \(round): \(gets) for shares \(claimants.map { guests[$0].shares })")
                }
            }
            for decision in result.decisions {
                guard let target = decision.to, let index = guests.firstIndex(where: { $0.name == decision.vm }) else { continue }
                guests[index].actual = target
            }
        }
        for guest in guests where guest.lie == .pressure {
            #expect(guest.actual <= guest.ram)
        }
    }

    @Test("a guest that claims all its memory is free is shrunk no further than its min", arguments: 0..<20)
    func claimsAllFree(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) &* 7_919 &+ 11)
        let minimum = UInt64(Int.random(in: 4...16, using: &rng)) * 64 * MiB
        let config = try makeConfig(
            defaults: "step = \"8GiB\"\ncooldown = \"0s\"\nheadroom = \"64MiB\"",
            host: "reserve = \"\(Self.reserve >> 20)MiB\"",
            rules: [("squeeze", "true", "0")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        var guest = Guest(name: "liar", ram: 4 * GiB, actual: 4 * GiB, used: 0, shares: 1000, min: minimum, lie: .plenty)
        for round in 0..<30 {
            let now = Double(round) * 2
            let host = HostSample(total: Self.hostTotal, available: UInt64(Int.random(in: 0...8, using: &rng)) * GiB)
            let result = engine.decide(
                &state,
                samples: [sample(guest.name, config: config, actual: guest.actual, ram: guest.ram, stats: stats(of: guest), age: 1, at: now, min: .bytes(minimum))],
                host: host, now: now)
            if let target = result.decisions.first?.to {
                #expect(target >= minimum, "seed \(seed) round \(round): \(result.decisions)")
                guest.actual = target
            }
        }
        #expect(guest.actual == minimum, "the lie is believed down to the min, no further: \(guest.actual >> 20) MiB")
    }
}
