import Foundation
import QBalloon
import QBalloonCore
import QBalloonFakeQMP
import QBalloonRules
import QBalloonSimulator

/// `qballoon simulate`'s cost: a synthetic fleet (100 VMs drawn from the shipped traces with a seed) replayed over a
/// day at one look a second through a shipped config, timed as a whole (wall clock and CPU), with the process's peak
/// memory. The target: under 30 s in a release build.
struct SimulateBenchmark {
    var vms = 100
    var duration = 86_400.0
    var seed: UInt64 = 1
    var config = "Configs/aggressive-reclaim.toml"
    var traces = "Fixtures/traces"

    struct Result {
        var seconds: Double
        var cpuSeconds: Double
        var generateSeconds: Double
        var peakRSS: Int
        var run: SimulationRun
        var rounds: Int
    }

    func run() throws -> Result {
        let files = try FileManager.default.contentsOfDirectory(atPath: traces).filter { $0.hasSuffix(".trace") }.sorted()
        let shapes = try files.map { file -> Trace in
            let path = traces + "/" + file
            return try Trace(parsing: try String(contentsOfFile: path, encoding: .utf8), file: path)
        }
        guard !shapes.isEmpty else { throw BenchError("no traces in \(traces)") }
        let loaded = try QBalloonConfig.load(path: config)
        let cpuStart = Self.cpuSeconds()
        let generateStart = DispatchTime.now().uptimeNanoseconds
        let fleet = FleetGenerator.workloads(shapes: shapes, vms: vms, duration: duration, seed: seed)
        let guests = fleet.map { TraceGuest(generated: $0, start: 1_800_000_000, duration: duration) }
        let start = DispatchTime.now().uptimeNanoseconds
        // The host holds 60% of the VMs' RAM: the arbiter works.
        let ram = guests.reduce(UInt64(0)) { $0 + $1.scenario.ram }
        let run = Simulation(
            config: loaded, name: config, guests: guests, options: .init(hostMemory: ram / 10 * 6, duration: duration)
        ).run()
        let end = DispatchTime.now().uptimeNanoseconds
        return Result(
            seconds: Double(end - start) / 1e9, cpuSeconds: Self.cpuSeconds() - cpuStart,
            generateSeconds: Double(start - generateStart) / 1e9, peakRSS: Self.peakRSS(), run: run,
            rounds: Int(duration / loaded.daemon.interval.seconds) + 1)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// The process's peak resident memory, bytes.
    static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss * 1024
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension QBalloonBench {
    static let simulateTarget = 30.0

    /// `qballoon-bench --simulate`: the simulator alone (no QEMU).
    static func simulate(_ options: BenchOptions) throws {
        var benchmark = SimulateBenchmark()
        benchmark.vms = options.simulateVMs
        benchmark.duration = options.simulateHours * 3600
        let result = try benchmark.run()
        var report = Report()
        let figures = result.run.figures
        report.section(
            "5. simulate: \(benchmark.vms) VMs x \(format(options.simulateHours, 0)) h at 1 s looks, \(benchmark.config), seed \(benchmark.seed)")
        report.row("", ["wall s", "CPU s", "VM-seconds/s", "peak RSS MiB", "drawing the fleet s"])
        report.row(
            "Simulation.run",
            [
                format(result.seconds, 2), format(result.cpuSeconds, 2),
                format(Double(benchmark.vms) * benchmark.duration / result.seconds, 0),
                format(Double(result.peakRSS) / 1_048_576, 0), format(result.generateSeconds, 2),
            ])
        report.note(
            "the run: \(result.rounds) rounds, \(format(figures.changesPerVMHour, 2)) changes per VM-hour, \(figures.outOfMemoryEvents) would-be OOM events, returned \(format(figures.returnedMean / 1_073_741_824, 1)) GiB on average")
        let met = result.seconds < simulateTarget
        report.set("simulate_vms", .integer(benchmark.vms))
        report.set("simulate_hours", .number(options.simulateHours, decimals: 1))
        report.set("simulate_seconds", .number(result.seconds, decimals: 2))
        report.set("simulate_cpu_seconds", .number(result.cpuSeconds, decimals: 2))
        report.set("simulate_peak_rss_mib", .number(Double(result.peakRSS) / 1_048_576, decimals: 0))
        report.set("targets_met", .object([("simulate_100x24h_lt_30s", .bool(met))]))
        report.section("Targets")
        report.row(
            "simulate \(benchmark.vms) VMs x \(format(options.simulateHours, 0)) h < \(format(simulateTarget, 0)) s",
            [format(result.seconds, 2) + " s", met ? "met" : "MISSED"])
        print(report.table)
        print(report.json)
    }
}
