import QBalloonCore

/// The pure decision engine: `(state, samples, host, now) -> (state, decisions)`, with no I/O and the clock
/// passed in, so a recorded run replays exactly.
///
/// Each interval, for each VM: the first rule (in file order) whose `when` holds gives the desired target
/// via `set`; then the safety envelope, which no rule can break (clamp to `[min, max]`, at most `step` per
/// interval, a deadband, `cooldown`, never shrink a guest whose statistics are missing or stale or that is
/// under pressure, never push an inflation that is moving or has stalled, give room back at once after a
/// stall); then the host arbiter (growth never takes the host below its reserve, pressured guests first,
/// by shares; below the reserve, idle memory is taken back first, by shares with an idle-memory tax).
///
/// ```swift
/// let engine = DecisionEngine(config: config)
/// var state = EngineState()
/// let round = engine.decide(&state, samples: samples, host: HostSample.read(), now: now)
/// for decision in round.decisions where decision.changes { ... set decision.to! ... }
/// ```
public struct DecisionEngine: Sendable {
    public var rules: [Rule] { program.rules }
    /// Statistics older than this (seconds) are stale.
    public var staleAfter: Double
    /// The host reserve; a percentage is of the host's MemTotal.
    public var reserve: MemorySize
    /// The idle-memory tax, 0 ≤ tax < 1.
    public var idleTax: Double
    /// How far growth for a guest that needs memory may take the host into the reserve; nil: half the reserve.
    public var hardReserve: MemorySize?
    /// Seconds from a guest's need rising to the daemon's growth reaching it: a statistics period, a decision
    /// interval and a second for the balloon. The headroom a shrink leaves covers the guest's recent growth rate
    /// over this long.
    public var reactionTime: Double
    /// Decide, but remember no target as sent (the daemon sends nothing).
    public var dryRun: Bool
    /// The compiled rules and pressure conditions, shared: copying the engine copies one reference.
    let program: Program

    /// The rules and pressure conditions flattened so the hot loop touches closures only (reading a `Rule`
    /// out of an array would retain every field of it).
    final class Program: Sendable {
        let rules: [Rule]
        let frameSize: Int
        let ruleNames: [String]
        let whens: [CompiledExpression.Evaluate]
        let sets: [CompiledExpression.Evaluate]
        let ruleHeld: [[HeldCondition]]
        /// The figures each rule's explanation shows (those its `when` and `set` read).
        let ruleFigures: [[Variable]]
        let pressureConditions: [CompiledExpression.Evaluate]
        let pressureHeld: [[HeldCondition]]
        let pressureFigures: [[Variable]]
        /// Identifies the rules and pressure conditions as written: per-VM rule history (`for` timers, which
        /// rules apply) carries over a reload only to an engine with the same signature.
        let signature: Int

        init(config: QBalloonConfig) {
            var hasher = Hasher()
            for rule in config.rules {
                hasher.combine(rule.name)
                hasher.combine(rule.vms)
                hasher.combine(rule.when.source)
                hasher.combine(rule.set.source)
            }
            for pressure in config.pressures { hasher.combine(pressure.source) }
            signature = hasher.finalize()
            rules = config.rules
            frameSize = config.frameSize
            ruleNames = config.rules.map(\.name)
            whens = config.rules.map(\.when.evaluate)
            sets = config.rules.map(\.set.evaluate)
            ruleHeld = config.rules.map { $0.when.heldConditions + $0.set.heldConditions }
            ruleFigures = config.rules.map { rule in
                var figures = rule.when.variables
                for variable in rule.set.variables where !figures.contains(variable) { figures.append(variable) }
                return figures.filter { $0 != .pressure }
            }
            pressureConditions = config.pressures.map(\.evaluate)
            pressureHeld = config.pressures.map(\.heldConditions)
            pressureFigures = config.pressures.map(\.variables)
        }
    }

    /// A VM not seen for this long (seconds) is forgotten.
    static let forgetAfter = 600.0
    /// A balloon within a page of its target has reached it.
    static let page: UInt64 = 4096

    public init(config: QBalloonConfig) {
        self.program = Program(config: config)
        self.staleAfter = config.daemon.staleAfter.seconds
        self.reserve = config.host.reserve
        self.idleTax = config.host.idleTax
        self.hardReserve = config.host.hardReserve
        self.reactionTime = config.daemon.statsInterval.seconds + config.daemon.interval.seconds + 1
        self.dryRun = config.daemon.dryRun
    }

    /// The same decision as a pure function of the previous state.
    public func decide(
        state: EngineState, samples: [VMSample], host: HostSample, now: Double
    ) -> (EngineState, DecisionRound) {
        var next = state
        let round = decide(&next, samples: samples, host: host, now: now)
        return (next, round)
    }

