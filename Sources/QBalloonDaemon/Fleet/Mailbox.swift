import Synchronization

/// What the orchestrator asks of one worker, kept as the latest wish of each kind rather than a queue: a
/// worker stuck behind a hung monitor never collects a backlog. Stop outranks a target, a target outranks a poll.
///
/// A poll of a VM whose connection can be read without a task (``TasklessRead``) does not wake the worker at all:
/// ``poll()`` hands the read to the orchestrator, which starts it on the connection's event loop; only a reading
/// the worker has to judge (a failure, a VM that had a problem, figures that cannot be true) comes back here
/// (``tasklessDone(_:)``) as ``Work/readDone(_:)``.
final class Mailbox: Sendable {
    enum Work: Sendable, Equatable {
        /// Read the VM.
        case poll
        /// Judge what a read without a task brought back.
        case readDone(ReadOutcome)
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
        /// The connection's read without a task, while the worker is attached to one that has it.
        var taskless: TasklessRead?
        /// A read without a task is in flight: it answers every poll asked meanwhile.
        var tasklessBusy = false
        /// What such a read brought back for the worker to judge.
        var readDone: ReadOutcome?
        /// The worker is handling a piece of work (between ``next()`` and ``done()``).
        var working = false
        var waiter: CheckedContinuation<Work?, Never>?

        mutating func take() -> Work? {
            if stop {
                stop = false
                poll = false
                target = nil
                disconnect = false
                readDone = nil
                return .stop(restoringTo: restoreTo)
            }
            if disconnect {
                disconnect = false
                return .disconnect
            }
            if let outcome = readDone {
                readDone = nil
                return .readDone(outcome)
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

        /// The waiting worker and the work to wake it with, if it waits and there is work.
        mutating func wakeable() -> (CheckedContinuation<Work?, Never>, Work)? {
            guard let waiter, let work = take() else { return nil }
            self.waiter = nil
            working = true
            return (waiter, work)
        }

        var hasWork: Bool { stop || disconnect || readDone != nil || target != nil || poll }
    }

    private let state = Mutex(State())

    /// Asks for a read. When the worker is idle and attached to a connection it can read without a task, the
    /// worker is not woken: the read is returned, for the caller to start on the connection's event loop
    /// (``VMWorker/readWithoutTask(_:)``). While such a read is in flight, a poll asks nothing more.
    @discardableResult
    func poll() -> TasklessRead? {
        let (read, wake): (TasklessRead?, (CheckedContinuation<Work?, Never>, Work)?) = state.withLock { state in
            if state.tasklessBusy { return (nil, nil) }
            if let read = state.taskless, !state.working, !state.hasWork {
                state.tasklessBusy = true
                return (read, nil)
            }
            state.poll = true
            return (nil, state.wakeable())
        }
        wake.map { $0.0.resume(returning: $0.1) }
        return read
    }

    /// The worker is attached to a connection it can read without a task (or, with nil, no longer is).
    func allowTaskless(_ read: TasklessRead?) {
        state.withLock { $0.taskless = read }
    }

    /// A read without a task ended; `outcome`, if any, is for the worker to judge.
    func tasklessDone(_ outcome: ReadOutcome?) {
        post { state in
            state.tasklessBusy = false
            if let outcome { state.readDone = outcome }
        }
    }

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

    /// Whether the worker has nothing to do and is not doing anything (no read without a task in flight either).
    var isIdle: Bool { state.withLock { !$0.working && !$0.hasWork && !$0.tasklessBusy } }

    private func post(_ change: (inout State) -> Void) {
        let wake: (CheckedContinuation<Work?, Never>, Work)? = state.withLock { state in
            change(&state)
            return state.wakeable()
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

/// A worker's connection, read without a task: valid while the connection of `generation` is the worker's.
struct TasklessRead: Sendable {
    let connection: any TasklessReading
    /// The worker's connection generation when it was allowed.
    let generation: Int
}

/// What a read without a task brought back, for the worker to judge. A class: the mailbox keeps room for one per
/// VM, and the reading inside is ~120 bytes.
final class ReadOutcome: Sendable, Equatable {
    /// The worker's connection generation the read was made on: an outcome from an older one is dropped.
    let generation: Int
    let result: Result<VMReading, any Error>

    init(generation: Int, result: Result<VMReading, any Error>) {
        self.generation = generation
        self.result = result
    }

    static func == (lhs: ReadOutcome, rhs: ReadOutcome) -> Bool {
        guard lhs.generation == rhs.generation else { return false }
        switch (lhs.result, rhs.result) {
        case (.success(let a), .success(let b)): return a == b
        case (.failure(let a), .failure(let b)): return "\(a)" == "\(b)"
        default: return false
        }
    }
}
