#if canImport(Glibc)
import Glibc
#endif
import QBalloonCore
import Testing
@testable import QBalloonRules

/// No guest is starved by a decision: growth is never held back, shrinking sees the trend and keeps headroom.
@Suite("Need: trend, headroom, growth at once")
struct NeedTests {
    static let roomyHost = HostSample(total: 64 * GiB, available: 40 * GiB)

    /// One VM of 8 GiB RAM reporting `used` (its total is `actual`), reported one second before `now`.
    func vm(_ config: QBalloonConfig, actual: UInt64, used: UInt64, at now: Double) -> VMSample {
        let available = actual > used ? actual - used : 0
        return sample("web", config: config, actual: actual, stats: stats(total: actual, available: available), at: now)
    }

    @Test("the trend: rates over the window, the last step, the fastest recent growth fading")
    func trend() {
        var trend = NeedTrend()
        #expect(trend.isRising(faster: 0) == nil, "unknown before two reports")
        trend.add(time: 0, used: Double(1 * GiB), available: Double(3 * GiB), window: 30)
        #expect(trend.isRising(faster: 0) == nil)
        trend.add(time: 10, used: Double(1 * GiB + 100 * MiB), available: Double(3 * GiB - 100 * MiB), window: 30)
        #expect(trend.usedRate == Double(10 * MiB))
        #expect(trend.availableRate == -Double(10 * MiB))
        #expect(trend.isRising(faster: Double(1 * MiB)) == true)
        #expect(trend.peakGrowth(at: 10) == Double(10 * MiB))
        #expect(abs(trend.peakGrowth(at: 310) - Double(5 * MiB)) < 1, "half after the half-life")
        // Flat for a long time: the window forgets the growth, the peak fades.
        for time in stride(from: 20.0, through: 60, by: 10) {
            trend.add(time: time, used: Double(1 * GiB + 100 * MiB), available: Double(3 * GiB - 100 * MiB), window: 30)
        }
        #expect(trend.usedRate == 0)
        #expect(trend.isRising(faster: Double(1 * MiB)) == false)
        // The same report twice (QEMU's last-update did not move) changes nothing.
        trend.add(time: 60.2, used: Double(2 * GiB), available: 0, window: 30)
        #expect(trend.usedRate == 0)
    }

