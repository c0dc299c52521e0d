import ArgumentParser
import Logging
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonQMP
import QBalloonRules
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Watch the orchestrator drive three simulated VMs for a minute (no QEMU needed).",
        discussion: """
            Starts three fake QEMU monitors in this process (an idle VM holding lots of free memory, one whose \
            workload grows and shrinks, one bursty), runs the real daemon on them with the demo config, shows a \
            live table, and ends with a summary.

            Its files come with qballoon: installed, in PREFIX/share/qballoon/ (configs/demo.toml, scenarios/); \
            in a checkout, Configs/demo.toml and Fixtures/scenarios/.
            """)

    @Option(help: ArgumentHelp("How long to run.", valueName: "DURATION"))
    var duration: String = "60s"

    @Option(help: ArgumentHelp("The config to run with (default: the demo config shipped with qballoon).", valueName: "FILE"))
    var config: String?

    @Option(help: ArgumentHelp("Where the scenario files are (default: those shipped with qballoon).", valueName: "DIR"))
    var scenarios: String?

    static let socketDirectory = "/tmp/qballoon-demo"
    static let vms = ["idle", "growing", "bursty"]

    func validate() throws {
        guard try parsedDuration(duration, option: "--duration") > .zero else {
            throw ValidationError("--duration must be more than 0")
        }
    }

    /// The config and scenario folder to use: those given, else the first shipped place that has them.
    func files() throws -> (config: String, scenarios: String) {
        let shipped = ShippedFiles()
        let found = shipped.place(holdingConfig: "demo.toml", scenarios: Self.vms)
        guard let config = config ?? found.map({ $0.configs + "/demo.toml" }),
            let scenarios = scenarios ?? found?.scenarios
        else {
            let searched = shipped.places.map { "\($0.configs)/demo.toml with \($0.scenarios)/" }
            throw ValidationError(
                "the demo's files are in none of: \(searched.joined(separator: "; ")) (install qballoon with "
                    + "`make install` or its .deb, run the demo from the repository's top folder, or pass --config "
                    + "and --scenarios)")
        }
        return (config, scenarios)
    }

    func run() async throws {
        let (config, scenarios) = try files()
        var loaded = try loadConfig(config)
        // The demo never takes the host's own control socket or state: a real daemon may be running beside it.
        if loaded.daemon.controlSocket == DaemonSettings.defaultControlSocket {
            loaded.daemon.controlSocket = "\(Self.socketDirectory)/control.sock"
        }
        if loaded.daemon.stateDirectory == DaemonSettings.defaultStateDirectory {
            loaded.daemon.stateDirectory = "\(Self.socketDirectory)/state"
        }
        let length = try DurationText.parse(duration)
        mkdir(Self.socketDirectory, 0o755)
        var servers: [FakeQMPServer] = []
        for name in Self.vms {
            let path = "\(scenarios)/\(name).json"
            let scenario: FakeGuestScenario
            do {
                scenario = try FakeGuestScenario.load(path: path)
            } catch {
                throw ValidationError("\(error) (pass --scenarios with a folder holding \(Self.vms.map { $0 + ".json" }.joined(separator: ", ")))")
            }
            servers.append(
                try await FakeQMPServer.start(
                    listen: .unixDomainSocket(path: "\(Self.socketDirectory)/\(name).qmp"), scenario: scenario))
        }
        print("qballoon demo: 3 simulated VMs in \(Self.socketDirectory), config \(config), for \(length.seconds)s")
        if let control = loaded.daemon.controlSocket {
            print("watch it live from another terminal: qballoon top --control \(control)")
        }
        print("")

        let table = LiveTable(interactive: isatty(1) != 0)
        let summary = Mutex(DemoSummary())
        let daemon = try Daemon(
            config: loaded,
            options: .init(
                configPath: config, logger: makeLogger(level: .warning),
                onRound: { report in
                    summary.withLock { $0.add(report) }
                    table.show(report)
                }))
        // The fake VMs serve until the daemon has stopped (and given them their memory back, if asked).
        try await withThrowingDiscardingTaskGroup { vms in
            for server in servers { vms.addTask { await server.run() } }
            try await withThrowingDiscardingTaskGroup { running in
                running.addTask { try await daemon.run() }
                try? await Task.sleep(for: length)
                await daemon.shutDown()
            }
            for server in servers { await server.stop() }
        }
        print("")
        print(summary.withLock { $0.text })
    }
}

