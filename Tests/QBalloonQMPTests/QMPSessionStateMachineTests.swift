import NIOCore
import QBalloonJSON
import QBalloonQMP
import Testing

/// Each command's context is its id, so the actions read like the requests they answer.
private typealias Machine = QMPSessionStateMachine<Int>

private let address = "unix:/run/qemu/test.qmp"
private let greeting = QMPGreeting(
    version: QEMUVersion(major: 7, minor: 2, micro: 22, package: "Debian 1:7.2+dfsg-7+deb12u7"), capabilities: ["oob"])
private let negotiated = QMPMessage.success(id: .int(Int64(Machine.negotiationID)), value: .object([:]))
/// Time 0 on the machine's clock.
private let start = NIODeadline.uptimeNanoseconds(0)
private let defaultTimeout = TimeAmount.seconds(10)

extension QMPSessionStateMachine where Context == Int {
    /// Sends as request `id` with context `id`.
    fileprivate mutating func send(
        _ command: QMPCommand, id: Int, at now: NIODeadline = start, timeout: TimeAmount = defaultTimeout
    ) -> SendAction {
        send(command, id: id, context: id, now: now, timeout: timeout)
    }
}

/// The JSON a `.write` carries, checked to be one compact line.
private func written(_ bytes: [UInt8]) throws -> JSON {
    #expect(bytes.last == UInt8(ascii: "\n"))
    #expect(bytes.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") })
    return try JSON.decode(bytes)
}

private func written(_ action: Machine.SendAction) throws -> JSON {
    guard case .write(let bytes, _) = action else {
        Issue.record("expected a write, got \(action)")
        return .null
    }
    return try written(bytes)
}

private func reply(_ id: Int, _ value: JSON = .object([:])) -> QMPMessage {
    .success(id: .int(Int64(id)), value: value)
}

private func errorReply(_ id: JSON?, _ errorClass: String = "GenericError", _ desc: String = "boom") -> QMPMessage {
    .failure(id: id, error: QMPServerError(errorClass: errorClass, desc: desc))
}

private func timeoutError(_ command: String, _ detail: String) -> QMPError {
    QMPError(code: .timeout, address: address, command: command, detail: detail)
}

private let balloonChange = QMPEvent(name: "BALLOON_CHANGE", data: .object(["actual": .int(1 << 30)]), timestamp: 1.5)

/// A machine past negotiation.
private func readyMachine() -> Machine {
    var machine = Machine(address: address)
    _ = machine.received(.greeting(greeting))
    #expect(machine.received(negotiated) == .ready(greeting, writes: []))
    return machine
}

@Suite struct QMPSessionStateMachineTests {
    @Test func greetingStartsNegotiation() throws {
        var machine = Machine(address: address)
        #expect(!machine.isReady)
        guard case .write(let bytes) = machine.received(.greeting(greeting)) else {
            Issue.record("greeting must write qmp_capabilities")
            return
        }
        let command = try written(bytes)
        #expect(command["execute"] == .string("qmp_capabilities"))
        #expect(command["id"] == .int(Int64(Machine.negotiationID)))
        #expect(command["arguments"] == nil)
        #expect(!machine.isReady)
        #expect(machine.received(negotiated) == .ready(greeting, writes: []))
        #expect(machine.isReady)
        #expect(machine.closedError == nil)
    }

