import Foundation
import Logging
import QBalloon
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonQMP
import QBalloonRules
import QBalloonTestSupport
import Synchronization
import Testing

/// A test's world: VMs, the host's figures, and the daemon (``Daemon``, assembled as `qballoon run` does) over
/// them, stopped by graceful shutdown as SIGTERM does. Two kinds:
///
/// - ``Mode/virtual``: the VMs are ``SimulatedVM``s in memory and time is a ``VirtualClock``. A round happens
///   when the test asks for the next one; nothing sleeps. For everything about decisions, faults and reloads.
/// - ``Mode/sockets``: the VMs are fake QEMU monitors (`FakeQMPServer`) on unix sockets, the daemon reaches them
///   over QMP, and time is real. Only where the socket is the point of the test.
///
/// Rounds are observed through `onRound`: ``waitFor(_:within:_:)`` reads them one by one and fails the test
/// when the condition does not hold within a number of rounds, never a number of seconds.
final class TestFleet: @unchecked Sendable {
    enum Mode {
        case virtual
        case sockets
    }

    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    let mode: Mode
    let directory: String
    let logs = CapturedLogs()
    let host: HostModel
    /// The virtual clock (``Mode/virtual`` only).
    let clock = VirtualClock()
    private(set) var simulated: [String: SimulatedVM] = [:]
    private(set) var servers: [String: FakeQMPServer] = [:]
    private(set) var history: [RoundReport] = []
    private(set) var daemon: Daemon?
    private var daemonTask: Task<Void, any Error>?
    /// Set when the daemon's `run()` has returned.
    private let finishedFlag = Flag()

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func set() { value.store(true, ordering: .releasing) }
        func reset() { value.store(false, ordering: .releasing) }
    }
    private var rounds: AsyncStream<RoundReport>.Iterator?
    private var firstRoundPending = false
    private var interval: Duration = .seconds(2)
    /// The virtual clock's time when the daemon started: its rounds fall on multiples of the interval after it.
    private var daemonOrigin: Duration = .zero
    private var hostTask: Task<Void, Never>?
    /// The simulated VMs as the daemon's links and glob scans find them (``Mode/virtual``).
    private let registry = Registry()

    private final class Registry: Sendable {
        let vms = Mutex<[String: SimulatedVM]>([:])
        /// The running VMs' sockets, for glob entries.
        let sockets = Mutex<[String]>([])
    }

    var configPath: String { directory + "/qballoon.toml" }
    var metrics: DaemonMetrics? { daemon?.metrics }

    private init(mode: Mode) {
        self.mode = mode
        directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbd")
        host = HostModel()
        if mode == .virtual {
            let registry = self.registry
            host.follow { registry.vms.withLock { $0.values.reduce(0) { $0 + $1.actual } } }
        }
    }

    /// Runs `body` with a fresh fleet, and tears everything down after it, even when it throws.
    static func run(_ mode: Mode = .virtual, _ body: (TestFleet) async throws -> Void) async throws {
        let fleet = TestFleet(mode: mode)
        do {
            try await body(fleet)
        } catch {
            await fleet.tearDown()
            throw error
        }
        await fleet.tearDown()
    }

    // MARK: VMs

    func socket(_ name: String) -> String { "\(directory)/\(name).qmp" }

    /// A 2 GiB VM whose applications use `used` (300 MiB by default), with a fast balloon so tests are short.
    static func scenario(
        ram: UInt64 = 2 << 30, used: UInt64 = 300 << 20, cache: UInt64 = 400 << 20, speed: UInt64 = 2 << 30
    ) -> FakeGuestScenario {
        FakeGuestScenario(
            name: "test", ram: ram, balloon: .init(speed: speed), guest: .init(cache: cache), workload: .constant(used))
    }

    /// Starts a VM (or, for a name already known in virtual time, restarts it as a new QEMU would).
    func startVM(_ name: String, scenario: FakeGuestScenario = TestFleet.scenario(), faults: FakeQMPFaults? = nil)
        async throws
    {
        switch mode {
        case .virtual:
            if let vm = simulated[name] {
                vm.restart(scenario: scenario)
            } else {
                simulated[name] = SimulatedVM(
                    name: name, scenario: scenario, clock: clock, noBalloon: faults?.noBalloonDevice ?? false,
                    noStats: faults?.noGuestStats ?? false)
            }
            updateSockets()
        case .sockets:
            let server = try await FakeQMPServer.start(
                listen: .unixDomainSocket(path: socket(name)), scenario: scenario, faults: faults)
            servers[name] = server
        }
    }

    /// Stops a VM as a crash would: its monitor closes and its socket goes away.
    func stopVM(_ name: String) async {
        switch mode {
        case .virtual:
            simulated[name]?.stop()
            updateSockets()
        case .sockets:
            await servers.removeValue(forKey: name)?.stop()
        }
    }

    /// Makes a VM's monitor stop answering (or answer again).
    func setHung(_ name: String, _ hung: Bool) async throws {
        switch mode {
        case .virtual:
            simulated[name]?.setHung(hung)
        case .sockets:
            try await servers[name]?.setFaults(hung ? FakeQMPFaults(hangOn: .all) : .none)
        }
    }

    func guest(_ name: String) async throws -> FakeGuestState {
        switch mode {
        case .virtual:
            guard let vm = simulated[name] else { throw TestFailure("no simulated VM named \(name)") }
            return vm.guest
        case .sockets:
            guard let server = servers[name] else { throw TestFailure("no fake VM named \(name)") }
            return try await server.guestState()
        }
    }

    /// Sets a balloon target by hand (another tool) and lets the guest get there.
    func squeeze(_ name: String, to bytes: UInt64) async throws {
        switch mode {
        case .virtual:
            guard let vm = simulated[name] else { throw TestFailure("no simulated VM named \(name)") }
            vm.setTarget(bytes)
            for _ in 0..<100 where vm.guest.actual != bytes { clock.advance(by: .milliseconds(100)) }
        case .sockets:
            let client = try await QMPClient.connect(to: .unixDomainSocket(path: socket(name)))
            _ = try await client.execute("balloon", arguments: ["value": .int(Int64(bytes))])
            await client.close()
            for _ in 0..<100 where try await guest(name).actual != bytes { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(try await guest(name).actual == bytes)
    }

    private func updateSockets() {
        let running = simulated.values.filter(\.isRunning).map { socket($0.name) }.sorted()
        let vms = simulated
        registry.vms.withLock { $0 = vms }
        registry.sockets.withLock { $0 = running }
    }

    /// Tells the host model what the fake servers' guests hold now (``Mode/sockets``).
    private func refreshHost() async {
        var held: UInt64 = 0
        for server in servers.values { held += (try? await server.guestState().actual) ?? 0 }
        host.setVMBytes(held)
    }

    // MARK: The daemon

    /// Writes the config file, with a control socket and state folder of the fleet's own unless it names one.
    func writeConfig(_ text: String) throws {
        try TestDaemonFiles.withOwnControlSocket(text, directory: directory)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// The control socket of the fleet's daemon (unless its config names another).
    var controlSocket: String { directory + "/control.sock" }

    /// Writes the config file and starts the daemon on it.
    func startDaemon(
        config text: String, dryRun: Bool = false, metrics: DaemonMetrics? = nil, notifier: SystemdNotifier? = nil
    ) async throws {
        try writeConfig(text)
        let config = try QBalloonConfig.load(path: configPath)
        interval = config.daemon.interval
        let (stream, continuation) = AsyncStream.makeStream(of: RoundReport.self)
        let host = self.host
        let options: Daemon.Options
        switch mode {
        case .virtual:
            let registry = self.registry
            options = Daemon.Options(
                configPath: configPath, dryRun: dryRun, logger: logs.logger(), clock: clock,
                wallClock: clock.wallClock, readHost: { host.sample($0) },
                link: { member, timeout, _ in
                    // Every VM a config names is a simulated one, found by its socket's file name.
                    let file = member.address.monitor?.unixPath?.split(separator: "/").last.map(String.init) ?? member.name
                    let stem = file.hasSuffix(".qmp") ? String(file.dropLast(4)) : file
                    guard let vm = registry.vms.withLock({ $0[stem] }) else { return MissingVM(name: member.name) }
                    return vm.link(commandTimeout: timeout)
                },
                scanSockets: { _ in registry.sockets.withLock { $0 } },
                onRound: { continuation.yield($0) }, metrics: metrics, notifier: notifier)
        case .sockets:
            options = Daemon.Options(
                configPath: configPath, dryRun: dryRun, logger: logs.logger(), readHost: { host.sample($0) },
                onRound: { continuation.yield($0) }, metrics: metrics, notifier: notifier)
        }
        let daemon = try Daemon(config: config, options: options)
        daemonOrigin = clock.now.offset
        self.daemon = daemon
        self.rounds = stream.makeAsyncIterator()
        firstRoundPending = true
        if mode == .sockets {
            await refreshHost()
            hostTask = hostTask ?? Task { [weak self] in
                while !Task.isCancelled {
                    await self?.refreshHost()
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        finishedFlag.reset()
        daemonTask = Task { [daemonFinished = self.finishedFlag] in
            defer {
                continuation.finish()
                daemonFinished.set()
            }
            try await daemon.run()
        }
    }

    /// Reloads the config (as SIGHUP does) and waits for the round the reload makes.
    @discardableResult
    func reload() async throws -> RoundReport {
        guard let daemon else { throw TestFailure("the daemon is not running") }
        if mode == .virtual { try await settle() }
        daemon.reload()
        return try await receiveRound()
    }

    /// Stops the daemon as SIGTERM does (graceful shutdown) and waits for it.
    func stopDaemon() async throws {
        guard let daemon, let daemonTask else { return }
        if mode == .virtual { try await settle() }
        await daemon.shutDown()
        try await daemonTask.value
        self.daemon = nil
        self.daemonTask = nil
    }

    /// The next round: in virtual time, one interval later.
    @discardableResult
    func nextRound() async throws -> RoundReport {
        guard daemon != nil else { throw TestFailure("the daemon is not running") }
        if mode == .virtual, !firstRoundPending {
            try await settle()
            clock.advance(by: interval)
        }
        firstRoundPending = false
        return try await receiveRound()
    }

    private func receiveRound() async throws -> RoundReport {
        guard var iterator = rounds else { throw TestFailure("the daemon is not running") }
        let report = await iterator.next()
        rounds = iterator
        guard let report else { throw TestFailure("the daemon stopped reporting rounds") }
        if mode == .virtual { try await settle() }
        history.append(report)
        return report
    }

    /// Moves virtual time on by `duration` in steps of `step`, taking every round that falls due on the way (and
    /// letting the daemon settle after each), and calls `sample` after every step: for measuring what a guest
    /// lives through between the daemon's rounds.
    func advance(by duration: Duration, step: Duration = .seconds(1), _ sample: () async throws -> Void = {}) async throws {
        guard mode == .virtual, daemon != nil else { throw TestFailure("advance(by:) needs a running daemon in virtual time") }
        if firstRoundPending {
            firstRoundPending = false
            _ = try await receiveRound()
        }
        var moved = Duration.zero
        while moved < duration {
            try await settle()
            clock.advance(by: step)
            moved += step
            let due = Int(((clock.now.offset - daemonOrigin) / interval).rounded(.down)) + 1
            while history.count < due { _ = try await receiveRound() }
            try await settle()
            try await sample()
        }
    }

    /// Waits until, in virtual time, nothing is left to do but wait for the clock: every worker has handled
    /// what it was sent (but those of VMs waiting out a hang), and the daemon's ticker sleeps.
    func settle() async throws {
        guard let daemon else { return }
        for _ in 0..<200_000 {
            let parked = simulated.values.filter(\.isParked)
            if clock.sleepers >= 1 + parked.count,
                daemon.orchestrator.workersAreIdle(except: Set(parked.map(\.name)))
            {
                return
            }
            await Task.yield()
        }
        throw TestFailure("the daemon did not settle in virtual time; last log lines:\n\(logs.tail(12))")
    }

    /// Shuts the daemon down (as SIGTERM does) while moving virtual time on by `duration`, in steps: for a
    /// shutdown that has to wait for something on the clock (a command in flight). Returns whether `run()`
    /// returned.
    func stopDaemonWhileAdvancing(by duration: Duration) async throws -> Bool {
        guard let daemon, let daemonTask else { return true }
        await daemon.shutDown()
        var moved = Duration.zero
        while !finishedFlag.isSet, moved < duration {
            for _ in 0..<1000 where !finishedFlag.isSet { await Task.yield() }
            clock.advance(by: .milliseconds(100))
            moved += .milliseconds(100)
        }
        for _ in 0..<100_000 where !finishedFlag.isSet { await Task.yield() }
        guard finishedFlag.isSet else { return false }
        try await daemonTask.value
        self.daemon = nil
        self.daemonTask = nil
        return true
    }

    /// Reads rounds until `condition` holds, at most `rounds` of them; returns the round where it held.
    @discardableResult
    func waitFor(
        _ what: String, within rounds: Int = 40, _ condition: (RoundReport) async throws -> Bool
    ) async throws -> RoundReport {
        for _ in 0..<rounds {
            let report = try await nextRound()
            if try await condition(report) { return report }
        }
        let last = history.last.map(describe) ?? "no round"
        throw TestFailure(
            "not within \(rounds) rounds: \(what); last round: \(last)\nlast log lines:\n\(logs.tail(12))")
    }

    /// Reads `count` rounds, calling `check` on each.
    func rounds(_ count: Int, _ check: (RoundReport) async throws -> Void = { _ in }) async throws {
        for _ in 0..<count { try await check(try await nextRound()) }
    }

    func describe(_ report: RoundReport) -> String {
        report.rows.map { row in
            "\(row.vm)[\(row.status.label) actual=\(row.actual.map { "\($0 >> 20)MiB" } ?? "-") target=\(row.target.map { "\($0 >> 20)MiB" } ?? "-")]"
        }.joined(separator: " ") + " changes=\(report.changes.count)"
    }

    // MARK: Tear down

    func tearDown() async {
        hostTask?.cancel()
        await hostTask?.value
        if mode == .virtual, daemon != nil {
            // A VM still hung waits on the virtual clock: move it on until the daemon has stopped.
            let stopped = (try? await stopDaemonWhileAdvancing(by: .seconds(600))) ?? false
            if !stopped { daemonTask?.cancel() }
        }
        if let daemon, let daemonTask {
            await daemon.shutDown()
            _ = try? await daemonTask.value
        }
        daemon = nil
        daemonTask = nil
        for server in servers.values { await server.stop() }
        servers.removeAll()
        TestEnvironment.removeDirectory(directory)
    }
}

/// A config entry with no simulated VM behind it: it cannot be reached.
private struct MissingVM: VMLink {
    let name: String
    var description: String { "sim:\(name)" }
    func connect(statsInterval: Int, events: @escaping @Sendable (VMEvent) -> Void) async throws -> any VMConnection {
        throw SimulatedVMError("sim:\(name): cannot connect: no such socket")
    }
}

extension RoundReport {
    func changes(for vm: String) -> [Decision] { changes.filter { $0.vm == vm } }
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

    /// `[defaults]`: min 25%, a 1 GiB step both ways, no cooldown, stall_after 2s, the least headroom (64 MiB:
    /// rule targets decide, as most tests want; the headroom tests set their own); `overrides` are TOML lines
    /// (`cooldown = "1s"`) that replace those keys or add others.
    static func defaults(_ overrides: String...) -> String {
        var lines: [(key: String, line: String)] = [
            ("min", #"min = "25%""#), ("step", #"step = "1GiB""#), ("grow_step", #"grow_step = "1GiB""#),
            ("cooldown", #"cooldown = "0s""#), ("stall_after", #"stall_after = "2s""#), ("headroom", #"headroom = "64MiB""#),
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

    /// Rules that never fire within a test: the host reserve is what moves balloons there.
    static let quietRule = """
        [[rule]]
        name = "reclaim idle memory after an hour"
        when = "available > 40% of actual for 1h"
        set = "used + 30% of used"

        """
}
