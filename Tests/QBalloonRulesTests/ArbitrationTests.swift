import QBalloonCore
import Testing
@testable import QBalloonRules

@Suite("Host arbitration")
struct ArbitrationTests {
    /// A VM that is idle: uses `used` of `actual`.
    func idle(
        _ name: String, _ config: QBalloonConfig, actual: UInt64, used: UInt64, shares: Int = 1000, min: MemorySize? = nil,
        at now: Double = 0
    ) -> VMSample {
        sample(
            name, config: config, actual: actual, ram: 16 * GiB, stats: stats(total: actual, available: actual - used), at: now,
            shares: shares, min: min)
    }

    func pressured(_ name: String, _ config: QBalloonConfig, actual: UInt64, shares: Int = 1000, at now: Double = 0) -> VMSample {
        sample(name, config: config, actual: actual, ram: 16 * GiB, stats: stats(total: actual, available: actual / 20), at: now, shares: shares)
    }

    func growth(_ round: DecisionRound) -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: round.decisions.map { ($0.vm, ($0.to ?? $0.from) > $0.from ? ($0.to ?? $0.from) - $0.from : 0) })
    }

    func taken(_ round: DecisionRound) -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: round.decisions.map { ($0.vm, ($0.to ?? $0.from) < $0.from ? $0.from - ($0.to ?? $0.from) : 0) })
    }

    @Test("growth for a guest under pressure comes first and may take the host into its reserve, down to the hard reserve; rule growth only above the reserve, by shares")
    func growthBudget() throws {
        let config = try makeConfig(
            defaults: "grow_step = \"1GiB\"\nmin = \"1GiB\"\nmax = \"5GiB\"\nheadroom = \"512MiB\"",
            host: "reserve = \"4GiB\"\nhard_reserve = \"3GiB\"",
            rules: [("grow", "available < 50% of actual", "actual + 1GiB")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        let busy = { (name: String, shares: Int) in
            sample(name, config: config, actual: 4 * GiB, ram: 16 * GiB, stats: stats(total: 4 * GiB, available: 1 * GiB), shares: shares)
        }
        let host = HostSample(total: 64 * GiB, available: 4 * GiB + 1536 * MiB)  // 1.5 GiB above the reserve
        let round = engine.decide(
            &state,
            samples: [busy("a", 1000), busy("b", 2000), pressured("p", config, actual: 4 * GiB)],
            host: host, now: 0)
        let grown = growth(round)
        #expect(grown["p"] == 1 * GiB)  // under pressure: its max (5 GiB) at once, served first
        #expect(round.decisions.first { $0.vm == "p" }?.adjustments.contains(.grownAtOnce) == true)
        // The rest share what is left above the reserve (512 MiB), by shares.
        #expect(grown["a"]! + grown["b"]! <= 512 * MiB)
        #expect(grown["b"] == 2 * grown["a"]! || grown["b"]! - 2 * grown["a"]! < 2 * 4096)
        #expect(grown["a"]! > 0)
        #expect(round.decisions.first { $0.vm == "a" }?.adjustments.contains { if case .growthCutByHostReserve = $0 { true } else { false } } == true)

        // With the host at its reserve, the pressured guest still grows, into the reserve down to the hard
        // reserve (1 GiB of room); rule growth gets nothing.
        var atReserve = EngineState()
        let tight = engine.decide(
            &atReserve, samples: [busy("a", 1000), pressured("p", config, actual: 4 * GiB)],
            host: HostSample(total: 64 * GiB, available: 4 * GiB), now: 0)
        let tightGrowth = growth(tight)
        #expect(tightGrowth["p"] == 1 * GiB)
        #expect(tightGrowth["a", default: 0] == 0)
        // Below the hard reserve even a pressured guest is cut (and says so).
        var belowHard = EngineState()
        let cut = engine.decide(
            &belowHard, samples: [pressured("p", config, actual: 4 * GiB)],
            host: HostSample(total: 64 * GiB, available: 3 * GiB + 256 * MiB), now: 0)
        #expect(growth(cut)["p"] == 256 * MiB)
        #expect(cut.decisions.first?.adjustments.contains { if case .growthCutByHostReserve = $0 { true } else { false } } == true)
    }

    @Test("a guest under pressure at the reserve is fed and idle memory is taken back for it: idle first (the idle tax), never from pressured guests, never below use plus headroom")
    func idleTax() throws {
        let config = try makeConfig(
            defaults: "step = \"4GiB\"\nmin = \"1GiB\"\nheadroom = \"1GiB\"", host: "reserve = \"8GiB\"\nidle_tax = 0.75")
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        let host = HostSample(total: 64 * GiB, available: 8 * GiB)  // at the reserve; hard reserve 4 GiB
        let samples = [
            idle("hoarder", config, actual: 8 * GiB, used: 2 * GiB),
            idle("busy", config, actual: 8 * GiB, used: 6 * GiB),
            pressured("short", config, actual: 8 * GiB),
        ]
        warmUp(engine, &state, samples, now: 0)
        let round = engine.decide(&state, samples: samples, host: host, now: 0)
        let took = taken(round)
        // The pressured guest grows 4 GiB into the reserve; the hoarder gives what it can above its use plus
        // headroom (8 - 3 = 5 GiB > 4), the busy one (6 + 1 GiB) gives only 1 GiB at most and the tax spares it.
        #expect(growth(round)["short"] == 4 * GiB)
        #expect(round.host.reclaimNeeded == 4 * GiB)
        #expect(took["short", default: 0] == 0)
        #expect(took["hoarder", default: 0] >= 3 * GiB)
        #expect(took["hoarder", default: 0] <= 5 * GiB)
        #expect(took["busy", default: 0] <= 1 * GiB)
        #expect(took.values.reduce(0, +) >= 4 * GiB - 4 * 4096)
        #expect(round.decisions.first { $0.vm == "hoarder" }?.reason == .hostReserve)
    }

    @Test("feeding a guest that needs memory, idle guests give at once: no step, no cooldown, never below their floors")
    func feedingIgnoresStepAndCooldown() throws {
        let config = try makeConfig(
            defaults: "step = \"256MiB\"\ncooldown = \"60s\"\nmin = \"1GiB\"\nheadroom = \"1GiB\"",
            host: "reserve = \"8GiB\"\nidle_tax = 0.75")
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        warmUp(engine, &state, [idle("hoarder", config, actual: 8 * GiB, used: 2 * GiB)], now: 0)
        // 1 GiB under the reserve, above the hard reserve (4 GiB), nobody in need: the hoarder gives its step.
        let calm = engine.decide(
            &state, samples: [idle("hoarder", config, actual: 8 * GiB, used: 2 * GiB)],
            host: HostSample(total: 64 * GiB, available: 7 * GiB), now: 0)
        #expect(taken(calm)["hoarder"] == 256 * MiB)
        #expect(calm.host.feeding == false)
        // 10 s later, in its cooldown, a guest comes under pressure with the host at its reserve: it gets 4 GiB
        // from the reserve, and the hoarder gives them back at once, past its step and cooldown, but not below
        // its use plus headroom (3 GiB).
        let round = engine.decide(
            &state,
            samples: [
                idle("hoarder", config, actual: 8 * GiB - 256 * MiB, used: 2 * GiB, at: 10),
                pressured("short", config, actual: 8 * GiB, at: 10),
            ],
            host: HostSample(total: 64 * GiB, available: 8 * GiB), now: 10)
        #expect(round.host.feeding)
        #expect(growth(round)["short"] == 4 * GiB)
        let hoarder = try #require(round.decisions.first { $0.vm == "hoarder" }, "\(round.decisions) \(round.host)")
        let took = taken(round)["hoarder", default: 0]
        #expect(took >= 4 * GiB - 4 * 4096 && took <= 8 * GiB - 256 * MiB - 3 * GiB, "\(hoarder)")
        #expect(hoarder.adjustments.contains { if case .reclaimedAtOnce = $0 { true } else { false } }, "\(hoarder)")
        #expect(hoarder.description.contains("at once, for a guest that needs memory"), "\(hoarder)")

        // With nobody in need but the host under its hard reserve (3 of 4 GiB), the same: at once, to the floors.
        var emergency = EngineState()
        warmUp(engine, &emergency, [idle("hoarder", config, actual: 8 * GiB, used: 2 * GiB)], now: 0)
        let low = engine.decide(
            &emergency, samples: [idle("hoarder", config, actual: 8 * GiB, used: 2 * GiB)],
            host: HostSample(total: 64 * GiB, available: 3 * GiB), now: 0)
        let given = try #require(low.decisions.first)
        #expect(taken(low)["hoarder"] == 5 * GiB, "\(given)")  // the 5 GiB short, down to use plus headroom (3 GiB)
        #expect(given.description.contains("at once, the host is under its hard reserve"), "\(given)")
    }

    @Test("below the reserve with no tax: shares decide who keeps memory")
    func sharesInReclaim() throws {
        let config = try makeConfig(
            defaults: "step = \"8GiB\"\nmin = \"1GiB\"\nheadroom = \"64MiB\"", host: "reserve = \"8GiB\"\nidle_tax = 0")
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        let host = HostSample(total: 64 * GiB, available: 2 * GiB)  // 6 GiB short
        let samples = [
            idle("gold", config, actual: 8 * GiB, used: 1 * GiB, shares: 2000),
            idle("bronze", config, actual: 8 * GiB, used: 1 * GiB, shares: 1000),
        ]
        warmUp(engine, &state, samples, now: 0)
        let round = engine.decide(&state, samples: samples, host: host, now: 0)
        let took = taken(round)
        #expect(took.values.reduce(0, +) >= 6 * GiB - 2 * 4096)
        // Levelled to size ∝ shares: gold keeps 2/3 of the 10 GiB left, bronze 1/3.
        let goldLeft = Double(8 * GiB - took["gold", default: 0])
        let bronzeLeft = Double(8 * GiB - took["bronze", default: 0])
        #expect(abs(goldLeft / bronzeLeft - 2) < 0.01)
    }

    @Test("the arbiter keeps every envelope: min, step, headroom, stale, unknown trend, cooldown")
    func arbiterRespectsEnvelope() throws {
        // The host (4 GiB available) is above its hard reserve and nobody needs memory: the givers keep their step.
        let config = try makeConfig(
            defaults: "step = \"512MiB\"\nmin = \"6GiB\"\nheadroom = \"1GiB\"", host: "reserve = \"32GiB\"\nhard_reserve = \"2GiB\"")
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        let host = HostSample(total: 64 * GiB, available: 4 * GiB)  // far below: take all that may be taken
        let samples = [
            idle("a", config, actual: 8 * GiB, used: 1 * GiB),
            idle("near-min", config, actual: 6 * GiB + 300 * MiB, used: 1 * GiB),
            sample("stale", config: config, actual: 8 * GiB, ram: 16 * GiB, stats: stats(total: 8 * GiB, available: 7 * GiB), age: 60),
            idle("tight", config, actual: 8 * GiB, used: 7 * GiB, min: .bytes(1 * GiB)),
        ]
        warmUp(engine, &state, samples, now: 0)
        let round = engine.decide(&state, samples: samples + [idle("new", config, actual: 8 * GiB, used: 1 * GiB)], host: host, now: 0)
        let took = taken(round)
        #expect(took["a"] == 512 * MiB)  // step
        #expect(took["near-min"] == 300 * MiB)  // min
        #expect(took["stale", default: 0] == 0)
        #expect(took["tight", default: 0] == 0)  // used + headroom (1 GiB) is above actual
        #expect(took["new", default: 0] == 0)  // its trend is not known yet
        #expect(round.host.shortfall > 0)
        // Next round (2 s later) everything is cooling down or moving: nothing more is taken.
        let again = engine.decide(
            &state,
            samples: [
                idle("a", config, actual: 8 * GiB - 512 * MiB, used: 1 * GiB),
                idle("near-min", config, actual: 6 * GiB, used: 1 * GiB),
            ], host: host, now: 2)
        #expect(again.decisions.allSatisfy { $0.to == nil })
    }

    @Test("no host figures: nothing is arbitrated")
    func unknownHost() throws {
        let config = try makeConfig(rules: [("grow", "true", "actual + 1GiB")])
        var state = EngineState()
        let round = DecisionEngine(config: config).decide(
            &state, samples: [idle("a", config, actual: 4 * GiB, used: 1 * GiB)], host: HostSample(), now: 0)
        #expect(round.decisions.first?.to == 4 * GiB + 256 * MiB)
        #expect(round.host.available == nil)
    }

    @Test("water-fill by weights")
    func waterFill() {
        #expect(DecisionEngine.waterFill(asks: [100, 100], weights: [1, 1], total: 100) == [50, 50])
        #expect(DecisionEngine.waterFill(asks: [10, 100], weights: [1, 1], total: 100) == [10, 90])
        #expect(DecisionEngine.waterFill(asks: [300, 300], weights: [2000, 1000], total: 300) == [200, 100])
        #expect(DecisionEngine.waterFill(asks: [100, 100], weights: [0, 1000], total: 150) == [50, 100])
        #expect(DecisionEngine.waterFill(asks: [100, 100], weights: [0, 0], total: 100) == [50, 50])
        #expect(DecisionEngine.waterFill(asks: [5, 5], weights: [1, 1], total: 100) == [5, 5])
    }

    @Test("reserve = \"0\": the host arbiter takes nothing back however short the host is; a guest in need still grows")
    func zeroReserve() throws {
        for text in ["reserve = \"0\"", "reserve = 0", "reserve = \"0\"\nhard_reserve = 0"] {
            let config = try makeConfig(defaults: "min = \"1GiB\"", host: text)
            #expect(config.host.reserve == .bytes(0), "\(text)")
            let engine = DecisionEngine(config: config)
            var state = EngineState()
            // 12 GiB idle in each guest, the host with 1 MiB available.
            let round = engine.decide(
                &state, samples: [idle("a", config, actual: 16 * GiB, used: 4 * GiB), idle("b", config, actual: 16 * GiB, used: 4 * GiB)],
                host: HostSample(total: 64 * GiB, available: 1 * MiB), now: 0)
            #expect(taken(round).values.allSatisfy { $0 == 0 }, "\(round.decisions)")
        }
        // A guest under pressure below its max still grows (there is no reserve to hold it back).
        let config = try makeConfig(defaults: "min = \"1GiB\"\nheadroom = \"512MiB\"", host: "reserve = \"0\"")
        var state = EngineState()
        let round = DecisionEngine(config: config).decide(
            &state, samples: [pressured("p", config, actual: 4 * GiB)], host: HostSample(total: 64 * GiB, available: 8 * GiB), now: 0)
        #expect(growth(round)["p"] == 8 * GiB)
        // Zero stays a mistake everywhere else.
        #expect(configError("[defaults]\nmin = \"0\"\n[[vm]]\nqmp = \"/a.qmp\"\n").contains("min"))
        #expect(configError("[defaults]\nstep = 0\n[[vm]]\nqmp = \"/a.qmp\"\n").contains("step: must be more than 0"))
    }
}
