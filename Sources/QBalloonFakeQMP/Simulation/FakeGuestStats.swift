import QBalloonJSON

/// One statistics report from the guest, as `qom-get guest-stats` shows it.
public struct FakeGuestStats: Sendable, Hashable {
    /// The value QEMU shows for a statistic the guest has not reported.
    public static let unreported = UInt64.max
    /// The ten statistics QEMU 7.2 shows, in QEMU's order.
    public static let names = [
        "stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults", "stat-free-memory",
        "stat-total-memory", "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc", "stat-htlb-pgfail",
    ]

    /// The Unix second of the report; 0 when the guest never reported.
    public var lastUpdate: Int64
    /// Each of ``names`` to its value (bytes for memory and swap, counts for faults); ``unreported`` when absent.
    public var values: [String: UInt64]

    public init(lastUpdate: Int64, values: [String: UInt64]) {
        self.lastUpdate = lastUpdate
        self.values = values
    }

    /// What QEMU shows before the guest's first report: every value all-ones, `last-update` 0.
    public static let none = FakeGuestStats(
        lastUpdate: 0, values: Dictionary(uniqueKeysWithValues: names.map { ($0, unreported) }))

    /// The value of statistic `name`, ``unreported`` when absent.
    public subscript(name: String) -> UInt64 { values[name] ?? Self.unreported }

    /// `{"stats": {...}, "last-update": N}`, as `qom-get` returns it.
    public var json: JSON {
        var stats: [String: JSON] = [:]
        for name in Self.names { stats[name] = .unsigned(self[name]) }
        return .object(["stats": .object(stats), "last-update": .int(lastUpdate)])
    }
}
