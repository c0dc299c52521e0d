import Foundation
import InMemoryLogging
import Logging
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonTestSupport
import Testing

/// The daemon beside monitors of every hostile kind (SECURITY.md): the ordinary VMs are decided every round,
/// each hostile VM is cut off, named once in the log and shown quarantined, and the daemon's own memory and CPU
/// stay within the bounds SECURITY.md states; the one-shot commands end with exit 1 and a clear message.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HostileFleetTests {
    /// Every kind of hostile monitor the fake server can play.
    static let hostile: [(name: String, faults: FakeQMPFaults, says: String)] = [
        ("garbage", FakeQMPFaults(garbageOn: .all), "protocol error: expected a JSON object"),
        ("oversized", FakeQMPFaults(oversizedOn: .all), "message over the limit of 1048576 bytes"),
        ("deep", FakeQMPFaults(deepOn: .all), "nested deeper than 64 levels"),
        ("qom-bomb", FakeQMPFaults(qomListFlood: 200_000), "message over the limit"),
        ("qom-wide", FakeQMPFaults(qomListFlood: 5000), "QOM tree too large"),
        ("event-flood", FakeQMPFaults(eventFlood: 1000), "event flood"),
        ("actual-above-ram", FakeQMPFaults(lie: .actualAboveRAM), "balloon actual 4 GiB is above the VM's 2 GiB of RAM"),
        ("free-above-total", FakeQMPFaults(lie: .freeAboveTotal), "free of"),
        ("total-above-ram", FakeQMPFaults(lie: .totalAboveRAM), "total memory, above its 2 GiB of RAM"),
        ("absurd-rates", FakeQMPFaults(lie: .absurdRates), "swap-in at"),
    ]
    static let ordinary = ["plain-a", "plain-b", "plain-c"]
    /// Under a sanitizer (scripts/sanitize.sh) memory and CPU figures are the sanitizer's: they are printed, not held
    /// to the bounds.
    static let sanitized = ProcessInfo.processInfo.environment["QBALLOON_SANITIZER"] != nil

    static func config(_ fleet: TestFleet, extra: String = "") -> String {
        TestConfig.daemon(extra: extra) + TestConfig.defaults()
            + (ordinary + hostile.map(\.name)).map { TestConfig.vm($0, in: fleet) }.joined() + TestConfig.reclaimRule
    }

    static func startFleet(_ fleet: TestFleet) async throws {
        for name in ordinary { try await fleet.startVM(name) }
        for kind in hostile { try await fleet.startVM(kind.name, faults: kind.faults) }
    }

    @Test func ordinaryVMsAreDecidedEveryRoundAndHostileOnesQuarantined() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await Self.startFleet(fleet)
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(config: Self.config(fleet), metrics: metrics)
            // Rounds in real time on a busy machine: the fake monitors build their floods in this process too.
            try await fleet.waitFor("every hostile VM quarantined", within: 200) { report in
                Self.hostile.allSatisfy { report.row($0.name)?.status.label == "quarantined" }
            }
            // From now on, round after round: every ordinary VM read with fresh statistics and acted on.
            try await fleet.rounds(10) { report in
                for name in Self.ordinary {
                    #expect(report.row(name)?.status == .ok, "\(name): \(report.row(name).map { "\($0.status)" } ?? "no row")")
                }
                for kind in Self.hostile {
                    #expect(report.row(kind.name)?.status.label == "quarantined", "\(kind.name)")
                    #expect(report.changes(for: kind.name).isEmpty, "\(kind.name) was acted on")
                }
            }
            // The reclaim rule went on working for the ordinary VMs.
            for name in Self.ordinary { #expect(try await fleet.guest(name).target < 2 << 30, "\(name) was never reclaimed") }
            for kind in Self.hostile {
                let lines = fleet.logs.matching("quarantined", vm: kind.name, level: .error)
                #expect(lines.count == 1, "\(kind.name) named \(lines.count) times:\n\(fleet.logs.tail(30))")
                #expect(lines.first.map { "\($0.message)".contains(kind.says) } == true, "\(kind.name): \(lines.first.map { "\($0.message)" } ?? "-")")
                #expect(lines.first.map { "\($0.message)".count < 600 } == true, "a bounded line")
                #expect(MetricsText.value(metrics, "qballoon_vm_quarantined", vm: kind.name) == 1, "\(kind.name)")
                #expect(MetricsText.value(metrics, "qballoon_vm_healthy", vm: kind.name) == 0, "\(kind.name)")
            }
            for name in Self.ordinary {
                #expect(MetricsText.value(metrics, "qballoon_vm_quarantined", vm: name) == 0)
                #expect(fleet.logs.matching("quarantined", vm: name).isEmpty)
            }
        }
    }

    /// `qballoon run` as a process of its own beside the same fleet: its peak memory and CPU time while every
    /// hostile VM is met, cut off and retried are within SECURITY.md's bounds (64 MiB resident, a fifth of a
    /// core over the run).
    @Test func theDaemonsMemoryAndCPUStayBounded() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await Self.startFleet(fleet)
            let daemon = try DaemonProcess(
                config: Self.config(fleet, extra: "decision_log = \"{decision_log}\"") , directory: fleet.directory)
            try daemon.start()
            defer { Task { await daemon.stop() } }
            var pid: Int32?
            for _ in 0..<100 where pid == nil {
                pid = daemon.pid
                try await Task.sleep(for: .milliseconds(20))
            }
            let daemonPID = try #require(pid)
            let start = Date()
            // Until every hostile VM has been met once, then as long again.
            for _ in 0..<600 where daemon.logLines(containing: "quarantined").count < Self.hostile.count {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(daemon.logLines(containing: "quarantined").count == Self.hostile.count, "\(daemon.report())")
            try await Task.sleep(for: .seconds(max(3, Date().timeIntervalSince(start))))
            let status = try String(contentsOfFile: "/proc/\(daemonPID)/status", encoding: .utf8)
            let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
                .flatMap { UInt64($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
            let stat = try String(contentsOfFile: "/proc/\(daemonPID)/stat", encoding: .utf8)
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
            let cpuSeconds = ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
            let elapsed = Date().timeIntervalSince(start)
            let line = "qballoon run beside \(Self.ordinary.count) ordinary and \(Self.hostile.count) hostile VMs for \(String(format: "%.1f", elapsed)) s: peak resident \(peakKiB / 1024) MiB, CPU \(String(format: "%.2f", cpuSeconds)) s"
            print(line)
            #expect(peakKiB > 0)
            if !Self.sanitized {
                #expect(peakKiB < 64 << 10, "\(line)")
                #expect(cpuSeconds < elapsed / 5, "\(line)")
            }
            #expect(daemon.isRunning, "\(daemon.report())")
            let decided = Set(daemon.decisions().compactMap { $0["vm"]?.stringValue })
            #expect(decided.isSuperset(of: Self.ordinary), "ordinary VMs decided: \(decided)")
            #expect(decided.isDisjoint(with: Self.hostile.map(\.name)), "hostile VMs acted on: \(decided)")
        }
    }

    /// The one-shot commands against each hostile kind: exit 1 within the command timeout, a message that names
    /// the socket and what it did, and bounded memory.
    @Test(arguments: HostileFleetTests.hostile.map(\.name))
    func oneShotCommandsEndCleanly(kind: String) async throws {
        let faults = try #require(Self.hostile.first { $0.name == kind }).faults
        try await FakeMonitor.with(faults: faults) { server in
            for command in [["status"], ["stats", "--count", "2", "--interval", "1"], ["set", "1GiB", "--no-wait"]] {
                // Under /usr/bin/time, for the command's own peak memory.
                let arguments = [command[0], "--qmp", "\(server.boundAddress)", "--command-timeout", "5s"] + command.dropFirst()
                let result = try await BuiltCLI.run(arguments, timeout: 30, wrapper: ["/usr/bin/time", "-f", "peak-kib %M"])
                let peak = result.stderr.split(separator: "\n").last { $0.hasPrefix("peak-kib ") }.flatMap { Int($0.dropFirst(9)) }
                #expect(peak != nil, "\(result)")
                if !Self.sanitized {
                    #expect(peak.map { $0 < 64 << 10 } == true, "\(kind) \(command[0]): peak \(peak.map { "\($0 >> 10) MiB" } ?? "unknown")")
                }
                // A lie a command never reads cannot stop it: `set --no-wait` reads no figures, a single report
                // has no rates. Every other command meets what the monitor does.
                let lies = ["absurd-rates", "free-above-total", "total-above-ram", "actual-above-ram"]
                if (command[0] == "set" && lies.contains(kind)) || (command[0] == "status" && kind == "absurd-rates") {
                    #expect(result.status == 0, "\(result)")
                    continue
                }
                #expect(result.status == 1, "\(result)")
                #expect(result.seconds < 30, "\(result)")
                #expect(result.stderr.contains("\(server.boundAddress)") || result.stderr.contains("cannot be true"), "\(result)")
                #expect(result.stderr.count < 2000, "a bounded message: \(result)")
            }
        }
    }
}
