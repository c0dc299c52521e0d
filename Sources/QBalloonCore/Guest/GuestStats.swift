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
    /// Every statistic QEMU sent, by its QEMU name (`stat-free-memory`...), reported or not (the all-ones value);
    /// newer QEMUs send more than the ones above. Made when asked: the ten above are kept as fields, the others by
    /// name (``others``), so a poll builds no dictionary.
    public var all: [String: UInt64] {
        get {
            var all = others
            for (index, name) in Self.knownNames.enumerated() where self[known: index] != nil || sentUnreported & (1 << index) != 0 {
                all[name] = self[known: index] ?? Self.unreported
            }
            return all
        }
        set {
            sentUnreported = 0
            others = [:]
            for (name, value) in newValue { record(name, value) }
        }
    }
    /// The statistics QEMU sent beyond the ten above (`stat-oom-kills`...), by name; empty from QEMU 7.
    public private(set) var others: [String: UInt64] = [:]
    /// Which of ``knownNames`` QEMU sent as unreported (all-ones), one bit each: a nil field it did not send is left
    /// out of ``all``.
    private var sentUnreported: UInt16 = 0
    /// When the guest last reported, in Unix seconds; `nil` if it never has.
    public var lastUpdate: Int64?

    /// QEMU's names of the ten statistics kept as fields, in the order of ``subscript(known:)``.
    public static let knownNames = [
        "stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults", "stat-free-memory",
        "stat-total-memory", "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc", "stat-htlb-pgfail",
    ]

    /// The statistics as fields; `all` adds what QEMU sent by name (a field given here wins over the same figure in
    /// `all`).
    public init(
        swapIn: UInt64? = nil, swapOut: UInt64? = nil, majorFaults: UInt64? = nil, minorFaults: UInt64? = nil,
        free: UInt64? = nil, total: UInt64? = nil, available: UInt64? = nil, diskCaches: UInt64? = nil,
        hugetlbAllocations: UInt64? = nil, hugetlbFailures: UInt64? = nil, all: [String: UInt64] = [:],
        lastUpdate: Int64? = nil
    ) {
        // `all` first, then the fields given: a figure given both ways is the field's.
        for (name, value) in all { record(name, value) }
        let given = [swapIn, swapOut, majorFaults, minorFaults, free, total, available, diskCaches, hugetlbAllocations, hugetlbFailures]
        for (index, value) in given.enumerated() where value != nil { self[known: index] = value }
        self.lastUpdate = lastUpdate
    }

    /// The value QEMU uses for a statistic the guest has not reported.
    public static let unreported = UInt64.max

    /// The statistics from QEMU's names and values (`stat-free-memory`...); the all-ones value is unreported.
    /// - Parameter lastUpdate: the Unix second of the guest's last report; 0 or less: it never reported.
    public init(qemuNames all: [String: UInt64], lastUpdate: Int64) {
        self.init()
        for (name, value) in all { record(name, value) }
        self.lastUpdate = lastUpdate > 0 ? lastUpdate : nil
    }

    /// Takes one statistic as QEMU named and sent it: one of the ten fields (nil when all-ones), else ``others``.
    public mutating func record(_ name: String, _ value: UInt64) {
        guard let index = Self.knownNames.firstIndex(of: name) else {
            others[name] = value
            return
        }
        if value == Self.unreported {
            sentUnreported |= 1 << index
            self[known: index] = nil
        } else {
            sentUnreported &= ~(1 << index)
            self[known: index] = value
        }
    }

    /// The field of ``knownNames``[index].
    subscript(known index: Int) -> UInt64? {
        get {
            switch index {
            case 0: swapIn
            case 1: swapOut
            case 2: majorFaults
            case 3: minorFaults
            case 4: free
            case 5: total
            case 6: available
            case 7: diskCaches
            case 8: hugetlbAllocations
            default: hugetlbFailures
            }
        }
        set {
            switch index {
            case 0: swapIn = newValue
            case 1: swapOut = newValue
            case 2: majorFaults = newValue
            case 3: minorFaults = newValue
            case 4: free = newValue
            case 5: total = newValue
            case 6: available = newValue
            case 7: diskCaches = newValue
            case 8: hugetlbAllocations = newValue
            default: hugetlbFailures = newValue
            }
        }
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
