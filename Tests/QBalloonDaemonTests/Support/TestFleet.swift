import Foundation
import Logging
import QBalloon
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonQMP
import QBalloonRules
import ServiceLifecycle
import Testing

/// A test's world: fake VMs listening on unix sockets in a fresh temporary directory, the host's figures,
/// and the daemon running over them in a `ServiceGroup` (stopped by graceful shutdown, as SIGTERM does).
///
/// Rounds are observed through `onRound`: ``waitFor(_:within:_:)`` reads them one by one and fails the
/// test when the condition does not hold within a number of rounds, never a number of seconds.
final class TestFleet {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    let directory: String
    let logs = CapturedLogs()
    let host = HostModel()
    private(set) var servers: [String: FakeQMPServer] = [:]
    private(set) var history: [RoundReport] = []
    private(set) var orchestrator: Orchestrator?
    private var group: ServiceGroup?
    private var daemonTask: Task<Void, any Error>?
    private var rounds: AsyncStream<RoundReport>.Iterator?
    private var hostTask: Task<Void, Never>?

    var configPath: String { directory + "/qballoon.toml" }

    private init() {
        var template = Array("/tmp/qbd.XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { buffer in
            String(cString: mkdtemp(buffer.baseAddress!)!)
        }
    }

    /// Runs `body` with a fresh fleet, and tears everything down after it, even when it throws.
    static func run(_ body: (TestFleet) async throws -> Void) async throws {
        let fleet = TestFleet()
        do {
            try await body(fleet)
        } catch {
            await fleet.tearDown()
            throw error
        }
        await fleet.tearDown()
    }

    // MARK: Fake VMs

    func socket(_ name: String) -> String { "\(directory)/\(name).qmp" }

    /// A 2 GiB VM whose applications use `used` (300 MiB by default), with a fast balloon so tests are short.
    static func scenario(
        ram: UInt64 = 2 << 30, used: UInt64 = 300 << 20, cache: UInt64 = 400 << 20, speed: UInt64 = 2 << 30
    ) -> FakeGuestScenario {
        FakeGuestScenario(
            name: "test", ram: ram, balloon: .init(speed: speed), guest: .init(cache: cache), workload: .constant(used))
    }

    @discardableResult
    func startVM(_ name: String, scenario: FakeGuestScenario = TestFleet.scenario(), faults: FakeQMPFaults? = nil)
        async throws -> FakeQMPServer
    {
        let server = try await FakeQMPServer.start(
            listen: .unixDomainSocket(path: socket(name)), scenario: scenario, faults: faults)
        servers[name] = server
        host.track(name, server)
        return server
    }

    /// Stops a VM as a crash would: its monitor closes and its socket goes away.
    func stopVM(_ name: String) async {
        host.track(name, nil)
        await servers.removeValue(forKey: name)?.stop()
    }

    func guest(_ name: String) async throws -> FakeGuestState {
        guard let server = servers[name] else { throw TestFailure("no fake VM named \(name)") }
        return try await server.guestState()
    }

    // MARK: The daemon

