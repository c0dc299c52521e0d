/// Whether a guest's statistics can be acted on: the one place where staleness is judged.
///
/// A guest reports every polling period; QEMU stamps each report in whole seconds. A report older than
/// `staleAfter` is stale: the guest may be hung, paused, or its driver gone, and nothing may be shrunk on it.
/// Age decides, not whether polling is on: a Linux guest reports once when its driver loads.
///
/// ```swift
/// let freshness = StatsFreshness(stats, now: WallClock.system.now(), staleAfter: 6)
/// if freshness.isFresh { ... }
/// ```
public enum StatsFreshness: Sendable, Hashable, CustomStringConvertible {
    /// Reported this many seconds ago, within `staleAfter`.
    case fresh(age: Double)
    /// Reported this many seconds ago, longer than `staleAfter`.
    case stale(age: Double)
    /// The guest never reported (no driver yet, or a guest that sends no statistics).
    case neverReported

    /// Judges `stats` at `now` (Unix seconds).
    public init(_ stats: GuestStats?, now: Double, staleAfter: Double) {
        guard let age = stats?.age(now: now) else {
            self = .neverReported
            return
        }
        self = age <= staleAfter ? .fresh(age: age) : .stale(age: age)
    }

    public var isFresh: Bool {
        if case .fresh = self { return true }
        return false
    }

    /// Seconds since the last report; nil if the guest never reported.
    public var age: Double? {
        switch self {
        case .fresh(let age), .stale(let age): return age
        case .neverReported: return nil
        }
    }

    public var description: String {
        switch self {
        case .fresh(let age): return "fresh (\(DurationText.format(seconds: age, style: .approximate)) old)"
        case .stale(let age): return "stale (\(DurationText.format(seconds: age, style: .approximate)) old)"
        case .neverReported: return "never reported"
        }
    }
}
