import QBalloonDaemon
import QBalloonRules
import Synchronization

/// The host's memory as the daemon reads it in a test (`Orchestrator.Options.readHost`).
///
/// Either fixed figures, or a small model of a host whose only big users are the test's VMs: its
/// MemAvailable is `capacity` minus what the VMs hold (their `actual` in the last round), so memory the
/// balloons take back shows up as available on the host one round later.
final class HostModel: Sendable {
    static let gib: UInt64 = 1 << 30
    static let total: UInt64 = 64 << 30

    private enum Mode {
        case fixed(available: UInt64)
        case model(capacity: UInt64)
    }

    private struct State {
        var mode: Mode = .fixed(available: 48 << 30)
        var vmBytes: UInt64 = 0
    }

    private let state = Mutex(State())

    /// The sample the daemon reads.
    func sample(_ settings: HostSettings) -> HostSample {
        state.withLock { state in
            let available: UInt64
            switch state.mode {
            case .fixed(let bytes): available = bytes
            case .model(let capacity): available = capacity > state.vmBytes ? capacity - state.vmBytes : 0
            }
            return HostSample(total: Self.total, available: available, free: available / 2, swapTotal: 0, swapFree: 0)
        }
    }

    /// Called after every round: what the VMs hold now.
    func observe(_ report: RoundReport) {
        // Until every VM has been read, keep what was assumed.
        guard !report.rows.isEmpty, report.rows.allSatisfy({ $0.actual != nil }) else { return }
        let held = report.rows.reduce(UInt64(0)) { $0 + ($1.actual ?? 0) }
        state.withLock { $0.vmBytes = held }
    }

    /// Plenty of memory: the reserve never matters.
    func plenty() {
        state.withLock { $0.mode = .fixed(available: 48 << 30) }
    }

    /// From now on the host's available memory is `reserve - short` while the VMs hold what they hold now,
    /// and rises as they give memory back.
    func shortOfReserve(_ reserve: UInt64, by short: UInt64) {
        state.withLock { $0.mode = .model(capacity: $0.vmBytes + reserve - short) }
    }

    /// From now on the host has `room` above its reserve while the VMs hold what they hold now, and less
    /// as they grow.
    func aboveReserve(_ reserve: UInt64, by room: UInt64, vmsHold: UInt64? = nil) {
        state.withLock { state in
            if let vmsHold { state.vmBytes = vmsHold }
            state.mode = .model(capacity: state.vmBytes + reserve + room)
        }
    }
}
