import Foundation
import NIOCore
import NIOPosix
import QBalloon
import QBalloonCore
import QBalloonJSON
import QBalloonQMP

/// One run against one QEMU it starts itself: round-trip latency (library client against a minimal blocking
/// client), pipelined throughput, and JSON decoding against Foundation. Prints a table, then one JSON line.
@main
@MainActor
struct QBalloonBench {
    static let latencyTarget = 1.10
    static let decodeTarget = 1.5

    static func main() async {
        let options: BenchOptions
        do {
            options = try BenchOptions(arguments: Array(CommandLine.arguments.dropFirst()))
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(2)
        }
        do {
            try await run(options)
        } catch {
            FileHandle.standardError.write(Data("qballoon-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run(_ options: BenchOptions) async throws {
        if let floor = options.nioFloor {
            try await NIOFloor.run(interval: floor.interval, pattern: floor.pattern)
            return
        }
        if options.simulate {
            try simulate(options)
            return
        }
        if let target = options.profile {
            try await profile(target, options: options)
            return
        }
        let (workDirectory, ownsDirectory) = try makeWorkDirectory(options.workDirectory)
        defer { if ownsDirectory { try? FileManager.default.removeItem(atPath: workDirectory) } }
        let qemu = try QEMUProcess(executable: options.qemu, workDirectory: workDirectory)
        defer { qemu.stop() }
        // The client's own loop, so a task can be pinned to it (the on-loop row); otherwise like the singleton.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await run(options, qemu: qemu, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    static func run(_ options: BenchOptions, qemu: QEMUProcess, group: MultiThreadedEventLoopGroup) async throws {
        let loop = group.next()
        let client = try await QMPClient.connect(to: .unixDomainSocket(path: qemu.clientSocket), eventLoopGroup: group)
        let minimal = try MinimalQMPClient(path: qemu.minimalSocket)
        let balloon = try await BalloonDevice.find(on: client)
        let stats = try await balloon.stats()
        let actual = try await balloon.actual()

        var report = Report()
        let loadStart = loadAverage()
        report.set("qemu_version", .string("\(client.greeting.version)"))
        report.set("cpus", .integer(ProcessInfo.processInfo.activeProcessorCount))
        report.set("cpu_model", .string(cpuModel()))
        report.set("load_avg_1m_start", .number(loadStart, decimals: 2))
        report.note("qballoon-bench: QEMU \(client.greeting.version), \(ProcessInfo.processInfo.activeProcessorCount) CPUs (\(cpuModel())), load \(format(loadStart, 2))")
        report.note("QEMU: \(qemu.commandLine)")
        report.note("balloon: \(balloon.path), actual \(actual) bytes, stats last-update \(stats.lastUpdate.map(String.init) ?? "never")")

        // 1. Latency.
        let latency = try await LatencyBenchmark(
            client: client, minimal: minimal, loopExecutor: client.taskExecutor,
            loopActor: EventLoopActor(loop: loop), rounds: options.rounds, perRound: options.perRound,
            warmUp: options.warmUp
        ).run()
        _ = try await LatencyBenchmark.measureHops(loop: loop, count: 2_000)
        let hotHops = try await LatencyBenchmark.measureHops(loop: loop, count: 20_000)
        let idleHops = try await LatencyBenchmark.measureHops(loop: loop, count: 2_000, idleMicroseconds: 400)
        let queryReply = try minimal.execute("query-balloon")
        let breakdown = try clientCPUBreakdown(reply: queryReply)
        addLatency(latency, hotHops: hotHops, idleHops: idleHops, breakdown: breakdown, to: &report)

        // 2. Throughput.
        let throughput = ThroughputBenchmark(client: client)
        _ = try await throughput.run(tasks: options.throughputTasks, seconds: min(0.5, options.throughputSeconds))
        let single = try await throughput.run(tasks: 1, seconds: options.throughputSeconds)
        let many = try await throughput.run(tasks: options.throughputTasks, seconds: options.throughputSeconds)
        addThroughput(single: single, many: many, minimalMedian: latency.median(.minimal), to: &report)

        // 3. Decoding.
        let decode = try runDecode(options, minimal: minimal, balloonPath: balloon.path)
        addDecode(decode, to: &report)

        // 4. The rules engine: one decision round for 1000 VMs x 10 rules.
        let rules = RulesEngineBenchmark().run()
        report.section("4. rules engine: one decision round, 1000 VMs x 10 rules (400 rounds, host below its reserve)")
        report.row("", ["median ms", "p99 ms", "min ms"])
        report.row(
            "DecisionEngine.decide",
            [format(rules.median / 1e6, 3), format(rules.percentile(0.99) / 1e6, 3), format(rules.percentile(0) / 1e6, 3)])
        report.set("rules_round_1000x10_median_ms", .number(rules.median / 1e6, decimals: 3))
        report.set("rules_round_1000x10_p99_ms", .number(rules.percentile(0.99) / 1e6, decimals: 3))

        await client.close()
        let loadEnd = loadAverage()
        report.set("load_avg_1m_end", .number(loadEnd, decimals: 2))

        let latencyRatio = latency.median(.client) / latency.median(.minimal)
        let latencyMet = latencyRatio <= latencyTarget
        let decodeMet = decode.stats.speedup >= decodeTarget && decode.realistic.speedup >= decodeTarget
        let rulesMet = rules.median / 1e6 < 2
        report.set(
            "targets_met",
            .object([
                ("latency_ratio_le_1_10", .bool(latencyMet)), ("decode_speedup_ge_1_5", .bool(decodeMet)),
                ("rules_round_lt_2ms", .bool(rulesMet)),
            ]))
        report.section("Targets")
        report.row("latency ratio <= \(latencyTarget)x", [format(latencyRatio, 3) + "x", latencyMet ? "met" : "MISSED"])
        report.row(
            "guest-stats decode speedup >= \(decodeTarget)x",
            [format(min(decode.stats.speedup, decode.realistic.speedup), 2) + "x", decodeMet ? "met" : "MISSED"])
        report.row("rules round (1000 VMs x 10 rules) < 2 ms", [format(rules.median / 1e6, 3) + " ms", rulesMet ? "met" : "MISSED"])
        if !latencyMet { report.note("MISSED: latency ratio \(format(latencyRatio, 3))x is above \(latencyTarget)x") }
        if !decodeMet { report.note("MISSED: decode speedup is below \(decodeTarget)x") }
        report.note("load average (1 min): \(format(loadStart, 2)) at start, \(format(loadEnd, 2)) at end")
        print(report.table)
        print(report.json)
    }

    // MARK: Phases

    static func addLatency(
        _ latency: LatencyBenchmark.Result, hotHops: Samples, idleHops: Samples,
        breakdown: (encode: Double, decode: Double), to report: inout Report
    ) {
        report.section(
            "1. query-balloon round trip, sequential (\(latency.rounds) rounds x \(latency.perRound) each, alternating)")
        report.row("", ["median us", "p99 us", "mean us", "min us", "vs minimal", "CPU us/cmd"])
        let floor = latency.median(.minimal)
        for variant in LatencyBenchmark.Variant.allCases {
            guard let samples = latency.samples[variant] else { continue }
            let key = variant.key
            report.row(
                variant.label,
                [
                    format(samples.median / 1000), format(samples.percentile(0.99) / 1000), format(samples.mean / 1000),
                    format(samples.minimum / 1000), format(samples.median / floor, 3) + "x",
                    format((latency.cpuPerRoundTrip[variant] ?? .nan) / 1000),
                ])
            report.set("latency_\(key)_cpu_us", .number((latency.cpuPerRoundTrip[variant] ?? .nan) / 1000, decimals: 2))
            report.set("latency_\(key)_median_us", .number(samples.median / 1000, decimals: 2))
            report.set("latency_\(key)_p99_us", .number(samples.percentile(0.99) / 1000, decimals: 2))
            report.set("latency_\(key)_mean_us", .number(samples.mean / 1000, decimals: 2))
            report.set("latency_\(key)_min_us", .number(samples.minimum / 1000, decimals: 2))
            if variant != .minimal, variant != .client {
                report.set("latency_\(key)_ratio", .number(samples.median / floor, decimals: 3))
            }
        }
        let client = latency.samples[.client] ?? Samples()
        let minimal = latency.samples[.minimal] ?? Samples()
        let ratio = client.median / minimal.median
        let roundRatios = zip(latency.roundMedians[.client] ?? [], latency.roundMedians[.minimal] ?? []).map { $0 / $1 }
        report.set("latency_ratio", .number(ratio, decimals: 3))
        report.set("latency_ratio_mean", .number(client.mean / minimal.mean, decimals: 3))
        report.set("latency_ratio_rounds_median", .number(roundRatios.median, decimals: 3))
        report.set("latency_ratio_rounds_min", .number(roundRatios.min() ?? .nan, decimals: 3))
        report.set("latency_ratio_rounds_max", .number(roundRatios.max() ?? .nan, decimals: 3))
        report.set("latency_samples_each", .integer(client.count))
        report.note(
            "ratio QMPClient/minimal on the median: \(format(ratio, 3))x; per round from \(format(roundRatios.min() ?? .nan, 2))x "
                + "to \(format(roundRatios.max() ?? .nan, 2))x, median \(format(roundRatios.median, 3))x")
        report.note("client overhead without I/O (loop hop + promise + resume on the global executor; CPU work):")
        report.row("  hop round trip, back to back (median)", [format(hotHops.median / 1000, 2) + " us"])
        report.row("  hop round trip after 400 us idle (median)", [format(idleHops.median / 1000, 2) + " us"])
        report.row("  encode command (mean)", [format(breakdown.encode, 0) + " ns"])
        report.row("  decode reply + QMPMessage (mean)", [format(breakdown.decode, 0) + " ns"])
        report.set("client_hop_median_us", .number(hotHops.median / 1000, decimals: 2))
        report.set("client_hop_after_idle_median_us", .number(idleHops.median / 1000, decimals: 2))
        report.set("client_encode_command_ns", .number(breakdown.encode, decimals: 0))
        report.set("client_decode_reply_ns", .number(breakdown.decode, decimals: 0))
    }

    static func addThroughput(
        single: ThroughputBenchmark.Result, many: ThroughputBenchmark.Result, minimalMedian: Double,
        to report: inout Report
    ) {
        report.section("2. query-balloon throughput, one QMPClient")
        report.row("", ["commands/s", "commands", "seconds"])
        for result in [single, many] {
            report.row(
                "\(result.tasks) task\(result.tasks == 1 ? "" : "s")",
                [format(result.perSecond, 0), "\(result.commands)", format(result.seconds, 2)])
        }
        report.row("minimal client, sequential (1e6 / median us)", [format(1e9 / minimalMedian, 0)])
        report.set("throughput_1_task_per_s", .number(single.perSecond, decimals: 0))
        report.set("throughput_\(many.tasks)_tasks_per_s", .number(many.perSecond, decimals: 0))
        report.set("throughput_\(many.tasks)_vs_1", .number(many.perSecond / single.perSecond, decimals: 2))
        report.set("throughput_minimal_sequential_per_s", .number(1e9 / minimalMedian, decimals: 0))
    }

    struct DecodeResults {
        var stats: DecodeBenchmark.Result
        var realistic: DecodeBenchmark.Result
        var schema: DecodeBenchmark.Result
        var foundationAllOnes: (type: String, text: String, exact: Bool)
    }

    static func runDecode(_ options: BenchOptions, minimal: MinimalQMPClient, balloonPath: String) throws -> DecodeResults {
        let statsReply = try guestStatsReply(minimal: minimal, balloonPath: balloonPath)
        let realisticReply = try DecodeBenchmark.realisticVariant(of: statsReply)
        let schemaReply = try minimal.execute("query-qmp-schema")
        try DecodeBenchmark.checkOurs(statsReply, expecting: [("stat-htlb-pgalloc", .max), ("stat-available-memory", .max)])
        try DecodeBenchmark.checkOurs(
            realisticReply, expecting: [("stat-htlb-pgfail", .max), ("stat-available-memory", 389_541_888)])
        _ = try JSON.decode(schemaReply)
        if let directory = options.savePayloads {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (name, bytes) in [("guest-stats.json", statsReply), ("guest-stats-real.json", realisticReply), ("schema.json", schemaReply)] {
                try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
            }
        }
        let iterations = options.decodeIterations
        let blocks = options.decodeBlocks
        return DecodeResults(
            stats: try DecodeBenchmark.run(
                .init(name: "guest-stats (unreported)", bytes: statsReply), iterations: iterations, blocks: blocks),
            realistic: try DecodeBenchmark.run(
                .init(name: "guest-stats (real guest)", bytes: realisticReply), iterations: iterations, blocks: blocks),
            schema: try DecodeBenchmark.run(
                .init(name: "query-qmp-schema", bytes: schemaReply), iterations: options.schemaIterations,
                blocks: min(options.schemaIterations, blocks)),
            foundationAllOnes: try DecodeBenchmark.foundationAllOnes(statsReply, key: "stat-htlb-pgalloc"))
    }

    static func guestStatsReply(minimal: MinimalQMPClient, balloonPath: String) throws -> [UInt8] {
        let reply = try minimal.roundTrip(
            #"{"execute": "qom-get", "arguments": {"path": "\#(balloonPath)", "property": "guest-stats"}, "id": 1}"#)
        guard reply.starts(with: Array(#"{"return": {"stats": {"#.utf8)) else {
            throw DecodeBenchmark.Failure(description: "unexpected guest-stats reply: \(String(decoding: reply, as: UTF8.self))")
        }
        return reply
    }

    static func addDecode(_ decode: DecodeResults, to report: inout Report) {
        report.section("3. Decoding reply bytes: JSON.decode (jansson) vs Foundation JSONSerialization")
        report.row("(median of blocks; best block below)", ["bytes", "ours", "Foundation", "speedup", "decodes"])
        let rows: [(DecodeBenchmark.Result, String, Double, String, Int)] = [
            (decode.stats, "guest_stats", 1, "ns", 0),
            (decode.realistic, "guest_stats_real", 1, "ns", 0),
            (decode.schema, "schema", 1e6, "ms", 2),
        ]
        for (result, key, scale, unit, decimals) in rows {
            report.row(
                result.payload,
                [
                    "\(result.bytes)", format(result.oursNanoseconds / scale, decimals) + " \(unit)",
                    format(result.foundationNanoseconds / scale, decimals) + " \(unit)", format(result.speedup, 2) + "x",
                    "\(result.iterations)",
                ])
            report.row(
                "  best block",
                [
                    "", format(result.oursBestNanoseconds / scale, decimals) + " \(unit)",
                    format(result.foundationBestNanoseconds / scale, decimals) + " \(unit)",
                    format(result.bestSpeedup, 2) + "x",
                ])
            let speedupKey = key == "guest_stats" ? "decode_speedup" : "decode_\(key)_speedup"
            report.set("decode_\(key)_bytes", .integer(result.bytes))
            report.set("decode_\(key)_\(unit)", .number(result.oursNanoseconds / scale, decimals: decimals + 1))
            report.set("decode_\(key)_foundation_\(unit)", .number(result.foundationNanoseconds / scale, decimals: decimals + 1))
            report.set(speedupKey, .number(result.speedup, decimals: 2))
            report.set("decode_\(key)_best_\(unit)", .number(result.oursBestNanoseconds / scale, decimals: decimals + 1))
            report.set(
                "decode_\(key)_foundation_best_\(unit)",
                .number(result.foundationBestNanoseconds / scale, decimals: decimals + 1))
            report.set(speedupKey + "_best", .number(result.bestSpeedup, decimals: 2))
            report.set("decode_\(key)_iterations", .integer(result.iterations))
        }
        let ones = decode.foundationAllOnes
        report.note("Foundation reads 18446744073709551615 as \(ones.type) \(ones.text): \(ones.exact ? "exact" : "NOT exact")")
        report.note("JSON.decode reads it as .uint(18446744073709551615): exact")
        report.set("foundation_all_ones_type", .string(ones.type))
        report.set("foundation_all_ones_value", .string(ones.text))
        report.set("foundation_all_ones_exact", .bool(ones.exact))
    }

    /// What the client does per command besides waiting: build the command, decode the reply.
    static func clientCPUBreakdown(reply: [UInt8]) throws -> (encode: Double, decode: Double) {
        let command = QMPCommand("query-balloon")
        let count = 100_000
        var begin = monotonicNanoseconds()
        for id in 0..<count { blackHole(command.encoded(id: id)) }
        let encode = Double(monotonicNanoseconds() - begin) / Double(count)
        begin = monotonicNanoseconds()
        for _ in 0..<count { blackHole(try QMPMessage(try JSON.decode(reply))) }
        let decode = Double(monotonicNanoseconds() - begin) / Double(count)
        return (encode, decode)
    }

    // MARK: Profiling

    /// For valgrind (whose fd handling breaks Foundation's `Process`): no QEMU of our own. `client` and
    /// `minimal` talk to a monitor started by hand (`--qmp PATH`); `decode` reads a saved reply (`--payload`).
    static func profile(_ target: BenchOptions.ProfileTarget, options: BenchOptions) async throws {
        let count = options.profileCount
        switch target {
        case .client:
            guard let path = options.qmpPath else { throw BenchOptions.UsageError(description: "--profile client needs --qmp PATH") }
            let client = try await QMPClient.connect(to: .unixDomainSocket(path: path))
            let cpu = processCPUNanoseconds()
            let samples = try await LatencyBenchmark.measureClient(client, count: count)
            print("QMPClient: \(count) round trips, median \(format(samples.median / 1000, 2)) us, \(cpuPerCall(since: cpu, count))")
            await client.close()
        case .clientOnLoop:
            guard let path = options.qmpPath else {
                throw BenchOptions.UsageError(description: "--profile client-on-loop needs --qmp PATH")
            }
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let client = try await QMPClient.connect(to: .unixDomainSocket(path: path), eventLoopGroup: group)
            let cpu = processCPUNanoseconds()
            let samples = try await withTaskExecutorPreference(client.taskExecutor) {
                try await LatencyBenchmark.measureClient(client, count: count)
            }
            print(
                "QMPClient, task executor = its loop: \(count) round trips, median \(format(samples.median / 1000, 2)) us, "
                    + cpuPerCall(since: cpu, count))
            await client.close()
            try await group.shutdownGracefully()
        case .minimal:
            guard let path = options.qmpPath else { throw BenchOptions.UsageError(description: "--profile minimal needs --qmp PATH") }
            let minimal = try MinimalQMPClient(path: path)
            var samples = Samples()
            let cpu = processCPUNanoseconds()
            try minimal.measure("query-balloon", count: count, into: &samples)
            print("minimal: \(count) round trips, median \(format(samples.median / 1000, 2)) us, \(cpuPerCall(since: cpu, count))")
        case .decode, .foundation:
            guard let path = options.payloadPath, let data = FileManager.default.contents(atPath: path) else {
                throw BenchOptions.UsageError(description: "--profile \(target.rawValue) needs --payload FILE (a saved reply)")
            }
            let bytes = [UInt8](data)
            let begin = monotonicNanoseconds()
            if target == .decode {
                for _ in 0..<count { blackHole(try JSON.decode(bytes)) }
            } else {
                for _ in 0..<count { blackHole(try JSONSerialization.jsonObject(with: data)) }
            }
            print("\(target.rawValue) \(bytes.count) bytes: \(format(Double(monotonicNanoseconds() - begin) / Double(count), 0)) ns each")
        }
    }

    static func cpuPerCall(since start: UInt64, _ count: Int) -> String {
        "CPU \(format(Double(processCPUNanoseconds() - start) / Double(count) / 1000, 2)) us per round trip"
    }

    // MARK: Machine

    static func makeWorkDirectory(_ given: String?) throws -> (String, Bool) {
        if let given {
            try FileManager.default.createDirectory(atPath: given, withIntermediateDirectories: true)
            return (given, false)
        }
        var template = Array("/tmp/qballoon-bench.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw QEMUProcess.LaunchError(description: "mkdtemp: \(String(cString: strerror(errno)))")
        }
        return (String(cString: made), true)
    }

    static func loadAverage() -> Double {
        var loads = [Double](repeating: 0, count: 3)
        return getloadavg(&loads, 3) > 0 ? loads[0] : .nan
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }
}