    func writeConfig(_ text: String) throws {
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Writes the config file and starts the daemon on it.
    func startDaemon(
        config text: String, dryRun: Bool = false, decisionLog: DecisionLog? = nil, metrics: DaemonMetrics? = nil
    ) async throws {
        try writeConfig(text)
        let config = try QBalloonConfig.parse(text, file: configPath)
        let (stream, continuation) = AsyncStream.makeStream(of: RoundReport.self)
        let host = self.host
        let logger = logs.logger()
        let orchestrator = Orchestrator(
            config: config,
            options: .init(
                configPath: configPath, dryRun: dryRun, readHost: { host.sample($0) },
                onRound: { report in continuation.yield(report) }, metrics: metrics, decisionLog: decisionLog),
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: orchestrator)], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
        self.orchestrator = orchestrator
        self.group = group
        self.rounds = stream.makeAsyncIterator()
        await host.refresh()
        hostTask = hostTask ?? Task {
            while !Task.isCancelled {
                await host.refresh()
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        daemonTask = Task {
            defer { continuation.finish() }
            try await group.run()
        }
    }

    /// Stops the daemon as SIGTERM does (graceful shutdown) and waits for it.
    func stopDaemon() async throws {
        guard let group, let daemonTask else { return }
        await group.triggerGracefulShutdown()
        try await daemonTask.value
        self.group = nil
        self.daemonTask = nil
    }

    /// The next round.
    @discardableResult
    func nextRound() async throws -> RoundReport {
        guard var iterator = rounds else { throw TestFailure("the daemon is not running") }
        let report = await iterator.next()
        rounds = iterator
        guard let report else { throw TestFailure("the daemon stopped reporting rounds") }
        history.append(report)
        return report
    }

    /// Reads rounds until `condition` holds, at most `rounds` of them; returns the round where it held.
    @discardableResult
    func waitFor(
        _ what: String, within rounds: Int = 40, sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: (RoundReport) async throws -> Bool
    ) async throws -> RoundReport {
        for _ in 0..<rounds {
            let report = try await nextRound()
            if try await condition(report) { return report }
        }
        let last = history.last.map(describe) ?? "no round"
        let recent = logs.all.suffix(12).map { "  \($0)" }.joined(separator: "\n")
        throw TestFailure(
            "not within \(rounds) rounds: \(what); last round: \(last)\nlast log lines:\n\(recent)",
            sourceLocation: sourceLocation)
    }

    /// Reads `count` rounds, calling `check` on each.
    func rounds(_ count: Int, _ check: (RoundReport) async throws -> Void = { _ in }) async throws {
        for _ in 0..<count { try await check(try await nextRound()) }
    }

    func describe(_ report: RoundReport) -> String {
        report.rows.map { row in
            "\(row.vm)[\(row.health.label) actual=\(row.actual.map { "\($0 >> 20)MiB" } ?? "-") target=\(row.target.map { "\($0 >> 20)MiB" } ?? "-")]"
        }.joined(separator: " ") + " changes=\(report.changes.count)"
    }

    // MARK: Tear down

    func tearDown() async {
        hostTask?.cancel()
        await hostTask?.value
        if let group, let daemonTask {
            await group.triggerGracefulShutdown()
            _ = try? await daemonTask.value
        }
        group = nil
        daemonTask = nil
        for server in servers.values { await server.stop() }
        servers.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension RoundReport {
    func row(_ vm: String) -> Row? { rows.first { $0.vm == vm } }
    func changes(for vm: String) -> [Decision] { changes.filter { $0.vm == vm } }
}

/// A test failure with a message that says what was being waited for.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    let sourceLocation: SourceLocation

    init(_ description: String, sourceLocation: SourceLocation = #_sourceLocation) {
        self.description = description
        self.sourceLocation = sourceLocation
    }
}

/// The parts of a config most tests share: short periods, no cooldown, a fast step, a 1 GiB host reserve.
enum TestConfig {
    static let reserve: UInt64 = 1 << 30

    static func daemon(interval: String = "300ms", commandTimeout: String = "1s", extra: String = "") -> String {
        """
        [daemon]
        interval = "\(interval)"
        stale_after = "3s"
        command_timeout = "\(commandTimeout)"
        \(extra)

        [host]
        reserve = "1GiB"

        """
    }

    /// `[defaults]`: min 25%, a 1 GiB step both ways, no cooldown, stall_after 2s; `overrides` are TOML
    /// lines (`cooldown = "1s"`) that replace those keys or add others.
    static func defaults(_ overrides: String...) -> String {
        var lines: [(key: String, line: String)] = [
            ("min", #"min = "25%""#), ("step", #"step = "1GiB""#), ("grow_step", #"grow_step = "1GiB""#),
            ("cooldown", #"cooldown = "0s""#), ("stall_after", #"stall_after = "2s""#),
        ]
        for line in overrides where !line.isEmpty {
            let key = String(line.prefix { $0 != " " && $0 != "=" })
            if let index = lines.firstIndex(where: { $0.key == key }) {
                lines[index].line = line
            } else {
                lines.append((key, line))
            }
        }
        return "[defaults]\n" + lines.map(\.line).joined(separator: "\n") + "\n\n"
    }

    static func vm(_ name: String, in fleet: TestFleet, _ extra: String = "") -> String {
        """
        [[vm]]
        name = "\(name)"
        qmp = "unix:\(fleet.socket(name))"
        \(extra)

        """
    }

    /// Takes idle memory back at once: down to what the guest uses plus 30%.
    static let reclaimRule = """
        [[rule]]
        name = "reclaim idle memory"
        when = "available > 40% of actual"
        set = "used + 30% of used"

        """
}
