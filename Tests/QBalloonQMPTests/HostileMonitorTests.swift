import QBalloon
import QBalloonCore
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonQMP
import QBalloonTestSupport
import Testing

/// A monitor that is not the QEMU we know (taken over by its guest, or only pretending): everything it can feed
/// the client is bounded, and each kind of abuse ends the session with an error that says what it did.
@Suite("Hostile monitors")
struct HostileMonitorTests {
    @Test("a reply past the message limit closes the session, naming the limit")
    func oversizedReply() async throws {
        try await FakeMonitor.with(faults: FakeQMPFaults(oversizedOn: .only(["query-balloon"]))) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            let error = await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
            #expect(error?.code == .protocolViolation)
            #expect(error?.description.contains("message over the limit of 1048576 bytes") == true, "\(String(describing: error))")
        }
    }

    @Test("a reply nested past the depth limit closes the session")
    func deepReply() async throws {
        try await FakeMonitor.with(faults: FakeQMPFaults(deepOn: .only(["query-balloon"]))) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            let error = await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
            #expect(error?.code == .protocolViolation)
            #expect(error?.description.contains("nested deeper than 64 levels") == true, "\(String(describing: error))")
        }
    }

    @Test("an event flood closes the session, naming the budget and the event")
    func eventFlood() async throws {
        try await FakeMonitor.with(faults: FakeQMPFaults(eventFlood: 1000)) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            // The flood follows the reply that raised it; the next command meets the closed session.
            _ = try? await client.execute("query-status")
            await client.waitUntilClosed()
            let error = await FakeMonitor.qmpError { _ = try await client.execute("query-status") }
            #expect(error?.code == .protocolViolation)
            #expect(
                error?.description.contains("event flood: more than 200 events at once or 50 a second sustained (the last: RTC_CHANGE)") == true,
                "\(String(describing: error))")
        }
    }

    @Test("what a monitor sends counts against its read budget, whatever it is")
    func readBudget() async throws {
        try await FakeMonitor.with(faults: FakeQMPFaults(qomListFlood: 3000)) { server in
            var options = QMPClient.Options()
            options.readBudget = RateBudget(burst: 65536, perSecond: 1024)
            let client = try await QMPClient.connect(to: server.boundAddress, options: options)
            // Each reply is a few hundred bytes; this listing, well within the message limit, is over 100 KiB.
            let error = await FakeMonitor.qmpError { _ = try await client.execute("qom-list", arguments: ["path": "/machine"]) }
            #expect(error?.code == .protocolViolation)
            #expect(error?.description.contains("read budget exceeded: more than 64 KiB at once or 1 KiB/s sustained") == true, "\(String(describing: error))")
        }
    }

    @Test("commands owed by a monitor that answers nothing are bounded")
    func pendingCommandsAreBounded() async throws {
        try await FakeMonitor.with(faults: FakeQMPFaults(hangOn: .only(["query-balloon"]))) { server in
            var options = QMPClient.Options(commandTimeout: .milliseconds(20))
            options.maxPendingCommands = 4
            let client = try await QMPClient.connect(to: server.boundAddress, options: options)
            for _ in 0..<4 {
                let error = await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
                #expect(error?.code == .timeout)
            }
            let error = await FakeMonitor.qmpError { _ = try await client.execute("query-status") }
            #expect(error?.code == .tooManyPending)
            #expect(error?.description.contains("4 commands are waiting for a reply already (4 of them timed out): not sent") == true, "\(String(describing: error))")
        }
    }

    @Test("a QOM tree too large to be QEMU's stops the balloon search")
    func qomListFlood() async throws {
        // Wide enough to pass the message limit, too wide for the search.
        try await FakeMonitor.with(faults: FakeQMPFaults(qomListFlood: 5000)) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            do {
                _ = try await BalloonDevice.find(on: client)
                Issue.record("found a balloon in a flooded tree")
            } catch let error as BalloonError {
                #expect(error.code == .badReply)
                #expect(error.detail == "QOM tree too large: qom-list /machine/peripheral returned 5002 entries (limit 4096)", "\(error)")
            }
        }
        // The attack as it was met: 200,000 children a listing.
        try await FakeMonitor.with(faults: FakeQMPFaults(qomListFlood: 200_000)) { server in
            let client = try await QMPClient.connect(to: server.boundAddress)
            let error = await FakeMonitor.qmpError { _ = try await BalloonDevice.find(on: client) }
            #expect(error?.code == .protocolViolation)
            #expect(error?.description.contains("message over the limit") == true, "\(String(describing: error))")
        }
    }
}
