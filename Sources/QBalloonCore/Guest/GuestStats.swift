/// One sample of the guest's memory statistics, as the balloon driver last reported them.
///
/// A statistic the guest has not reported (QEMU sends the all-ones value) is `nil`.
/// ``available`` (the guest's MemAvailable) is the figure to decide on: ``free`` leaves out page cache,
/// and ``diskCaches`` includes tmpfs and shared memory that cannot be dropped.
///
/// ```swift
/// let stats = GuestStats(qemuNames: ["stat-total-memory": 2 << 30, "stat-available-memory": 1 << 30], lastUpdate: 1_700_000_000)
/// stats.used                          // 1 GiB: total minus available
/// stats.age(now: 1_700_000_002)       // 2 seconds
/// ```
public struct GuestStats: Sendable, Hashable {
    public var swapIn: UInt64?
    public var swapOut: UInt64?
    public var majorFaults: UInt64?
    public var minorFaults: UInt64?
    public var free: UInt64?
    public var total: UInt64?
    public var available: UInt64?
    public var diskCaches: UInt64?
    public var hugetlbAllocations: UInt64?
    public var hugetlbFailures: UInt64?
    /// Every statistic QEMU sent, by its QEMU name (`stat-free-memory`...), reported or not; newer QEMUs
    /// send more than the ones above.
    public var all: [String: UInt64]
    /// When the guest last reported, in Unix seconds; `nil` if it never has.
    public var lastUpdate: Int64?

    public init(
        swapIn: UInt64? = nil, swapOut: UInt64? = nil, majorFaults: UInt64? = nil, minorFaults: UInt64? = nil,
        free: UInt64? = nil, total: UInt64? = nil, available: UInt64? = nil, diskCaches: UInt64? = nil,
        hugetlbAllocations: UInt64? = nil, hugetlbFailures: UInt64? = nil, all: [String: UInt64] = [:],
        lastUpdate: Int64? = nil
    ) {
        self.swapIn = swapIn
        self.swapOut = swapOut
        self.majorFaults = majorFaults
        self.minorFaults = minorFaults
        self.free = free
        self.total = total
        self.available = available
        self.diskCaches = diskCaches
        self.hugetlbAllocations = hugetlbAllocations
        self.hugetlbFailures = hugetlbFailures
        self.all = all
        self.lastUpdate = lastUpdate
    }

    /// The value QEMU uses for a statistic the guest has not reported.
    public static let unreported = UInt64.max

    /// The statistics from QEMU's names and values (`stat-free-memory`...); the all-ones value is unreported.
    /// - Parameter lastUpdate: the Unix second of the guest's last report; 0 or less: it never reported.
    public init(qemuNames all: [String: UInt64], lastUpdate: Int64) {
        func reported(_ name: String) -> UInt64? {
            guard let value = all[name], value != Self.unreported else { return nil }
            return value
        }
        self.init(
            swapIn: reported("stat-swap-in"), swapOut: reported("stat-swap-out"),
            majorFaults: reported("stat-major-faults"), minorFaults: reported("stat-minor-faults"),
            free: reported("stat-free-memory"), total: reported("stat-total-memory"),
            available: reported("stat-available-memory"), diskCaches: reported("stat-disk-caches"),
            hugetlbAllocations: reported("stat-htlb-pgalloc"), hugetlbFailures: reported("stat-htlb-pgfail"),
            all: all, lastUpdate: lastUpdate > 0 ? lastUpdate : nil)
    }

    /// Seconds since the guest last reported, at `now` (Unix seconds); `nil` if it never has.
    public func age(now: Double) -> Double? {
        guard let lastUpdate else { return nil }
        return max(0, now - Double(lastUpdate))
    }

    /// The guest's memory in use: total minus available, when both are reported.
    public var used: UInt64? {
        guard let total, let available else { return nil }
        return total > available ? total - available : 0
    }
}
