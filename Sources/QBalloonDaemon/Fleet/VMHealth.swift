/// How a VM's monitor connection stands, as the daemon reports it.
public enum VMHealth: Sendable, Hashable, CustomStringConvertible {
    /// Attached, the balloon found, statistics arriving.
    case healthy
    /// Trying to connect (or reconnect after a failure).
    case connecting
    /// The last attempt or command failed; retrying after a backoff.
    case unreachable(String)
    /// Attached, but the VM has no balloon device: held, never acted on.
    case noBalloon
    /// Attached, but the guest sends no statistics: held, never acted on.
    case noStats

    public var description: String {
        switch self {
        case .healthy: return "healthy"
        case .connecting: return "connecting"
        case .unreachable(let reason): return "unreachable: \(reason)"
        case .noBalloon: return "no balloon device"
        case .noStats: return "no guest statistics"
        }
    }

    /// A short label for metrics and tables.
    public var label: String {
        switch self {
        case .healthy: return "healthy"
        case .connecting: return "connecting"
        case .unreachable: return "unreachable"
        case .noBalloon: return "no_balloon"
        case .noStats: return "no_stats"
        }
    }
}
