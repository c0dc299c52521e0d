import QBalloonCore
import Testing

@testable import QBalloonRules

/// Pins and pauses (`qballoon pin`, `qballoon pause`) as the engine honours them: the operator's size or nothing sent,
/// never at the cost of a guest's safety.
struct OperatorHoldTests {
    static let roomyHost = HostSample(total: 64 * GiB, available: 40 * GiB)
    /// What a Linux guest's kernel keeps outside MemTotal.
    static let outside = 100 * MiB

    /// A guest whose balloon reaches each target by the next round; it reports every round.
    struct Guest {
        var name = "web"
        var actual: UInt64 = 8 * GiB
        var used: UInt64 = 1 * GiB
        var ram: UInt64 = 8 * GiB
        var hold: OperatorHold?
        /// Whether its balloon follows targets (false: an inflation that does not move).
        var follows = true

        func sample(_ config: QBalloonConfig, at now: Double) -> VMSample {
            let total = actual - OperatorHoldTests.outside
            var vm = QBalloonRulesTests.sample(
                name, config: config, actual: actual, ram: ram,
                stats: stats(total: total, available: total > used ? total - used : 0), age: 1, at: now)
            vm.hold = hold
            return vm
        }
    }

    /// One round every 2 s for every guest; each decision's target is where its balloon is at the next round.
    struct World {
        let config: QBalloonConfig
        let engine: DecisionEngine
        var state = EngineState()
        var guests: [Guest]
        var now = 1000.0
        var host = OperatorHoldTests.roomyHost

        init(_ config: QBalloonConfig, _ guests: [Guest]) {
            self.config = config
            self.engine = DecisionEngine(config: config)
            self.guests = guests
        }

        /// One round; the decisions by VM.
        mutating func round() -> [String: Decision] {
            now += 2
            let samples = guests.map { $0.sample(config, at: now) }
            let decisions = engine.decide(&state, samples: samples, host: host, now: now).decisions
            for decision in decisions {
                guard let to = decision.to, let index = guests.firstIndex(where: { $0.name == decision.vm }) else { continue }
                if guests[index].follows { guests[index].actual = to }
            }
            return Dictionary(uniqueKeysWithValues: decisions.map { ($0.vm, $0) })
        }

        /// `count` rounds; every decision of `vm`.
        mutating func rounds(_ count: Int, of vm: String = "web") -> [Decision] {
            (0..<count).compactMap { _ in round()[vm] }
        }
    }

    static let shrinkRule = ("shrink", "true", "actual - 1GiB")

    @Test("a pin takes the guest to its size at once (no step, below min) and holds it there whatever the rules want; unpinned, the rules take over")
    func pinHolds() throws {
        let config = try makeConfig(rules: [Self.shrinkRule])
        var world = World(config, [Guest(hold: .pinned(3 * GiB))])
        let decisions = world.rounds(12)
        let sent = decisions.filter(\.changes)
        #expect(sent.count == 1, "sent once, not again while it is there: \(decisions.map(\.description))")
        #expect(sent.first?.to == 3 * GiB, "the pin at once: no 256 MiB step, and below min (4 GiB)")
        #expect(sent.first?.reason == .pinned)
        #expect(sent.first?.reason.ruleName == "operator")
        #expect(world.guests[0].actual == 3 * GiB)
        #expect(decisions.last?.reason == .pinned && decisions.last?.to == nil, "the rule wanted 2 GiB; the pin holds")

        world.guests[0].hold = nil
        let after = world.rounds(3)
        let change = try #require(after.first { $0.changes })
        #expect(change.reason == .rule("shrink"))
        #expect(change.adjustments.contains(.clampedToMin(4 * GiB)), "unpinned: back inside the config's limits, by the rules")
    }

    @Test("a pin never takes a guest below its use plus headroom; a pinned guest under pressure gets memory")
    func pinKeepsSafety() throws {
        let config = try makeConfig(rules: [Self.shrinkRule])
        var world = World(config, [Guest(used: 5 * GiB, hold: .pinned(2 * GiB))])
        let decisions = world.rounds(10)
        let sent = try #require(decisions.first { $0.changes })
        #expect(sent.reason == .pinned)
        let floor = try #require(sent.to)
        #expect(floor > 5 * GiB + Self.outside, "its use plus headroom, not 2 GiB: \(sent)")
        #expect(sent.adjustments.contains { if case .keptHeadroom = $0 { true } else { false } }, "\(sent)")

        // Its job grows past what the pin leaves: under pressure, it gets its max at once.
        world.guests[0].used = world.guests[0].actual - Self.outside - 200 * MiB
        let pressured = try #require(world.round()["web"])
        #expect(pressured.pressured)
        #expect(pressured.to == 8 * GiB)
        #expect(pressured.adjustments.contains(.pinSetAsideForNeed(2 * GiB)), "\(pressured)")
    }

