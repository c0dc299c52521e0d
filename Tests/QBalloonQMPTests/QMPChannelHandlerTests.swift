import Logging
import NIOCore
import NIOEmbedded
import QBalloonCore
import QBalloonJSON
import QBalloonQMP
import Synchronization
import Testing

private let address = "unix:/x.qmp"
private let greetingText =
    #"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u7"}, "#
    + #""capabilities": ["oob"]}}"# + "\r\n"
private let greeting = QMPGreeting(
    version: QEMUVersion(major: 7, minor: 2, micro: 22, package: "Debian 1:7.2+dfsg-7+deb12u7"), capabilities: ["oob"])

/// What a completed future holds, `nil` while it is pending. The embedded loop runs callbacks inline.
private func result<Value>(_ future: EventLoopFuture<Value>) -> Result<Value, any Error>? {
    var result: Result<Value, any Error>?
    future.assumeIsolated().whenComplete { result = $0 }
    return result
}

/// The QMPError a completed future failed with.
private func failure<Value>(_ future: EventLoopFuture<Value>) -> QMPError? {
    guard case .failure(let error) = result(future) else { return nil }
    return error as? QMPError
}

/// The value a completed future succeeded with.
private func value<Value>(_ future: EventLoopFuture<Value>) -> Value? {
    guard case .success(let value) = result(future) else { return nil }
    return value
}

/// A promise behind the handler's callback waiter: the embedded loop completes it inline, so a test reads the
/// outcome at once. (``QMPClient`` resumes a suspended task instead; QMPClientResumeTests cover that over a socket.)
/// Each answer is counted: a promise would ignore a second one, a suspended task would not survive it.
private func promiseWaiter(_ promise: EventLoopPromise<JSON>, _ answers: Answers) -> QMPCaller {
    .callback { result in
        answers.count.add(1, ordering: .relaxed)
        promise.completeWith(result.mapError { $0 as any Error })
    }
}

/// How many times one waiter was answered.
private final class Answers: Sendable {
    let count = Atomic<Int>(0)
}

/// The handler (which decodes with the real frame decoder) on an `EmbeddedChannel`, connected, so its greeting timer runs
/// on the embedded loop's clock. Every test ends with ``finish()``, which closes the channel: the handler
/// then fails whatever is still pending, so no promise is left behind.
private struct Harness {
    let channel = EmbeddedChannel()
    let handler: QMPChannelHandler
    let ready: EventLoopPromise<QMPGreeting>
    let events: AsyncStream<QMPEvent>
    /// Every waiter given to the handler, by request id, to check in ``finish()`` that each was answered once.
    private let waiters = Waiters()

    private final class Waiters {
        var answers: [(id: Int, answers: Answers)] = []
    }