    @Test func commandsBeforeNegotiationWaitAndGoOutWhenReady() throws {
        var machine = Machine(address: address)
        #expect(machine.send(QMPCommand("query-balloon"), id: 1) == .wait(armTimer: start + defaultTimeout))
        _ = machine.received(.greeting(greeting))
        #expect(machine.send(QMPCommand("balloon", arguments: ["value": .int(1 << 30)]), id: 2) == .wait(armTimer: nil))

        guard case .ready(let got, let writes) = machine.received(negotiated) else {
            Issue.record("negotiation must make the session ready")
            return
        }
        #expect(got == greeting)
        try #require(writes.count == 2)
        let first = try written(writes[0])
        let second = try written(writes[1])
        #expect(first == .object(["execute": .string("query-balloon"), "id": .int(1)]))
        #expect(
            second
                == .object([
                    "execute": .string("balloon"), "id": .int(2), "arguments": .object(["value": .int(1 << 30)]),
                ]))
        let actual = JSON.object(["actual": .int(5)])
        #expect(machine.received(reply(1, actual)) == .succeed(1, actual))
        #expect(machine.received(reply(2)) == .succeed(2, .object([:])))
    }

    /// A reply whose value the handler keeps (it hands the caller jansson's node): routed as `received` routes it.
    @Test func aReturnKeptByTheCallerIsRoutedTheSameWay() {
        var machine = Machine(address: address)
        _ = machine.received(.greeting(greeting))
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        // The negotiation's reply: the session gets ready and sends what waited, no caller answered.
        #expect(machine.receivedReturn(id: .int(Int64(Machine.negotiationID))) == .other(.ready(greeting, writes: [QMPCommand("query-balloon").encoded(id: 1)])))
        _ = machine.send(QMPCommand("query-balloon"), id: 2)
        #expect(machine.receivedReturn(id: .int(2)) == .answer(2))
        #expect(machine.receivedReturn(id: .int(1)) == .answer(1))
        // Nobody asked for id 9: the same violation as `received` reports.
        var twin = machine
        let violation = twin.received(reply(9))
        guard case .close = violation else {
            Issue.record("expected the session to close, got \(violation)")
            return
        }
        #expect(machine.receivedReturn(id: .int(9)) == .other(violation))
    }

    @Test func commandsWhenReadyAreWrittenAtOnce() throws {
        var machine = readyMachine()
        let qomGet = QMPCommand("qom-get", arguments: ["path": "/machine", "property": "type"])
        let action = machine.send(qomGet, id: 7)
        #expect(action == .write(qomGet.encoded(id: 7), armTimer: start + defaultTimeout))
        let command = try written(action)
        #expect(command["execute"] == .string("qom-get"))
        #expect(command["id"] == .int(7))
        #expect(command["arguments"] == .object(["path": .string("/machine"), "property": .string("type")]))
    }

    @Test func repliesAreMatchedByIdEvenOutOfOrder() {
        var machine = readyMachine()
        for id in 1...3 { _ = machine.send(QMPCommand("query-balloon"), id: id) }
        #expect(machine.received(reply(3, .int(30))) == .succeed(3, .int(30)))
        #expect(machine.received(reply(1, .int(10))) == .succeed(1, .int(10)))
        #expect(machine.received(reply(2, .int(20))) == .succeed(2, .int(20)))
        #expect(machine.isReady)
        // Answered commands are gone: the same ids again are not ours.
        guard case .close(let error, failing: []) = machine.received(reply(2)) else {
            Issue.record("a second reply to an answered id must close the session")
            return
        }
        #expect(error.detail == "protocol error: a reply with an id we never sent: 2")
    }

    @Test func contextsAreHandedBackNotIDs() {
        // The context is whatever the caller needs to answer the command; here it differs from the id.
        var machine = QMPSessionStateMachine<String>(address: address)
        _ = machine.received(.greeting(greeting))
        _ = machine.received(negotiated)
        _ = machine.send(QMPCommand("query-balloon"), id: 41, context: "first caller", now: start, timeout: .seconds(1))
        _ = machine.send(QMPCommand("query-status"), id: 42, context: "second caller", now: start, timeout: .seconds(1))
        #expect(machine.received(reply(42)) == .succeed("second caller", .object([:])))
        let error = QMPError(code: .connectionClosed, address: address, detail: "QEMU closed the connection")
        #expect(machine.connectionClosed() == .close(error, failing: ["first caller"]))
    }

    @Test func errorReplyFailsTheCommandWithQEMUsWords() throws {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("balloon", arguments: ["value": .int(0)]), id: 4)
        let action = machine.received(errorReply(.int(4), "GenericError", "Parameter 'target' expects a size"))
        guard case .fail(let context, let error) = action else {
            Issue.record("expected .fail, got \(action)")
            return
        }
        #expect(context == 4)
        #expect(error.code == .commandFailed)
        #expect(error.command == "balloon")
        #expect(error.address == address)
        #expect(error.serverError?.errorClass == "GenericError")
        #expect(error.serverError?.desc == "Parameter 'target' expects a size")
        #expect(
            error.description
                == "unix:/run/qemu/test.qmp: balloon: QEMU refused the command "
                + "(QEMU said GenericError: Parameter 'target' expects a size)")
        #expect(machine.isReady, "an error reply does not end the session")
    }

    @Test func eventsAreDeliveredDuringNegotiationAndAfter() {
        var machine = Machine(address: address)
        _ = machine.received(.greeting(greeting))
        #expect(machine.received(.event(balloonChange)) == .deliver(balloonChange))
        _ = machine.received(negotiated)
        _ = machine.send(QMPCommand("balloon"), id: 1)
        // An event can come before the reply to the command that caused it.
        #expect(machine.received(.event(balloonChange)) == .deliver(balloonChange))
        #expect(machine.received(reply(1)) == .succeed(1, .object([:])))
    }

    // MARK: Deadlines

    @Test func theTimerIsArmedOnlyForAnEarlierDeadline() {
        var machine = readyMachine()
        let query = QMPCommand("query-balloon")
        let bytes = { (id: Int) in query.encoded(id: id) }
        // The first deadline arms the timer; a later one leaves it; an earlier one re-arms it.
        #expect(machine.send(query, id: 1, timeout: .seconds(10)) == .write(bytes(1), armTimer: start + .seconds(10)))
        #expect(machine.send(query, id: 2, timeout: .seconds(30)) == .write(bytes(2), armTimer: nil))
        #expect(machine.send(query, id: 3, timeout: .seconds(10)) == .write(bytes(3), armTimer: nil))
        #expect(machine.send(query, id: 4, timeout: .seconds(2)) == .write(bytes(4), armTimer: start + .seconds(2)))
        let later = start + .seconds(5)
        #expect(machine.send(query, id: 5, at: later, timeout: .seconds(1)) == .write(bytes(5), armTimer: nil))
        #expect(machine.send(query, id: 6, at: later, timeout: .milliseconds(500)) == .write(bytes(6), armTimer: nil))
    }

    @Test(arguments: [(TimeAmount.seconds(2), "no reply within 2s"), (.milliseconds(500), "no reply within 500ms")])
    func timeoutFailsTheCommandAndDropsTheLateReply(timeout: TimeAmount, detail: String) {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("query-balloon"), id: 1, timeout: timeout)
        _ = machine.send(QMPCommand("query-balloon"), id: 2, timeout: .seconds(60))
        let fired = machine.timerFired(now: start + timeout)
        #expect(fired.expired.map(\.context) == [1])
        #expect(fired.expired.map(\.error) == [timeoutError("query-balloon", detail)])
        #expect(fired.armTimer == start + .seconds(60))
        // Firing again fails nothing more.
        let again = machine.timerFired(now: start + timeout)
        #expect(again.expired.isEmpty)
        #expect(again.armTimer == start + .seconds(60))
        // The late reply is dropped, not a protocol violation, and the session goes on.
        #expect(machine.received(reply(1)) == .none)
        #expect(machine.received(reply(2)) == .succeed(2, .object([:])))
        #expect(machine.isReady)
        // A late error reply is dropped the same way.
        _ = machine.send(QMPCommand("balloon"), id: 3, timeout: timeout)
        #expect(machine.timerFired(now: start + timeout).expired.map(\.context) == [3])
        #expect(machine.received(errorReply(.int(3))) == .none)
        #expect(machine.isReady)
        // Its entry is gone with the late reply: a second one is not ours.
        guard case .close = machine.received(reply(3)) else {
            Issue.record("a second late reply must close the session")
            return
        }
    }

    @Test func onlyExpiredCommandsFailOldestFirst() {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("a"), id: 1, timeout: .seconds(3))
        _ = machine.send(QMPCommand("b"), id: 2, timeout: .seconds(1))
        _ = machine.send(QMPCommand("c"), id: 3, timeout: .seconds(5))
        _ = machine.send(QMPCommand("d"), id: 4, timeout: .seconds(2))
        let fired = machine.timerFired(now: start + .seconds(2))
        #expect(fired.expired.map(\.context) == [2, 4])
        #expect(fired.expired.map(\.error) == [timeoutError("b", "no reply within 1s"), timeoutError("d", "no reply within 2s")])
        #expect(fired.armTimer == start + .seconds(3))
        #expect(machine.received(reply(3)) == .succeed(3, .object([:])))
        let last = machine.timerFired(now: start + .seconds(3))
        #expect(last.expired.map(\.context) == [1])
        #expect(last.armTimer == nil, "command 3 was answered, nothing is left to time")
        // The timer was not re-armed: the next command arms it again.
        #expect(machine.send(QMPCommand("e"), id: 5, at: start + .seconds(4)) == .write(QMPCommand("e").encoded(id: 5), armTimer: start + .seconds(14)))
    }

    @Test func aTimerFiringEarlyFailsNothingAndReArms() {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("query-balloon"), id: 1, timeout: .seconds(1))
        _ = machine.send(QMPCommand("query-balloon"), id: 2, timeout: .seconds(4))
        // Command 1 was answered, so when the timer armed for it fires, nothing is due.
        _ = machine.received(reply(1))
        let fired = machine.timerFired(now: start + .seconds(1))
        #expect(fired.expired.isEmpty)
        #expect(fired.armTimer == start + .seconds(4))
        // An answered or timed-out command does not count for the next deadline.
        #expect(machine.timerFired(now: start + .seconds(4)).expired.map(\.context) == [2])
        #expect(machine.timerFired(now: start + .seconds(9)).armTimer == nil)
    }

    @Test func waitingCommandsTimeOutAndNeverGoOut() throws {
        var machine = Machine(address: address)
        _ = machine.send(QMPCommand("first"), id: 1, timeout: .seconds(1))
        _ = machine.send(QMPCommand("second"), id: 2, timeout: .seconds(5))
        _ = machine.received(.greeting(greeting))
        let fired = machine.timerFired(now: start + .seconds(1))
        #expect(fired.expired.map(\.context) == [1])
        #expect(fired.expired.map(\.error) == [timeoutError("first", "no reply within 1s")])
        #expect(fired.armTimer == start + .seconds(5))
        guard case .ready(_, let writes) = machine.received(negotiated) else {
            Issue.record("expected ready")
            return
        }
        try #require(writes.count == 1)
        #expect(try written(writes[0])["execute"] == .string("second"))
    }

    // MARK: Cancellation

    @Test func cancellationFailsTheCommandAndDropsTheLateReply() {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        let expected = QMPError(
            code: .connectionClosed, address: address, command: "query-balloon", detail: "cancelled")
        #expect(machine.cancelled(id: 1) == .fail(1, expected))
        #expect(machine.cancelled(id: 1) == .none)
        #expect(machine.cancelled(id: 99) == .none)
        // A cancelled command no longer times out.
        #expect(machine.timerFired(now: start + defaultTimeout).expired.isEmpty)
        #expect(machine.received(reply(1)) == .none)
        #expect(machine.isReady)
    }

    @Test func cancellingAWaitingCommandKeepsItOffTheWire() throws {
        var machine = Machine(address: address)
        #expect(machine.send(QMPCommand("first"), id: 1) == .wait(armTimer: start + defaultTimeout))
        #expect(machine.send(QMPCommand("second"), id: 2) == .wait(armTimer: nil))
        guard case .fail(1, _) = machine.cancelled(id: 1) else {
            Issue.record("cancelling a waiting command must fail it")
            return
        }
        _ = machine.received(.greeting(greeting))
        guard case .ready(_, let writes) = machine.received(negotiated) else {
            Issue.record("expected ready")
            return
        }
        try #require(writes.count == 1)
        #expect(try written(writes[0])["execute"] == .string("second"))
    }

    // MARK: Violations and close

    static let violations: [(QMPMessage, String)] = [
        (reply(42), "a reply with an id we never sent: 42"),
        (.success(id: nil, value: .object([:])), "a reply without an id"),
        (errorReply(nil, "GenericError", "JSON parse error"), "a reply without an id"),
        (errorReply(.int(42)), "a reply with an id we never sent: 42"),
        (.success(id: .string("1"), value: .object([:])), #"a reply with an id we never sent: "1""#),
        (.greeting(greeting), "did not expect a greeting now"),
    ]

    @Test(arguments: violations)
    func unexpectedMessageClosesAndFailsEverythingPending(message: QMPMessage, detail: String) {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("a"), id: 1)
        _ = machine.send(QMPCommand("b"), id: 2)
        _ = machine.send(QMPCommand("c"), id: 3, timeout: .seconds(1))
        #expect(machine.timerFired(now: start + .seconds(1)).expired.map(\.context) == [3])
        let error = QMPError(code: .protocolViolation, address: address, detail: "protocol error: \(detail)")
        // Command 3's caller was answered already: only 1 and 2 fail.
        #expect(machine.received(message) == .close(error, failing: [1, 2]))
        #expect(machine.closedError == error)
        #expect(!machine.isReady)
        // Once closed, nothing more happens.
        #expect(machine.received(reply(1)) == .none)
        #expect(machine.connectionClosed() == .none)
        #expect(machine.cancelled(id: 2) == .none)
        let fired = machine.timerFired(now: start + .seconds(60))
        #expect(fired.expired.isEmpty)
        #expect(fired.armTimer == nil)
    }

    @Test func negotiationRefused() {
        var machine = Machine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        _ = machine.received(.greeting(greeting))
        let serverError = QMPServerError(errorClass: "CommandNotFound", desc: "nope")
        let expected = QMPError(
            code: .negotiationFailed, address: address, command: "qmp_capabilities", serverError: serverError,
            detail: "capability negotiation was refused")
        #expect(
            machine.received(.failure(id: .int(Int64(Machine.negotiationID)), error: serverError))
                == .close(expected, failing: [1]))
        #expect(machine.closedError?.code == .negotiationFailed)
    }

    static let beforeGreeting: [(QMPMessage, String)] = [
        (reply(1), "a reply"),
        (errorReply(nil), "an error reply"),
        (.event(balloonChange), "event BALLOON_CHANGE"),
    ]

    @Test(arguments: beforeGreeting)
    func messageBeforeGreetingIsAViolation(message: QMPMessage, kind: String) {
        var machine = Machine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        let error = QMPError(
            code: .protocolViolation, address: address, detail: "protocol error: expected QMP greeting, got \(kind)")
        #expect(machine.received(message) == .close(error, failing: [1]))
    }

    @Test(arguments: [reply(5), errorReply(.int(5)), .greeting(greeting)])
    func duringNegotiationOnlyItsReplyIsExpected(message: QMPMessage) {
        var machine = Machine(address: address)
        _ = machine.received(.greeting(greeting))
        guard case .close(let error, failing: []) = machine.received(message) else {
            Issue.record("expected a close")
            return
        }
        #expect(error.code == .protocolViolation)
    }

    @Test func garbageClosesTheSession() {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        let error = QMPError(
            code: .protocolViolation, address: address, detail: "protocol error: QEMU sent invalid JSON: x")
        #expect(machine.receivedGarbage("QEMU sent invalid JSON: x") == .close(error, failing: [1]))
    }

    @Test func connectionClosedFailsEverythingPending() {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("a"), id: 1)
        _ = machine.send(QMPCommand("b"), id: 2)
        let error = QMPError(code: .connectionClosed, address: address, detail: "QEMU closed the connection")
        #expect(machine.connectionClosed() == .close(error, failing: [1, 2]))
        #expect(machine.connectionClosed(reason: "again") == .none)
        #expect(machine.closedError == error)
    }

    @Test func connectionClosedBeforeNegotiationFailsWaitingCommands() {
        var machine = Machine(address: address)
        _ = machine.send(QMPCommand("a"), id: 1)
        let error = QMPError(code: .connectionClosed, address: address, detail: "reset by peer")
        #expect(machine.connectionClosed(reason: "reset by peer") == .close(error, failing: [1]))
    }

    @Test func sendingAfterCloseFailsAtOnce() {
        var machine = readyMachine()
        _ = machine.connectionClosed()
        let expected = QMPError(
            code: .connectionClosed, address: address, command: "query-balloon", detail: "QEMU closed the connection")
        #expect(machine.send(QMPCommand("query-balloon"), id: 1) == .fail(1, expected))
        #expect(expected.description == "unix:/run/qemu/test.qmp: query-balloon: QEMU closed the connection")
    }

    @Test func greetingTimeout() {
        var machine = Machine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        let error = QMPError(
            code: .noGreeting, address: address,
            detail: "no QMP greeting within 3s (is another client connected to this monitor?)")
        #expect(machine.greetingTimedOut(after: .seconds(3)) == .close(error, failing: [1]))
        #expect(machine.greetingTimedOut(after: .seconds(3)) == .none)
        #expect(machine.received(.greeting(greeting)) == .none)
    }

    @Test func connectTimeoutCoversAnUnansweredNegotiation() {
        var machine = Machine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        _ = machine.received(.greeting(greeting))
        let error = QMPError(
            code: .timeout, address: address, command: "qmp_capabilities",
            detail: "no reply to capability negotiation within 300ms")
        #expect(machine.greetingTimedOut(after: .milliseconds(300)) == .close(error, failing: [1]))
        #expect(machine.received(negotiated) == .none)
        #expect(!machine.isReady)
    }

    @Test func connectTimeoutOnceReadyDoesNothing() {
        var machine = Machine(address: address)
        _ = machine.received(.greeting(greeting))
        #expect(machine.received(negotiated) == .ready(greeting, writes: []))
        #expect(machine.greetingTimedOut(after: .seconds(3)) == .none)
        #expect(machine.isReady)
    }
}
