import Logging
import QBalloonCore
import QBalloonRules
import Synchronization

/// What a worker last saw of its VM: facts only. Whether they make the VM healthy is the engine's judgment
/// (``VMStatus``).
package struct VMFacts: Sendable {
    package var name: String
    /// How the VM is reached (its monitor socket).
    package var link: String
    /// Whether the worker holds a connection to the VM now.
    package var attached = false
    /// Why the last attempt to reach or read the VM failed; nil once one succeeded.
    package var problem: VMProblem?
    /// How many times a connection to the VM was opened (a new one may be a new QEMU on the same socket).
    package var connections = 0
    /// The last connection's number, unique in the process: the engine forgets what it knew of the VM's balloon
    /// when it changes, also when a VM comes back with a worker of its own (a socket or domain gone and back).
    package var connectionID = 0
    /// The balloon's `actual`, from the last read or `BALLOON_CHANGE` event.
    package var actual: UInt64?
    /// An `actual` from an event that cannot be true (above the VM's RAM): never used, it quarantines the VM at
    /// the next poll.
    package var implausibleActual: UInt64?
    /// The VM's RAM.
    package var ramBytes: UInt64?
    /// Whether its balloon has `deflate-on-oom` (nil: not known).
    package var deflateOnOOM: Bool?
    /// The floor the VM itself asks for (a libvirt domain's metadata), in bytes; nil when it asks none.
    package var floorBytes: UInt64?
    /// What runs the VM, as its connection said (QEMU's version); empty until attached, or when it does not say.
    package var qemu = ""
    /// The guest's statistics as last read (their `lastUpdate` says how old they are).
    package var stats: GuestStats?
    /// The last target the VM accepted.
    package var lastTarget: UInt64?
    /// Failed attempts to connect, read or set, since the daemon started.
    package var errors = 0
    /// Retries after a failure, since the daemon started.
    package var reconnects = 0

    package init(name: String, link: String) {
        self.name = name
        self.link = link
    }
}

/// Why a VM cannot be acted on, as its worker found.
package enum VMProblem: Sendable, Hashable, CustomStringConvertible {
    /// Connecting, reading or a command failed (no socket, refused, timed out, closed, a bad reply).
    case unreachable(String)
    /// The VM has no balloon device.
    case noBalloon(String)
    /// Its monitor broke the protocol or the laws of arithmetic (garbage, oversized or endless replies, an
    /// event flood, figures that cannot be true): cut off, nothing it said is used, retried after a long wait.
    case quarantined(String)

    package var description: String {
        switch self {
        case .unreachable(let reason): return "unreachable: \(reason)"
        case .noBalloon(let reason): return reason
        case .quarantined(let reason): return "quarantined: \(reason)"
        }
    }

    /// The problem an error of reaching, reading or setting a VM is.
    package init(_ error: any Error) {
        let reason = PeerText.excerpt("\(error)", limit: 300)
        switch (error as? VMLinkError)?.kind {
        case .noBalloon: self = .noBalloon(reason)
        case .misconduct: self = .quarantined(reason)
        case nil: self = error is ImplausibleFigures ? .quarantined(reason) : .unreachable(reason)
        }
    }
}

/// Figures a VM reported that cannot be true (``Plausibility``).
struct ImplausibleFigures: Error, CustomStringConvertible {
    let description: String
}

