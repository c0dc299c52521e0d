import QBalloonFakeQMP
import QBalloonJSON
import QBalloonQMP
import QBalloonTestSupport
import Testing

/// `QMPClient.execute` suspends its caller and the channel handler resumes it straight from the event loop
/// (issue 14). Every way a command can end must resume the caller exactly once: a second resume traps (the
/// continuation is checked in debug builds) and a missing one hangs the test until its time limit.
@Suite("QMPClient resumes every caller exactly once", .timeLimit(.minutes(1)))
struct QMPClientResumeTests {
    /// Runs `body` in a task cancelled before it starts, as a caller whose task was cancelled already.
    private static func cancelledTask<T: Sendable>(
        executor: (any TaskExecutor)? = nil, _ body: @escaping @Sendable () async -> T
    ) async -> T {
        let task = Task(executorPreference: executor) {
            withUnsafeCurrentTask { $0?.cancel() }
            return await body()
        }
        return await task.value
    }

    @Test("cancelled before it is sent: the command fails as cancelled, off the loop and on it")
    func cancelBeforeSend() async throws {
        // The reply comes long after the cancel (which follows the send on the loop at once), and is dropped.
        var faults = FakeQMPFaults()
        faults.replyDelay = 0.3
        faults.delayOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            for executor in [nil, client.taskExecutor] {
                let error = await Self.cancelledTask(executor: executor) {
                    await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") }
                }
                #expect(error?.code == .connectionClosed)
                #expect(error?.description == "\(server.boundAddress): query-balloon: cancelled")
            }
            #expect(client.isActive, "a cancelled command does not end the session")
            #expect(try await client.execute("query-status")["running"] != nil)
            await client.close()
        }
    }

    @Test("cancelled while waiting, then the reply comes: dropped, and the next command gets its own")
    func cancelWhilePendingThenReply() async throws {
        // The reply comes 2.5 s after the command, the cancel 100 ms after: the margin is for a loaded machine, where
        // the test's wake-up from its sleep can come late (with 0.4 s, the reply once came first, under a full suite).
        var faults = FakeQMPFaults()
        faults.replyDelay = 2.5
        faults.delayOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let waiting = Task { await FakeMonitor.qmpError { _ = try await client.execute("query-balloon") } }
            try await Task.sleep(for: .milliseconds(100))
            waiting.cancel()
            let error = await waiting.value
            #expect(error?.description == "\(server.boundAddress): query-balloon: cancelled")
            // The cancelled command's reply comes while this one waits: dropped, not taken for this one's.
            let reply = try await client.execute("query-balloon")
            #expect(reply["actual"]?.uint64Value != nil)
            try await Task.sleep(for: .milliseconds(100))
            #expect(client.isActive)
            await client.close()
        }
    }

    @Test("timed out, then the late reply comes with nothing else waiting: dropped, the session goes on")
    func timeoutThenLateReply() async throws {
        // The timeout fires 50 ms after the send, the reply comes 2 s after: a margin for a loaded machine.
        var faults = FakeQMPFaults()
        faults.replyDelay = 2
        faults.delayOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let error = await FakeMonitor.qmpError {
                _ = try await client.execute("query-balloon", timeout: .milliseconds(50))
            }
            #expect(error?.description == "\(server.boundAddress): query-balloon: no reply within 50ms")
            try await Task.sleep(for: .milliseconds(2500))
            #expect(client.isActive, "a late reply is no protocol violation")
            #expect(try await client.execute("query-status")["running"] != nil)
            await client.close()
        }
    }

    @Test("QEMU closes with commands pending: each fails once with connectionClosed, later ones at once")
    func closeWithPending() async throws {
        var faults = FakeQMPFaults()
        faults.hangOn = .only(["query-balloon"])
        faults.closeOn = .only(["balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            let errors = await withTaskGroup(of: QMPError?.self) { group in
                // The hung commands wait far longer than the rest of the test takes, so none ends by its timeout.
                for _ in 0..<8 {
                    group.addTask {
                        await FakeMonitor.qmpError { _ = try await client.execute("query-balloon", timeout: .seconds(40)) }
                    }
                }
                // Let the hung commands go out before the one QEMU closes on (this one waits behind them, in vain).
                _ = try? await client.execute("query-status", timeout: .seconds(1))
                group.addTask {
                    await FakeMonitor.qmpError { _ = try await client.execute("balloon", arguments: ["value": .int(1 << 30)]) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(errors.count == 9)
            #expect(errors.allSatisfy { $0?.code == .connectionClosed })
            await client.waitUntilClosed()
            let after = await FakeMonitor.qmpError { _ = try await client.execute("query-status") }
            #expect(after?.description == "\(server.boundAddress): query-status: QEMU closed the connection")
            await client.close()
        }
    }

    @Test("many commands, some cancelled at random moments, some timing out: each caller ends exactly once")
    func manyCancelledAndTimedOut() async throws {
        var faults = FakeQMPFaults()
        faults.replyDelay = 0.02
        faults.delayOn = .only(["query-balloon"])
        try await FakeMonitor.with(faults: faults) { server in
            let client = try await QMPClient.connect(to: server.boundAddress, options: FakeMonitor.quick)
            var generator = SystemRandomNumberGenerator()
            var outcomes: [String: Int] = [:]
            for round in 0..<4 {
                let tasks = (0..<100).map { index in
                    let timeout: Duration = index % 7 == 0 ? .milliseconds(10) : .seconds(5)
                    let command = index % 2 == 0 ? "query-balloon" : "query-status"
                    let executor = index % 3 == 0 ? client.taskExecutor : nil
                    return Task(executorPreference: executor) {
                        do {
                            _ = try await client.execute(command, timeout: timeout)
                            return "answered"
                        } catch let error as QMPError {
                            return error.detail == "cancelled" ? "cancelled" : "\(error.code)"
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                for (index, task) in tasks.enumerated() where index % 3 != 1 {
                    if Int.random(in: 0..<4, using: &generator) == 0 { await Task.yield() }
                    task.cancel()
                }
                for task in tasks { outcomes[await task.value, default: 0] += 1 }
                #expect(client.isActive, "round \(round)")
            }
            #expect(outcomes.values.reduce(0, +) == 400)
            #expect(Set(outcomes.keys).isSubset(of: ["answered", "cancelled", "timeout"]), "\(outcomes)")
            #expect(try await client.execute("query-status")["running"] != nil)
            await client.close()
        }
    }
}
