import QBalloonCore
import QBalloonRules

/// A synthetic fleet for timing the engine: `vms` VMs under `rules` rules (with `for`, rates, `of`, `min`/`max`),
/// half of them idle, a few under pressure, the host near its reserve so the arbiter works too.
///
/// ```swift
/// var fleet = RulesBenchmark.makeFleet(vms: 1000, rules: 10)
/// for _ in 0..<100 { _ = fleet.round() }     // time this
/// ```
enum RulesBenchmark {
    struct Fleet: Sendable {
        let engine: DecisionEngine
        var state: EngineState
        var samples: [VMSample]
        var host: HostSample
        var now: Double

        /// One decision round, `interval` seconds after the last.
        mutating func round(interval: Double = 2) -> DecisionRound {
            now += interval
            return engine.decide(&state, samples: samples, host: host, now: now)
        }
    }

    /// The config text the fleet runs: `rules` rules, the last one reclaiming idle memory.
    static func configText(rules: Int) -> String {
        var text = """
            [daemon]
            interval = "2s"
            [host]
            reserve = "8GiB"
            [defaults]
            min = "25%"
            step = "128MiB"
            cooldown = "4s"
            [[vm]]
            qmp = "/run/qemu/*.qmp"

            """
        for index in 0..<max(rules - 1, 0) {
            text += """
                [[rule]]
                name = "short \(index)"
                when = "available < \(3 + index % 5)% of actual and swap_in_rate > \(index + 1)MiB/s or major_faults_rate > \(500 + index) for 10s"
                set = "min(actual + \(10 + index)% of actual, max)"

                """
        }
        text += """
            [[rule]]
            name = "reclaim idle memory"
            when = "available > 40% of actual for 8s and stats_age < 10s"
            set = "max(used + 30% of used, 1GiB)"

            """
        return text
    }

    static func makeFleet(vms: Int = 1000, rules: Int = 10, seed: UInt64 = 1) -> Fleet {
        let config = try! QBalloonConfig.parse(configText(rules: rules), file: "benchmark.toml")
        let settings = config.vms[0].settings
        var random = seed
        func next() -> UInt64 {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return random >> 33
        }
        let now = 1_700_000_000.0
        var samples: [VMSample] = []
        var totalActual: UInt64 = 0
        for index in 0..<vms {
            let ram = UInt64(2 + next() % 15) << 30
            let actual = ram - (next() % 4) * (128 << 20)
            let idle = index % 2 == 0
            let available = idle ? actual / 2 + (next() % 256) << 20 : actual / 20 + (next() % 64) << 20
            let stats = GuestStats(
                swapIn: next() % 1000 << 12, swapOut: next() % 1000 << 12, majorFaults: next() % 10000,
                minorFaults: next() % 1_000_000, free: available / 2, total: actual, available: available,
                diskCaches: available / 3, lastUpdate: Int64(now) - 1)
            samples.append(
                VMSample(name: "vm\(index)", settings: settings, actual: actual, ram: ram, stats: stats))
            totalActual += actual
        }
        let host = HostSample(
            total: totalActual + (64 << 30), available: 7 << 30, free: 4 << 30, swapTotal: 8 << 30,
            swapFree: 8 << 30, pressure: MemoryPressure(someAvg10: 1.5, someAvg60: 1, fullAvg10: 0.2, fullAvg60: 0.1))
        return Fleet(engine: DecisionEngine(config: config), state: EngineState(), samples: samples, host: host, now: now)
    }
}
