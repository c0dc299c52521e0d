/// What one config did to a set of traces in the simulator: per VM a timeline and its short and out-of-memory
/// episodes, the host's timeline, and the summary figures `qballoon simulate` prints. Plain values: the report
/// (``SimulationReport``) and the JSON output are made from these alone.
///
/// Sizes are bytes; times are Unix seconds of the traces' own clock (the first trace's start is the run's start).
public struct SimulationRun: Sendable, Hashable {
    /// The config as the user named it (its path).
    public var config: String
    public var start: Double
    public var end: Double
    /// The simulated host's MemTotal, and the memory its own processes use (not the VMs').
    public var hostTotal: UInt64
    public var hostUse: UInt64
    /// The host reserve in bytes, as the engine resolved it.
    public var reserve: UInt64
    public var vms: [VMRun]
    public var host: HostTimeline
    public var figures: SimulationFigures
    /// Every decision that changed a balloon, in order (kept only when asked: ``Simulation/Options/keepDecisions``).
    public var decisions: [SimulatedDecision]
    /// What the config cannot keep on this host, said before the figures (``Simulation/warnings(config:guests:options:)``).
    public var warnings: [String] = []

    public init(
        config: String, start: Double, end: Double, hostTotal: UInt64, hostUse: UInt64, reserve: UInt64, vms: [VMRun],
        host: HostTimeline, figures: SimulationFigures, decisions: [SimulatedDecision] = [], warnings: [String] = []
    ) {
        self.warnings = warnings
        self.config = config
        self.start = start
        self.end = end
        self.hostTotal = hostTotal
        self.hostUse = hostUse
        self.reserve = reserve
        self.vms = vms
        self.host = host
        self.figures = figures
        self.decisions = decisions
    }
}

/// One VM over the run.
public struct VMRun: Sendable, Hashable {
    public var name: String
    /// Its RAM: the most it can have.
    public var ram: UInt64
    /// Its max and min as the config resolved them.
    public var max: UInt64
    public var min: UInt64
    public var timeline: Timeline
    /// The intervals when the guest was short: what it could still use without swapping (its available memory)
    /// below a tenth of what it had.
    public var short: [Episode]
    /// The intervals when what it needed did not fit in what it had: a real guest without swap meets its OOM killer.
    public var outOfMemory: [Episode]
    public var figures: VMFigures

    public init(
        name: String, ram: UInt64, max: UInt64, min: UInt64, timeline: Timeline, short: [Episode],
        outOfMemory: [Episode], figures: VMFigures
    ) {
        self.name = name
        self.ram = ram
        self.max = max
        self.min = min
        self.timeline = timeline
        self.short = short
        self.outOfMemory = outOfMemory
        self.figures = figures
    }
}

/// A VM's figures over time, one point per bucket of the run (at most ``Timeline/maxPoints``): for each bucket,
/// the balloon's `actual` and target at its end, the most the guest needed and the least it had available within it.
public struct Timeline: Sendable, Hashable {
    /// The most points a timeline keeps, whatever the run's length.
    public static let maxPoints = 1440

    /// The end of each bucket.
    public var times: [Double] = []
    public var actual: [UInt64] = []
    public var target: [UInt64] = []
    public var need: [UInt64] = []
    public var available: [UInt64] = []

    public init() {}

    public init(times: [Double], actual: [UInt64], target: [UInt64], need: [UInt64], available: [UInt64]) {
        self.times = times
        self.actual = actual
        self.target = target
        self.need = need
        self.available = available
    }
}

/// An interval of a VM's run: when it started and ended, and how bad it got (the most needed above what the guest
/// had, for an out-of-memory episode; the least available, for a short one).
public struct Episode: Sendable, Hashable {
    public var start: Double
    public var end: Double
    public var worst: UInt64

    public init(start: Double, end: Double, worst: UInt64) {
        self.start = start
        self.end = end
        self.worst = worst
    }

    public var seconds: Double { end - start }
}

/// The host over the run, one point per bucket as in ``Timeline``.
public struct HostTimeline: Sendable, Hashable {
    public var times: [Double] = []
    /// The host's MemAvailable at the end of each bucket.
    public var available: [UInt64] = []
    /// The memory the balloons held back from the guests (their RAM minus their `actual`, summed).
    public var returned: [UInt64] = []

