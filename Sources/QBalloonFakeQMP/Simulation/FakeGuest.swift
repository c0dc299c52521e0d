import QBalloonCore

/// The simulated guest behind a fake balloon device, as a plain value: no clock, no I/O. Every call takes
/// the time it happens at (seconds since the Unix epoch) and the guest catches up to it, so nothing ticks
/// while nobody looks.
///
/// The model:
/// - The guest has `actual` bytes (RAM minus the balloon), of which its kernel keeps `kernelReserved` outside
///   MemTotal (`stat-total-memory` is `actual` minus it). Its workload uses `used(t)`; kernel memory
///   (`unfreeable`) and shmem cannot be freed; page cache fills what is left, up to `cache`.
/// - `actual` moves toward the balloon target at `speed` bytes per second. Shrinking stops at the floor
///   `used + unfreeable + shmem + kernelReserved` (the driver cannot allocate more pages: inflation stalls) and goes on if
///   the floor drops. The balloon never gives memory back by itself.
/// - When the workload needs more than fits, the rest is swapped out: the guest is under pressure, free and
///   available memory are 0, and swap-in, swap-out and major faults rise as it thrashes.
/// - Statistics are reported when polling is on, every interval from the moment it was set (plus once at
///   start when the scenario says so, like Linux's driver). `qom-get` shows the last report.
///
/// ```swift
/// var guest = FakeGuest(scenario: .idle, startTime: 0)
/// guest.setTarget(1 << 30, at: 0)
/// guest.advance(to: 2)
/// guest.actual   // 2 GiB - 2 s × 256 MiB/s
/// ```
public struct FakeGuest: Sendable {
    /// The guest's page size: the balloon moves in pages.
    public static let pageSize: UInt64 = 4096
    /// The longest step of the simulation, in seconds.
    static let maxStep = 0.1

    public let scenario: FakeGuestScenario
    /// When the guest started (the scenario's time 0), in seconds since the Unix epoch.
    public let startTime: Double
    /// The time the guest has been simulated up to.
    public private(set) var time: Double
    /// The target, clamped to RAM and rounded to whole balloon pages as QEMU does.
    public private(set) var target: UInt64
    /// The polling interval in seconds (`guest-stats-polling-interval`), 0 when off.
    public private(set) var pollingInterval: Int64 = 0
    /// When ``actual`` last changed: the time a `BALLOON_CHANGE` event for it is stamped with.
    public private(set) var lastActualChange: Double
    /// Whether the guest sends statistics at all.
    public let reportsStats: Bool

    private var memory: Double
    private var lastUsed: Double
    private var swapped: Double = 0
    private var swapIn: Double = 0
    private var swapOut: Double = 0
    private var majorFaults: Double = 0
    private var minorFaults: Double = 0
    private var pollingSince: Double = 0
    /// The last report's figures (nil before the first): kept as plain numbers, made into QEMU's names only when
    /// asked (`qom-get`), so a simulation that reads millions of reports builds no dictionaries.
    private var report: Report?

    private struct Report {
        var lastUpdate: Int64
        var swapIn: UInt64
        var swapOut: UInt64
        var majorFaults: UInt64
        var minorFaults: UInt64
        var free: UInt64
        var total: UInt64
        var available: UInt64
        var diskCaches: UInt64
    }

    /// A guest that starts at `startTime` with all its RAM (no balloon inflated).
    /// - Parameters:
    ///   - scenario: RAM, workload and memory behaviour.
    ///   - startTime: the scenario's time 0, in seconds since the Unix epoch.
    ///   - reportsStats: `false` for a guest that never sends statistics.
    public init(scenario: FakeGuestScenario, startTime: Double, reportsStats: Bool = true) {
        self.scenario = scenario
        self.startTime = startTime
        self.time = startTime
        self.target = scenario.ram
        self.memory = Double(scenario.ram)
        self.lastActualChange = startTime
        self.reportsStats = reportsStats
        self.lastUsed = scenario.workload.used(at: 0)
        if reportsStats, !scenario.startPaused, scenario.guest.statsAtBoot {
            takeReport(at: startTime)
        }
    }

    // MARK: Reading

    /// The memory the guest has now, in bytes: RAM minus the balloon, in whole pages (`query-balloon`).
    public var actual: UInt64 { Self.roundToBalloonPages(memory, ram: scenario.ram) }

