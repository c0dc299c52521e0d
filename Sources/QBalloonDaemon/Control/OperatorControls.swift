import Logging
import QBalloonCore
import QBalloonJSON
import QBalloonRules
import Synchronization

/// The operator's side of the daemon: pins and pauses (kept in the state directory), the latest round for whoever
/// asks, the live feed, and the record of every act in the log and the decision log (`"rule": "operator"`).
/// The control socket's endpoints call it; the decision loop reads the holds each round and hands it each round's
/// snapshot.
package final class OperatorControls: Sendable {
    package let events = ControlEvents()
    private let store: OperatorStateFile?
    private let logger: Logger
    private let decisionLog: DecisionLog?
    private let metrics: DaemonMetrics?
    private let wallClock: WallClock
    private let holds: Mutex<OperatorHolds>
    /// The latest round: made into a ``ControlSnapshot`` the first time someone asks for it (most rounds, nobody
    /// does).
    private let latest = Mutex<LatestRound?>(nil)
    /// Wakes the decision loop for a round now (set by the daemon once the loop exists).
    private let wake = Mutex<(@Sendable () -> Void)?>(nil)
    private let reloader = Mutex<(@Sendable () async -> ReloadOutcome)?>(nil)

    /// Loads the holds kept in `stateDirectory` (nil: kept in memory only); a file that cannot be read is set aside
    /// and reported in the log.
    package init(
        stateDirectory: String?, logger: Logger, decisionLog: DecisionLog?, metrics: DaemonMetrics? = nil, wallClock: WallClock
    ) {
        self.store = stateDirectory.map { OperatorStateFile(directory: $0) }
        self.logger = logger
        self.decisionLog = decisionLog
        self.metrics = metrics
        self.wallClock = wallClock
        var initial = OperatorHolds()
        if let store {
            let loaded = store.load(now: wallClock.now())
            if let problem = loaded.problem { logger.error("\(problem)") }
            initial = loaded.holds
            if !initial.isEmpty {
                let pins = initial.pins.keys.sorted().joined(separator: ", ")
                let paused = initial.hostPaused ? "the whole host" : initial.paused.sorted().joined(separator: ", ")
                logger.notice(
                    "operator holds from \(store.path): pinned: \(pins.isEmpty ? "none" : pins); paused: \(paused.isEmpty ? "none" : paused)")
            }
        }
        self.holds = Mutex(initial)
    }

    func connect(wake: @escaping @Sendable () -> Void, reload: @escaping @Sendable () async -> ReloadOutcome) {
        self.wake.withLock { $0 = wake }
        self.reloader.withLock { $0 = reload }
    }

    /// The holds as they are now.
    package var current: OperatorHolds { holds.withLock { $0 } }

    /// The latest round, once there was one.
    package var snapshot: ControlSnapshot? {
        latest.withLock { latest in
            switch latest {
            case nil:
                return nil
            case .made(let snapshot):
                return snapshot
            case .pending(let make):
                let snapshot = make()
                latest = .made(snapshot)
                return snapshot
            }
        }
    }

    // MARK: For the decision loop

    /// The holds for this round, after ending the pins whose time is up (each one logged and recorded).
    func holdsForRound(now: Double) -> OperatorHolds {
        let (current, ended) = holds.withLock { holds -> (OperatorHolds, [String]) in
            let ended = holds.expire(now: now)
            if !ended.isEmpty { persist(holds) }
            return (holds, ended)
        }
        for vm in ended { record("expire", vm: vm, message: "\(vm): its pin ran out; the rules take over", now: now) }
        return current
    }

    /// Keeps the round for the endpoints, and sends it (and its balloon changes) to the live feed. The round is
    /// kept as what makes its snapshot: `make` runs when an endpoint first asks, or now if someone follows the live
    /// feed, which gets the round and those of `decisions` that change a balloon. A round nobody asks about costs
    /// the loop nothing but what `make` holds.
    func publish(_ make: @escaping @Sendable () -> ControlSnapshot, decisions: [Decision]) {
        guard events.hasSubscribers else {
            latest.withLock { $0 = .pending(make) }
            return
        }
        let snapshot = make()
        latest.withLock { $0 = .made(snapshot) }
        events.publish(snapshot.roundEvent)
        for change in decisions where change.changes {
            events.publish([
                "type": "decision", "time": .double(ControlSnapshot.rounded(snapshot.time)), "vm": .string(change.vm),
                "decision": ControlSnapshot.Stamped(time: snapshot.time, decision: change).json,
            ])
        }
    }

    // MARK: Operator acts

    /// Pins `vm` to `size` (bytes, or a percentage of its max), for `duration` if given.
    package func pin(_ vm: String, size: MemorySize, for duration: Duration?) throws(ControlFailure) -> String {
        let entry = try known(vm)
        if let limits = entry.limits {
            let bytes = size.bytes(ofMax: limits.max)
            if bytes > limits.max {
                throw ControlFailure(
                    .badRequest, "\(vm): \(MemorySize.format(bytes)) is above its max \(MemorySize.format(limits.max))")
            }
            if bytes < BalloonPages.size {
                throw ControlFailure(.badRequest, "\(vm): a pin of \(MemorySize.format(bytes)) leaves the guest nothing")
            }
        }
        if let duration, duration <= .zero { throw ControlFailure(.badRequest, "'for' must be more than 0") }
        let now = wallClock.now()
        let until = duration.map { now + $0.seconds }
        let pin = OperatorHolds.Pin(size: size, since: now, until: until)
        try change { $0.pins[vm] = pin }
        let shown = entry.limits.map { MemorySize.format(pin.bytes(max: $0.max)) } ?? size.description
        var message = "\(vm) pinned to \(shown)"
        if case .percentOfMax = size { message += " (\(size) of its max)" }
        if let duration, let until { message += " for \(DurationText.format(duration)), until \(ClockText.utc(until))" }
        record("pin", vm: vm, message: message, now: now, size: entry.limits.map { pin.bytes(max: $0.max) })
        return message
    }

    package func unpin(_ vm: String) throws(ControlFailure) -> String {
        _ = try known(vm)
        let was = try change { $0.pins.removeValue(forKey: vm) != nil }
        guard was else { return "\(vm) was not pinned" }
        let message = "\(vm) unpinned; the rules take over"
        record("unpin", vm: vm, message: message, now: wallClock.now())
        return message
    }

    /// Pauses one VM, or (nil) the whole host.
    package func pause(_ vm: String?) throws(ControlFailure) -> String {
        let message: String
        if let vm {
            _ = try known(vm)
            let done = try change { holds -> Bool in
                if holds.hostPaused { return false }
                return holds.paused.insert(vm).inserted
            }
            guard done else { return current.hostPaused ? "the whole host is paused already" : "\(vm) was paused already" }
            message = "\(vm) paused: it is still read and shown, nothing is sent to it"
        } else {
            let done = try change { holds -> Bool in
                defer { holds.hostPaused = true }
                return !holds.hostPaused
            }
            guard done else { return "the whole host was paused already" }
            message = "the whole host paused: every VM is still read and shown, nothing is sent to any"
        }
        record("pause", vm: vm, message: message, now: wallClock.now())
        return message
    }

    /// Resumes one VM, or (nil) the whole host and every VM paused on its own.
    package func resume(_ vm: String?) throws(ControlFailure) -> String {
        let message: String
        if let vm {
            _ = try known(vm)
            let (done, hostPaused) = try change { ($0.paused.remove(vm) != nil, $0.hostPaused) }
            guard done else {
                return hostPaused ? "\(vm) was not paused on its own: the whole host is (qballoon resume, with no VM)" : "\(vm) was not paused"
            }
            message = "\(vm) resumed" + (hostPaused ? ", but the whole host is still paused" : "")
        } else {
            let done = try change { holds -> Bool in
                defer {
                    holds.hostPaused = false
                    holds.paused = []
                }
                return holds.hostPaused || !holds.paused.isEmpty
            }
            guard done else { return "nothing was paused" }
            message = "resumed: the whole host and every VM"
        }
        record("resume", vm: vm, message: message, now: wallClock.now())
        return message
    }

    /// Loads the config again, as SIGHUP does; the outcome says what happened.
    package func reload() async -> ReloadOutcome {
        guard let reload = reloader.withLock({ $0 }) else { return .refused("the daemon is not running yet") }
        let outcome = await reload()
        switch outcome {
        case .reloaded(let path): record("reload", vm: nil, message: "reloaded \(path)", now: wallClock.now(), wakes: false)
        case .refused(let reason): record("reload", vm: nil, message: "reload refused: \(reason)", now: wallClock.now(), wakes: false)
        }
        return outcome
    }

    // MARK: Helpers

    private func known(_ vm: String) throws(ControlFailure) -> ControlSnapshot.VM {
        guard let snapshot = self.snapshot else {
            throw ControlFailure(.unavailable, "the daemon has not made its first round yet: try again in a moment")
        }
        if let entry = snapshot.vm(vm) { return entry }
        throw ControlFailure.unknownVM(vm, known: snapshot.names)
    }

    /// Changes the holds and writes them down; if they cannot be written, nothing changes.
    private func change<T>(_ body: (inout OperatorHolds) -> T) throws(ControlFailure) -> T {
        let result: Result<T, ControlFailure> = holds.withLock { holds in
            var changed = holds
            let value = body(&changed)
            if changed != holds, let store {
                do {
                    try store.save(changed)
                } catch {
                    return .failure(ControlFailure(.internalError, "cannot keep the change: \(error)"))
                }
            }
            holds = changed
            return .success(value)
        }
        return try result.get()
    }

    /// Writes the holds down from the round (an expired pin): a failure is logged, the round goes on.
    private func persist(_ holds: OperatorHolds) {
        guard let store else { return }
        do {
            try store.save(holds)
        } catch {
            logger.error("cannot keep the operator's holds: \(error)")
        }
    }

    private func record(_ act: String, vm: String?, message: String, now: Double, size: UInt64? = nil, wakes: Bool = true) {
        var metadata: Logger.Metadata = ["operator.act": "\(act)"]
        if let vm { metadata["vm.name"] = "\(vm)" }
        logger.notice("\(message)", metadata: metadata)
        decisionLog?.appendOperatorAct(act, vm: vm, message: message, size: size, at: now)
        metrics?.countOperatorAct(act)
        events.publish([
            "type": "operator", "time": .double(ControlSnapshot.rounded(now)), "act": .string(act),
            "vm": vm.map(JSON.string) ?? .null, "message": .string(message),
        ])
        if wakes, let wake = wake.withLock({ $0 }) { wake() }
    }
}

