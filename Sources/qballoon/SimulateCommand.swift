import ArgumentParser
import QBalloon
import QBalloonCore
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonRules
import QBalloonSimulator

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay recorded traces through a config in virtual time, and see what it would have done.",
        discussion: """
            Runs the daemon's own decision engine (the rules, the safety envelope, the host arbiter: the same code \
            `qballoon run` uses) on the VMs of the traces, in virtual time: a day of a hundred VMs takes seconds. A \
            simulated guest answers the balloon targets (it moves at --balloon-speed, stalls where it cannot free \
            more, and what it needs but does not have counts as a would-be OOM); the VMs share one simulated host of \
            --host-memory. Each trace's VM takes the settings of the [[vm]] entry that names it (by name, socket \
            file name, or a glob matching NAME.qmp in its folder), else [defaults].

            Prints, per config: the memory returned to the host (mean, least), the time the guests were short \
            (available under a tenth of what they had) and their would-be OOM events, the balloon changes per \
            VM-hour, and the delay from a guest going short to getting memory back (p50, p99). With --compare, the \
            two configs side by side, the better figure of each row marked with *. Traces are made by `qballoon \
            record` or the daemon's record_dir (format: Fixtures/traces/README.md).
            """)

    @Option(help: ArgumentHelp("The config to try (TOML).", valueName: "FILE"))
    var config: String

    @Argument(help: ArgumentHelp("Trace files, one VM each.", valueName: "TRACE"))
    var traces: [String] = []

    @Option(help: ArgumentHelp("A second config, run on the same traces and shown beside the first.", valueName: "FILE"))
    var compare: String?

    @Option(
        name: .customLong("host-memory"),
        help: ArgumentHelp("The simulated host's memory (default: the VMs' RAM and --host-use, summed).", valueName: "SIZE"))
    var hostMemory: String?

    @Option(name: .customLong("host-use"), help: ArgumentHelp("What the host's own processes use.", valueName: "SIZE"))
    var hostUse: String = "0"

    @Option(help: ArgumentHelp("How long to run (default: as long as the longest trace).", valueName: "DURATION"))
    var duration: String?

    @Option(
        name: .customLong("balloon-speed"),
        help: ArgumentHelp("How fast a simulated balloon moves, per second.", valueName: "SIZE"))
    var balloonSpeed: String = "256MiB"

    @Option(
        help: ArgumentHelp(
            "Also write an HTML report: the figures, the host and every VM over time (one self-contained page).",
            valueName: "FILE.html"))
    var report: String?

    @Option(
        help: ArgumentHelp(
            "Also write every balloon change of the (first) config, one JSON line each (time from the start, VM, from, to, reason, rule, the decision as the daemon logs it).",
            valueName: "FILE"))
    var decisions: String?

    @Flag(help: "Print the figures as JSON (one object per config, per VM figures and episodes).")
    var json = false

    func validate() throws {
        guard !traces.isEmpty else { throw ValidationError("name at least one trace file (qballoon record makes them)") }
        if let hostMemory { _ = try Self.size(hostMemory, option: "--host-memory") }
        _ = try Self.size(hostUse, option: "--host-use", allowZero: true)
        guard try Self.size(balloonSpeed, option: "--balloon-speed") >= 1 << 20 else {
            throw ValidationError("--balloon-speed must be at least 1MiB (per second)")
        }
        if let duration {
            let parsed = try parsedDuration(duration, option: "--duration")
            guard parsed > .zero, parsed.seconds <= Double(Trace.maxSamples) else {
                throw ValidationError("--duration must be more than 0 and at most 7 days")
            }
        }
    }

    func run() throws {
        let speed = try Self.size(balloonSpeed, option: "--balloon-speed")
        var guests: [TraceGuest] = []
        var names: Set<String> = []
        for path in traces {
            let trace = try Self.loadTrace(path)
            let guest: TraceGuest
            do {
                guest = try TraceGuest(trace: trace, balloonSpeed: speed)
            } catch {
                printError("qballoon: \(path): \(error)")
                throw ExitCode(ExitStatus.failure)
            }
            guard names.insert(guest.name).inserted else {
                printError("qballoon: \(path): a second trace of the VM \(guest.name): each VM can be replayed once")
                throw ExitCode(ExitStatus.failure)
            }
            guests.append(guest)
        }
        let options = Simulation.Options(
            hostMemory: try hostMemory.map { try Self.size($0, option: "--host-memory") },
            hostUse: try Self.size(hostUse, option: "--host-use", allowZero: true),
            duration: try duration.map { try DurationText.parse($0).seconds }, keepDecisions: decisions != nil)
        if let total = options.hostMemory {
            let ram = guests.reduce(UInt64(0)) { $0 &+ $1.scenario.ram }
            guard total > options.hostUse else {
                printError("qballoon: --host-memory \(MemorySize.format(total)) leaves nothing after --host-use \(MemorySize.format(options.hostUse))")
                throw ExitCode(ExitStatus.usage)
            }
            if total < ram / 4 {
                printError("qballoon: warning: --host-memory \(MemorySize.format(total)) is under a quarter of the VMs' RAM (\(MemorySize.format(ram)))")
            }
        }
        var runs: [SimulationRun] = []
        for path in [config] + (compare.map { [$0] } ?? []) {
            let loaded = try Self.loadConfig(path)
            let run = Simulation(config: loaded, name: path, guests: guests, options: options).run()
            for warning in run.warnings { printError("qballoon: warning: \(path): \(warning)") }
            runs.append(run)
        }
        if let decisions, let first = runs.first {
            let lines = first.decisions.map { $0.json(start: first.start).encodedString(sortedKeys: true) + "\n" }.joined()
            guard Self.write(lines, to: decisions) else {
                printError("qballoon: cannot write the decisions \(decisions): \(String(cString: strerror(errno)))")
                throw ExitCode(ExitStatus.failure)
            }
            printError("qballoon: \(first.decisions.count) balloon change\(first.decisions.count == 1 ? "" : "s") of \(first.config) written to \(decisions)")
        }
        if let report {
            let page = SimulationReport.html(runs, title: "qballoon simulate: " + runs.map(\.config).joined(separator: " vs "))
            guard Self.write(page, to: report) else {
                printError("qballoon: cannot write the report \(report): \(String(cString: strerror(errno)))")
                throw ExitCode(ExitStatus.failure)
            }
            printError("qballoon: report written to \(report) (\(MemorySize.format(UInt64(page.utf8.count))))")
        }
        if json {
            let objects = runs.map(\.json)
            print((compare == nil ? objects[0] : ["runs": .array(objects)]).encodedString(sortedKeys: true))
        } else {
            print(Self.text(runs, guests: guests), terminator: "")
        }
    }

    /// Writes `text` to a temporary file beside `path`, then renames it over `path`: a reader never sees half a page.
    static func write(_ text: String, to path: String) -> Bool {
        let temporary = path + ".tmp-\(getpid())"
        guard let file = fopen(temporary, "wx") else { return false }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file) == 0
        guard written == bytes.count, closed, rename(temporary, path) == 0 else {
            let saved = errno
            unlink(temporary)
            errno = saved
            return false
        }
        return true
    }

    // MARK: Inputs

    static func size(_ text: String, option: String, allowZero: Bool = false) throws -> UInt64 {
        if allowZero, text == "0" { return 0 }
        let size: MemorySize
        do {
            size = try MemorySize(text)
        } catch {
            throw ValidationError("\(option): \(error)")
        }
        guard case .bytes(let bytes) = size else { throw ValidationError("\(option) must be a size (\"8GiB\"), not a share") }
        guard allowZero || bytes > 0 else { throw ValidationError("\(option) must be more than 0") }
        return bytes
    }

    static func loadTrace(_ path: String) throws -> Trace {
        // A week at one sample a second is about 200 MB of lines.
        guard let text = TextFile.read(path, limit: 512 << 20) else {
            printError("qballoon: cannot read the trace \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(ExitStatus.failure)
        }
        do {
            return try Trace(parsing: text, file: path)
        } catch {
            printError("qballoon: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
    }

    static func loadConfig(_ path: String) throws -> QBalloonConfig {
        do {
            return try QBalloonConfig.load(path: path)
        } catch {
            for problem in error.errors { printError(problem.description) }
            let count = error.errors.count
            printError("qballoon: \(path): \(count) error\(count == 1 ? "" : "s")")
            throw ExitCode(ExitStatus.usage)
        }
    }

    // MARK: Output

    /// The figures as text: what was run, the summary table (the better figure marked), then each config's VMs.
    static func text(_ runs: [SimulationRun], guests: [TraceGuest]) -> String {
        guard let first = runs.first else { return "" }
        var out = ""
        let seconds = first.end - first.start
        let vmNames = guests.map(\.name)
        let shown = vmNames.count <= 6 ? vmNames.joined(separator: ", ") : vmNames.prefix(5).joined(separator: ", ") + ", ..."
        out += "\(guests.count) VM\(guests.count == 1 ? "" : "s") (\(shown)) over \(DurationText.format(seconds: seconds, style: .approximate))"
        out += "; host \(MemorySize.format(first.hostTotal)), \(MemorySize.format(first.hostUse)) of its own\n\n"
        let rows = FigureTable.rows(runs)
        let labelWidth = rows.map(\.label.count).max() ?? 0
        let headers = runs.map(\.config)
        let widths = runs.indices.map { index in max(headers[index].count, rows.map { $0.values[index].count + 2 }.max() ?? 0) }
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        func trimmed(_ line: String) -> String { String(line.reversed().drop { $0 == " " }.reversed()) + "\n" }
        out += trimmed(pad("", labelWidth) + runs.indices.map { "   " + pad(headers[$0], widths[$0]) }.joined())
        out += trimmed(pad("", labelWidth) + runs.indices.map { "   " + pad("reserve \(MemorySize.format(runs[$0].reserve))", widths[$0]) }.joined())
        for row in rows {
            out += pad(row.label, labelWidth)
            for index in runs.indices {
                out += "   " + pad(row.values[index] + (row.better == index ? " *" : ""), widths[index])
            }
            out = trimmed(out)
        }
        if runs.count > 1 { out += "(* the better figure)\n" }
        for run in runs {
            out += "\n\(run.config), per VM:\n"
            let nameWidth = max(2, run.vms.map(\.name.count).max() ?? 0)
            out += "  " + pad("VM", nameWidth) + "  RAM        min        returned mean   short     OOM events   changes\n"
            for vm in run.vms {
                out += "  " + pad(vm.name, nameWidth)
                out += "  " + pad(MemorySize.format(vm.ram), 9) + "  " + pad(MemorySize.format(vm.min), 9)
                out += "  " + pad(MemorySize.format(UInt64(vm.figures.returnedMean.rounded())), 14)
                out += "  " + pad(DurationText.format(seconds: vm.figures.shortSeconds), 8)
                out += "  " + pad("\(vm.figures.outOfMemoryEvents)", 11) + "  \(vm.figures.changes)\n"
            }
        }
        return out
    }
}
