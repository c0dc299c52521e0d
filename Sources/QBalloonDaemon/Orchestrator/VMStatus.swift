import QBalloonCore
import QBalloonRules

/// A VM's state as the daemon shows it (live table, metrics, logs), made from its worker's facts and the
/// engine's verdict: the state the engine acted on, never a judgment of its own.
public enum VMStatus: Sendable, Hashable, CustomStringConvertible {
    /// Read, with fresh statistics: acted on.
    case ok
    /// Trying to reach the VM for the first time.
    case connecting
    /// The last attempt to reach or read it failed; retried with backoff.
    case unreachable(String)
    /// It has no balloon device: held, never acted on.
    case noBalloon
    /// Its monitor broke the protocol or reported figures that cannot be true: cut off, never acted on,
    /// retried after a long wait (SECURITY.md).
    case quarantined(String)
    /// Its guest never sent statistics: held, never acted on.
    case noStats
    /// Its guest's statistics are this many seconds old: never shrunk on them (an inflation under way is stopped).
    case staleStats(age: Double)

    /// The status of a VM with these facts and, if the engine saw a sample of it this round, its verdict.
    package init(facts: VMFacts, verdict: VMVerdict?) {
        switch facts.problem {
        case .noBalloon: self = .noBalloon
        case .unreachable(let reason): self = .unreachable(reason)
        case .quarantined(let reason): self = .quarantined(reason)
        case nil:
            guard let verdict else {
                self = .connecting
                return
            }
            switch verdict.stats {
            case .fresh: self = .ok
            case .stale(let age): self = .staleStats(age: age)
            case .neverReported: self = .noStats
            }
        }
    }

    public var description: String {
        switch self {
        case .ok: return "ok"
        case .connecting: return "connecting"
        case .unreachable(let reason): return "unreachable: \(reason)"
        case .noBalloon: return "no balloon device"
        case .quarantined(let reason): return "quarantined: \(reason)"
        case .noStats: return "no guest statistics"
        case .staleStats(let age): return "statistics \(DurationText.format(seconds: age, style: .approximate)) old"
        }
    }

    /// A short label for tables and metrics.
    public var label: String {
        switch self {
        case .ok: return "ok"
        case .connecting: return "connecting"
        case .unreachable: return "unreachable"
        case .noBalloon: return "no_balloon"
        case .quarantined: return "quarantined"
        case .noStats: return "no_stats"
        case .staleStats: return "stale_stats"
        }
    }
}
