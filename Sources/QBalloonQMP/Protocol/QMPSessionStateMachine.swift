import DequeModule
import QBalloonJSON

/// The client side of a QMP session as a plain value: greeting, capability negotiation, commands in
/// flight matched to replies by id, timeouts, close. It does no I/O; every event returns the action
/// the caller (``QMPChannelHandler``) must carry out.
///
/// Request ids are the caller's: any `Int` not in flight. QMP sends the id back verbatim.
public struct QMPSessionStateMachine: Sendable {
    private enum State: Sendable {
        case awaitingGreeting
        case negotiating(QMPGreeting)
        case ready(QMPGreeting)
        case closed(QMPError)
    }

    /// The id used for `qmp_capabilities`; callers' ids must differ from it.
    public static let negotiationID = -1

    private var state: State = .awaitingGreeting
    /// Commands sent and not yet answered, oldest first.
    private var inFlight: Deque<PendingCommand> = []
    /// Commands asked for before negotiation finished.
    private var waiting: Deque<PendingCommand> = []
    /// Ids given up on (timed out or cancelled) whose late replies must be dropped.
    private var abandoned: Set<Int> = []
    private let address: String

    struct PendingCommand: Sendable {
        var id: Int
        var command: QMPCommand
    }

    public init(address: String) {
        self.address = address
    }

    // MARK: Actions

    public enum ReceiveAction: Sendable, Equatable {
        /// Nothing to do.
        case none
        /// Greeting received: send these bytes (`qmp_capabilities`).
        case write([UInt8])
        /// Negotiation done: report the session ready and send the commands that waited for it.
        case ready(QMPGreeting, writes: [[UInt8]])
        /// Complete request `id` with this value.
        case succeed(id: Int, value: JSON)
        /// Fail request `id`.
        case fail(id: Int, error: QMPError)
        /// Pass an event to the listeners.
        case deliver(QMPEvent)
        /// The session cannot go on: fail every listed request with the error and close the connection.
        case close(QMPError, failing: [Int])
    }

    public enum SendAction: Sendable, Equatable {
        case write([UInt8])
        /// Not negotiated yet: the command waits and goes out with ``ReceiveAction/ready(_:writes:)``.
        case wait
        case fail(QMPError)
    }

    // MARK: Events

    /// The caller wants to run `command` as request `id`.
    public mutating func send(_ command: QMPCommand, id: Int) -> SendAction {
        switch state {
        case .ready:
            inFlight.append(PendingCommand(id: id, command: command))
            return .write(command.encoded(id: id))
        case .awaitingGreeting, .negotiating:
            waiting.append(PendingCommand(id: id, command: command))
            return .wait
        case .closed(let error):
            return .fail(withCommand(error, command.name))
        }
    }

    /// A message arrived from the server.
    public mutating func received(_ message: QMPMessage) -> ReceiveAction {
        switch (state, message) {
        case (.awaitingGreeting, .greeting(let greeting)):
            state = .negotiating(greeting)
            return .write(QMPCommand("qmp_capabilities").encoded(id: Self.negotiationID))
        case (.awaitingGreeting, _):
            return violation("expected QMP greeting, got \(message.kind)")
        case (.negotiating(let greeting), .success(let id, _)) where id == .int(Int64(Self.negotiationID)):
            state = .ready(greeting)
            var writes: [[UInt8]] = []
            while let next = waiting.popFirst() {
                inFlight.append(next)
                writes.append(next.command.encoded(id: next.id))
            }
            return .ready(greeting, writes: writes)
        case (.negotiating, .failure(let id, let serverError)) where id == .int(Int64(Self.negotiationID)):
            return close(
                QMPError(
                    code: .negotiationFailed, address: address, command: "qmp_capabilities", serverError: serverError,
                    detail: "capability negotiation was refused"))
        case (.negotiating, .event(let event)), (.ready, .event(let event)):
            return .deliver(event)
        case (.ready, .success(let id, let value)):
            return reply(id: id) { pending in .succeed(id: pending.id, value: value) }
        case (.ready, .failure(let id, let serverError)):
            let address = self.address
            return reply(id: id) { pending in
                .fail(
                    id: pending.id,
                    error: QMPError(
                        code: .commandFailed, address: address, command: pending.command.name,
                        serverError: serverError, detail: "QEMU refused the command"))
            }
        case (.closed, _):
            return .none
        default:
            return violation("did not expect \(message.kind) now")
        }
    }