/// Keeps one VM: connects (reconnecting with capped backoff after a failure), reads it when asked, sends the
/// targets it is given, and publishes what it saw as ``VMFacts``. A child task of the orchestrator, and the only
/// task a VM keeps (its events arrive by callback; connecting runs in a task of its own that the worker awaits);
/// it owns and awaits every command it sends, so nothing of it is left running once ``run()`` returns.
///
/// A poll of an attached QMP connection does not wake the task: the orchestrator starts the read on the
/// connection's event loop (``readWithoutTask(_:)``) and the reply is recorded there. The task judges only what
/// that cannot settle (a failure, a VM that had a problem, figures that cannot be true: ``Mailbox/Work/readDone(_:)``).
///
/// It never sleeps: the orchestrator asks for a read every interval (``Mailbox``), and a retry waits for the
/// first poll after its backoff. A failure never leaves this VM's loop: it is logged, counted and retried.
final class VMWorker: Sendable {
    /// What the worker needs to know; a reload that leaves them equal keeps the worker and its connection.
    struct Settings: Sendable, Hashable {
        var name: String
        var address: VMAddress
        var connect: ConnectMode
        /// The guest-stats polling period (whole seconds, at least 1).
        var statsInterval: Int
        var commandTimeout: Duration
        /// The longest wait between reconnect attempts, in seconds.
        var backoffCap: Double = 30
        /// How long a quarantined VM waits before the next attempt, in seconds (doubling each time it
        /// misbehaves again, up to an hour).
        var quarantine: Double = 300
    }

    /// With a persistent connection, every this many polls also reads `actual`; in between, it comes from the
    /// VM's events (one command per poll instead of two).
    static let actualCheckEvery = 10

    /// Numbers every connection any worker opens.
    private static let connectionIDs = Atomic<Int>(0)
    /// Reads on the connection now, for ``actualCheckEvery``.
    private let polls = Atomic<Int>(0)

    let settings: Settings
    let link: any VMLink
    let mailbox = Mailbox()
    /// Turns to connect, shared by every worker of the daemon.
    private let attachGate: AttachGate
    /// The lines about this VM the log may still take (shared with the orchestrator's lines about it).
    let logBudget = VMLogBudget()
    private let clock: DaemonClock
    private let logger: Logger
    private let state: Mutex<VMFacts>

    /// - Parameter logger: what the worker logs with, as ``logger(_:for:)`` makes it.
    init(settings: Settings, link: any VMLink, attachGate: AttachGate, clock: DaemonClock, logger: Logger) {
        self.settings = settings
        self.link = link
        self.attachGate = attachGate
        self.clock = clock
        self.logger = logger
        self.state = Mutex(VMFacts(name: settings.name, link: link.description))
    }

    /// `logger` with the VM's name and address in its metadata (`vm.name`, and `qmp.socket` or `libvirt.uri`
    /// and `libvirt.domain`): what the worker logs with, and what its link and connection should (QMP's client
    /// keeps a `qmp.socket` already there rather than copy the metadata for it).
    static func logger(_ logger: Logger, for settings: Settings) -> Logger {
        var logger = logger
        logger[metadataKey: "vm.name"] = "\(settings.name)"
        switch settings.address {
        case .monitor(let endpoint): logger[metadataKey: "qmp.socket"] = "\(endpoint)"
        case .libvirt(let uri, let domain):
            logger[metadataKey: "libvirt.uri"] = "\(uri)"
            logger[metadataKey: "libvirt.domain"] = "\(domain)"
        }
        return logger
    }

    /// Logs a line about this VM, within its ``logBudget``.
    @inline(never)
    private func log(_ level: Logger.Level, _ message: @autoclosure () -> String, metadata: Logger.Metadata? = nil) {
        logBudget.log(logger, level, message(), metadata: metadata, now: clock.seconds)
    }

    /// What the worker saw last.
    var facts: VMFacts { state.withLock { $0 } }

    /// The worker's side of its VM: the open connection, and when to try again after a failure.
    private struct Session {
        var connection: (any VMConnection)?
        /// Changes whenever ``connection`` does.
        var generation = 0
        var backoff: Backoff
        var quarantineBackoff: Backoff
        /// No attempt before this moment of the daemon's clock.
        var retryAt: Duration = .zero
    }

