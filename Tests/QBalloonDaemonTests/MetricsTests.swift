import Logging
import QBalloonCore
import QBalloonDaemon
import QBalloonRules
import QBalloonTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// Metrics for Prometheus: what the daemon records (virtual time), and `/metrics` served over real HTTP.
@Suite(.timeLimit(.minutes(1)))
struct MetricsTests {
    @Test func everyVMAndTheHostAreRecorded() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("m1")
            try await fleet.startVM("m2")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("m1", in: fleet)
                    + TestConfig.vm("m2", in: fleet) + TestConfig.quietRule,
                metrics: metrics)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.status == .ok } }
            try await fleet.nextRound()
            let body = String(decoding: metrics.exposition(), as: UTF8.self)
            for vm in ["m1", "m2"] {
                #expect(MetricsText.value(body, "qballoon_vm_actual_bytes", vm: vm) == Double(2 * TestFleet.gib), "\(body)")
                #expect(MetricsText.value(body, "qballoon_vm_max_bytes", vm: vm) == Double(2 * TestFleet.gib))
                #expect(MetricsText.value(body, "qballoon_vm_healthy", vm: vm) == 1)
                #expect(MetricsText.value(body, "qballoon_vm_pressure", vm: vm) == 0)
                #expect(MetricsText.value(body, "qballoon_vm_available_bytes", vm: vm) != nil)
                #expect(MetricsText.value(body, "qballoon_vm_stats_age_seconds", vm: vm) != nil)
                #expect(MetricsText.value(body, "qballoon_qmp_reconnects_total", vm: vm) == 0)
            }
            #expect(MetricsText.value(body, "qballoon_host_available_bytes") == Double(48 * TestFleet.gib))
            #expect(MetricsText.value(body, "qballoon_host_total_bytes") == Double(HostModel.total))
            #expect(body.contains("# TYPE qballoon_vm_actual_bytes gauge"))
        }
    }

    @Test func metricsAreServedOverHTTPAndTheServerStopsOnGracefulShutdown() async throws {
        let logs = CapturedLogs()
        let metrics = DaemonMetrics()
        metrics.record(host: HostSample(total: 64 << 30, available: 40 << 30))
        let (ports, bound) = AsyncStream.makeStream(of: Int.self)
        let server = MetricsServer(
            listen: .hostname("127.0.0.1", port: 0), metrics: metrics, logger: logs.logger(),
            bound: { bound.yield($0.hostAndPort?.port ?? 0) })
        let group = ServiceGroup(configuration: .init(services: [server], logger: logs.logger()))
        try await withThrowingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            #expect(port > 0)
            #expect(!logs.matching("metrics on http://127.0.0.1:\(port)/metrics").isEmpty)

            let response = try HTTPGet.fetch(port: port, path: "/metrics")
            #expect(response.status == 200)
            #expect(response.headers.contains("text/plain"))
            #expect(MetricsText.value(response.body, "qballoon_host_available_bytes") == Double(40 << 30))
            let missing = try HTTPGet.fetch(port: port, path: "/nope")
            #expect(missing.status == 404)

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
