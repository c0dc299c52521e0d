/// What the engine remembers between intervals, as a plain value: per VM, when each `for` condition started
/// to hold, the counters of the last statistics report (for rates), the last target and change, and stalls.
/// Start with `EngineState()`; pass it back to every ``DecisionEngine/decide(_:samples:host:now:)``.
public struct EngineState: Sendable {
    var vms: [String: VMState] = [:]

    public init() {}

    /// The names of the VMs the engine remembers.
    public var vmNames: [String] { vms.keys.sorted() }

    /// What the engine remembers about one VM.
    public func memory(of name: String) -> VMMemory? {
        guard let vm = vms[name] else { return nil }
        return VMMemory(
            lastTarget: vm.lastTarget, lastChange: vm.lastChangeAt.isFinite ? vm.lastChangeAt : nil,
            stallFloor: vm.stallFloor, stallFloorUntil: vm.stallFloor == nil ? nil : vm.stallFloorUntil)
    }
}

/// The engine's memory of one VM, for metrics and tests.
public struct VMMemory: Sendable, Hashable {
    /// The last target set (as QEMU will hold it).
    public var lastTarget: UInt64?
    /// When the balloon was last changed.
    public var lastChange: Double?
    /// The level below which the engine will not go since a stalled inflation, and until when.
    public var stallFloor: UInt64?
    public var stallFloorUntil: Double?
}

struct VMState: Sendable {
    /// When each `for` condition started to hold (NaN: it does not), by frame slot minus the variables.
    var heldSince: [Double]
    /// Which rules apply to this VM (`vms` globs), computed once.
    var applies: [Bool]
    var lastTarget: UInt64?
    var lastChangeAt = -Double.infinity
    var lastActual: UInt64?
    /// When `actual` last went down (an inflation moving).
    var lastMovedAt = -Double.infinity
    var stallFloor: UInt64?
    var stallFloorUntil = -Double.infinity
    var counters = Counters()
    var lastSeen = 0.0

    /// The cumulative counters of the last statistics report, when it was made, and the rates since the one before.
    struct Counters: Sendable {
        var reportTime: Double?
        var swapIn = Double.nan
        var swapOut = Double.nan
        var majorFaults = Double.nan
        var minorFaults = Double.nan
        var swapInRate = Double.nan
        var swapOutRate = Double.nan
        var majorFaultsRate = Double.nan
        var minorFaultsRate = Double.nan
    }
}