    /// Serves the mailbox until told to stop, or until the task is cancelled.
    func run() async {
        var session = Session(
            backoff: Backoff(initial: 0.5, cap: settings.backoffCap),
            quarantineBackoff: Backoff(initial: settings.quarantine, cap: max(settings.quarantine, 3600)))
        while true {
            // Talk to the VM from where its connection lives (its event loop): no thread hand-offs per poll.
            let executor = session.connection?.preferredExecutor
            let stopped = await withTaskExecutorPreference(executor) {
                await self.serve(&session)
            }
            if stopped { break }
        }
        await detach(&session)
    }

    /// Handles work until the worker stops (true) or its connection changes (false).
    nonisolated(nonsending) private func serve(_ session: inout Session) async -> Bool {
        let generation = session.generation
        while let work = await mailbox.next() {
            defer { mailbox.done() }
            switch work {
            case .stop(let restore):
                if let restore { await restoreBeforeExit(to: restore, &session) }
                return true
            case .target(let bytes):
                await send(bytes, &session)
            case .poll:
                await poll(&session)
            case .readDone(let outcome):
                await judge(outcome, &session)
            case .disconnect:
                await disconnect(&session)
            }
            if session.generation != generation { return false }
        }
        return true
    }

    @inline(never)
    private func restoreBeforeExit(to bytes: UInt64, _ session: inout Session) async {
        logger.info("restoring the guest to \(MemorySize.format(bytes)) before exit")
        // A connection lost a moment ago (a poll that timed out, a QEMU restarting) is opened again now, not
        // after its backoff: the daemon is leaving, and a guest left ballooned down stays so.
        if settings.connect == .persistent, session.connection == nil {
            guard await open(&session) else {
                log(.warning, "cannot restore the guest before exit: it cannot be reached")
                return
            }
        }
        await send(bytes, &session)
    }

    @inline(never)
    private func disconnect(_ session: inout Session) async {
        log(.info, "the VM is shutting down: disconnected")
        await detach(&session)
    }

    // MARK: Reading

    // The worker's functions are small and not inlined into `serve`: a task keeps memory for the deepest chain of
    // async frames it ever had (in 1 KB slabs), and a function's frame holds the locals of every branch it has,
    // its inlined callees' included (`serve` with them inlined took 2.8 KB; BENCHMARKS.md, issue 14).

    @inline(never)
    nonisolated(nonsending) private func poll(_ session: inout Session) async {
        guard session.connection != nil || clock.now() >= session.retryAt else { return }
        switch settings.connect {
        case .perPoll:
            await pollOnce(&session)
        case .persistent:
            if session.connection == nil {
                guard await open(&session) else { return }
            }
            guard let connection = session.connection else { return }
            await read(connection, &session)
        }
    }

    /// Reads the VM on the open connection; a failure closes it.
    @inline(never)
    nonisolated(nonsending) private func read(_ connection: any VMConnection, _ session: inout Session) async {
        do {
            let reading = try await connection.read(includingActual: readsActual())
            try checkPlausible(reading, ramBytes: connection.ramBytes)
            record(reading, ramBytes: connection.ramBytes, session: &session)
        } catch {
            await detach(&session)
            failed(error, &session)
        }
    }

    /// Whether this poll reads `actual` too (every ``actualCheckEvery``th, and while it is not known); counts it.
    private func readsActual() -> Bool {
        let count = polls.wrappingAdd(1, ordering: .relaxed).oldValue
        return count % Self.actualCheckEvery == 0 || state.withLock { $0.actual == nil }
    }

    /// Reads the VM without waking the worker's task: called on the connection's event loop (``PollBatch``), with
    /// what ``Mailbox/poll()`` returned. The reply is recorded there when it needs no judgment; otherwise it goes to
    /// the task (``judge(_:_:)``).
    func readWithoutTask(_ read: TasklessRead) {
        let connection = read.connection
        connection.read(includingActual: readsActual()) { [self] result in
            if case .success(let reading) = result, settle(reading, ramBytes: connection.ramBytes) {
                mailbox.tasklessDone(nil)
            } else {
                mailbox.tasklessDone(ReadOutcome(generation: read.generation, result: result))
            }
        }
    }

