import QBalloonJSON
import QBalloonQMP
import Testing

private let address = "unix:/run/qemu/test.qmp"
private let greeting = QMPGreeting(
    version: QEMUVersion(major: 7, minor: 2, micro: 22, package: "Debian 1:7.2+dfsg-7+deb12u7"), capabilities: ["oob"])
private let negotiated = QMPMessage.success(id: .int(Int64(QMPSessionStateMachine.negotiationID)), value: .object([:]))

/// The JSON a `.write` carries, checked to be one compact line.
private func written(_ bytes: [UInt8]) throws -> JSON {
    #expect(bytes.last == UInt8(ascii: "\n"))
    #expect(bytes.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") })
    return try JSON.decode(bytes)
}

private func written(_ action: QMPSessionStateMachine.SendAction) throws -> JSON {
    guard case .write(let bytes) = action else {
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

private let balloonChange = QMPEvent(name: "BALLOON_CHANGE", data: .object(["actual": .int(1 << 30)]), timestamp: 1.5)

/// A machine past negotiation.
private func readyMachine() -> QMPSessionStateMachine {
    var machine = QMPSessionStateMachine(address: address)
    _ = machine.received(.greeting(greeting))
    #expect(machine.received(negotiated) == .ready(greeting, writes: []))
    return machine
}

@Suite struct QMPSessionStateMachineTests {
    @Test func greetingStartsNegotiation() throws {
        var machine = QMPSessionStateMachine(address: address)
        #expect(!machine.isReady)
        guard case .write(let bytes) = machine.received(.greeting(greeting)) else {
            Issue.record("greeting must write qmp_capabilities")
            return
        }
        let command = try written(bytes)
        #expect(command["execute"] == .string("qmp_capabilities"))
        #expect(command["id"] == .int(Int64(QMPSessionStateMachine.negotiationID)))
        #expect(command["arguments"] == nil)
        #expect(!machine.isReady)
        #expect(machine.received(negotiated) == .ready(greeting, writes: []))
        #expect(machine.isReady)
        #expect(machine.closedError == nil)
    }

    @Test func commandsBeforeNegotiationWaitAndGoOutWhenReady() throws {
        var machine = QMPSessionStateMachine(address: address)
        #expect(machine.send(QMPCommand("query-balloon"), id: 1) == .wait)
        _ = machine.received(.greeting(greeting))
        #expect(machine.send(QMPCommand("balloon", arguments: ["value": .int(1 << 30)]), id: 2) == .wait)

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
        #expect(machine.received(reply(1, actual)) == .succeed(id: 1, value: actual))
        #expect(machine.received(reply(2)) == .succeed(id: 2, value: .object([:])))
    }

    @Test func commandsWhenReadyAreWrittenAtOnce() throws {
        var machine = readyMachine()
        let qomGet = QMPCommand("qom-get", arguments: ["path": "/machine", "property": "type"])
        let command = try written(machine.send(qomGet, id: 7))
        #expect(command["execute"] == .string("qom-get"))
        #expect(command["id"] == .int(7))
        #expect(command["arguments"] == .object(["path": .string("/machine"), "property": .string("type")]))
    }

    @Test func repliesAreMatchedByIdEvenOutOfOrder() {
        var machine = readyMachine()
        for id in 1...3 { _ = machine.send(QMPCommand("query-balloon"), id: id) }
        #expect(machine.received(reply(3, .int(30))) == .succeed(id: 3, value: .int(30)))
        #expect(machine.received(reply(1, .int(10))) == .succeed(id: 1, value: .int(10)))
        #expect(machine.received(reply(2, .int(20))) == .succeed(id: 2, value: .int(20)))
        #expect(machine.isReady)
    }

    @Test func errorReplyFailsTheCommandWithQEMUsWords() throws {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("balloon", arguments: ["value": .int(0)]), id: 4)
        let action = machine.received(errorReply(.int(4), "GenericError", "Parameter 'target' expects a size"))
        guard case .fail(let id, let error) = action else {
            Issue.record("expected .fail, got \(action)")
            return
        }
        #expect(id == 4)
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
        var machine = QMPSessionStateMachine(address: address)
        _ = machine.received(.greeting(greeting))
        #expect(machine.received(.event(balloonChange)) == .deliver(balloonChange))
        _ = machine.received(negotiated)
        _ = machine.send(QMPCommand("balloon"), id: 1)
        // An event can come before the reply to the command that caused it.
        #expect(machine.received(.event(balloonChange)) == .deliver(balloonChange))
        #expect(machine.received(reply(1)) == .succeed(id: 1, value: .object([:])))
    }

    @Test(arguments: [(2.0, "no reply within 2s"), (0.5, "no reply within 0.5s")])
    func timeoutFailsTheCommandAndDropsTheLateReply(seconds: Double, detail: String) {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        _ = machine.send(QMPCommand("query-balloon"), id: 2)
        let expected = QMPError(code: .timeout, address: address, command: "query-balloon", detail: detail)
        #expect(machine.timedOut(id: 1, after: seconds) == .fail(id: 1, error: expected))
        // Timing out again, or an id that is not pending, does nothing.
        #expect(machine.timedOut(id: 1, after: seconds) == .none)
        #expect(machine.timedOut(id: 99, after: seconds) == .none)
        // The late reply is dropped, not a protocol violation, and the session goes on.
        #expect(machine.received(reply(1)) == .none)
        #expect(machine.received(reply(2)) == .succeed(id: 2, value: .object([:])))
        #expect(machine.isReady)
        // A late error reply is dropped the same way.
        _ = machine.send(QMPCommand("balloon"), id: 3)
        _ = machine.timedOut(id: 3, after: seconds)
        #expect(machine.received(errorReply(.int(3))) == .none)
        #expect(machine.isReady)
    }

    @Test func cancellationFailsTheCommandAndDropsTheLateReply() {
        var machine = readyMachine()
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        let expected = QMPError(
            code: .connectionClosed, address: address, command: "query-balloon", detail: "cancelled")
        #expect(machine.cancelled(id: 1) == .fail(id: 1, error: expected))
        #expect(machine.cancelled(id: 1) == .none)
        #expect(machine.received(reply(1)) == .none)
        #expect(machine.isReady)
    }

    @Test func cancellingAWaitingCommandKeepsItOffTheWire() throws {
        var machine = QMPSessionStateMachine(address: address)
        #expect(machine.send(QMPCommand("first"), id: 1) == .wait)
        #expect(machine.send(QMPCommand("second"), id: 2) == .wait)
        guard case .fail(id: 1, _) = machine.cancelled(id: 1) else {
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
        _ = machine.send(QMPCommand("c"), id: 3)
        _ = machine.timedOut(id: 3, after: 1)
        let error = QMPError(code: .protocolViolation, address: address, detail: "protocol error: \(detail)")
        #expect(machine.received(message) == .close(error, failing: [1, 2]))
        #expect(machine.closedError == error)
        #expect(!machine.isReady)
        // Once closed, nothing more happens.
        #expect(machine.received(reply(1)) == .none)
        #expect(machine.connectionClosed() == .none)
        #expect(machine.timedOut(id: 2, after: 1) == .none)
    }

    @Test func negotiationRefused() {
        var machine = QMPSessionStateMachine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        _ = machine.received(.greeting(greeting))
        let serverError = QMPServerError(errorClass: "CommandNotFound", desc: "nope")
        let expected = QMPError(
            code: .negotiationFailed, address: address, command: "qmp_capabilities", serverError: serverError,
            detail: "capability negotiation was refused")
        #expect(
            machine.received(.failure(id: .int(Int64(QMPSessionStateMachine.negotiationID)), error: serverError))
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
        var machine = QMPSessionStateMachine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        let error = QMPError(
            code: .protocolViolation, address: address, detail: "protocol error: expected QMP greeting, got \(kind)")
        #expect(machine.received(message) == .close(error, failing: [1]))
    }

    @Test(arguments: [reply(5), errorReply(.int(5)), .greeting(greeting)])
    func duringNegotiationOnlyItsReplyIsExpected(message: QMPMessage) {
        var machine = QMPSessionStateMachine(address: address)
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
        var machine = QMPSessionStateMachine(address: address)
        _ = machine.send(QMPCommand("a"), id: 1)
        let error = QMPError(code: .connectionClosed, address: address, detail: "reset by peer")
        #expect(machine.connectionClosed(reason: "reset by peer") == .close(error, failing: [1]))
    }

    @Test func sendingAfterCloseFailsAtOnce() {
        var machine = readyMachine()
        _ = machine.connectionClosed()
        let expected = QMPError(
            code: .connectionClosed, address: address, command: "query-balloon", detail: "QEMU closed the connection")
        #expect(machine.send(QMPCommand("query-balloon"), id: 1) == .fail(expected))
        #expect(expected.description == "unix:/run/qemu/test.qmp: query-balloon: QEMU closed the connection")
    }

    @Test func greetingTimeout() {
        var machine = QMPSessionStateMachine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        let error = QMPError(
            code: .noGreeting, address: address,
            detail: "no QMP greeting within 3s (is another client connected to this monitor?)")
        #expect(machine.greetingTimedOut(after: 3) == .close(error, failing: [1]))
        #expect(machine.greetingTimedOut(after: 3) == .none)
        #expect(machine.received(.greeting(greeting)) == .none)
    }

    @Test func connectTimeoutCoversAnUnansweredNegotiation() {
        var machine = QMPSessionStateMachine(address: address)
        _ = machine.send(QMPCommand("query-balloon"), id: 1)
        _ = machine.received(.greeting(greeting))
        let error = QMPError(
            code: .timeout, address: address, command: "qmp_capabilities",
            detail: "no reply to capability negotiation within 3s")
        #expect(machine.greetingTimedOut(after: 3) == .close(error, failing: [1]))
        #expect(machine.received(negotiated) == .none)
        #expect(!machine.isReady)
    }

    @Test func connectTimeoutOnceReadyDoesNothing() {
        var machine = QMPSessionStateMachine(address: address)
        _ = machine.received(.greeting(greeting))
        #expect(machine.received(negotiated) == .ready(greeting, writes: []))
        #expect(machine.greetingTimedOut(after: 3) == .none)
        #expect(machine.isReady)
    }
}
