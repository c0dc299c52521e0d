import Logging
import QBalloonCore
import Synchronization

/// How many lines about one VM may go to the daemon's log: a VM that flaps, floods or lies cannot drown the
/// others' lines or fill the disk. 20 at once, then 20 a minute; what goes over is counted, and the next line
/// that gets through says how many were left out. The decision log (its own file, rotated) is not limited.
///
/// ```swift
/// budget.log(logger, .warning, "unreachable: connection refused", now: clock.seconds)
/// ```
package final class VMLogBudget: Sendable {
    package static let burst = 20.0
    package static let perMinute = 20.0

    private struct State {
        var budget = RateBudget(burst: VMLogBudget.burst, perSecond: VMLogBudget.perMinute / 60)
        var suppressed = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// Lines about this VM left out since the last one that got through.
    package var suppressed: Int { state.withLock { $0.suppressed } }

    /// Logs `message` if the VM's budget allows at `now` (seconds on a monotonic clock); otherwise counts it.
    package func log(
        _ logger: Logger, _ level: Logger.Level, _ message: @autoclosure () -> String,
        metadata: Logger.Metadata? = nil, now: Double
    ) {
        let dropped: Int? = state.withLock { state in
            guard state.budget.spend(1, at: now) else {
                state.suppressed += 1
                return nil
            }
            defer { state.suppressed = 0 }
            return state.suppressed
        }
        guard let dropped else { return }
        let note =
            dropped > 0
            ? " (\(dropped) earlier line\(dropped == 1 ? "" : "s") about this VM left out: more than \(Int(Self.perMinute)) a minute)"
            : ""
        logger.log(level: level, "\(message())\(note)", metadata: metadata)
    }
}