    /// Records a reading that needs no judgment: the VM had no problem, and its figures can be true. False, and
    /// nothing recorded, otherwise.
    private func settle(_ reading: VMReading, ramBytes: UInt64) -> Bool {
        state.withLock { facts in
            guard facts.problem == nil else { return false }
            let actual = reading.actual ?? facts.implausibleActual ?? facts.actual
            guard Plausibility.check(actual: actual, stats: reading.stats, previous: facts.stats, ramBytes: ramBytes) == nil else {
                return false
            }
            if let actual = reading.actual { facts.actual = actual }
            facts.ramBytes = ramBytes
            facts.stats = reading.stats
            return true
        }
    }

    /// What a read without a task brought back and could not settle, judged as the task's own read would be.
    @inline(never)
    private func judge(_ outcome: ReadOutcome, _ session: inout Session) async {
        // From a connection closed since (the task detached it): nothing to judge.
        guard outcome.generation == session.generation, let connection = session.connection else { return }
        do {
            let reading = try outcome.result.get()
            try checkPlausible(reading, ramBytes: connection.ramBytes)
            record(reading, ramBytes: connection.ramBytes, session: &session)
        } catch {
            await detach(&session)
            failed(error, &session)
        }
    }

    /// Opens the connection that stays open; false if it failed (counted, retried after a backoff).
    @inline(never)
    nonisolated(nonsending) private func open(_ session: inout Session) async -> Bool {
        do {
            let connection = try await connect { [self] event in
                switch event {
                case .actualChanged(let actual):
                    state.withLock { facts in
                        if let ram = facts.ramBytes, actual > ram &+ BalloonPages.size {
                            facts.implausibleActual = actual
                        } else {
                            facts.actual = actual
                        }
                    }
                case .shutdown: mailbox.disconnect()
                }
            }
            attach(connection, &session)
            return true
        } catch {
            failed(error, &session)
            return false
        }
    }

