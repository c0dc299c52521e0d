import QBalloon

/// What the daemon knows about one VM at one interval: the engine's input.
///
/// ```swift
/// let sample = VMSample(
///     name: "db", settings: entry.settings, actual: actual, ram: ram, stats: stats, now: now)
/// ```
public struct VMSample: Sendable {
    public var name: String
    /// The VM's limits in bytes (its settings resolved against its RAM).
    public var limits: VMLimits
    /// The balloon's `actual`: the guest's memory now.
    public var actual: UInt64
    /// The VM's RAM (`base-memory` plus plugged memory).
    public var ram: UInt64
    /// The guest's last statistics, or nil if it never reported.
    public var stats: GuestStats?
    /// Seconds since the guest's last report; nil if it never reported. Staleness is by age: a Linux guest
    /// reports once when its driver loads even with polling off.
    public var statsAge: Double?
    /// Whether the balloon's last inflation has stalled, if the daemon follows it itself; nil lets the engine
    /// decide from `actual` not moving toward its last target for `stall_after`.
    public var inflationStalled: Bool?
    /// False when the monitor is unreachable or the balloon missing: the engine leaves the VM alone.
    public var healthy: Bool

    public init(
        name: String, limits: VMLimits, actual: UInt64, ram: UInt64, stats: GuestStats?, statsAge: Double?,
        inflationStalled: Bool? = nil, healthy: Bool = true
    ) {
        self.name = name
        self.limits = limits
        self.actual = actual
        self.ram = ram
        self.stats = stats
        self.statsAge = statsAge
        self.inflationStalled = inflationStalled
        self.healthy = healthy
    }

    /// A sample from a VM's effective settings; the statistics' age comes from their `lastUpdate` at `now`
    /// (Unix seconds).
    public init(
        name: String, settings: VMSettings, actual: UInt64, ram: UInt64, stats: GuestStats?, now: Double,
        inflationStalled: Bool? = nil, healthy: Bool = true
    ) {
        self.init(
            name: name, limits: settings.resolve(ramBytes: ram), actual: actual, ram: ram, stats: stats,
            statsAge: stats?.age(now: now), inflationStalled: inflationStalled, healthy: healthy)
    }
}