/// The live table: redrawn in place on a terminal, printed every 5 rounds otherwise.
final class LiveTable: Sendable {
    let interactive: Bool
    private let state = Mutex<(rounds: Int, lines: Int)>((0, 0))

    init(interactive: Bool) {
        self.interactive = interactive
    }

    func show(_ report: RoundReport) {
        let text = Self.render(report)
        state.withLock { state in
            state.rounds += 1
            if interactive {
                if state.lines > 0 { print("\u{1b}[\(state.lines)A", terminator: "") }
                print(text.map { $0 + "\u{1b}[K" }.joined(separator: "\n"))
                state.lines = text.count
            } else if state.rounds % 5 == 1 {
                print(text.joined(separator: "\n") + "\n")
            }
        }
        fflush(nil)
    }

    static func render(_ report: RoundReport) -> [String] {
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        func size(_ value: UInt64?) -> String { value.map(MemorySize.format) ?? "-" }
        var lines = [pad("VM", 9) + pad("actual", 12) + pad("target", 12) + pad("available", 12) + pad("state", 12) + "last rule"]
        for row in report.rows {
            let state = row.status == .ok ? (row.pressured ? "PRESSURE" : "ok") : row.status.label
            lines.append(
                pad(row.vm, 9) + pad(size(row.actual), 12) + pad(size(row.target), 12) + pad(size(row.available), 12)
                    + pad(state, 12) + (row.lastReason ?? "-"))
        }
        return lines
    }
}

/// What the demo reports at the end.
struct DemoSummary {
    var rounds = 0
    var first: [String: UInt64] = [:]
    var last: [String: UInt64] = [:]
    var lowest: [String: UInt64] = [:]
    var max: [String: UInt64] = [:]
    var pressuredRounds: [String: Int] = [:]
    var peakPressured = 0
    var changes = 0

    mutating func add(_ report: RoundReport) {
        rounds += 1
        changes += report.changes.count
        var pressured = 0
        for row in report.rows {
            guard let actual = row.actual else { continue }
            if first[row.vm] == nil { first[row.vm] = actual }
            last[row.vm] = actual
            lowest[row.vm] = Swift.min(lowest[row.vm] ?? actual, actual)
            if let ram = row.max { max[row.vm] = ram }
            if row.pressured {
                pressuredRounds[row.vm, default: 0] += 1
                pressured += 1
            }
        }
        peakPressured = Swift.max(peakPressured, pressured)
    }

    var text: String {
        let names = last.keys.sorted()
        let reclaimedNow = names.reduce(UInt64(0)) { $0 + ((max[$1] ?? 0) - Swift.min(max[$1] ?? 0, last[$1] ?? 0)) }
        let reclaimedPeak = names.reduce(UInt64(0)) { $0 + ((max[$1] ?? 0) - Swift.min(max[$1] ?? 0, lowest[$1] ?? 0)) }
        var lines = ["summary after \(rounds) rounds, \(changes) balloon changes:"]
        lines.append("  memory reclaimed at the end: \(MemorySize.format(reclaimedNow)) (most at once: \(MemorySize.format(reclaimedPeak)))")
        for name in names {
            lines.append(
                "  \(name): \(MemorySize.format(first[name] ?? 0)) -> \(MemorySize.format(last[name] ?? 0)), lowest \(MemorySize.format(lowest[name] ?? 0)), "
                    + "under pressure in \(pressuredRounds[name] ?? 0) of \(rounds) rounds")
        }
        let short = names.filter { (pressuredRounds[$0] ?? 0) > 0 }
        lines.append("  peak pressure: \(peakPressured) VM(s) at once")
        lines.append("  guests that ran short: \(short.isEmpty ? "none" : short.joined(separator: ", "))")
        return lines.joined(separator: "\n")
    }
}