    /// `connect = "per_poll"`: connects, reads everything, closes.
    @inline(never)
    nonisolated(nonsending) private func pollOnce(_ session: inout Session) async {
        do {
            let connection = try await connect { _ in }
            let reading: VMReading
            do {
                reading = try await connection.read(includingActual: true)
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
            state.withLock { facts in
                facts.deflateOnOOM = connection.deflateOnOOM
                facts.qemu = connection.qemu
                facts.floorBytes = connection.floorBytes
            }
            try checkPlausible(reading, ramBytes: connection.ramBytes)
            record(reading, ramBytes: connection.ramBytes, session: &session)
        } catch {
            failed(error, &session)
        }
    }

    /// Opens a connection in a turn of the attach gate, in a task of its own: opening a session (greeting,
    /// negotiation, finding the balloon) is the deepest call stack a worker has, and a task keeps the memory of
    /// its deepest stack for as long as it lives; this one's is freed when it ends (~4 KB a VM, BENCHMARKS.md).
    nonisolated(nonsending) private func connect(
        events: @escaping @Sendable (VMEvent) -> Void
    ) async throws -> any VMConnection {
        try await attachGate.withTurn {
            // Unstructured, so that not even the child's own record is kept in this task's memory; cancelled with it.
            let link = self.link, statsInterval = settings.statsInterval
            let opening = Task { try await link.connect(statsInterval: statsInterval, events: events) }
            return try await withTaskCancellationHandler {
                try await opening.value
            } onCancel: {
                opening.cancel()
            }
        }
    }

    private func attach(_ connection: any VMConnection, _ session: inout Session) {
        session.connection = connection
        session.generation += 1
        polls.store(0, ordering: .relaxed)
        if settings.connect == .persistent, let taskless = connection as? any TasklessReading {
            mailbox.allowTaskless(TasklessRead(connection: taskless, generation: session.generation))
        }
        state.withLock { facts in
            facts.attached = true
            facts.connections += 1
            facts.connectionID = Self.connectionIDs.add(1, ordering: .relaxed).newValue
            facts.ramBytes = connection.ramBytes
            facts.deflateOnOOM = connection.deflateOnOOM
            facts.qemu = connection.qemu
            facts.floorBytes = connection.floorBytes
            facts.actual = nil
            facts.implausibleActual = nil
        }
        var metadata: Logger.Metadata = ["vm.ram": "\(MemorySize.format(connection.ramBytes))"]
        if let floor = connection.floorBytes { metadata["vm.floor"] = "\(MemorySize.format(floor))" }
        log(.info, "attached", metadata: metadata)
    }

    @inline(never)
    private func detach(_ session: inout Session) async {
        guard let connection = session.connection else { return }
        mailbox.allowTaskless(nil)
        session.connection = nil
        session.generation += 1
        state.withLock { $0.attached = false }
        await connection.close()
    }

    /// Throws ``ImplausibleFigures`` when the reading (with `actual` from events) cannot be true.
    private func checkPlausible(_ reading: VMReading, ramBytes: UInt64) throws {
        let (actual, previous) = state.withLock { (reading.actual ?? $0.implausibleActual ?? $0.actual, $0.stats) }
        if let lie = Plausibility.check(actual: actual, stats: reading.stats, previous: previous, ramBytes: ramBytes) {
            throw ImplausibleFigures(description: lie)
        }
    }

    private func record(_ reading: VMReading, ramBytes: UInt64, session: inout Session) {
        session.backoff.reset()
        let before = state.withLock { facts in
            let before = facts.problem
            if let actual = reading.actual { facts.actual = actual }
            facts.ramBytes = ramBytes
            facts.stats = reading.stats
            facts.problem = nil
            return before
        }
        guard let before else { return }
        if case .quarantined = before { session.quarantineBackoff.reset() }
        log(.info, "reachable again")
    }

    private func failed(_ error: any Error, _ session: inout Session) {
        let problem = VMProblem(error)
        let quarantined: Bool
        if case .quarantined = problem { quarantined = true } else { quarantined = false }
        let delay = quarantined ? session.quarantineBackoff.nextDelay() : session.backoff.nextDelay()
        session.retryAt = clock.now() + .milliseconds(Int64(delay * 1000))
        let changed = state.withLock { facts -> Bool in
            facts.errors += 1
            facts.reconnects += 1
            let changed = facts.problem != problem
            facts.problem = problem
            // Nothing a misbehaving peer said is kept.
            if quarantined { facts.stats = nil }
            return changed
        }
        if quarantined, changed {
            log(
                .error, "\(problem); nothing it reports is used and it is not acted on; next attempt in \(DurationText.format(seconds: delay))")
        } else if changed {
            log(.warning, "\(problem)")
        } else {
            logger.debug("\(problem); retrying in \(DurationText.format(seconds: delay))")
        }
    }

    // MARK: Changing

    @inline(never)
    private func send(_ bytes: UInt64, _ session: inout Session) async {
        do {
            switch settings.connect {
            case .persistent:
                guard let connection = session.connection else {
                    throw VMWorkerError(description: "not attached")
                }
                try await connection.setTarget(bytes)
            case .perPoll:
                let connection = try await connect { _ in }
                do {
                    try await connection.setTarget(bytes)
                } catch {
                    await connection.close()
                    throw error
                }
                await connection.close()
            }
            state.withLock { $0.lastTarget = bytes }
        } catch {
            state.withLock { $0.errors += 1 }
            log(.warning, "cannot set the balloon: \(PeerText.excerpt("\(error)", limit: 300))")
        }
    }
}

struct VMWorkerError: Error, CustomStringConvertible {
    let description: String
}
