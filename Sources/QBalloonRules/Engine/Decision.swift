import QBalloonCore

/// What the engine decided for one VM in one interval, and why: the rule that fired, the figures it saw,
/// and everything the safety envelope or the host arbiter changed.
public struct Decision: Sendable, Hashable, CustomStringConvertible {
    /// Why the engine wanted a change.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// A `[[rule]]` fired (its name).
        case rule(String)
        /// The guest is under pressure and no rule asked for more: grow to its max at once.
        case pressure
        /// The guest has less room above its use than its headroom (or its need is rising into it): grow at once.
        case headroom
        /// The guest came under pressure within `shrink_watch` of a shrink: the shrink is undone at once.
        case shrinkUndone
        /// The balloon is outside `[min, max]` and no rule fired: bring it inside.
        case limits
        /// The last inflation stalled: give the guest room back at once.
        case stallRecovery
        /// An inflation was under way when the guest came under pressure or its statistics went stale: stop it.
        case inflationAborted
        /// The host fell below its reserve: the arbiter took idle memory.
        case hostReserve
        /// The operator pinned the VM to a size (`qballoon pin`).
        case pinned
        /// The operator paused the VM, or the whole host (`qballoon pause`): nothing is sent.
        case paused

        public var description: String {
            switch self {
            case .rule(let name): return "rule \"\(name)\""
            case .pressure: return "pressure"
            case .headroom: return "headroom"
            case .shrinkUndone: return "shrink undone"
            case .limits: return "limits"
            case .stallRecovery: return "stall recovery"
            case .inflationAborted: return "inflation aborted"
            case .hostReserve: return "host reserve"
            case .pinned: return "pinned by the operator"
            case .paused: return "paused by the operator"
            }
        }

        /// Safety actions go through cooldown and the host reserve: they only ever give the guest memory.
        public var isSafety: Bool { self == .stallRecovery || self == .inflationAborted }

        /// The name the decision log gives the rule behind it: a rule's own name, "operator" for a pin or a pause.
        public var ruleName: String? {
            switch self {
            case .rule(let name): return name
            case .pinned, .paused: return "operator"
            default: return nil
            }
        }
    }

    public let vm: String
    /// The balloon's `actual` when deciding.
    public let from: UInt64
    /// The target to set, or nil to leave the balloon alone.
    public let to: UInt64?
    /// What the rule (or pressure, limits, stall recovery) asked for, before the envelope and the arbiter.
    public let wanted: UInt64?
    public let reason: Reason
    /// The figures the rule (or pressure condition) read, as it saw them.
    public let figures: [Figure]
    /// What the envelope and the arbiter changed, in order.
    public let adjustments: [Adjustment]
    /// Whether the VM's pressure condition held.
    public let pressured: Bool

    /// Whether the balloon changes.
    public var changes: Bool { to != nil }

    /// One line: `db: 4 GiB -> 3.75 GiB, rule "reclaim idle memory" wanted 2.6 GiB (available=2.1 GiB); step: at most 256 MiB`.
    public var description: String {
        var text = "\(vm): \(MemorySize.format(from))"
        text += to.map { " -> \(MemorySize.format($0))" } ?? " (no change)"
        text += ", \(reason)"
        if let wanted { text += " wanted \(MemorySize.format(wanted))" }
        if !figures.isEmpty { text += " (" + figures.map(\.description).joined(separator: ", ") + ")" }
        if !adjustments.isEmpty { text += "; " + adjustments.map(\.description).joined(separator: "; ") }
        return text
    }
}

/// A figure as a rule saw it: `available=1.5 GiB`; nil when the guest has not reported it.
public struct Figure: Sendable, Hashable, CustomStringConvertible {
    public let variable: Variable
    public let value: Double?

    public var description: String {
        guard variable.isByteRate, let value, !value.isNaN else { return "\(variable.name)=\(Self.format(value, variable.type))" }
        return "\(variable.name)=\(Self.format(value, .bytes))/s"
    }

