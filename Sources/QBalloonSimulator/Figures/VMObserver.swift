import QBalloonFakeQMP

/// Watches one simulated guest over a run, a look every sample step, and makes its timeline, episodes and figures:
/// plain arithmetic on what the guest model says, no clock of its own.
///
/// - Short: the guest's available memory (free plus page cache) is under a tenth of what it has (`actual`), as the
///   default pressure condition says.
/// - Out of memory: what it needs does not fit in what it has (the guest model swaps the rest out; a real guest
///   without swap meets its OOM killer). Its worst is the most that did not fit.
/// - Memory back: from the first look at which a short episode was seen to the first at which the guest had more
///   than at that start.
/// - The least returned: every guest starts with all its RAM, as when the daemon starts, so the least is taken after
///   a warm-up (``warmUp(duration:)``).
struct VMObserver {
    let ram: UInt64
    let bucketSeconds: Double
    /// From when the least returned counts.
    let leastFrom: Double
    private(set) var timeline = Timeline()
    private(set) var short: [Episode] = []
    private(set) var outOfMemory: [Episode] = []
    /// Seconds from going short to getting memory back, one per short episode that got some.
    private(set) var memoryBack: [Double] = []
    private(set) var shortWithoutMemoryBack = 0
    private(set) var changes = 0

    private var bucketEnd: Double
    private var bucketNeed: UInt64 = 0
    private var bucketAvailable: UInt64 = .max
    private var returnedSum = 0.0
    private var observedSeconds = 0.0
    private(set) var returnedLeast: UInt64 = .max
    private var openShort: (start: Double, worst: UInt64, actual: UInt64, back: Bool)?
    private var openOutOfMemory: (start: Double, worst: UInt64)?

    init(ram: UInt64, start: Double, bucketSeconds: Double, leastFrom: Double) {
        self.ram = ram
        self.bucketSeconds = bucketSeconds
        self.bucketEnd = start + bucketSeconds
        self.leastFrom = leastFrom
    }

    /// The warm-up before the least returned counts: five minutes, or a tenth of a shorter run.
    static func warmUp(duration: Double) -> Double { min(300, duration / 10) }

    mutating func countChange() { changes += 1 }

    /// One look at the guest at `time`, standing for the `seconds` before it.
    mutating func observe(_ guest: FakeGuestState, at time: Double, seconds: Double) {
        let returned = ram > guest.actual ? ram - guest.actual : 0
        returnedSum += Double(returned) * seconds
        observedSeconds += seconds
        if time >= leastFrom { returnedLeast = min(returnedLeast, returned) }

        let isShort = guest.available < guest.actual / 10
        if isShort {
            if var open = openShort {
                open.worst = min(open.worst, guest.available)
                if !open.back, guest.actual >= open.actual &+ FakeGuest.pageSize {
                    open.back = true
                    memoryBack.append(time - open.start)
                }
                openShort = open
            } else {
                openShort = (time, guest.available, guest.actual, false)
            }
        } else if let open = openShort {
            short.append(Episode(start: open.start, end: time, worst: open.worst))
            if !open.back {
                // It got memory back at the look that ended the episode, or never did.
                if guest.actual >= open.actual &+ FakeGuest.pageSize {
                    memoryBack.append(time - open.start)
                } else {
                    shortWithoutMemoryBack += 1
                }
            }
            openShort = nil
        }
        if guest.isUnderPressure {
            if var open = openOutOfMemory {
                open.worst = max(open.worst, guest.swapped)
                openOutOfMemory = open
            } else {
                openOutOfMemory = (time, guest.swapped)
            }
        } else if let open = openOutOfMemory {
            outOfMemory.append(Episode(start: open.start, end: time, worst: open.worst))
            openOutOfMemory = nil
        }

        bucketNeed = max(bucketNeed, guest.floor)
        bucketAvailable = min(bucketAvailable, guest.available)
        if time >= bucketEnd - 1e-9 {
            timeline.times.append(time)
            timeline.actual.append(guest.actual)
            timeline.target.append(guest.target)
            timeline.need.append(bucketNeed)
            timeline.available.append(bucketAvailable)
            bucketNeed = 0
            bucketAvailable = .max
            bucketEnd += bucketSeconds
            if bucketEnd <= time { bucketEnd = time + bucketSeconds }
        }
    }

