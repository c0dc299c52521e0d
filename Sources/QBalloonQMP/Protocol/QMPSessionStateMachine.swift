import DequeModule
import NIOCore
import QBalloonCore
import QBalloonJSON

/// The client side of a QMP session as a plain value: greeting, capability negotiation, the commands
/// pending with their callers and deadlines, replies matched by id, timeouts, close. It does no I/O; every
/// event returns the action the caller (``QMPChannelHandler``) must carry out.
///
/// It is the one owner of each pending command. `Context` is what answers the command's caller (the
/// handler's promise; a plain value in tests); the machine hands it back in the action that completes or
/// fails it. Time is a parameter: the machine knows every command's deadline, says when the caller's one
/// timer must be armed for an earlier one, and fails what expired when told the timer fired.
///
/// Request ids are the caller's: any `Int` not pending and not ``negotiationID``. QMP sends the id back verbatim.
package struct QMPSessionStateMachine<Context> {
    private enum State: Sendable {
        case awaitingGreeting
        case negotiating(QMPGreeting)
        case ready(QMPGreeting)
        case closed(QMPError)
    }

    /// A command asked for and not answered yet.
    fileprivate struct PendingCommand {
        let id: Int
        let command: QMPCommand
        /// Who waits for the reply. `nil` once the caller was answered without it (timed out, cancelled):
        /// the entry only stays so that the late reply is dropped rather than taken for a protocol violation.
        var context: Context?
        let deadline: NIODeadline
        /// The command's timeout, for the message when it expires.
        let timeout: TimeAmount
    }

    /// The id used for `qmp_capabilities`; callers' ids must differ from it.
    package static var negotiationID: Int { -1 }

    private var state: State = .awaitingGreeting
    /// Every pending command, oldest first. Until negotiation ends none of them has been written; once the
    /// session is ready, all of them have.
    private var pending: Deque<PendingCommand> = []
    /// The deadline the caller's timer is armed for, as far as the machine has asked.
    private var timerDeadline: NIODeadline?
    private let address: String
    /// The most commands pending at once, counting those whose caller gave up and whose reply is still owed.
    private let maxPending: Int

    /// - Parameters:
    ///   - address: the monitor, as errors name it (`unix:/run/qemu/vm.qmp`).
    ///   - maxPending: the most commands pending at once (a monitor that never answers would otherwise keep
    ///     one entry per timed-out command forever).
    package init(address: String, maxPending: Int = 1024) {
        self.address = address
        self.maxPending = max(1, maxPending)
    }

    // MARK: Actions

    /// What to do after ``send(_:id:context:now:timeout:)``.
    package enum SendAction {
        /// Write these bytes. If `armTimer` is set, (re)arm the timer for it: this command's deadline is the
        /// earliest now.
        case write([UInt8], armTimer: NIODeadline?)
        /// Not negotiated yet: the command waits and goes out with ``Action/ready(_:writes:)``. Arm the timer as
        /// for ``write(_:armTimer:)``.
        case wait(armTimer: NIODeadline?)
        /// The session is closed: fail the caller at once.
        case fail(Context, QMPError)
    }

    /// What to do after a message, a failure or a cancellation.
    package enum Action {
        /// Nothing to do.
        case none
        /// Greeting received: send these bytes (`qmp_capabilities`).
        case write([UInt8])
        /// Negotiation done: report the session ready and send the commands that waited for it.
        case ready(QMPGreeting, writes: [[UInt8]])
        /// Complete this caller's command with the value.
        case succeed(Context, JSON)
        /// Fail this caller's command.
        case fail(Context, QMPError)
        /// Pass an event to the listeners.
        case deliver(QMPEvent)
        /// The session cannot go on: fail every listed caller with the error, stop the timer and close the
        /// connection.
        case close(QMPError, failing: [Context])
    }

    /// What to do when the timer fired: ``timerFired(now:)``.
    package struct TimerAction {
        /// The commands whose time ran out, oldest first, each with the error to fail it with.
        package var expired: [(context: Context, error: QMPError)]
        /// Arm the timer again for this deadline, the earliest of the commands still waiting; `nil` if none is.
        package var armTimer: NIODeadline?
    }

    // MARK: Events

    /// The caller wants to run `command` as request `id`, answering `context` with the reply.
    /// - Parameters:
    ///   - now: the current time on the clock the caller's timer runs on.
    ///   - timeout: how long the reply may take.
    package mutating func send(
        _ command: QMPCommand, id: Int, context: Context, now: NIODeadline, timeout: TimeAmount
    ) -> SendAction {
        if case .closed = state {} else if pending.count >= maxPending {
            let abandoned = pending.count { $0.context == nil }
            return .fail(
                context,
                QMPError(
                    code: .tooManyPending, address: address, command: command.name,
                    detail: "\(pending.count) commands are waiting for a reply already (\(abandoned) of them timed out): not sent"))
        }
        switch state {
        case .ready:
            let armTimer = enqueue(command, id: id, context: context, deadline: now + timeout, timeout: timeout)
            return .write(command.encoded(id: id), armTimer: armTimer)
        case .awaitingGreeting, .negotiating:
            return .wait(armTimer: enqueue(command, id: id, context: context, deadline: now + timeout, timeout: timeout))
        case .closed(let error):
            return .fail(context, withCommand(error, command.name))
        }
    }

    /// A message arrived from the server.
    package mutating func received(_ message: QMPMessage) -> Action {
        switch (state, message) {
        case (.awaitingGreeting, .greeting(let greeting)):
            state = .negotiating(greeting)
            return .write(QMPCommand("qmp_capabilities").encoded(id: Self.negotiationID))
        case (.awaitingGreeting, _):
            return violation("expected QMP greeting, got \(message.kind)")
        case (.negotiating(let greeting), .success(let id, _)) where id == .int(Int64(Self.negotiationID)):
            state = .ready(greeting)
            // Nothing is abandoned before the session is ready: a command that times out or is cancelled while
            // waiting leaves the queue, so every entry here has a caller and goes out now.
            var writes: [[UInt8]] = []
            writes.reserveCapacity(pending.count)
            for entry in pending { writes.append(entry.command.encoded(id: entry.id)) }
            return .ready(greeting, writes: writes)
        case (.negotiating, .failure(let id, let serverError)) where id == .int(Int64(Self.negotiationID)):
            return close(
                QMPError(
                    code: .negotiationFailed, address: address, command: "qmp_capabilities", serverError: serverError,
                    detail: "capability negotiation was refused"))
        case (.negotiating, .event(let event)), (.ready, .event(let event)):
            return .deliver(event)
        case (.ready, .success(let id, let value)):
            return reply(id: id) { _, context in .succeed(context, value) }
        case (.ready, .failure(let id, let serverError)):
            let address = self.address
            return reply(id: id) { command, context in
                .fail(
                    context,
                    QMPError(
                        code: .commandFailed, address: address, command: command.name, serverError: serverError,
                        detail: "QEMU refused the command"))
            }
        case (.closed, _):
            return .none
        default:
            return violation("did not expect \(message.kind) now")
        }
    }

    /// What to do after a successful reply whose value the caller of the machine keeps: ``receivedReturn(id:)``.
    package enum ReturnAction {
        /// Complete this caller's command with the reply's value.
        case answer(Context)
        /// Anything else the reply leads to, as for ``received(_:)``.
        case other(Action)
    }

    /// A successful reply arrived; its value stays with the caller of the machine, which hands it to whoever the
    /// machine names (the handler gives a caller jansson's node of it, read without a ``JSON`` tree: issue 14).
    /// Otherwise the same as ``received(_:)`` with ``QMPMessage/success(id:value:)``.
    package mutating func receivedReturn(id: JSON?) -> ReturnAction {
        // The machine hands a reply's value back untouched; it never looks at it. Every poll's reply comes here: in a
        // ready session it goes straight to its command, without the copies of the state and the message that
        // `received(_:)`'s match makes.
        let action =
            if case .ready = state { reply(id: id) { _, context in .succeed(context, .null) } }
            else { received(.success(id: id, value: .null)) }
        return switch action {
        case .succeed(let context, _): .answer(context)
        case let other: .other(other)
        }
    }

    /// The timer fired: fails every command whose deadline is not after `now`. Their replies, if they ever
    /// come, are dropped.
    package mutating func timerFired(now: NIODeadline) -> TimerAction {
        var expired: [(context: Context, error: QMPError)] = []
        var next: NIODeadline?
        // Written commands stay, without their caller, until their late reply comes; waiting ones just leave.
        let written = isReady
        var index = pending.startIndex
        while index < pending.endIndex {
            let entry = pending[index]
            guard let context = entry.context else {
                index += 1
                continue
            }
            guard entry.deadline <= now else {
                next = min(next ?? entry.deadline, entry.deadline)
                index += 1
                continue
            }
            expired.append(
                (
                    context,
                    QMPError(
                        code: .timeout, address: address, command: entry.command.name,
                        detail: "no reply within \(Self.format(entry.timeout))")
                ))
            if written {
                pending[index].context = nil
                index += 1
            } else {
                pending.remove(at: index)
            }
        }
        timerDeadline = next
        return TimerAction(expired: expired, armTimer: next)
    }

    /// The caller gave up on request `id` (its task was cancelled). Its reply, if it ever comes, is dropped.
    package mutating func cancelled(id: Int) -> Action {
        guard let index = pending.firstIndex(where: { $0.id == id }), let context = pending[index].context else {
            return .none
        }
        let error = QMPError(
            code: .connectionClosed, address: address, command: pending[index].command.name, detail: "cancelled")
        if isReady {
            pending[index].context = nil
        } else {
            pending.remove(at: index)
        }
        return .fail(context, error)
    }

    /// The bytes from the server cannot be read as QMP.
    package mutating func receivedGarbage(_ detail: String) -> Action {
        violation(detail)
    }

    /// The session was not open (greeted and negotiated) within `timeout`.
    package mutating func greetingTimedOut(after timeout: TimeAmount) -> Action {
        switch state {
        case .awaitingGreeting:
            return close(
                QMPError(
                    code: .noGreeting, address: address,
                    detail: "no QMP greeting within \(Self.format(timeout)) (is another client connected to this monitor?)"
                ))
        case .negotiating:
            return close(
                QMPError(
                    code: .timeout, address: address, command: "qmp_capabilities",
                    detail: "no reply to capability negotiation within \(Self.format(timeout))"))
        case .ready, .closed:
            return .none
        }
    }

    /// The connection closed, by either side. `reason` is used for requests still open.
    package mutating func connectionClosed(reason: String = "QEMU closed the connection") -> Action {
        if case .closed = state { return .none }
        return close(QMPError(code: .connectionClosed, address: address, detail: reason))
    }

    /// True once the session is negotiated and not closed.
    package var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    /// The error the session closed with, if it has.
    package var closedError: QMPError? {
        if case .closed(let error) = state { return error }
        return nil
    }

    // MARK: Helpers

    /// Adds a command; returns its deadline if the timer must be armed for it.
    private mutating func enqueue(
        _ command: QMPCommand, id: Int, context: Context, deadline: NIODeadline, timeout: TimeAmount
    ) -> NIODeadline? {
        pending.append(PendingCommand(id: id, command: command, context: context, deadline: deadline, timeout: timeout))
        if let armed = timerDeadline, armed <= deadline { return nil }
        timerDeadline = deadline
        return deadline
    }

    private mutating func reply(id: JSON?, _ action: (QMPCommand, Context) -> Action) -> Action {
        guard let id else {
            // QEMU only answers without an id when it could not parse what it got; we never send that.
            return violation("a reply without an id")
        }
        guard let number = id.int64Value.map(Int.init) else { return violation("a reply with an id we never sent: \(id)") }
        // QEMU answers in order, so the match is nearly always the first. The ids are read in place (a search
        // through the elements would copy each entry, its caller and command included).
        var index = pending.startIndex
        while index < pending.endIndex, pending[index].id != number { index += 1 }
        guard index < pending.endIndex else { return violation("a reply with an id we never sent: \(number)") }
        let entry = index == pending.startIndex ? pending.removeFirst() : pending.remove(at: index)
        // No caller: it timed out or was cancelled, and this is the late reply.
        guard let context = entry.context else { return .none }
        return action(entry.command, context)
    }

    private mutating func violation(_ detail: String) -> Action {
        close(QMPError(code: .protocolViolation, address: address, detail: "protocol error: \(detail)"))
    }

    private mutating func close(_ error: QMPError) -> Action {
        let failing = pending.compactMap(\.context)
        pending.removeAll()
        timerDeadline = nil
        state = .closed(error)
        return .close(error, failing: failing)
    }

    private func withCommand(_ error: QMPError, _ name: String) -> QMPError {
        var error = error
        error.command = name
        return error
    }

    private static func format(_ amount: TimeAmount) -> String {
        DurationText.format(seconds: Double(amount.nanoseconds) / 1e9)
    }
}

extension QMPSessionStateMachine: Sendable where Context: Sendable {}
extension QMPSessionStateMachine.PendingCommand: Sendable where Context: Sendable {}
extension QMPSessionStateMachine.SendAction: Sendable where Context: Sendable {}
extension QMPSessionStateMachine.Action: Sendable where Context: Sendable {}
extension QMPSessionStateMachine.TimerAction: Sendable where Context: Sendable {}
extension QMPSessionStateMachine.SendAction: Equatable where Context: Equatable {}
extension QMPSessionStateMachine.Action: Equatable where Context: Equatable {}

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
extension QMPSessionStateMachine.ReturnAction: Equatable where Context: Equatable {}
