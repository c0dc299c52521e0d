import QBalloonCore
import Synchronization

/// A clock that moves only when a test says so, for running the daemon in virtual time: nothing sleeps for
/// real, and a test of a minute of rounds takes milliseconds. It is a `Clock` (monotonic time, what the daemon
/// paces itself and times backoff with) and it gives the matching ``wallClock`` (Unix seconds from `epoch`,
/// what guest statistics are stamped with).
///
/// ```swift
/// let clock = VirtualClock()
/// // ... start something that sleeps on `clock` ...
/// clock.advance(by: .seconds(2))   // wakes every sleeper due by then
/// ```
package final class VirtualClock: Clock, Sendable {
    package struct Instant: InstantProtocol, Sendable, Hashable, Comparable {
        /// Time since the clock started.
        package var offset: Duration

        package func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        package func duration(to other: Instant) -> Duration { other.offset - offset }
        package static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        var id: Int
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID = 0
    }

    private let state = Mutex(State())
    /// Unix seconds at the clock's start.
    package let epoch: Double

    package init(epoch: Double = 1_700_000_000) {
        self.epoch = epoch
    }

    package var now: Instant { state.withLock { $0.now } }
    package var minimumResolution: Duration { .nanoseconds(1) }

    /// The time of day that goes with this clock.
    package var wallClock: WallClock {
        WallClock { [self] in epoch + now.offset.inSeconds }
    }

    /// Seconds since the clock started.
    package var elapsed: Double { now.offset.inSeconds }

    /// How many tasks are sleeping on the clock now.
    package var sleepers: Int { state.withLock { $0.sleepers.count } }

    package func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let due = state.withLock { state -> Bool in
                    if deadline <= state.now { return true }
                    if Task.isCancelled { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if due { continuation.resume() }
            }
            try Task.checkCancellation()
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward and wakes every sleeper due by then, earliest first.
    package func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

extension Duration {
    fileprivate var inSeconds: Double {
        let (whole, atto) = components
        return Double(whole) + Double(atto) / 1e18
    }
}