    /// Closes the episodes still open at the end of the run.
    mutating func finish(at end: Double) {
        if let open = openShort {
            short.append(Episode(start: open.start, end: end, worst: open.worst))
            if !open.back { shortWithoutMemoryBack += 1 }
            openShort = nil
        }
        if let open = openOutOfMemory {
            outOfMemory.append(Episode(start: open.start, end: end, worst: open.worst))
            openOutOfMemory = nil
        }
    }

    var figures: VMFigures {
        VMFigures(
            returnedMean: observedSeconds > 0 ? returnedSum / observedSeconds : 0,
            returnedLeast: returnedLeast == .max ? 0 : returnedLeast,
            shortSeconds: short.reduce(0) { $0 + $1.seconds }, outOfMemoryEvents: outOfMemory.count,
            outOfMemorySeconds: outOfMemory.reduce(0) { $0 + $1.seconds }, changes: changes)
    }
}

/// The host's side of the same looks: its available memory and what the balloons returned, in buckets.
struct HostObserver {
    let bucketSeconds: Double
    let leastFrom: Double
    private(set) var timeline = HostTimeline()
    private var bucketEnd: Double
    private var bucketAvailable: UInt64 = .max
    private var returnedSum = 0.0
    private var observedSeconds = 0.0
    private(set) var returnedLeast: UInt64 = .max

    init(start: Double, bucketSeconds: Double, leastFrom: Double) {
        self.bucketSeconds = bucketSeconds
        self.bucketEnd = start + bucketSeconds
        self.leastFrom = leastFrom
    }

    /// Seconds the guests held more than the host has for them (a real host swaps, or its OOM killer acts), after the
    /// warm-up (every guest starts with all its RAM).
    private(set) var overcommittedSeconds = 0.0

    mutating func observe(available: UInt64, overcommitted: Bool, returned: UInt64, at time: Double, seconds: Double) {
        if overcommitted, time >= leastFrom { overcommittedSeconds += seconds }
        returnedSum += Double(returned) * seconds
        observedSeconds += seconds
        if time >= leastFrom { returnedLeast = min(returnedLeast, returned) }
        bucketAvailable = min(bucketAvailable, available)
        if time >= bucketEnd - 1e-9 {
            timeline.times.append(time)
            timeline.available.append(bucketAvailable)
            timeline.returned.append(returned)
            bucketAvailable = .max
            bucketEnd += bucketSeconds
            if bucketEnd <= time { bucketEnd = time + bucketSeconds }
        }
    }

    var returnedMean: Double { observedSeconds > 0 ? returnedSum / observedSeconds : 0 }
}

extension SimulationFigures {
    /// The run's figures from its VMs' and its host's.
    init(vms: [VMObserver], host: HostObserver, seconds: Double) {
        let vmHours = Double(vms.count) * seconds / 3600
        var back = vms.flatMap(\.memoryBack)
        back.sort()
        self.init(
            returnedMean: host.returnedMean, returnedLeast: host.returnedLeast == .max ? 0 : host.returnedLeast,
            shortSeconds: vms.reduce(0) { $0 + $1.figures.shortSeconds },
            outOfMemoryEvents: vms.reduce(0) { $0 + $1.outOfMemory.count },
            outOfMemorySeconds: vms.reduce(0) { $0 + $1.figures.outOfMemorySeconds },
            changesPerVMHour: vmHours > 0 ? Double(vms.reduce(0) { $0 + $1.changes }) / vmHours : 0,
            memoryBackP50: Self.percentile(back, 0.50), memoryBackP99: Self.percentile(back, 0.99),
            shortWithoutMemoryBack: vms.reduce(0) { $0 + $1.shortWithoutMemoryBack }, vmHours: vmHours,
            hostOvercommittedSeconds: host.overcommittedSeconds)
    }

    /// The nearest-rank percentile of sorted values (nil for none).
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }
}
