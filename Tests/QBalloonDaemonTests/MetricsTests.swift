import Logging
import QBalloon
import QBalloonDaemon
import QBalloonRules
import ServiceLifecycle
import Testing

/// `/metrics` for Prometheus, served over real HTTP.
@Suite(.timeLimit(.minutes(2)))
struct MetricsTests {
    @Test func metricsAreServedForEveryVMAndTheHost() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("m1")
            try await fleet.startVM("m2")
            let metrics = DaemonMetrics()
            let server = try MetricsServer(listen: "127.0.0.1:0", metrics: metrics, logger: fleet.logs.logger())
            let (ports, bound) = AsyncStream.makeStream(of: Int.self)
            let serving = Task { try await server.serve(bound: { bound.yield($0) }) }
            var portIterator = ports.makeAsyncIterator()
            let port = try #require(await portIterator.next())
            #expect(port > 0)

            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("m1", in: fleet)
                    + TestConfig.vm("m2", in: fleet) + FaultTests.quietRule,
                metrics: metrics)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.health == .healthy } }
            try await fleet.nextRound()

            let response = try HTTPGet.fetch(port: port, path: "/metrics")
            #expect(response.status == 200)
            #expect(response.headers.contains("text/plain"))
            let body = response.body
            for vm in ["m1", "m2"] {
                #expect(MetricsText.value(body, "qballoon_vm_actual_bytes", vm: vm) == Double(2 * TestFleet.gib), "\(body)")
                #expect(MetricsText.value(body, "qballoon_vm_max_bytes", vm: vm) == Double(2 * TestFleet.gib))
                #expect(MetricsText.value(body, "qballoon_vm_healthy", vm: vm) == 1)
                #expect(MetricsText.value(body, "qballoon_vm_available_bytes", vm: vm) != nil)
                #expect(MetricsText.value(body, "qballoon_vm_stats_age_seconds", vm: vm) != nil)
                #expect(MetricsText.value(body, "qballoon_qmp_reconnects_total", vm: vm) == 0)
            }
            #expect(MetricsText.value(body, "qballoon_host_available_bytes") == Double(48 * TestFleet.gib))
            #expect(MetricsText.value(body, "qballoon_host_total_bytes") == Double(HostModel.total))
            #expect(body.contains("# TYPE qballoon_vm_actual_bytes gauge"))

            let missing = try HTTPGet.fetch(port: port, path: "/nope")
            #expect(missing.status == 404)

            serving.cancel()
            #expect(await finishes(serving), "the metrics server did not stop when its task was cancelled")
        }
    }

    @Test func theMetricsServerStopsOnGracefulShutdown() async throws {
        let logs = CapturedLogs()
        let server = try MetricsServer(listen: "127.0.0.1:0", metrics: DaemonMetrics(), logger: logs.logger())
        let group = ServiceGroup(configuration: .init(services: [server], logger: logs.logger()))
        let running = Task { try await group.run() }
        for _ in 0..<100 where logs.matching("metrics on").isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!logs.matching("metrics on http://127.0.0.1:").isEmpty)
        await group.triggerGracefulShutdown()
        #expect(await finishes(running))
    }

    /// Whether `task` ends within a generous bound (a hang guard, not a timing assertion).
    private func finishes(_ task: Task<Void, any Error>) async -> Bool {
        let (outcome, report) = AsyncStream.makeStream(of: Bool.self)
        // Unstructured: awaiting a task's value cannot be cancelled, so a hung task must not hold up the test.
        Task {
            _ = try? await task.value
            report.yield(true)
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(10))
            report.yield(false)
        }
        var iterator = outcome.makeAsyncIterator()
        let finished = await iterator.next() ?? false
        timer.cancel()
        return finished
    }
}