    init(
        greetingTimeout: TimeAmount = .seconds(5), readBudget: RateBudget = RateBudget(burst: 1_048_576, perSecond: 1_048_576),
        maxMessageBytes: Int = 16 << 20
    ) throws {
        ready = channel.eventLoop.makePromise()
        let (events, continuation) = AsyncStream.makeStream(of: QMPEvent.self)
        self.events = events
        handler = QMPChannelHandler(
            address: address, ready: ready, events: continuation, greetingTimeout: greetingTimeout,
            readBudget: readBudget, maxMessageBytes: maxMessageBytes,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4444)).wait()
    }

    /// A harness past the greeting and negotiation, with nothing left to read.
    static func negotiated() throws -> Harness {
        let harness = try Harness()
        try harness.receive(greetingText)
        _ = try harness.sent()
        try harness.receive(#"{"return": {}, "id": -1}"# + "\r\n")
        #expect(value(harness.ready.futureResult) == greeting)
        return harness
    }

    /// QEMU sends `text`.
    func receive(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// The next message the handler wrote, checked to be one line; `nil` if it wrote none.
    func sent() throws -> JSON? {
        guard let buffer = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        let bytes = Array(buffer.readableBytesView)
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(!bytes.dropLast().contains(UInt8(ascii: "\n")))
        return try JSON.decode(bytes)
    }

    /// Runs `command` as request `id`; returns the reply's future.
    func execute(_ command: QMPCommand, id: Int, timeout: TimeAmount = .seconds(10)) -> EventLoopFuture<JSON> {
        let promise = channel.eventLoop.makePromise(of: JSON.self)
        let answers = Answers()
        waiters.answers.append((id, answers))
        handler.send(command, id: id, timeout: timeout, waiter: promiseWaiter(promise, answers))
        return promise.futureResult
    }

    func advanceTime(by amount: TimeAmount) {
        channel.embeddedEventLoop.advanceTime(by: amount)
    }

    /// Closes the channel (if still open) and checks nothing was left unread and every waiter was answered
    /// exactly once.
    func finish() throws {
        let leftOver = try channel.finish(acceptAlreadyClosed: true)
        #expect(leftOver.isClean, "left over: \(leftOver)")
        for (id, answers) in waiters.answers {
            #expect(answers.count.load(ordering: .relaxed) == 1, "request \(id) was answered \(answers.count.load(ordering: .relaxed)) times")
        }
    }
}

@Suite struct QMPChannelHandlerTests {
    @Test func greetingIsAnsweredWithNegotiationAndTheSessionOpens() throws {
        let harness = try Harness()
        #expect(try harness.sent() == nil, "the client speaks only after the greeting")
        try harness.receive(greetingText)
        #expect(try harness.sent() == .object(["execute": .string("qmp_capabilities"), "id": .int(-1)]))
        #expect(result(harness.ready.futureResult) == nil)
        try harness.receive(#"{"return": {}, "id": -1}"# + "\r\n")
        #expect(value(harness.ready.futureResult) == greeting)
        try harness.finish()
    }

    @Test func commandIsWrittenWithItsIdAndTheReplyCompletesIt() throws {
        let harness = try Harness.negotiated()
        let reply = harness.execute(QMPCommand("query-balloon"), id: 7)
        #expect(try harness.sent() == .object(["execute": .string("query-balloon"), "id": .int(7)]))
        #expect(result(reply) == nil)
        try harness.receive(#"{"return": {"actual": 1073741824}, "id": 7}"# + "\r\n")
        #expect(value(reply) == .object(["actual": .int(1 << 30)]))
        try harness.finish()
    }

    @Test func repliesAreMatchedByIdAcrossOneRead() throws {
        let harness = try Harness.negotiated()
        let first = harness.execute(QMPCommand("query-balloon"), id: 1)
        let second = harness.execute(QMPCommand("query-status"), id: 2)
        #expect(try harness.sent()?["id"] == .int(1))
        #expect(try harness.sent()?["id"] == .int(2))
        // Both replies in one read, the second first.
        try harness.receive(#"{"return": 2, "id": 2}"# + "\r\n" + #"{"return": 1, "id": 1}"# + "\r\n")
        #expect(value(first) == .int(1))
        #expect(value(second) == .int(2))
        try harness.finish()
    }

    @Test func messagesSplitAnywhereAcrossReadsAreReadWhole() throws {
        let harness = try Harness()
        // The greeting in three reads, the negotiation's reply and a command's reply in one, split mid-number.
        let text = greetingText
        let cut1 = text.index(text.startIndex, offsetBy: 7), cut2 = text.index(text.startIndex, offsetBy: 60)
        try harness.receive(String(text[..<cut1]))
        try harness.receive(String(text[cut1..<cut2]))
        #expect(try harness.sent() == nil, "half a greeting is no greeting")
        try harness.receive(String(text[cut2...]))
        _ = try harness.sent()
        let reply = harness.execute(QMPCommand("query-balloon"), id: 1)
        try harness.receive(#"{"return": {}, "id": -1}"# + "\r\n" + #"{"return": {"actual": 10737"#)
        #expect(value(harness.ready.futureResult) == greeting)
        #expect(try harness.sent()?["id"] == .int(1))
        #expect(result(reply) == nil)
        try harness.receive(#"41824}, "id": 1}"# + "\r\n")
        #expect(value(reply) == .object(["actual": .int(1 << 30)]))
        // Byte by byte.
        let second = harness.execute(QMPCommand("query-status"), id: 2)
        _ = try harness.sent()
        for byte in #"{"return": {"running": true}, "id": 2}"# + "\r\n" { try harness.receive(String(byte)) }
        #expect(value(second) == .object(["running": .bool(true)]))
        try harness.finish()
    }

    @Test func aMonitorOverItsReadBudgetIsCutOff() throws {
        let harness = try Harness(readBudget: RateBudget(burst: 1024, perSecond: 1))
        try harness.receive(greetingText)
        _ = try harness.sent()
        try harness.receive(#"{"return": {}, "id": -1}"# + "\r\n")
        let reply = harness.execute(QMPCommand("query-balloon"), id: 1)
        _ = try harness.sent()
        // Whitespace counts: no message limit sees it.
        try harness.receive(String(repeating: " ", count: 2000))
        let error = try #require(failure(reply))
        #expect(error.code == .protocolViolation)
        #expect(error.detail.contains("read budget exceeded: more than 1 KiB at once"), "\(error.detail)")
        #expect(!harness.channel.isActive)
        try harness.finish()
    }

    @Test func nothingIsReadAfterAMessageOverTheLimit() throws {
        let harness = try Harness(maxMessageBytes: 256)
        try harness.receive(greetingText)
        _ = try harness.sent()
        try harness.receive(#"{"return": {}, "id": -1}"# + "\r\n")
        let reply = harness.execute(QMPCommand("query-balloon"), id: 1)
        _ = try harness.sent()
        // An oversized message, then what would be the reply: the reply is never taken.
        try harness.receive(#"{"event": ""# + String(repeating: "x", count: 300) + #""}"# + "\r\n" + #"{"return": 1, "id": 1}"# + "\r\n")
        let error = try #require(failure(reply))
        #expect(error.code == .protocolViolation)
        #expect(error.detail.contains("256"), "\(error.detail)")
        try harness.finish()
    }

    @Test func commandsBeforeNegotiationGoOutOnceItIsDone() throws {
        let harness = try Harness()
        let reply = harness.execute(QMPCommand("query-balloon"), id: 1)
        #expect(try harness.sent() == nil)
        try harness.receive(greetingText)
        #expect(try harness.sent()?["execute"] == .string("qmp_capabilities"))
        #expect(try harness.sent() == nil)
        try harness.receive(#"{"return": {}, "id": -1}"# + "\r\n")
        #expect(try harness.sent() == .object(["execute": .string("query-balloon"), "id": .int(1)]))
        try harness.receive(#"{"return": {}, "id": 1}"# + "\r\n")
        #expect(value(reply) == .object([:]))
        try harness.finish()
    }

    @Test func errorReplyFailsTheCommandWithQEMUsClassAndDescription() throws {
        let harness = try Harness.negotiated()
        let reply = harness.execute(QMPCommand("balloon", arguments: ["value": .int(0)]), id: 3)
        #expect(try harness.sent()?["arguments"] == .object(["value": .int(0)]))
        try harness.receive(
            #"{"error": {"class": "GenericError", "desc": "Parameter 'target' expects a size"}, "id": 3}"# + "\r\n")
        let error = try #require(failure(reply))
        #expect(error.code == .commandFailed)
        #expect(error.serverError == QMPServerError(errorClass: "GenericError", desc: "Parameter 'target' expects a size"))
        #expect(
            error.description
                == "unix:/x.qmp: balloon: QEMU refused the command (QEMU said GenericError: Parameter 'target' expects a size)")
        #expect(harness.channel.isActive, "an error reply does not end the session")
        try harness.finish()
    }

    @Test func eventsAreYieldedAndTheStreamEndsWithTheConnection() async throws {
        // The channel is driven before the first suspension: the embedded loop belongs to one thread.
        func drive() throws -> AsyncStream<QMPEvent> {
            let harness = try Harness.negotiated()
            let reply = harness.execute(QMPCommand("balloon", arguments: ["value": .int(1 << 30)]), id: 1)
            _ = try harness.sent()
            try harness.receive(
                #"{"timestamp": {"seconds": 1700000000, "microseconds": 500000}, "event": "BALLOON_CHANGE", "#
                    + #""data": {"actual": 1073741824}}"# + "\r\n" + #"{"return": {}, "id": 1}"# + "\r\n")
            #expect(value(reply) == .object([:]))
            try harness.finish()
            return harness.events
        }
        var received: [QMPEvent] = []
        for await event in try drive() { received.append(event) }
        #expect(
            received == [
                QMPEvent(name: "BALLOON_CHANGE", data: .object(["actual": .int(1 << 30)]), timestamp: 1_700_000_000.5)
            ])
    }

    @Test func timeoutFailsOnlyTheExpiredCommandAndTheLateReplyIsDropped() throws {
        let harness = try Harness.negotiated()
        let short = harness.execute(QMPCommand("query-balloon"), id: 1, timeout: .seconds(1))
        let long = harness.execute(QMPCommand("query-status"), id: 2, timeout: .seconds(5))
        _ = try harness.sent()
        _ = try harness.sent()
        harness.advanceTime(by: .milliseconds(999))
        #expect(result(short) == nil)
        harness.advanceTime(by: .milliseconds(1))
        let error = try #require(failure(short))
        #expect(error.code == .timeout)
        #expect(error.description == "unix:/x.qmp: query-balloon: no reply within 1s")
        #expect(result(long) == nil, "the other command has time left")
        // The late reply is dropped; the session goes on.
        try harness.receive(#"{"return": {"actual": 1}, "id": 1}"# + "\r\n")
        #expect(harness.channel.isActive)
        #expect(result(long) == nil)
        // The timer was armed again for the second command's deadline.
        harness.advanceTime(by: .seconds(3))
        #expect(result(long) == nil)
        harness.advanceTime(by: .seconds(1))
        #expect(failure(long)?.description == "unix:/x.qmp: query-status: no reply within 5s")
        try harness.receive(#"{"return": {}, "id": 2}"# + "\r\n")
        #expect(harness.channel.isActive)
        // And a new command still works.
        let next = harness.execute(QMPCommand("query-balloon"), id: 3, timeout: .milliseconds(500))
        _ = try harness.sent()
        try harness.receive(#"{"return": 3, "id": 3}"# + "\r\n")
        #expect(value(next) == .int(3))
        harness.advanceTime(by: .seconds(1))
        #expect(value(next) == .int(3))
        try harness.finish()
    }

    @Test func anEarlierDeadlineIsServedBeforeALaterOne() throws {
        let harness = try Harness.negotiated()
        let long = harness.execute(QMPCommand("a"), id: 1, timeout: .seconds(10))
        let short = harness.execute(QMPCommand("b"), id: 2, timeout: .milliseconds(200))
        harness.advanceTime(by: .milliseconds(200))
        #expect(failure(short)?.description == "unix:/x.qmp: b: no reply within 200ms")
        #expect(result(long) == nil)
        harness.advanceTime(by: .milliseconds(9800))
        #expect(failure(long)?.code == .timeout)
        _ = try harness.sent()
        _ = try harness.sent()
        try harness.finish()
    }

    @Test func cancelFailsTheCommandAndTheLateReplyIsDropped() throws {
        let harness = try Harness.negotiated()
        let reply = harness.execute(QMPCommand("query-balloon"), id: 4)
        _ = try harness.sent()
        harness.handler.cancel(id: 4)
        #expect(failure(reply)?.description == "unix:/x.qmp: query-balloon: cancelled")
        try harness.receive(#"{"return": {}, "id": 4}"# + "\r\n")
        #expect(harness.channel.isActive)
        try harness.finish()
    }

    static let garbage: [(String, String)] = [
        ("[1, 2]\r\n", "protocol error: expected a JSON object, got '['"),
        (#"{"return": 1,}"# + "\r\n", "protocol error: QEMU sent invalid JSON: "),
        (#"{"hello": 1}"# + "\r\n", #"protocol error: an object that is no reply, event or greeting: "#),
        (#"{"return": 1, "id": 99}"# + "\r\n", "protocol error: a reply with an id we never sent: 99"),
    ]

    @Test(arguments: garbage)
    func garbageIsAProtocolViolationThatClosesAndFailsEverythingPending(text: String, detail: String) throws {
        let harness = try Harness.negotiated()
        let first = harness.execute(QMPCommand("query-balloon"), id: 1)
        let second = harness.execute(QMPCommand("query-status"), id: 2)
        _ = try harness.sent()
        _ = try harness.sent()
        try harness.receive(text)
        for future in [first, second] {
            let error = try #require(failure(future))
            #expect(error.code == .protocolViolation)
            #expect(error.address == address)
            #expect(error.detail.hasPrefix(detail), "\(error.detail)")
        }
        #expect(!harness.channel.isActive)
        // Once closed, a command fails at once, naming itself.
        let late = harness.execute(QMPCommand("query-balloon"), id: 3)
        #expect(failure(late)?.command == "query-balloon")
        #expect(failure(late)?.code == .protocolViolation)
        try harness.finish()
    }

    @Test func channelInactiveFailsEverythingPending() throws {
        let harness = try Harness.negotiated()
        let first = harness.execute(QMPCommand("query-balloon"), id: 1, timeout: .seconds(1))
        let second = harness.execute(QMPCommand("query-status"), id: 2)
        _ = try harness.sent()
        _ = try harness.sent()
        harness.channel.pipeline.fireChannelInactive()
        #expect(failure(first)?.description == "unix:/x.qmp: QEMU closed the connection")
        #expect(failure(second)?.code == .connectionClosed)
        // The timer is gone with the session: nothing fires later.
        harness.advanceTime(by: .seconds(2))
        #expect(failure(first)?.code == .connectionClosed)
        try harness.finish()
    }

    @Test func everyWaiterIsAnsweredOnceWhicheverWayItsCommandEnds() throws {
        let harness = try Harness.negotiated()
        let answered = harness.execute(QMPCommand("query-balloon"), id: 1)
        let refused = harness.execute(QMPCommand("balloon"), id: 2)
        let timedOut = harness.execute(QMPCommand("query-status"), id: 3, timeout: .seconds(1))
        let cancelled = harness.execute(QMPCommand("query-balloon"), id: 4)
        let pending = harness.execute(QMPCommand("query-balloon"), id: 5)
        for _ in 1...5 { _ = try harness.sent() }
        // A cancel before its send (the caller's task was cancelled already) finds nothing; the one after does.
        harness.handler.cancel(id: 6)
        let cancelledFirst = harness.execute(QMPCommand("query-status"), id: 6)
        _ = try harness.sent()
        #expect(result(cancelledFirst) == nil)
        harness.handler.cancel(id: 6)
        harness.handler.cancel(id: 6)
        #expect(failure(cancelledFirst)?.detail == "cancelled")
        harness.handler.cancel(id: 4)
        harness.handler.cancel(id: 4)
        harness.advanceTime(by: .seconds(1))
        #expect(failure(timedOut)?.code == .timeout)
        try harness.receive(
            #"{"return": {"actual": 1}, "id": 1}"# + "\r\n"
                + #"{"error": {"class": "GenericError", "desc": "no"}, "id": 2}"# + "\r\n"
                + #"{"return": {}, "id": 3}"# + "\r\n" + #"{"return": {}, "id": 4}"# + "\r\n"
                + #"{"return": {}, "id": 6}"# + "\r\n")
        // Too late for the timed-out and cancelled ones: their answers stay as they were.
        harness.handler.cancel(id: 3)
        harness.advanceTime(by: .seconds(5))
        #expect(value(answered) == ["actual": 1])
        #expect(failure(refused)?.code == .commandFailed)
        #expect(failure(timedOut)?.code == .timeout)
        #expect(failure(cancelled)?.detail == "cancelled")
        #expect(result(pending) == nil)
        harness.handler.close()
        #expect(failure(pending)?.description == "unix:/x.qmp: the client closed the connection")
        let afterClose = harness.execute(QMPCommand("query-status"), id: 7)
        #expect(failure(afterClose)?.code == .connectionClosed)
        try harness.finish()
    }

    @Test func closeByTheClientFailsPendingCommands() throws {
        let harness = try Harness.negotiated()
        let reply = harness.execute(QMPCommand("query-balloon"), id: 1)
        _ = try harness.sent()
        harness.handler.close()
        #expect(failure(reply)?.description == "unix:/x.qmp: the client closed the connection")
        #expect(!harness.channel.isActive)
        try harness.finish()
    }

    @Test func noGreetingInTimeFailsTheSessionAndWhatWaitedForIt() throws {
        let harness = try Harness(greetingTimeout: .milliseconds(300))
        let reply = harness.execute(QMPCommand("query-balloon"), id: 1)
        harness.advanceTime(by: .milliseconds(300))
        let error = try #require(failure(harness.ready.futureResult))
        #expect(error.code == .noGreeting)
        #expect(
            error.description
                == "unix:/x.qmp: no QMP greeting within 300ms (is another client connected to this monitor?)")
        #expect(failure(reply)?.code == .noGreeting)
        #expect(!harness.channel.isActive)
        try harness.finish()
    }

    @Test func unansweredNegotiationTimesOut() throws {
        let harness = try Harness(greetingTimeout: .seconds(2))
        try harness.receive(greetingText)
        _ = try harness.sent()
        harness.advanceTime(by: .seconds(2))
        let error = try #require(failure(harness.ready.futureResult))
        #expect(error.code == .timeout)
        #expect(error.description == "unix:/x.qmp: qmp_capabilities: no reply to capability negotiation within 2s")
        try harness.finish()
    }
}