    static func format(_ value: Double?, _ type: ValueType) -> String {
        guard let value, !value.isNaN else { return "unknown" }
        func number(_ x: Double) -> String {
            x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String((x * 100).rounded() / 100)
        }
        switch type {
        case .bytes:
            let magnitude = Swift.min(abs(value), 1.8e19)
            return (value < 0 ? "-" : "") + MemorySize.format(UInt64(magnitude))
        case .duration: return DurationText.format(seconds: value)
        case .percent: return number(value) + "%"
        case .rate: return number(value) + "/s"
        case .bool: return value == 1 ? "true" : "false"
        case .count, .number: return number(value)
        }
    }
}

/// One change the safety envelope or the host arbiter made to what a rule wanted.
public enum Adjustment: Sendable, Hashable, CustomStringConvertible {
    case clampedToMin(UInt64)
    case clampedToMax(UInt64)
    /// Limited to this many bytes of change per interval (`step` or `grow_step`).
    case limitedByStep(UInt64)
    /// Not shrunk: the guest's statistics are this old (nil: never reported).
    case shrinkBlockedStaleStats(age: Double?)
    case shrinkBlockedPressure
    /// Not shrunk: the guest's need rises this fast (bytes per second); nil: its trend is not known yet.
    case shrinkBlockedRising(rate: Double?)
    /// Not shrunk: the guest was under pressure; seconds left of `pressure_hold`.
    case shrinkBlockedAfterPressure(remaining: Double)
    /// Not shrunk: the guest does not report what it uses (total and available).
    case shrinkBlockedUnknownUse
    /// Not shrunk: no report since the balloon last moved, so the memory outside the guest's total is not known yet.
    case shrinkBlockedBalloonMoved
    /// Not shrunk below the guest's use plus its headroom: this many bytes.
    case keptHeadroom(UInt64)
    /// Not shrunk below the most the guest used within `peak_window` (seconds) plus its headroom: this many bytes.
    case keptPeak(UInt64, window: Double)
    /// Not shrunk as far as asked: at the target asked, its pressure condition would hold; this is as far as it goes.
    case keptOutOfPressure(UInt64)
    /// Grown at once, as a guest that needs memory is: no cooldown, deadband or step on the way up.
    case grownAtOnce
    /// A rule wanted to shrink the guest, but it needs memory (headroom).
    case ruleOverriddenByNeed(rule: String)
    /// Not pushed lower while the balloon is still inflating toward this target.
    case waitingForInflation(target: UInt64)
    /// Not below this since the guest stalled an inflation.
    case stallFloor(UInt64)
    /// Within `cooldown` of the last change: seconds left.
    case cooldown(remaining: Double)
    /// The change was smaller than the deadband.
    case belowDeadband(UInt64)
    /// The balloon is already heading to this target.
    case alreadyHeading(UInt64)
    /// Growth cut so the host keeps its reserve.
    case growthCutByHostReserve(wanted: UInt64, granted: UInt64)
    /// Taken for the host reserve (idle memory first, by shares).
    case reclaimedForHostReserve(UInt64)
    /// Taken at once (no step, no cooldown) for a guest that needs memory, or else because the host is under its
    /// hard reserve.
    case reclaimedAtOnce(UInt64, forGuestInNeed: Bool)
    /// A rule wanted to shrink the guest, but it is under pressure.
    case ruleOverriddenByPressure(rule: String)
    /// `dry_run`: decided, not sent.
    case dryRun
    /// The operator paused the VM (or the host): nothing sent.
    case paused
    /// The guest needs more memory than its pin (this many bytes): it gets it; the pin holds again once it does not.
    case pinSetAsideForNeed(UInt64)