    public init() {}

    public init(times: [Double], available: [UInt64], returned: [UInt64]) {
        self.times = times
        self.available = available
        self.returned = returned
    }
}

/// One VM's summary figures.
public struct VMFigures: Sendable, Hashable {
    /// RAM minus `actual`, averaged over the run, and the least of it after the warm-up.
    public var returnedMean: Double
    public var returnedLeast: UInt64
    public var shortSeconds: Double
    public var outOfMemoryEvents: Int
    public var outOfMemorySeconds: Double
    public var changes: Int

    public init(
        returnedMean: Double, returnedLeast: UInt64, shortSeconds: Double, outOfMemoryEvents: Int,
        outOfMemorySeconds: Double, changes: Int
    ) {
        self.returnedMean = returnedMean
        self.returnedLeast = returnedLeast
        self.shortSeconds = shortSeconds
        self.outOfMemoryEvents = outOfMemoryEvents
        self.outOfMemorySeconds = outOfMemorySeconds
        self.changes = changes
    }
}

/// The figures `qballoon simulate` prints for a config, over every VM.
public struct SimulationFigures: Sendable, Hashable {
    /// The memory returned to the host (the VMs' RAM minus their `actual`, summed), averaged over the run.
    public var returnedMean: Double
    /// The least returned at any moment of the run after its warm-up (five minutes, or a tenth of a shorter run:
    /// every guest starts with all its RAM, as when the daemon starts).
    public var returnedLeast: UInt64
    /// The time the guests spent short, summed over the VMs.
    public var shortSeconds: Double
    /// Would-be OOM events: episodes of a guest needing more than it had.
    public var outOfMemoryEvents: Int
    public var outOfMemorySeconds: Double
    /// Balloon changes per VM per hour of the run.
    public var changesPerVMHour: Double
    /// From a guest going short to its balloon giving it memory back, over the episodes in which it got some:
    /// the median and the 99th percentile, in seconds (nil when no episode had memory given back).
    public var memoryBackP50: Double?
    public var memoryBackP99: Double?
    /// Short episodes that ended with no memory given back (the guest was at its max, or its need fell by itself).
    public var shortWithoutMemoryBack: Int
    public var vmHours: Double
    /// The time the guests held more than the host has for them (its memory less its own use), after the warm-up: a
    /// real host swaps then, or its OOM killer acts. The simulated host's MemAvailable reads 0 meanwhile.
    public var hostOvercommittedSeconds: Double

    public init(
        returnedMean: Double, returnedLeast: UInt64, shortSeconds: Double, outOfMemoryEvents: Int,
        outOfMemorySeconds: Double, changesPerVMHour: Double, memoryBackP50: Double?, memoryBackP99: Double?,
        shortWithoutMemoryBack: Int, vmHours: Double, hostOvercommittedSeconds: Double = 0
    ) {
        self.hostOvercommittedSeconds = hostOvercommittedSeconds
        self.returnedMean = returnedMean
        self.returnedLeast = returnedLeast
        self.shortSeconds = shortSeconds
        self.outOfMemoryEvents = outOfMemoryEvents
        self.outOfMemorySeconds = outOfMemorySeconds
        self.changesPerVMHour = changesPerVMHour
        self.memoryBackP50 = memoryBackP50
        self.memoryBackP99 = memoryBackP99
        self.shortWithoutMemoryBack = shortWithoutMemoryBack
        self.vmHours = vmHours
    }
}

/// A decision of the simulated daemon that changed a balloon: the same fields the decision log has.
public struct SimulatedDecision: Sendable, Hashable {
    public var time: Double
    public var vm: String
    public var from: UInt64
    public var to: UInt64
    /// The reason as the decision log writes it.
    public var reason: String
    public var rule: String?
    /// The decision in one line, as the daemon logs it (`db: 4 GiB -> 3.75 GiB, rule "idle" wanted ...; step: ...`).
    public var text: String

    public init(time: Double, vm: String, from: UInt64, to: UInt64, reason: String, rule: String?, text: String = "") {
        self.time = time
        self.vm = vm
        self.from = from
        self.to = to
        self.reason = reason
        self.rule = rule
        self.text = text
    }
}