    /// The last statistics report (all-ones with `last-update` 0 before the first).
    public var stats: FakeGuestStats {
        guard let report else { return .none }
        var values: [String: UInt64] = [
            "stat-swap-in": report.swapIn,
            "stat-swap-out": report.swapOut,
            "stat-major-faults": report.majorFaults,
            "stat-minor-faults": report.minorFaults,
            "stat-free-memory": report.free,
            "stat-total-memory": report.total,
            "stat-available-memory": report.available,
            "stat-disk-caches": report.diskCaches,
            "stat-htlb-pgalloc": 0,
            "stat-htlb-pgfail": 0,
        ]
        for name in scenario.guest.unreportedStats { values[name] = FakeGuestStats.unreported }
        return FakeGuestStats(lastUpdate: report.lastUpdate, values: values)
    }

    /// The last report as the daemon reads it: `GuestStats(qemuNames: stats.values, lastUpdate: stats.lastUpdate)`
    /// with every figure the same, but no `all` (the map of every statistic by its QEMU name, which nothing decides
    /// on): what the simulator passes the engine, made without a dictionary.
    public var guestStats: GuestStats {
        guard let report else { return GuestStats() }
        let unreported = scenario.guest.unreportedStats
        func figure(_ name: String, _ value: UInt64) -> UInt64? {
            unreported.isEmpty || !unreported.contains(name) ? value : nil
        }
        return GuestStats(
            swapIn: figure("stat-swap-in", report.swapIn), swapOut: figure("stat-swap-out", report.swapOut),
            majorFaults: figure("stat-major-faults", report.majorFaults),
            minorFaults: figure("stat-minor-faults", report.minorFaults), free: figure("stat-free-memory", report.free),
            total: figure("stat-total-memory", report.total), available: figure("stat-available-memory", report.available),
            diskCaches: figure("stat-disk-caches", report.diskCaches), hugetlbAllocations: figure("stat-htlb-pgalloc", 0),
            hugetlbFailures: figure("stat-htlb-pgfail", 0), lastUpdate: report.lastUpdate > 0 ? report.lastUpdate : nil)
    }

    /// True when the balloon has nothing left to do: it reached the target, or the guest cannot move it.
    public var isBalloonSettled: Bool {
        scenario.startPaused || scenario.balloon.speed == 0 || actual == target
    }

    /// The guest's memory now.
    public var state: FakeGuestState {
        let breakdown = self.breakdown()
        let page = Double(Self.pageSize)
        return FakeGuestState(
            time: time, actual: actual, target: target, used: Self.bytes(lastUsed), swapped: Self.bytes(swapped),
            cache: Self.bytes(breakdown.cache), free: Self.bytes(breakdown.free), available: Self.bytes(breakdown.available),
            floor: Self.bytes(floorBytes(used: lastUsed)), isUnderPressure: swapped >= page,
            isStalled: memory > Double(target) + page / 2 && memory <= floorBytes(used: lastUsed) + page)
    }

    // MARK: Events

    /// Sets the balloon target (the `balloon` command's value, already checked to be above 0), after
    /// catching up to `now`. Values above RAM mean RAM.
    public mutating func setTarget(_ value: Int64, at now: Double) {
        advance(to: now)
        let ram = scenario.ram
        let wanted = min(UInt64(max(value, 1)), ram)
        // QEMU keeps the balloon size in pages, rounding the balloon down.
        let balloonPages = (ram - wanted) / Self.pageSize
        target = ram - balloonPages * Self.pageSize
    }

    /// Sets `guest-stats-polling-interval` (already checked: 0 to 2³²-1), after catching up to `now`.
    /// A new interval asks the guest at once, then every `seconds`.
    public mutating func setPollingInterval(_ seconds: Int64, at now: Double) {
        advance(to: now)
        pollingInterval = max(0, seconds)
        guard pollingInterval > 0 else { return }
        pollingSince = now
        if reportsStats, !scenario.startPaused { takeReport(at: now) }
    }

    /// Simulates the guest up to `now`; earlier times are ignored.
    public mutating func advance(to now: Double) {
        guard now > time else { return }
        guard !scenario.startPaused else {
            time = now
            return
        }
        if reportsStats, pollingInterval > 0 {
            let interval = Double(pollingInterval)
            let reports = ((now - pollingSince) / interval).rounded(.down)
            let lastDue = pollingSince + reports * interval
            if reports >= 1, lastDue > time {
                integrate(to: lastDue)
                takeReport(at: lastDue)
            }
        }
        integrate(to: now)
    }

    // MARK: Simulation

