import QBalloonCore
import Testing
@testable import QBalloonRules

/// Random statistics sequences × random rules, thousands of rounds: whatever the rules say, the envelope holds.
@Suite("Safety envelope properties")
struct EnvelopePropertyTests {
    static let interval = 2.0

    static func randomRule(_ rng: inout SeededRandom, index: Int) -> (String, String, String) {
        func percent() -> Int { Int.random(in: 5...90, using: &rng) }
        func size() -> String { "\(Int.random(in: 1...64, using: &rng) * 64)MiB" }
        func atom() -> String {
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: return "available > \(percent())% of actual"
            case 1: return "available < \(percent())% of actual"
            case 2: return "used > \(size())"
            case 3: return "free < \(size())"
            case 4: return "swap_in_rate > 0"
            case 5: return "major_faults_rate > \(Int.random(in: 0...100, using: &rng))"
            case 6: return "stats_age < 5s"
            case 7: return "host_available < host_reserve"
            case 8: return "pressure"
            case 9: return "not pressure"
            case 10: return "actual > min + \(size())"
            default: return "true"
            }
        }
        var when = ""
        for position in 0..<Int.random(in: 1...3, using: &rng) {
            var text = atom()
            if Bool.random(using: &rng), Bool.random(using: &rng) { text = "\(text) for \(Int.random(in: 1...20, using: &rng) * 2)s" }
            if position > 0 { when += Bool.random(using: &rng) ? " and " : " or " }
            when += text
        }
        let set: String
        switch Int.random(in: 0..<12, using: &rng) {
        case 0: set = "used + \(percent())% of used"
        case 1: set = "actual - \(size())"
        case 2: set = "actual + \(size())"
        case 3: set = "min"
        case 4: set = "max"
        case 5: set = size()
        case 6: set = "available"
        case 7: set = "max(used, \(size()))"
        case 8: set = "actual + \(percent())% of actual"
        case 9: set = "0"
        case 10: set = "used - \(size())"
        default: set = "min(max, actual * 3)"
        }
        return ("rule \(index)", when, set)
    }

    /// A guest: where its balloon is heading, how far it can shrink, and what it reports.
    struct Guest {
        var name: String
        var ram: UInt64
        var actual: UInt64
        var balloonTarget: UInt64
        var hardFloor: UInt64
        var majorFaults: UInt64 = 0
        var lastChange = -Double.infinity
        var stalledSince: Double?
        var floor: (level: UInt64, until: Double)?
        var lastPressure = -Double.infinity
        var used: UInt64 = 0
    }

    @Test("rule targets within [min, max], at most step, never in cooldown, nothing under the deadband; growth for a guest that needs memory at once; never shrinks a pressured, stale, lately pressured guest, into its headroom or a stalled inflation", arguments: 0..<48)
    func envelope(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) &* 7919 &+ 17)
        let rules = (0..<Int.random(in: 1...4, using: &rng)).map { Self.randomRule(&rng, index: $0) }
        let stallAfter = Int.random(in: 2...4, using: &rng) * 2
        let growOnPressure = Bool.random(using: &rng)
        let defaults = """
            min = "\(Int.random(in: 10...60, using: &rng))%"
            max = "\(Int.random(in: 70...100, using: &rng))%"
            step = "\(Int.random(in: 1...16, using: &rng) * 64)MiB"
            grow_step = "\(Int.random(in: 1...16, using: &rng) * 64)MiB"
            cooldown = "\(Int.random(in: 0...10, using: &rng) * 2)s"
            pressure = "available < 10% of actual"
            stall_after = "\(stallAfter)s"
            stall_hold = "60s"
            grow_on_pressure = \(growOnPressure)
            """
        let config = try makeConfig(defaults: defaults, host: "reserve = \"4GiB\"", rules: rules)
        let engine = DecisionEngine(config: config)
        let settings = config.vms[0].settings
        var guests: [Guest] = (0..<4).map { index in
            let ram = UInt64.random(in: 2...16, using: &rng) * GiB
            let limits = settings.resolve(ramBytes: ram)
            let actual = UInt64.random(in: limits.min...limits.max, using: &rng) / 4096 * 4096
            var guest = Guest(
                name: "vm\(index)", ram: ram, actual: actual, balloonTarget: actual,
                hardFloor: UInt64.random(in: ram / 8...ram / 2, using: &rng) / 4096 * 4096)
            guest.used = UInt64.random(in: ram / 16...actual, using: &rng)
            return guest
        }
        var state = EngineState()
        var now = 1_000_000.0
        var checked = 0
        for _ in 0..<160 {
            now += Self.interval
            var samples: [VMSample] = []
            var fresh: [String: Bool] = [:]
            var usedNow: [String: UInt64] = [:]
            var pressured: [String: Bool] = [:]
            for index in guests.indices {
                var guest = guests[index]
                // The balloon moves toward its target at a random speed, never below what the guest can free.
                let speed = UInt64.random(in: 0...8, using: &rng) * 64 * MiB
                if guest.balloonTarget < guest.actual {
                    let goal = max(guest.balloonTarget, guest.hardFloor)
                    guest.actual = max(goal, guest.actual > speed ? guest.actual - speed : 0)
                } else if guest.balloonTarget > guest.actual {
                    guest.actual = min(guest.balloonTarget, guest.actual + speed)
                }
                let stalled = guest.balloonTarget < guest.actual && guest.actual == guest.hardFloor
                if stalled, guest.stalledSince == nil { guest.stalledSince = now }
                if !stalled { guest.stalledSince = nil }
                guest.majorFaults += UInt64.random(in: 0...300, using: &rng)
                // What the guest uses wanders, and now and then jumps (a burst, a job ending).
                if Int.random(in: 0..<8, using: &rng) == 0 {
                    guest.used = UInt64.random(in: guest.ram / 16...guest.ram, using: &rng)
                } else {
                    let move = Int64.random(in: -32...32, using: &rng) * Int64(MiB)
                    guest.used = UInt64(Swift.max(Int64(guest.ram / 16), Int64(guest.used) + move))
                }
                let available = guest.actual > guest.used ? guest.actual - guest.used : 0
                let roll = Int.random(in: 0..<20, using: &rng)
                let age: Double? = roll == 0 ? nil : roll == 1 ? Double.random(in: 10...100, using: &rng) : Double.random(in: 0...3, using: &rng)
                let report = age.map { age in
                    GuestStats(
                        swapIn: 0, swapOut: 0, majorFaults: guest.majorFaults, minorFaults: 0, free: available / 2,
                        total: guest.actual, available: available, diskCaches: 0,
                        lastUpdate: Int64((now - age).rounded(.down)))
                }
                // QEMU stamps whole seconds: the engine sees the age rounded up to the next second at most.
                fresh[guest.name] = report.flatMap { $0.age(now: now) }.map { $0 <= 6 } ?? false
                pressured[guest.name] = report != nil && Double(available) < 0.1 * Double(guest.actual)
                usedNow[guest.name] = guest.actual > available ? guest.actual - available : 0
                samples.append(
                    VMSample(
                        name: guest.name, limits: settings.resolve(ramBytes: guest.ram), actual: guest.actual,
                        ram: guest.ram, stats: report))
                guests[index] = guest
            }
            let host = HostSample(total: 64 * GiB, available: UInt64.random(in: 0...12, using: &rng) * 512 * MiB)
            let round = engine.decide(&state, samples: samples, host: host, now: now)
            for decision in round.decisions {
                let index = guests.firstIndex { $0.name == decision.vm }!
                var guest = guests[index]
                let limits = samples[index].limits
                let context = "seed \(seed), t=\(now - 1_000_000): \(decision)"
                #expect(decision.pressured == pressured[guest.name], "\(context)")
                if pressured[guest.name] == true { guest.lastPressure = now }
                guard let to = decision.to else { continue }
                checked += 1
                let actual = decision.from
                // Growth for a guest that needs memory: at once, never above its max (or where it is).
                let needs: Set<Decision.Reason> = [.pressure, .headroom, .shrinkUndone]
                if decision.reason.isSafety {
                    #expect(to >= actual, "\(context)")  // safety only gives
                    #expect(to <= guest.ram, "\(context)")
                } else if needs.contains(decision.reason) || decision.adjustments.contains(.grownAtOnce) {
                    #expect(to > actual, "\(context): growth for a guest that needs memory")
                    #expect(to <= Swift.max(limits.max, actual), "\(context): above max")
                } else {
                    if actual >= limits.min, actual <= limits.max {
                        #expect(to >= limits.min && to <= limits.max, "\(context)")
                    } else {
                        #expect((to >= limits.min && to <= limits.max) || (to < actual) == (actual > limits.max), "\(context)")
                    }
                    let change = to > actual ? to - actual : actual - to
                    // Taken at once to feed a guest that needs memory: no step, no cooldown (the floors below hold).
                    let atOnce = decision.adjustments.contains { if case .reclaimedAtOnce = $0 { true } else { false } }
                    if !atOnce {
                        #expect(change <= (to < actual ? limits.step : limits.growStep), "\(context)")
                        #expect(now - guest.lastChange >= limits.cooldown, "\(context): cooldown")
                    } else {
                        #expect(to < actual, "\(context): taken at once yet not shrunk")
                    }
                    #expect(change >= limits.deadband, "\(context)")
                    if let floor = guest.floor, now < floor.until {
                        #expect(to >= floor.level || to >= actual, "\(context): below the stall floor")
                    }
                }
                if to < actual {
                    #expect(fresh[guest.name] == true, "\(context): shrank a stale guest")
                    #expect(pressured[guest.name] == false, "\(context): shrank a pressured guest")
                    #expect(now - guest.lastPressure >= 120, "\(context): shrank a guest under pressure lately")
                    #expect(guest.stalledSince == nil || to >= guest.balloonTarget, "\(context): pushed a stalled inflation")
                    #expect(guest.balloonTarget >= guest.actual || to >= guest.balloonTarget, "\(context): pushed an inflation under way")
                    // Never below what it uses plus its headroom (15% of RAM, at least 64 MiB).
                    let headroom = Swift.max(UInt64(Double(guest.ram) * 0.15) / 4096 * 4096, 64 * MiB)
                    #expect(to >= Swift.min(usedNow[guest.name]! + headroom, actual), "\(context): shrank into its headroom")
                }
                if decision.reason == .stallRecovery { guest.floor = (to, now + 60) }
                guest.balloonTarget = to
                guest.lastChange = now
                guest.stalledSince = nil
                guests[index] = guest
            }
            // A guest under pressure is never left without memory it could get: with the host able to give it
            // (hard reserve 2 GiB), one that may grow is grown this round.
            if let available = host.available, available > 4 * GiB {
                for (index, guest) in guests.enumerated() where pressured[guest.name] == true && fresh[guest.name] == true {
                    let limits = samples[index].limits
                    guard growOnPressure, guest.actual < limits.max, guest.stalledSince == nil else { continue }
                    let decision = round.decisions.first { $0.vm == guest.name }
                    let cut = decision?.adjustments.contains { if case .growthCutByHostReserve = $0 { true } else { false } } ?? false
                    let growing = guest.balloonTarget > guest.actual  // growth already in flight: it lands
                    #expect((decision?.to ?? 0) > guest.actual || cut || growing, "seed \(seed): \(guest.name) under pressure was not grown: \(decision.map { "\($0)" } ?? "no decision")")
                }
            }
            // No stalled inflation is left in place: recovered within stall_after and a couple of intervals.
            for guest in guests {
                if let since = guest.stalledSince {
                    #expect(now - since <= Double(stallAfter) + 2 * Self.interval, "seed \(seed): \(guest.name) left stalled")
                }
            }
        }
        #expect(checked > 0)
    }
}