    public var description: String {
        switch self {
        case .clampedToMin(let bytes): return "raised to min \(MemorySize.format(bytes))"
        case .clampedToMax(let bytes): return "lowered to max \(MemorySize.format(bytes))"
        case .limitedByStep(let bytes): return "step: at most \(MemorySize.format(bytes))"
        case .shrinkBlockedStaleStats(let age):
            return age.map { "not shrunk: statistics are \(Figure.format($0, .duration)) old" }
                ?? "not shrunk: no statistics from the guest"
        case .shrinkBlockedPressure: return "not shrunk: under pressure"
        case .shrinkBlockedRising(let rate):
            return rate.map { "not shrunk: its use grows \(Figure.format($0, .bytes))/s" }
                ?? "not shrunk: the trend of its use is not known yet"
        case .shrinkBlockedAfterPressure(let remaining):
            return "not shrunk: under pressure lately (\(Figure.format(remaining, .duration)) left)"
        case .shrinkBlockedUnknownUse: return "not shrunk: the guest does not report what it uses"
        case .shrinkBlockedBalloonMoved: return "not shrunk: waiting for a report made since the balloon moved"
        case .keptHeadroom(let bytes): return "not below \(MemorySize.format(bytes)): its use plus headroom"
        case .keptPeak(let bytes, let window):
            return "not below \(MemorySize.format(bytes)): the most it used in the last \(Figure.format(window, .duration)) plus headroom"
        case .keptOutOfPressure(let bytes): return "not below \(MemorySize.format(bytes)): lower would put it under pressure"
        case .grownAtOnce: return "grown at once (no cooldown, deadband or step on the way up)"
        case .ruleOverriddenByNeed(let rule): return "rule \"\(rule)\" overridden: it needs memory"
        case .waitingForInflation(let target): return "waiting for the balloon to reach \(MemorySize.format(target))"
        case .stallFloor(let bytes): return "not below \(MemorySize.format(bytes)) since a stalled inflation"
        case .cooldown(let remaining): return "cooldown: \(Figure.format(remaining, .duration)) left"
        case .belowDeadband(let bytes): return "change under the deadband (\(MemorySize.format(bytes)))"
        case .alreadyHeading(let target): return "already heading to \(MemorySize.format(target))"
        case .growthCutByHostReserve(let wanted, let granted):
            return "host reserve: growth cut from \(MemorySize.format(wanted)) to \(MemorySize.format(granted))"
        case .reclaimedForHostReserve(let bytes): return "host reserve: took \(MemorySize.format(bytes))"
        case .reclaimedAtOnce(let bytes, let forGuestInNeed):
            return "host reserve: took \(MemorySize.format(bytes)) at once, "
                + (forGuestInNeed ? "for a guest that needs memory" : "the host is under its hard reserve")
        case .ruleOverriddenByPressure(let rule): return "rule \"\(rule)\" overridden: under pressure"
        case .dryRun: return "dry run: not sent"
        case .paused: return "paused by the operator: nothing sent"
        case .pinSetAsideForNeed(let pin):
            return "pinned to \(MemorySize.format(pin)), but the guest needs more: it gets it"
        }
    }
}

/// One interval's decisions, and how the host's budget was spent.
public struct DecisionRound: Sendable {
    /// One per VM where a rule fired, pressure or a limit asked for a change, or the arbiter acted;
    /// VMs with nothing to say are left out.
    public var decisions: [Decision]
    /// What the engine judged of every VM, in the order of the samples it was given.
    public var verdicts: [VMVerdict]
    public var host: HostBudget
}

/// The host arbiter's accounts for one interval.
public struct HostBudget: Sendable, Hashable {
    /// The host's MemAvailable; nil if unknown (then nothing is arbitrated).
    public var available: UInt64?
    /// The reserve in bytes.
    public var reserve: UInt64
    /// Growth the VMs asked for, and what they got.
    public var growthWanted: UInt64 = 0
    public var growthGranted: UInt64 = 0
    /// Memory to win back for the reserve, and what was taken from VMs this interval.
    public var reclaimNeeded: UInt64 = 0
    public var reclaimed: UInt64 = 0
    /// What could not be reclaimed: every VM is at its floor, pressured, stale or cooling down.
    public var shortfall: UInt64 = 0
    /// Whether memory was taken to feed a guest that needs it (or because the host is under its hard reserve):
    /// the givers' step and cooldown did not apply.
    public var feeding = false
}
