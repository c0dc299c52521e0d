import QBalloonCore

/// What the daemon knows about one VM at one interval: the engine's input. Facts only, as the VM's worker
/// read them; every judgment (are the statistics stale, is the guest under pressure, has an inflation
/// stalled) is the engine's.
///
/// ```swift
/// let sample = VMSample(name: "db", settings: entry.settings, actual: actual, ram: ram, stats: stats)
/// ```
public struct VMSample: Sendable {
    public var name: String
    /// The VM's limits in bytes (its settings resolved against its RAM).
    public var limits: VMLimits
    /// The balloon's `actual`: the guest's memory now.
    public var actual: UInt64
    /// The VM's RAM (`base-memory` plus plugged memory).
    public var ram: UInt64
    /// The guest's last statistics as QEMU holds them (their `lastUpdate` says how old), or nil if never read.
    public var stats: GuestStats?
    /// False when the last attempt to read the VM failed: the engine leaves it alone, and its rule history
    /// (`for` timers, rates, the target it was heading to) starts over.
    public var reachable: Bool
    /// Which connection to the VM the facts came from; when it changes, a new QEMU may be behind the socket,
    /// so the VM's history starts over as if it had been unreachable.
    public var connection: Int
    /// What the operator holds it to (`qballoon pin`, `qballoon pause`), if anything.
    public var hold: OperatorHold?

    public init(
        name: String, limits: VMLimits, actual: UInt64, ram: UInt64, stats: GuestStats?, reachable: Bool = true,
        connection: Int = 0
    ) {
        self.name = name
        self.limits = limits
        self.actual = actual
        self.ram = ram
        self.stats = stats
        self.reachable = reachable
        self.connection = connection
    }

    /// A sample from a VM's effective settings.
    public init(
        name: String, settings: VMSettings, actual: UInt64, ram: UInt64, stats: GuestStats?, reachable: Bool = true,
        connection: Int = 0
    ) {
        self.init(
            name: name, limits: settings.resolve(ramBytes: ram), actual: actual, ram: ram, stats: stats,
            reachable: reachable, connection: connection)
    }
}

/// An operator's hold on a VM, from the control socket.
public enum OperatorHold: Sendable, Hashable {
    /// Its target is this size (bytes): the rules leave it alone and the host arbiter counts it as fixed. The pin may
    /// be below the config's min (the operator's explicit act), never above max; the guest's safety still holds: a
    /// guest that needs memory gets it, and no pin shrinks a guest whose statistics are stale, that is under pressure
    /// or whose use is rising, or below its use plus headroom.
    case pinned(UInt64)
    /// Nothing is sent to it (it is still read and decided for, to be shown); an inflation of ours under way is
    /// stopped where it is, once.
    case paused
}

/// What the engine judged of one VM in one interval: the state it acted on. Metrics, logs and live views show
/// these, never a judgment of their own.
public struct VMVerdict: Sendable, Hashable {
    /// Whether the guest's statistics could be acted on.
    public var stats: StatsFreshness
    /// Whether the VM's pressure condition held (false when it was not evaluated).
    public var pressured: Bool
    /// Whether the last inflation has stalled (the guest gave nothing back for `stall_after`).
    public var inflationStalled: Bool
    /// Whether the engine decided for the VM at all: false for a VM it could not read, or whose guest never
    /// reported statistics (held, never acted on).
    public var decided: Bool

    public init(stats: StatsFreshness, pressured: Bool = false, inflationStalled: Bool = false, decided: Bool = true) {
        self.stats = stats
        self.pressured = pressured
        self.inflationStalled = inflationStalled
        self.decided = decided
    }
}
