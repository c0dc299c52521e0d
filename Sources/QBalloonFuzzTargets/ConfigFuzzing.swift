import QBalloonCore
import QBalloonRules

/// Arbitrary bytes as a config file. A config is either refused with at least one error, each with a message,
/// or it loads; one that loads must also summarise and run: a few rounds of the decision engine over one VM
/// per `[[vm]]` entry, through plenty, pressure and a stalled inflation.
enum ConfigFuzzing {
    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let config: QBalloonConfig
        do {
            config = try QBalloonConfig.parse(text, file: "fuzz.toml")
        } catch {
            check(!error.errors.isEmpty, "refused without an error")
            for problem in error.errors {
                check(!problem.message.isEmpty, "an error without a message")
                check(problem.line >= 0 && problem.column >= 0, "an error at line \(problem.line), column \(problem.column)")
                _ = problem.description
            }
            return
        }
        _ = config.summary
        runEngine(config)
    }

    static func runEngine(_ config: QBalloonConfig) {
        let engine = DecisionEngine(config: config)
        var state = EngineState()
        let gib: UInt64 = 1 << 30
        let ram = 4 * gib
        let host = HostSample(total: 16 * gib, available: 2 * gib, free: gib, swapTotal: 0, swapFree: 0)
        // (actual, available) per round: plenty free, then pressure, then the balloon stuck where it was.
        let rounds: [(UInt64, UInt64)] = [(ram, 3 * gib), (3 * gib, 2 * gib), (3 * gib, 64 << 20), (3 * gib, 64 << 20)]
        for (round, (actual, available)) in rounds.enumerated() {
            let now = 1_700_000_000 + Double(round) * config.daemon.interval.seconds
            let samples = config.vms.enumerated().map { index, vm in
                let stats = GuestStats(
                    swapIn: 0, swapOut: 0, majorFaults: UInt64(round * 100), minorFaults: 0, free: available / 2,
                    total: actual - 64 << 20, available: available, diskCaches: available / 4,
                    lastUpdate: Int64(now) - 1)
                return VMSample(name: vm.name ?? "vm\(index)", settings: vm.settings, actual: actual, ram: ram, stats: stats)
            }
            let decided = engine.decide(&state, samples: samples, host: host, now: now)
            for decision in decided.decisions { _ = decision.description }
        }
    }
}
