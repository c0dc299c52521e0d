import Synchronization

/// What the orchestrator asks of one worker, kept as the latest wish of each kind rather than a queue: a
/// worker stuck behind a hung monitor never collects a backlog. Stop outranks a target, a target outranks a poll.
final class Mailbox: Sendable {
    enum Work: Sendable, Equatable {
        /// Read the VM.
        case poll
        /// Send this target.
        case target(UInt64)
        /// Send this target if any (restore on exit), then stop.
        case stop(restoringTo: UInt64?)
        /// Close the connection (the VM said it is going away); the next poll connects again.
        case disconnect
    }

    private struct State {
        var poll = false
        var target: UInt64?
        var stop = false
        var restoreTo: UInt64?
        var disconnect = false
        var cancelled = false
        /// The worker is handling a piece of work (between ``next()`` and ``done()``).
        var working = false
        var waiter: CheckedContinuation<Work?, Never>?

        mutating func take() -> Work? {
            if stop {
                stop = false
                poll = false
                target = nil
                disconnect = false
                return .stop(restoringTo: restoreTo)
            }
            if disconnect {
                disconnect = false
                return .disconnect
            }
            if let bytes = target {
                target = nil
                return .target(bytes)
            }
            if poll {
                poll = false
                return .poll
            }
            return nil
        }

        var hasWork: Bool { stop || disconnect || target != nil || poll }
    }

    private let state = Mutex(State())

    /// Asks for a read.
    func poll() { post { $0.poll = true } }

    /// Asks for a target; it replaces one not yet sent.
    /// - Returns: the target it replaced, if any.
    @discardableResult
    func target(_ bytes: UInt64) -> UInt64? {
        var replaced: UInt64?
        post { state in
            replaced = state.target
            state.target = bytes
        }
        return replaced
    }

    /// Asks the worker to close its connection (the VM is going away).
    func disconnect() { post { $0.disconnect = true } }

    /// Asks the worker to stop, after sending `restoringTo` if given.
    func stop(restoringTo: UInt64?) {
        post { state in
            state.stop = true
            state.restoreTo = restoringTo
        }
    }

    /// Whether the worker has nothing to do and is not doing anything.
    var isIdle: Bool { state.withLock { !$0.working && !$0.hasWork } }

    private func post(_ change: (inout State) -> Void) {
        let wake: (CheckedContinuation<Work?, Never>, Work)? = state.withLock { state in
            change(&state)
            guard let waiter = state.waiter, let work = state.take() else { return nil }
            state.waiter = nil
            state.working = true
            return (waiter, work)
        }
        wake.map { $0.0.resume(returning: $0.1) }
    }

    /// The next piece of work, waiting for one; nil once the task is cancelled.
    nonisolated(nonsending) func next() async -> Work? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Work?, Never>) in
                let ready: Work?? = state.withLock { state in
                    if state.cancelled { return .some(nil) }
                    if let work = state.take() {
                        state.working = true
                        return .some(work)
                    }
                    state.working = false
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Work?, Never>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// The work taken by ``next()`` is handled.
    func done() {
        state.withLock { $0.working = false }
    }
}