    private mutating func integrate(to end: Double) {
        // Nothing moves but the counters, which grow linearly: one step is exact, however long.
        if isBalloonSettled, isWorkloadConstant {
            if end > time { step(to: end) }
            return
        }
        while time < end {
            let next = min(end, time + Self.maxStep)
            // Far from the epoch (a trace starting in the year 500 million) a tenth of a second is below a Double's
            // precision: one step to the end rather than none forever.
            guard next > time else {
                step(to: end)
                return
            }
            step(to: next)
        }
    }

    private var isWorkloadConstant: Bool {
        scenario.workload.points.count == 1 && scenario.workload.bursts == nil
    }

    private mutating func step(to next: Double) {
        let dt = next - time
        let guest = scenario.guest
        let used = max(0, scenario.workload.used(at: next - startTime))
        let fixed = Double(guest.unfreeable + guest.shmem + guest.kernelReserved)
        let goal = Double(target)
        let speed = Double(scenario.balloon.speed)
        let before = actual
        if memory > goal {
            // Shrink, but the driver cannot take pages the guest cannot free; below the floor it just stays.
            let lowest = min(memory, used + fixed)
            memory = max(max(goal, memory - speed * dt), lowest)
        } else if memory < goal {
            memory = min(goal, memory + speed * dt)
        }
        if actual != before { lastActualChange = next }

        let resident = min(used, max(0, memory - fixed))
        let nowSwapped = used - resident
        let change = nowSwapped - swapped
        let page = Double(Self.pageSize)
        if change > 0 {
            swapOut += change
        } else {
            swapIn -= change
            majorFaults -= change / page
        }
        if nowSwapped > 0 {
            let churn = guest.thrashRate * nowSwapped * dt
            swapIn += churn
            swapOut += churn
            majorFaults += churn / page
        }
        minorFaults += guest.minorFaultRate * dt + max(0, used - lastUsed) / page
        swapped = nowSwapped
        lastUsed = used
        time = next
    }

    private func floorBytes(used: Double) -> Double {
        used + Double(scenario.guest.unfreeable + scenario.guest.shmem + scenario.guest.kernelReserved)
    }

    private func breakdown() -> (cache: Double, free: Double, available: Double) {
        let guest = scenario.guest
        let fixed = Double(guest.unfreeable + guest.shmem + guest.kernelReserved)
        let resident = min(lastUsed, max(0, memory - fixed))
        let room = max(0, memory - fixed - resident)
        let cache = min(Double(guest.cache), room)
        let free = room - cache
        return (cache, free, free + cache)
    }

    private mutating func takeReport(at moment: Double) {
        let breakdown = self.breakdown()
        let page = Self.pageSize
        func pages(_ bytes: Double) -> UInt64 { Self.bytes(bytes) / page * page }
        report = Report(
            lastUpdate: Self.seconds(moment), swapIn: pages(swapIn), swapOut: pages(swapOut),
            majorFaults: Self.bytes(majorFaults), minorFaults: Self.bytes(minorFaults), free: pages(breakdown.free),
            total: actual > scenario.guest.kernelReserved ? actual - scenario.guest.kernelReserved : 0,
            available: pages(breakdown.available), diskCaches: pages(breakdown.cache + Double(scenario.guest.shmem)))
    }

    /// A figure the simulation keeps as a `Double`, as a whole number: 0 below 0 (or NaN), the largest `UInt64` a
    /// `Double` holds above it (a guest of 16 EiB of RAM sums past `UInt64.max` in `Double`s).
    static func bytes(_ value: Double) -> UInt64 {
        guard value > 0 else { return 0 }
        return value < 18_446_744_073_709_549_568 ? UInt64(value) : 18_446_744_073_709_549_568
    }

    /// A moment as whole Unix seconds, the way QEMU stamps a report; held within `Int64` (a scenario started at an
    /// absurd time still reports).
    static func seconds(_ moment: Double) -> Int64 {
        guard moment.isFinite else { return moment > 0 ? .max : .min }
        let down = moment.rounded(.down)
        if down >= 9_223_372_036_854_775_807 { return .max }
        if down <= -9_223_372_036_854_775_808 { return .min }
        return Int64(down)
    }

    static func roundToBalloonPages(_ memory: Double, ram: UInt64) -> UInt64 {
        let balloon = max(0, Double(ram) - memory)
        let pages = min(UInt64((balloon / Double(pageSize)).rounded()), ram / pageSize)
        return ram - pages * pageSize
    }
}
