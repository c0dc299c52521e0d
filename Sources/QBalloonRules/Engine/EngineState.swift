import QBalloonCore

/// What the engine remembers between intervals, as a plain value: per VM, when each `for` condition started
/// to hold, the counters of the last statistics report (for rates), the last target and change, and stalls.
/// Start with `EngineState()`; pass it back to every ``DecisionEngine/decide(_:samples:host:now:)``.
public struct EngineState: Sendable {
    /// Per-VM memory in an array (mutated in place each interval), found by name through `slotOf`.
    var slots: [VMState] = []
    var slotOf: [String: Int] = [:]

    public init() {}

    /// The names of the VMs the engine remembers.
    public var vmNames: [String] { slotOf.keys.sorted() }

    /// What the engine remembers about one VM.
    public func memory(of name: String) -> VMMemory? {
        guard let slot = slotOf[name] else { return nil }
        let vm = slots[slot]
        return VMMemory(
            lastTarget: vm.progress?.target, lastChange: vm.lastChangeAt.isFinite ? vm.lastChangeAt : nil,
            stallFloor: vm.stallFloor, stallFloorUntil: vm.stallFloor == nil ? nil : vm.stallFloorUntil)
    }
}

extension EngineState {
    /// The VMs a stall floor holds at `now` (``VMMemory/stallFloor``), by name: the floor, and until when.
    public func stallFloors(at now: Double) -> [String: (floor: UInt64, until: Double)] {
        var floors: [String: (floor: UInt64, until: Double)] = [:]
        for vm in slots {
            if let floor = vm.stallFloor, vm.stallFloorUntil > now { floors[vm.name] = (floor, vm.stallFloorUntil) }
        }
        return floors
    }

    /// The slot of `name`, made on first sight. A slot made for other rules (a reloaded config whose rules or
    /// pressure conditions changed) starts its `for` conditions over and works out again which rules apply.
    mutating func slot(for name: String, program: DecisionEngine.Program) -> Int {
        let heldCount = program.frameSize - Variable.allCases.count
        if let slot = slotOf[name] {
            if slots[slot].signature != program.signature {
                slots[slot].heldSince = Array(repeating: .nan, count: heldCount)
                slots[slot].applies = program.rules.map { $0.applies(to: name) }
                slots[slot].signature = program.signature
            }
            return slot
        }
        slots.append(
            VMState(
                name: name, heldSince: Array(repeating: .nan, count: heldCount),
                applies: program.rules.map { $0.applies(to: name) }, signature: program.signature))
        slotOf[name] = slots.count - 1
        return slots.count - 1
    }

    /// Drops VMs not seen since `time`.
    mutating func forget(notSeenSince time: Double) {
        slots.removeAll { $0.lastSeen < time }
        slotOf = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.name, $0) })
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
    let name: String
    /// When each `for` condition started to hold (NaN: it does not), by frame slot minus the variables.
    var heldSince: [Double]
    /// Which rules apply to this VM (`vms` globs), computed once per rule set.
    var applies: [Bool]
    /// The ``DecisionEngine/Program/signature`` the two above were made for.
    var signature: Int
    /// The last target sent, followed with the one stall detector; nil until one is sent, and after the VM
    /// was unreachable or reconnected (a new QEMU's balloon is not heading to our target).
    var progress: BalloonProgress?
    var lastChangeAt = -Double.infinity
    /// The connection the last sample came from.
    var connection: Int?
    var stallFloor: UInt64?
    var stallFloorUntil = -Double.infinity
    var counters = Counters()
    /// How fast its need moves.
    var trend = NeedTrend()
    /// When its pressure condition last held.
    var lastPressureAt = -Double.infinity
    /// The last shrink sent: from where, and when.
    var lastShrinkFrom: UInt64?
    var lastShrinkAt = -Double.infinity
    var lastSeen = 0.0
    /// `actual` as last seen, and since when (a report made after that saw the balloon where it is now).
    var observedActual: UInt64?
    var observedActualSince = Double.infinity
    /// The memory the guest's kernel keeps outside MemTotal (actual − total while the balloon stood still).
    var outsideTotal: UInt64?

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