/// The latest round as ``OperatorControls`` keeps it: a snapshot, or what makes one.
private enum LatestRound {
    case made(ControlSnapshot)
    case pending(@Sendable () -> ControlSnapshot)
}

/// What became of a reload.
package enum ReloadOutcome: Sendable, Hashable {
    case reloaded(String)
    /// The running config stays: why.
    case refused(String)
}

/// An endpoint's refusal: the HTTP status and one line naming the thing at fault.
package struct ControlFailure: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable {
        case badRequest, notFound, methodNotAllowed, unprocessable, tooLarge, unavailable, internalError

        package var status: Int {
            switch self {
            case .badRequest: return 400
            case .notFound: return 404
            case .methodNotAllowed: return 405
            case .tooLarge: return 413
            case .unprocessable: return 422
            case .internalError: return 500
            case .unavailable: return 503
            }
        }
    }

    package let kind: Kind
    package let message: String
    /// For an unknown VM: the VMs there are.
    package let known: [String]?

    package init(_ kind: Kind, _ message: String, known: [String]? = nil) {
        self.kind = kind
        self.message = message
        self.known = known
    }

    /// `no VM named 'x' (known: a, b)`, with the names there are.
    package static func unknownVM(_ name: String, known names: [String]) -> ControlFailure {
        ControlFailure(
            .notFound, "no VM named '\(PeerText.excerpt(name, limit: 100))' (known: \(names.isEmpty ? "none" : names.joined(separator: ", ")))",
            known: names)
    }

    package var description: String { message }
}
