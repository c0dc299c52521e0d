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
    public var swapIn: UInt64? {
        get { self[known: 0] }
        set { self[known: 0] = newValue }
    }
    public var swapOut: UInt64? {
        get { self[known: 1] }
        set { self[known: 1] = newValue }
    }
    public var majorFaults: UInt64? {
        get { self[known: 2] }
        set { self[known: 2] = newValue }
    }
    public var minorFaults: UInt64? {
        get { self[known: 3] }
        set { self[known: 3] = newValue }
    }
    public var free: UInt64? {
        get { self[known: 4] }
        set { self[known: 4] = newValue }
    }
    public var total: UInt64? {
        get { self[known: 5] }
        set { self[known: 5] = newValue }
    }
    public var available: UInt64? {
        get { self[known: 6] }
        set { self[known: 6] = newValue }
    }
    public var diskCaches: UInt64? {
        get { self[known: 7] }
        set { self[known: 7] = newValue }
    }
    public var hugetlbAllocations: UInt64? {
        get { self[known: 8] }
        set { self[known: 8] = newValue }
    }
    public var hugetlbFailures: UInt64? {
        get { self[known: 9] }
        set { self[known: 9] = newValue }
    }

    // The ten fields as plain words and a bit each for whether it is reported (0 in the word when it is not, so
    // that equal statistics compare equal): 104 bytes a sample instead of 192 with ten optionals. Every poll
    // copies samples through the worker's async frames and the orchestrator's round.
    private var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0, w4: UInt64 = 0
    private var w5: UInt64 = 0, w6: UInt64 = 0, w7: UInt64 = 0, w8: UInt64 = 0, w9: UInt64 = 0
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
    // (Declared in this order, the stored values pack into 104 bytes.)
    private var lastUpdateSeconds: Int64 = 0
    /// Bit i: ``knownNames``[i] is reported.
    private var reported: UInt16 = 0
    /// Which of ``knownNames`` QEMU sent as unreported (all-ones), one bit each: a nil field it did not send is left
    /// out of ``all``.
    private var sentUnreported: UInt16 = 0
    private var hasLastUpdate = false
    /// When the guest last reported, in Unix seconds; `nil` if it never has.
    public var lastUpdate: Int64? {
        get { hasLastUpdate ? lastUpdateSeconds : nil }
        set {
            hasLastUpdate = newValue != nil
            lastUpdateSeconds = newValue ?? 0
        }
    }

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
        record(known: index, value)
    }

    private mutating func record(known index: Int, _ value: UInt64) {
        if value == Self.unreported {
            sentUnreported |= 1 << index
            self[known: index] = nil
        } else {
            sentUnreported &= ~(1 << index)
            self[known: index] = value
        }
    }

    /// ``knownNames`` as UTF-8 bytes one after the other, and where each one is: for ``record(utf8Name:_:)``.
    private static let knownNameBytes = Array(knownNames.joined().utf8)
    private static let knownNameRanges = knownNames.reduce(into: [Range<Int>]()) { ranges, name in
        let start = ranges.last?.upperBound ?? 0
        ranges.append(start..<(start + name.utf8.count))
    }

    /// Takes one statistic as ``record(_:_:)`` does, its name given as UTF-8 bytes (a decoder's, read in place): a
    /// known name is matched without making a string of it.
    public mutating func record(utf8Name name: UnsafeRawBufferPointer, _ value: UInt64) {
        let known = Self.knownNameBytes.withUnsafeBytes { all -> Int? in
            for (index, range) in Self.knownNameRanges.enumerated() where range.count == name.count {
                var offset = 0
                while offset < name.count, all[range.lowerBound + offset] == name[offset] { offset += 1 }
                if offset == name.count { return index }
            }
            return nil
        }
        guard let known else {
            others[String(decoding: name, as: UTF8.self)] = value
            return
        }
        record(known: known, value)
    }

    /// The field of ``knownNames``[index].
    subscript(known index: Int) -> UInt64? {
        get {
            guard reported & (1 << index) != 0 else { return nil }
            switch index {
            case 0: return w0
            case 1: return w1
            case 2: return w2
            case 3: return w3
            case 4: return w4
            case 5: return w5
            case 6: return w6
            case 7: return w7
            case 8: return w8
            default: return w9
            }
        }
        set {
            if newValue == nil { reported &= ~(1 << index) } else { reported |= 1 << index }
            let word = newValue ?? 0
            switch index {
            case 0: w0 = word
            case 1: w1 = word
            case 2: w2 = word
            case 3: w3 = word
            case 4: w4 = word
            case 5: w5 = word
            case 6: w6 = word
            case 7: w7 = word
            case 8: w8 = word
            default: w9 = word
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