    /// Request `id` ran out of time. Its reply, if it ever comes, is dropped.
    public mutating func timedOut(id: Int, after seconds: Double) -> ReceiveAction {
        let address = self.address
        return abandon(id) { command in
            QMPError(
                code: .timeout, address: address, command: command.name,
                detail: "no reply within \(Self.formatSeconds(seconds))")
        }
    }

    /// The caller gave up on request `id` (its task was cancelled).
    public mutating func cancelled(id: Int) -> ReceiveAction {
        let address = self.address
        return abandon(id) { command in
            QMPError(code: .connectionClosed, address: address, command: command.name, detail: "cancelled")
        }
    }

    /// The bytes from the server cannot be read as QMP.
    public mutating func receivedGarbage(_ detail: String) -> ReceiveAction {
        violation(detail)
    }

    /// The session was not open (greeted and negotiated) in time.
    public mutating func greetingTimedOut(after seconds: Double) -> ReceiveAction {
        switch state {
        case .awaitingGreeting:
            return close(
                QMPError(
                    code: .noGreeting, address: address,
                    detail: "no QMP greeting within \(Self.formatSeconds(seconds)) (is another client connected to this monitor?)"))
        case .negotiating:
            return close(
                QMPError(
                    code: .timeout, address: address, command: "qmp_capabilities",
                    detail: "no reply to capability negotiation within \(Self.formatSeconds(seconds))"))
        case .ready, .closed:
            return .none
        }
    }

    /// The connection closed, by either side. `reason` is used for requests still open.
    public mutating func connectionClosed(reason: String = "QEMU closed the connection") -> ReceiveAction {
        if case .closed = state { return .none }
        return close(QMPError(code: .connectionClosed, address: address, detail: reason))
    }

    /// True once the session is negotiated and not closed.
    public var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    /// The error the session closed with, if it has.
    public var closedError: QMPError? {
        if case .closed(let error) = state { return error }
        return nil
    }

    // MARK: Helpers

    private mutating func reply(id: JSON?, _ action: (PendingCommand) -> ReceiveAction) -> ReceiveAction {
        guard let id else {
            // QEMU only answers without an id when it could not parse what it got; we never send that.
            return violation("a reply without an id")
        }
        guard let number = id.int64Value.map(Int.init) else { return violation("a reply with an id we never sent: \(id)") }
        if abandoned.remove(number) != nil { return .none }
        // QEMU answers in order, so the match is nearly always the first.
        guard let index = inFlight.firstIndex(where: { $0.id == number }) else {
            return violation("a reply with an id we never sent: \(number)")
        }
        return action(inFlight.remove(at: index))
    }

    private mutating func abandon(_ id: Int, _ error: (QMPCommand) -> QMPError) -> ReceiveAction {
        if let index = inFlight.firstIndex(where: { $0.id == id }) {
            let pending = inFlight.remove(at: index)
            abandoned.insert(id)
            return .fail(id: id, error: error(pending.command))
        }
        if let index = waiting.firstIndex(where: { $0.id == id }) {
            let pending = waiting.remove(at: index)
            return .fail(id: id, error: error(pending.command))
        }
        return .none
    }

    private mutating func violation(_ detail: String) -> ReceiveAction {
        close(QMPError(code: .protocolViolation, address: address, detail: "protocol error: \(detail)"))
    }

    private mutating func close(_ error: QMPError) -> ReceiveAction {
        let failing = inFlight.map(\.id) + waiting.map(\.id)
        inFlight.removeAll()
        waiting.removeAll()
        abandoned.removeAll()
        state = .closed(error)
        return .close(error, failing: failing)
    }

    private func withCommand(_ error: QMPError, _ name: String) -> QMPError {
        var error = error
        error.command = name
        return error
    }

    static func formatSeconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}

extension QMPMessage {
    var kind: String {
        switch self {
        case .greeting: return "a greeting"
        case .success: return "a reply"
        case .failure: return "an error reply"
        case .event(let event): return "event \(event.name)"
        }
    }
}

extension QMPError: Equatable {
    public static func == (lhs: QMPError, rhs: QMPError) -> Bool {
        lhs.code == rhs.code && lhs.address == rhs.address && lhs.command == rhs.command
            && lhs.serverError == rhs.serverError && lhs.detail == rhs.detail
    }
}