    @Test("a pinned shrink the guest cannot complete stalls like any other: room given back, held, tried again after stall_hold")
    func pinnedShrinkStalls() throws {
        let config = try makeConfig(defaults: "stall_after = \"4s\"\nstall_hold = \"20s\"")
        var world = World(config, [Guest(hold: .pinned(4 * GiB))])
        var sent: Decision?
        for _ in 0..<10 where sent == nil { sent = world.round()["web"].flatMap { $0.changes ? $0 : nil } }
        #expect(sent?.to == 4 * GiB)
        // The guest gives 1 GiB, then nothing more.
        world.guests[0].actual = 7 * GiB
        world.guests[0].follows = true
        var recovery: Decision?
        for _ in 0..<6 where recovery == nil { recovery = world.round()["web"].flatMap { $0.reason == .stallRecovery ? $0 : nil } }
        let stalled = try #require(recovery, "the stall is noticed")
        #expect(stalled.to == 7 * GiB + 512 * MiB, "room given back: give_back (6.25% of 8 GiB)")
        // Within stall_hold the pin waits at the stall's floor rather than pushing the balloon again.
        let held = world.rounds(5)
        #expect(held.allSatisfy { !$0.changes && $0.reason == .pinned }, "\(held)")
        #expect(held.last?.adjustments.contains(.stallFloor(7 * GiB + 512 * MiB)) == true, "\(held.last.map(\.description) ?? "")")
        // After it, the pin is tried again.
        let later = world.rounds(8)
        #expect(later.contains { $0.changes && $0.to == 4 * GiB && $0.reason == .pinned }, "\(later.map(\.description))")
    }

    @Test("a pin above max holds the guest at max")
    func pinAboveMax() throws {
        let config = try makeConfig(defaults: #"max = "75%""#)
        var world = World(config, [Guest(hold: .pinned(8 * GiB))])
        let decisions = world.rounds(8)
        let sent = try #require(decisions.first { $0.changes })
        #expect(sent.to == 6 * GiB)
        #expect(sent.adjustments.contains(.clampedToMax(6 * GiB)))
    }

    @Test("the host arbiter counts a pinned VM as fixed: it neither cuts its growth nor takes from it for the reserve")
    func pinIsFixedForTheArbiter() throws {
        let config = try makeConfig(host: #"reserve = "4GiB""#)
        var world = World(config, [Guest(name: "big", actual: 4 * GiB, hold: .pinned(8 * GiB)), Guest(name: "idle", used: 512 * MiB, hold: .pinned(6 * GiB))])
        world.host = HostSample(total: 16 * GiB, available: 3 * GiB)  // under the reserve
        var seen: [String: [Decision]] = [:]
        for _ in 0..<10 {
            for (vm, decision) in world.round() { seen[vm, default: []].append(decision) }
        }
        let growth = try #require(seen["big"]?.first { $0.changes })
        #expect(growth.to == 8 * GiB, "the pin, not cut by the host reserve: \(growth)")
        #expect(!growth.adjustments.contains { if case .growthCutByHostReserve = $0 { true } else { false } })
        let idle = seen["idle"] ?? []
        #expect(idle.allSatisfy { $0.to == nil || $0.to == 6 * GiB }, "taken to its pin, never below for the reserve: \(idle)")
        #expect(world.guests[1].actual == 6 * GiB)
    }

    @Test("paused: decided and shown, nothing sent; the arbiter takes nothing from it; resumed, the rules act")
    func paused() throws {
        let config = try makeConfig(host: #"reserve = "2GiB""#, rules: [Self.shrinkRule])
        var world = World(config, [Guest(name: "held", hold: .paused), Guest(name: "free", used: 512 * MiB)])
        world.host = HostSample(total: 16 * GiB, available: 1 * GiB)
        var held: [Decision] = []
        var freed = 0
        for _ in 0..<12 {
            let round = world.round()
            if let decision = round["held"] { held.append(decision) }
            if round["free"]?.changes == true { freed += 1 }
        }
        #expect(held.allSatisfy { !$0.changes }, "\(held)")
        #expect(held.last?.reason == .rule("shrink"), "what the rules would do is shown")
        #expect(held.last?.adjustments == [.paused])
        #expect(world.guests[0].actual == 8 * GiB)
        #expect(freed > 0, "the one not paused gives")

        world.guests[0].hold = nil
        let resumed = world.rounds(8, of: "held")
        #expect(resumed.contains { $0.changes && $0.reason == .rule("shrink") })
    }

    @Test("pausing stops an inflation of ours under way where it is, once")
    func pauseStopsAnInflation() throws {
        let config = try makeConfig(rules: [Self.shrinkRule])
        var world = World(config, [Guest(follows: false)])
        var first: Decision?
        for _ in 0..<10 where first == nil { first = world.round()["web"].flatMap { $0.changes ? $0 : nil } }
        let shrink = try #require(first)
        #expect(shrink.to! < 8 * GiB)
        // The balloon has moved part of the way when the operator pauses.
        world.guests[0].actual = 8 * GiB - 64 * MiB
        world.guests[0].hold = .paused
        let stop = try #require(world.round()["web"])
        #expect(stop.to == 8 * GiB - 64 * MiB, "stopped where it is: \(stop)")
        #expect(stop.reason == .paused)
        let next = world.rounds(3)
        #expect(next.allSatisfy { !$0.changes }, "\(next)")
    }
}
