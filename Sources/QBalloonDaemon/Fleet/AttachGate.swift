import Synchronization

/// Lets at most `limit` workers connect to their VMs at once; the others wait their turn, first come first
/// served.
///
/// A daemon started on a host of 1000 VMs would otherwise open 1000 connections in the same instant, each with
/// its greeting, capability negotiation, `qom-list` and `qom-get` in flight: the memory of all those
/// half-made sessions is the daemon's peak, kept by the process long after (a 1000-VM daemon's peak was a
/// few MB above what it needs to poll them). With a turn each, attaching takes the same few seconds.
///
/// A turn is held only while connecting, never while polling, and for ``holdLimit`` at most: a monitor that
/// accepts and then never greets keeps its worker waiting until the command timeout, but gives its turn back
/// after the hold limit, so hung monitors can delay the others' attaching by that much at most, never stop it.
/// A worker waiting for a turn is cancelled like any other wait.
final class AttachGate: Sendable {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var free: Int
        var waiters: [Waiter] = []
        /// Index of the first waiter still waiting in `waiters` (those before it were served).
        var head = 0
        var nextID = 0

        mutating func popWaiter() -> Waiter? {
            guard head < waiters.count else { return nil }
            let waiter = waiters[head]
            head += 1
            if head == waiters.count || head > 64 && head * 2 > waiters.count {
                waiters.removeFirst(head)
                head = 0
            }
            return waiter
        }
    }

    /// How many turns there are.
    let limit: Int
    /// The longest a body keeps its turn; nil: until it returns.
    let holdLimit: Duration?
    private let state: Mutex<State>

    /// - Parameters:
    ///   - limit: the most workers connecting at once (at least 1).
    ///   - holdLimit: how long a turn may be kept before it goes to the next worker, the body still running.
    init(limit: Int, holdLimit: Duration? = nil) {
        self.limit = max(1, limit)
        self.holdLimit = holdLimit
        self.state = Mutex(State(free: max(1, limit)))
    }

    /// Runs `body` in a turn of its own, waiting for one first. Throws `CancellationError` if the task is
    /// cancelled while it waits (`body` does not run then).
    nonisolated(nonsending) func withTurn<T>(_ body: nonisolated(nonsending) () async throws -> T) async throws -> T {
        guard await enter() else { throw CancellationError() }
        let turn = Turn(gate: self)
        let expiry = holdLimit.map { limit in
            Task {
                do { try await Task.sleep(for: limit) } catch { return }
                turn.giveBack()
            }
        }
        defer {
            expiry?.cancel()
            turn.giveBack()
        }
        return try await body()
    }

    /// One turn, given back once: when its body returns or when it has been held too long, whichever is first.
    private final class Turn: Sendable {
        let gate: AttachGate
        let given = Atomic<Bool>(false)

        init(gate: AttachGate) { self.gate = gate }

        func giveBack() {
            if !given.exchange(true, ordering: .acquiringAndReleasing) { gate.leave() }
        }
    }

    /// Turns free now and workers waiting for one (for tests).
    var counts: (free: Int, waiting: Int) {
        state.withLock { ($0.free, $0.waiters.count - $0.head) }
    }

    /// Waits for a turn: true once the caller holds one, false if the task was cancelled first.
    nonisolated(nonsending) func enter() async -> Bool {
        let id = state.withLock { state -> Int? in
            if state.free > 0 {
                state.free -= 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let cancelled = state.withLock { state -> Bool in
                    // Cancelled before it could queue: the handler below found nothing to remove.
                    if Task.isCancelled { return true }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(returning: false) }
            }
        } onCancel: {
            let removed = state.withLock { state -> Waiter? in
                guard let index = state.waiters[state.head...].firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            removed?.continuation.resume(returning: false)
        }
    }

    /// Gives a turn back: to the first worker waiting, if any.
    func leave() {
        let next = state.withLock { state -> Waiter? in
            if let waiter = state.popWaiter() { return waiter }
            state.free = min(state.free + 1, limit)
            return nil
        }
        next?.continuation.resume(returning: true)
    }
}