    @Test("used_rate and available_rate are figures rules can read")
    func rateVariables() throws {
        let config = try makeConfig(rules: [("growing", "used_rate > 5MiB/s", "actual + 256MiB")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        _ = engine.decide(&state, samples: [vm(config, actual: 6 * GiB, used: 1 * GiB, at: 0)], host: Self.roomyHost, now: 0)
        let round = engine.decide(
            &state, samples: [vm(config, actual: 6 * GiB, used: 1 * GiB + 100 * MiB, at: 10)], host: Self.roomyHost,
            now: 10)
        let decision = try #require(round.decisions.first)
        #expect(decision.reason == .rule("growing"))
        #expect(decision.figures.map(\.description).contains("used_rate=10 MiB/s"), "\(decision)")
    }

    @Test("a guest whose need rises is never shrunk, whatever the rule says")
    func risingBlocksShrink() throws {
        let config = try makeConfig(rules: [("reclaim", "available > 40% of actual", "used + 10% of used")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        // 8 GiB with 1 GiB used, then 1.2 GiB 10 s later: 20 MiB/s.
        _ = engine.decide(&state, samples: [vm(config, actual: 8 * GiB, used: 1 * GiB, at: 0)], host: Self.roomyHost, now: 0)
        let round = engine.decide(
            &state, samples: [vm(config, actual: 8 * GiB, used: 1 * GiB + 200 * MiB, at: 10)], host: Self.roomyHost, now: 10)
        let decision = try #require(round.decisions.first)
        #expect(decision.to == nil)
        #expect(decision.adjustments.contains(.shrinkBlockedRising(rate: Double(20 * MiB))), "\(decision)")
    }

    @Test("a shrink leaves the guest its use plus headroom, more while it grew lately")
    func headroomFloor() throws {
        let config = try makeConfig(
            defaults: "step = \"8GiB\"\nmin = \"256MiB\"\nheadroom = \"512MiB\"",
            rules: [("squeeze", "true", "used")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        warmUp(engine, &state, [vm(config, actual: 8 * GiB, used: 1 * GiB, at: 100)], now: 100)
        let flat = try #require(
            engine.decide(&state, samples: [vm(config, actual: 8 * GiB, used: 1 * GiB, at: 100)], host: Self.roomyHost, now: 100)
                .decisions.first)
        #expect(flat.to == 1 * GiB + 512 * MiB, "\(flat)")
        #expect(flat.adjustments.contains(.keptHeadroom(1 * GiB + 512 * MiB)))

        // A guest that grew 1 GiB in 10 s a while ago (102.4 MiB/s) keeps that rate times the reaction time (2 s
        // stats + 2 s interval + 1 s = 5 s) on top of what it uses, fading over minutes (half-life 5 min).
        let small = try makeConfig(
            defaults: "step = \"8GiB\"\nmin = \"256MiB\"\nheadroom = \"64MiB\"", rules: [("squeeze", "true", "used")])
        var grown = EngineState()
        var dry = DecisionEngine(config: small)
        dry.dryRun = true
        _ = dry.decide(&grown, samples: [vm(small, actual: 8 * GiB, used: 1 * GiB, at: 0)], host: Self.roomyHost, now: 0)
        _ = dry.decide(&grown, samples: [vm(small, actual: 8 * GiB, used: 2 * GiB, at: 10)], host: Self.roomyHost, now: 10)
        for now in stride(from: 50.0, through: 200, by: 50) {
            _ = dry.decide(&grown, samples: [vm(small, actual: 8 * GiB, used: 2 * GiB, at: now)], host: Self.roomyHost, now: now)
        }
        let decision = try #require(
            dry.decide(&grown, samples: [vm(small, actual: 8 * GiB, used: 2 * GiB, at: 210)], host: Self.roomyHost, now: 210)
                .decisions.first)
        let peak = Double(GiB) / 10 * exp2(-201.0 / 300)  // measured at the report of t = 9
        let expected = DecisionEngine.pageUp(Double(2 * GiB) + peak * 5)
        #expect(decision.to == expected, "\(decision)")
    }

    @Test("a report made while the balloon moves is not taken as the kernel's memory outside MemTotal")
    func outsideTotalOnlyWhileStill() throws {
        // QEMU throttles BALLOON_CHANGE to one a second: the `actual` the daemon holds can still be the old one
        // when the guest already reports its new, smaller total. Pairing them once made a 1 GiB phantom "kernel"
        // need, and the engine grew the guest straight back (the daemon test that reloads on SIGHUP saw it).
        let config = try makeConfig(
            defaults: "step = \"8GiB\"\nmin = \"256MiB\"\nheadroom = \"64MiB\"\npressure = \"major_faults_rate > 50\"",
            rules: [("squeeze", "true", "used")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        let outside = 64 * MiB
        func report(actual: UInt64, total: UInt64, at now: Double) -> VMSample {
            sample("web", config: config, actual: actual, stats: stats(total: total, available: total - 1 * GiB), at: now)
        }
        warmUp(engine, &state, [report(actual: 8 * GiB, total: 8 * GiB - outside, at: 100)], now: 100)
        let shrink = try #require(
            engine.decide(&state, samples: [report(actual: 8 * GiB, total: 8 * GiB - outside, at: 100)], host: Self.roomyHost, now: 100)
                .decisions.first)
        let target = try #require(shrink.to)
        #expect(target == 1 * GiB + outside + 200 * MiB, "use, the kernel's part, 40 MiB/s for 5 s: \(shrink)")
        // The guest inflated; its report says so, the `actual` held is still the old one.
        let lagging = engine.decide(
            &state, samples: [report(actual: 8 * GiB, total: target - outside, at: 102)], host: Self.roomyHost, now: 102)
        #expect(lagging.decisions.first?.to == nil, "\(lagging.decisions)")
        // `actual` catches up: the guest has what it needs; nothing grows it back.
        for now in [104.0, 106, 108] {
            let round = engine.decide(
                &state, samples: [report(actual: target, total: target - outside, at: now)], host: Self.roomyHost, now: now)
            #expect(round.decisions.first?.to == nil, "at \(now): \(round.decisions)")
        }
    }

    @Test("a shrink leaves the guest the most it used within peak_window plus headroom; after the window, its use now")
    func peakFloor() throws {
        func run(peakWindow: String) throws -> [Double: Decision] {
            let config = try makeConfig(
                defaults: "step = \"8GiB\"\nmin = \"256MiB\"\nheadroom = \"512MiB\"\npeak_window = \"\(peakWindow)\"",
                rules: [("squeeze", "true", "used")])
            var engine = DecisionEngine(config: config)
            engine.dryRun = true
            var state = EngineState()
            var decisions: [Double: Decision] = [:]
            // A batch job holds 3 GiB until t = 10, then frees it: 1 GiB used from t = 20 on.
            for now in [0.0, 10, 20, 40, 60, 100, 140, 200] {
                let used = now <= 10 ? 3 * GiB : 1 * GiB
                let round = engine.decide(
                    &state, samples: [vm(config, actual: 8 * GiB, used: used, at: now)], host: Self.roomyHost, now: now)
                decisions[now] = round.decisions.first
            }
            return decisions
        }
        let remembered = try run(peakWindow: "2m")
        let soon = try #require(remembered[60])
        #expect(soon.to == 3 * GiB + 512 * MiB, "\(soon)")
        #expect(soon.adjustments.contains(.keptPeak(3 * GiB + 512 * MiB, window: 120)), "\(soon)")
        #expect(soon.description.contains("the most it used in the last 2m plus headroom"), "\(soon)")
        // Two minutes after the peak it is forgotten: the use now plus headroom.
        let later = try #require(remembered[200])
        #expect(later.to == 1 * GiB + 512 * MiB, "\(later)")
        #expect(later.adjustments.contains(.keptHeadroom(1 * GiB + 512 * MiB)), "\(later)")
        // peak_window = "0s": only the use now counts.
        let forgetful = try #require(try run(peakWindow: "0s")[60])
        #expect(forgetful.to == 1 * GiB + 512 * MiB, "\(forgetful)")
    }

    @Test("the peak window keeps a bounded number of slices whatever the report rate")
    func peakSlicesAreBounded() {
        var trend = NeedTrend()
        for step in 0..<10_000 {
            let time = Double(step)
            trend.add(time: time, used: Double(step % 97) * Double(MiB), available: 0, window: 30, peakWindow: 3600)
        }
        #expect(trend.peakUsed == Double(96 * MiB))
        #expect(trend.sliceCount <= NeedTrend.peakSlices + 1)
    }

    @Test("a guest short of its headroom is grown at once: no cooldown, no step, no deadband")
    func headroomGrowth() throws {
        let config = try makeConfig(
            defaults: "step = \"128MiB\"\ngrow_step = \"128MiB\"\ncooldown = \"60s\"\nheadroom = \"1GiB\"\nmin = \"1GiB\"",
            rules: [("reclaim", "available > 40% of actual", "used + 10% of used")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        warmUp(engine, &state, [vm(config, actual: 4 * GiB, used: 1 * GiB, at: 0)], now: 0)
        #expect(engine.decide(&state, samples: [vm(config, actual: 4 * GiB, used: 1 * GiB, at: 0)], host: Self.roomyHost, now: 0)
            .decisions.first?.to == 4 * GiB - 128 * MiB)
        // 4 s later, in cooldown, the guest uses 3400 MiB of its 3968 (not under pressure: 14% available): it
        // gets its use plus headroom at once.
        let decision = try #require(
            engine.decide(&state, samples: [vm(config, actual: 4 * GiB - 128 * MiB, used: 3400 * MiB, at: 4)], host: Self.roomyHost, now: 4)
                .decisions.first)
        #expect(decision.reason == .headroom, "\(decision)")
        // Its use rose 2.3 GiB in 4 s: the room it keeps is that pace over the daemon's reaction time (5 s), more
        // than the configured 1 GiB, within its max.
        let to = try #require(decision.to)
        #expect(to >= 3400 * MiB + 1 * GiB && to <= 8 * GiB, "\(decision)")
        #expect(decision.adjustments.contains(.grownAtOnce))
        #expect(!decision.adjustments.contains { if case .cooldown = $0 { true } else { false } })
    }

    @Test("pressure within shrink_watch of a shrink undoes it at once; no shrink for pressure_hold after pressure")
    func shrinkWatchAndPressureHold() throws {
        let config = try makeConfig(
            defaults: "step = \"1GiB\"\ncooldown = \"30s\"\nheadroom = \"256MiB\"\nmin = \"1GiB\"\nshrink_watch = \"20s\"\npressure_hold = \"60s\"",
            rules: [("reclaim", "available > 40% of actual", "used + 10% of used")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        warmUp(engine, &state, [vm(config, actual: 6 * GiB, used: 1 * GiB, at: 0)], now: 0)
        let shrink = try #require(
            engine.decide(&state, samples: [vm(config, actual: 6 * GiB, used: 1 * GiB, at: 0)], host: Self.roomyHost, now: 0).decisions.first)
        #expect(shrink.to == 5 * GiB)
        // 6 s later the guest, at 5 GiB, uses 4.8 GiB: under pressure (available < 10%), inside the watch.
        let undone = try #require(
            engine.decide(&state, samples: [vm(config, actual: 5 * GiB, used: 4915 * MiB, at: 6)], host: Self.roomyHost, now: 6)
                .decisions.first)
        #expect(undone.reason == .shrinkUndone)
        #expect(undone.to == 8 * GiB, "its max at once, despite the 30 s cooldown")
        // It frees its memory again; for 60 s after the pressure it is not shrunk.
        _ = engine.decide(&state, samples: [vm(config, actual: 8 * GiB, used: 1 * GiB, at: 40)], host: Self.roomyHost, now: 40)
        let held = try #require(
            engine.decide(&state, samples: [vm(config, actual: 8 * GiB, used: 1 * GiB, at: 50)], host: Self.roomyHost, now: 50)
                .decisions.first)
        #expect(held.to == nil)
        #expect(held.adjustments.contains { if case .shrinkBlockedAfterPressure = $0 { true } else { false } }, "\(held)")
        let later = try #require(
            engine.decide(&state, samples: [vm(config, actual: 8 * GiB, used: 1 * GiB, at: 70)], host: Self.roomyHost, now: 70)
                .decisions.first)
        #expect(later.to == 7 * GiB, "\(later)")
    }

    @Test("a shrink never puts the guest under its own pressure condition")
    func keptOutOfPressure() throws {
        // Pressure at less than 40% available; headroom 256 MiB would leave a 1 GiB guest at 25%.
        let config = try makeConfig(
            defaults: "step = \"8GiB\"\nmin = \"256MiB\"\nheadroom = \"256MiB\"\npressure = \"available < 40% of actual\"",
            rules: [("squeeze", "true", "used")])
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        let samples = [vm(config, actual: 8 * GiB, used: 1 * GiB, at: 0)]
        warmUp(engine, &state, samples, now: 0)
        let decision = try #require(engine.decide(&state, samples: samples, host: Self.roomyHost, now: 0).decisions.first)
        let to = try #require(decision.to)
        #expect(decision.adjustments.contains(.keptOutOfPressure(to)), "\(decision)")
        // Where it goes, available (to - 1 GiB) is at least 40% of it.
        #expect(Double(to - 1 * GiB) >= 0.4 * Double(to))
    }

    @Test("the new settings are read and checked")
    func settings() throws {
        let config = try makeConfig(
            defaults: "headroom = \"20%\"\nneed_rising = \"512KiB/s\"\ntrend_window = \"1m\"\nshrink_watch = \"45s\"\npressure_hold = \"5m\"\npeak_window = \"10m\"",
            host: "reserve = \"4GiB\"\nhard_reserve = \"1GiB\"")
        let limits = config.vms[0].settings.resolve(ramBytes: 10 * GiB)
        #expect(limits.headroom == 2 * GiB)
        #expect(limits.needRising == Double(512 << 10))
        #expect(limits.trendWindow == 60)
        #expect(limits.shrinkWatch == 45)
        #expect(limits.pressureHold == 300)
        #expect(limits.peakWindow == 600)
        #expect(VMSettings().resolve(ramBytes: GiB).peakWindow == 300, "5 minutes by default")
        #expect(config.host.hardReserve == .bytes(1 * GiB))
        #expect(configError("[defaults]\nneed_rising = \"fast\"\n[[vm]]\nqmp = \"/a.qmp\"\n").contains("need_rising: must be a rate like \"1MiB/s\""))
        #expect(configError("[host]\nreserve = \"1GiB\"\nhard_reserve = \"2GiB\"\n[[vm]]\nqmp = \"/a.qmp\"\n").contains("hard_reserve: must not be above reserve"))
        #expect(configError("[defaults]\ntrend_window = \"1s\"\n[[vm]]\nqmp = \"/a.qmp\"\n").contains("trend_window: must be from 2s to 1h"))
        #expect(configError("[defaults]\npeak_window = \"2d\"\n[[vm]]\nqmp = \"/a.qmp\"\n").contains("peak_window"))
        #expect(configError("[defaults]\npeak_window = \"25h\"\n[[vm]]\nqmp = \"/a.qmp\"\n").contains("peak_window: must be at most 24h"))
        // Small guests keep at least 64 MiB.
        #expect(config.vms[0].settings.resolve(ramBytes: 256 * MiB).headroom == 64 * MiB)
    }
}
