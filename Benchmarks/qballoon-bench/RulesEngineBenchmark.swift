import Foundation
import QBalloonRules

/// One decision round of the rules engine for a fleet of VMs (1000 × 10 rules by default), timed over many
/// rounds after a warm-up. The fleet keeps the host below its reserve so the arbiter works every round.
struct RulesEngineBenchmark {
    var vms = 1000
    var rules = 10
    var warmUp = 50
    var rounds = 400

    func run() -> Samples {
        var fleet = RulesBenchmark.makeFleet(vms: vms, rules: rules)
        for _ in 0..<warmUp { _ = fleet.round() }
        var samples = Samples()
        var decided = 0
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            let round = fleet.round()
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            decided += round.decisions.count  // keeps the round from being optimized away
            samples.append(elapsed)
        }
        precondition(decided > 0, "the engine decided nothing")
        return samples
    }
}
