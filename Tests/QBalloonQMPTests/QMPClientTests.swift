import QBalloonFakeQMP
import QBalloonJSON
import QBalloonQMP
import QBalloonTestSupport
import Testing

private let GiB: UInt64 = 1 << 30

/// QMPClient against the fake QEMU monitor over a real unix socket: what a caller sees when QEMU answers,
/// refuses, hangs, answers late, sends garbage or goes away.
@Suite("QMPClient over a socket")
struct QMPClientTests {
    @Test("QEMU's errors reach the caller as commandFailed with class and desc")
    func commandErrors() async throws {
        try await FakeMonitor.with { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            let notFound = await FakeMonitor.qmpError { _ = try await client.execute("no-such-command") }
            #expect(notFound?.code == .commandFailed)
            #expect(
                notFound?.serverError
                    == QMPServerError(
                        errorClass: "CommandNotFound", desc: "The command no-such-command has not been found"))
            #expect(
                notFound?.description
                    == "\(server.boundAddress): no-such-command: QEMU refused the command "
                    + "(QEMU said CommandNotFound: The command no-such-command has not been found)")
            let zero = await FakeMonitor.qmpError { _ = try await client.execute("balloon", arguments: ["value": 0]) }
            #expect(
                zero?.serverError
                    == QMPServerError(errorClass: "GenericError", desc: "Parameter 'target' expects a size"))
            let badPath = await FakeMonitor.qmpError {
                _ = try await client.execute(
                    "qom-get", arguments: ["path": "/machine/peripheral/nope", "property": "guest-stats"])
            }
            #expect(
                badPath?.serverError
                    == QMPServerError(errorClass: "DeviceNotFound", desc: "Device '/machine/peripheral/nope' not found")
            )
            // The session goes on after errors.
            #expect(try await client.execute("query-balloon")["actual"] != nil)
            await client.close()
        }
    }

    @Test("BALLOON_CHANGE events arrive on the events stream")
    func events() async throws {
        let clock = ManualClock()
        try await FakeMonitor.with(clock: .manual(clock)) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            _ = try await client.execute("balloon", arguments: ["value": .unsigned(GiB)])
            clock.advance(by: 0.2)
            try await server.tick()
            let event = await FakeMonitor.first(of: client.events, within: 5)
            #expect(event?.name == "BALLOON_CHANGE")
            #expect((event?.data["actual"]?.uint64Value ?? 0) < 2 * GiB)
            #expect(event.map { $0.timestamp > 1_000_000_000 } == true)
            await client.close()
        }
    }

    @Test("many commands at once each get their own reply")
    func manyCommands() async throws {
        try await FakeMonitor.with { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            // Commands whose replies differ in shape, so a reply given to the wrong caller shows.
            let commands = ["query-balloon", "query-status", "query-version", "query-memory-size-summary"]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<400 {
                    let command = commands[index % commands.count]
                    group.addTask {
                        let reply = try await client.execute(command)
                        switch command {
                        case "query-balloon": #expect(reply["actual"]?.uint64Value == 2 * GiB)
                        case "query-status": #expect(reply["running"] == true)
                        case "query-version": #expect(reply["qemu"]?["major"] == 7)
                        default: #expect(reply["base-memory"]?.uint64Value == 2 * GiB)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // One after another, as a poller does.
            for _ in 0..<200 { _ = try await client.execute("query-balloon") }
            #expect(client.isActive)
            await client.close()
        }
    }

    // MARK: Timeouts and late replies

    @Test("a command QEMU does not answer times out, naming the socket and the command")
    func hang() async throws {
        var faults = FakeQMPFaults()
        faults.hangOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            #expect(try await client.execute("query-version")["qemu"] != nil)
            let error = await FakeMonitor.qmpError {
                _ = try await client.execute("query-balloon", timeout: .milliseconds(300))
            }
            #expect(error?.code == .timeout)
            #expect(error?.description == "\(server.boundAddress): query-balloon: no reply within 300ms")
            #expect(client.isActive, "a timeout does not end the session")
            await client.close()
        }
    }

    @Test("an unanswered negotiation ends in a timeout, not a hang")
    func hungNegotiation() async throws {
        var faults = FakeQMPFaults()
        faults.hangOn = .only(["qmp_capabilities"])
        try await FakeMonitor.with(faults: faults) { server in
            let error = await FakeMonitor.qmpError {
                _ = try await QMPClient.connect(
                    to: server.boundAddress, options: .init(connectTimeout: .seconds(3)))
            }
            // Long enough for the greeting to come on a slow machine (a sanitizer build): the negotiation hangs.
            #expect(error?.code == .timeout)
            #expect(error?.command == "qmp_capabilities")
            #expect(error?.detail == "no reply to capability negotiation within 3s")
        }
    }

    @Test("several commands with different timeouts each time out on their own")
    func mixedTimeouts() async throws {
        var faults = FakeQMPFaults()
        faults.hangOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            async let long = FakeMonitor.qmpError {
                _ = try await client.execute("query-balloon", timeout: .milliseconds(900))
            }
            async let short = FakeMonitor.qmpError {
                _ = try await client.execute("query-balloon", timeout: .milliseconds(200))
            }
            let (longError, shortError) = await (long, short)
            #expect(shortError?.code == .timeout)
            #expect(shortError?.detail == "no reply within 200ms")
            #expect(longError?.code == .timeout)
            #expect(longError?.detail == "no reply within 900ms")
            await client.close()
        }
    }

    @Test("late replies: a short timeout expires, a long one gets the answer")
    func lateReply() async throws {
        // The short timeout fires 100 ms after the send, the reply comes 2 s after: a margin for a loaded machine.
        var faults = FakeQMPFaults()
        faults.replyDelay = 2
        faults.delayOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let error = await FakeMonitor.qmpError {
                _ = try await client.execute("query-balloon", timeout: .milliseconds(100))
            }
            #expect(error?.code == .timeout)
            // The first command's late reply comes while this one waits; it is dropped, not taken for this one's.
            let reply = try await client.execute("query-balloon", timeout: .seconds(10))
            #expect(reply["actual"]?.uint64Value == 2 * GiB)
            #expect(client.isActive)
            await client.close()
        }
    }

    // MARK: Broken sessions

    @Test("garbage instead of a reply: a protocol violation that ends the session")
    func garbage() async throws {
        var faults = FakeQMPFaults()
        faults.garbageOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let error = await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
            #expect(error?.code == .protocolViolation)
            #expect(error?.description.hasPrefix("\(server.boundAddress): protocol error: ") == true)
            await client.waitUntilClosed()
            #expect(!client.isActive)
            await client.close()
        }
    }

    @Test("QEMU closing on a command: connectionClosed, then every command fails at once")
    func closeOnCommand() async throws {
        var faults = FakeQMPFaults()
        faults.closeOn = .only(["balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            _ = try await client.execute("query-balloon")
            let error = await FakeMonitor.qmpError {
                _ = try await client.execute("balloon", arguments: ["value": .int(1 << 30)])
            }
            #expect(error?.code == .connectionClosed)
            await client.waitUntilClosed()
            #expect(!client.isActive)
            let after = await FakeMonitor.qmpError { _ = try await client.execute("query-status") }
            #expect(after?.description == "\(server.boundAddress): query-status: QEMU closed the connection")
            await client.close()
        }
    }

    @Test("QEMU closing after N commands: the N+1th is not answered")
    func closeAfterCommands() async throws {
        var faults = FakeQMPFaults()
        faults.closeAfterCommands = 3
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            // qmp_capabilities was the first.
            _ = try await client.execute("query-version")
            _ = try await client.execute("query-status")
            let error = await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
            #expect(error?.code == .connectionClosed)
            await client.close()
        }
    }

    @Test("no greeting: noGreeting")
    func noGreeting() async throws {
        var faults = FakeQMPFaults()
        faults.noGreeting = true
        try await FakeMonitor.with(faults: faults) { server in
            let error = await FakeMonitor.qmpError {
                _ = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.failingConnect)
            }
            #expect(error?.code == .noGreeting)
            #expect(
                error?.description
                    == "\(server.boundAddress): no QMP greeting within 300ms (is another client connected to this monitor?)")
        }
    }

    @Test("closing the client fails what is pending and ends the events")
    func clientClose() async throws {
        var faults = FakeQMPFaults()
        faults.hangOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            async let pending = FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
            // Let the command go out before closing: QEMU answers in order, so a `query-status` that gets no answer
            // went out after the hung command (one answered went out before it, and the next is tried).
            while (try? await client.execute("query-status", timeout: .milliseconds(300))) != nil {}
            await client.close()
            let error = await pending
            #expect(error?.code == .connectionClosed)
            #expect(error?.detail == "the client closed the connection")
            #expect(!client.isActive)
            var events = client.events.makeAsyncIterator()
            #expect(await events.next() == nil)
        }
    }
}