    /// Decides one interval, updating `state` in place (no copies of the per-VM memory).
    /// - Parameters:
    ///   - samples: every VM the daemon follows; one it could not read, or whose guest never reported, is left alone.
    ///   - host: the host's memory now.
    ///   - now: the time in seconds (Unix time, so statistics ages line up; any clock in tests).
    public func decide(
        _ state: inout EngineState, samples: [VMSample], host: HostSample, now: Double
    ) -> DecisionRound {
        let (reserveBytes, hardReserveBytes) = reserves(hostTotal: host.total)
        var plans: [Plan] = []
        plans.reserveCapacity(samples.count)
        let program = self.program
        var slots: [Int] = []
        slots.reserveCapacity(samples.count)
        for index in samples.indices { slots.append(state.slot(for: samples[index].name, program: program)) }
        var verdicts: [VMVerdict] = []
        verdicts.reserveCapacity(samples.count)
        let staleAfter = self.staleAfter
        withUnsafeTemporaryAllocation(of: Double.self, capacity: program.frameSize) { frame in
            frame.initialize(repeating: .nan)
            fillHost(frame, host: host, reserve: reserveBytes)
            for index in samples.indices {
                // The one place staleness is judged: the plan, the verdict and everything shown from it agree.
                let freshness = StatsFreshness(samples[index].stats, now: now, staleAfter: staleAfter)
                var verdict = VMVerdict(stats: freshness)
                if let plan = plan(
                    for: samples[index], index: index, freshness: freshness, vm: &state.slots[slots[index]],
                    frame: frame, now: now, program: program, verdict: &verdict)
                {
                    plans.append(plan)
                }
                verdicts.append(verdict)
            }
        }
        let budget = arbitrate(&plans, host: host, reserve: reserveBytes, hardReserve: hardReserveBytes)
        var decisions: [Decision] = []
        decisions.reserveCapacity(plans.count)
        for index in plans.indices {
            let sampleIndex = plans[index].index
            if let decision = finalize(&plans[index], sample: samples[sampleIndex], vm: &state.slots[slots[sampleIndex]], now: now) {
                decisions.append(decision)
            }
        }
        if state.slots.count > samples.count { state.forget(notSeenSince: now - Self.forgetAfter) }
        return DecisionRound(decisions: decisions, verdicts: verdicts, host: budget)
    }

    /// The host reserve and the hard reserve in bytes on a host of `hostTotal` bytes (nil: unknown). A reserve in
    /// bytes may be written larger than the host (up to UInt64.max, past the arbiter's signed sums): it keeps all of
    /// the host's memory.
    public func reserves(hostTotal: UInt64?) -> (reserve: UInt64, hard: UInt64) {
        let reserveBytes = Swift.min(reserve.bytes(ofMax: hostTotal ?? 0), hostTotal ?? .max)
        return (reserveBytes, Swift.min(hardReserve?.bytes(ofMax: hostTotal ?? 0) ?? reserveBytes / 2, reserveBytes))
    }

    private func fillHost(_ frame: UnsafeMutableBufferPointer<Double>, host: HostSample, reserve: UInt64) {
        func set(_ variable: Variable, _ value: UInt64?) { frame[variable.rawValue] = value.map { Double($0) } ?? .nan }
        set(.hostTotal, host.total)
        set(.hostAvailable, host.available)
        set(.hostFree, host.free)
        set(.hostSwapTotal, host.swapTotal)
        set(.hostSwapFree, host.swapFree)
        set(.hostReserve, reserve)
        frame[Variable.hostPSISomeAvg10.rawValue] = host.pressure?.someAvg10 ?? .nan
        frame[Variable.hostPSISomeAvg60.rawValue] = host.pressure?.someAvg60 ?? .nan
        frame[Variable.hostPSIFullAvg10.rawValue] = host.pressure?.fullAvg10 ?? .nan
        frame[Variable.hostPSIFullAvg60.rawValue] = host.pressure?.fullAvg60 ?? .nan
    }
}

/// One VM's plan for the interval, between the rules and the arbiter.
struct Plan {
    let index: Int
    let actual: UInt64
    let limits: VMLimits
    /// The proposed target (`actual`: no change).
    var target: UInt64
    /// The envelope's bounds this interval: the arbiter stays inside them.
    var low: UInt64
    var high: UInt64
    var wanted: UInt64?
    var reason: Decision.Reason?
    var figures: [Figure] = []
    var adjustments: [Adjustment] = []
    var pressured: Bool
    var safety = false
    /// Pinned by the operator: the arbiter counts its target as fixed, and finalize sends it unless the balloon is
    /// there or heading there already.
    var pinned = false
    /// Growth for a guest that needs memory (pressure, headroom): no cooldown, deadband or step, served first.
    var urgent = false
    /// The guest's use plus its headroom: below it, the guest is grown at once (nil: its use is unknown).
    var needFloor: UInt64?
    /// The most the guest used within `peak_window`, plus its headroom (at least ``needFloor``): no shrink goes
    /// below it.
    var shrinkFloor: UInt64?
    /// Whether the arbiter may take memory from this VM for the host reserve.
    var canGiveToHost = false
    /// Whether it may when a guest that needs memory is being fed (as ``canGiveToHost``, cooldown aside), and how
    /// low (``low`` without the step and cooldown).
    var canFeed = false
    var feedLow: UInt64 = 0
    /// Guest memory in use (bytes), NaN if unknown.
    var used: Double
    /// Memory still to come back from an inflation under way, or to go out for a deflation under way.
    var pendingReclaim: UInt64 = 0
    var pendingGrowth: UInt64 = 0
    var movingTo: UInt64?
}
