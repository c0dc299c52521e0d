import Foundation
import QBalloon
import QBalloonCore
import QBalloonJSON
import QBalloonTestSupport
import Testing

/// `qballoon simulate` as a user runs it: the table, the JSON, and a clear error for every bad input.
@Suite(.timeLimit(.minutes(2)))
struct SimulateCLITests {
    static let mib: UInt64 = 1 << 20

    /// Writes a 10-minute trace of a 2 GiB VM using `used(t)` into `directory`, returns its path.
    static func writeTrace(_ name: String, in directory: String, used: (Int) -> UInt64) throws -> String {
        let start = 1_800_000_000.0
        let ram: UInt64 = 2 << 30
        let samples = (0..<600).map { second -> TraceSample in
            let total = ram - 64 * mib
            let available = total - used(second)
            return TraceSample(
                time: start + Double(second), actual: ram,
                stats: GuestStats(
                    swapIn: 0, swapOut: 0, majorFaults: 0, minorFaults: 0, free: available / 2, total: total, available: available,
                    diskCaches: available / 2, lastUpdate: Int64(start) + Int64(second)))
        }
        let path = "\(directory)/\(name).trace"
        try Trace(header: TraceHeader(vm: name, ramBytes: ram, interval: 1, qemu: "test", start: start), samples: samples).text
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func printsTheFiguresOfTwoConfigsSideBySide() async throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbsim")
        defer { TestEnvironment.removeDirectory(directory) }
        let idle = try Self.writeTrace("idle", in: directory) { _ in 300 * Self.mib }
        let batch = try Self.writeTrace("batch", in: directory) { second in
            (200..<400).contains(second) ? UInt64(300 + min(second - 200, 50) * 20) * Self.mib : 300 * Self.mib
        }
        let conservative = TestEnvironment.repositoryRoot + "/Configs/conservative.toml"
        let aggressive = TestEnvironment.repositoryRoot + "/Configs/aggressive-reclaim.toml"
        let result = try await BuiltCLI.run(
            ["simulate", "--config", conservative, "--compare", aggressive, idle, batch, "--host-memory", "6GiB"])
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "2 VMs (idle, batch) over 10m; host 6 GiB, 0 B of its own", "\(result.stdout)")
        for label in [
            "memory returned, mean", "memory returned, least", "time short", "would-be OOM events",
            "would-be OOM time", "balloon changes per VM-hour", "memory back, median", "memory back, 99th percentile",
        ] {
            #expect(lines.contains { $0.hasPrefix(label) }, "no row \(label):\n\(result.stdout)")
        }
        // The aggressive config returns more: its column is marked in the first row.
        let returned = try #require(lines.first { $0.hasPrefix("memory returned, mean") })
        #expect(returned.hasSuffix(" *"), "\(returned)")
        #expect(result.stdout.contains("(* the better figure)"))
        #expect(result.stdout.contains("\(conservative), per VM:") && result.stdout.contains("\(aggressive), per VM:"))

        let page = directory + "/report.html"
        let reported = try await BuiltCLI.run(
            ["simulate", "--config", conservative, "--compare", aggressive, idle, batch, "--report", page])
        #expect(reported.status == 0 && reported.stderr.contains("report written to \(page)"), "\(reported)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<svg") && !html.contains("<script"))
        #expect(html.contains("<h3>idle<") && html.contains("<h3>batch<"), "a panel per VM")
        let unwritable = try await BuiltCLI.run(["simulate", "--config", conservative, idle, "--report", directory + "/no/such/dir.html"])
        #expect(unwritable.status == 1 && unwritable.stderr.contains("cannot write the report \(directory)/no/such/dir.html"), "\(unwritable)")

        let log = directory + "/decisions.jsonl"
        let logged = try await BuiltCLI.run(["simulate", "--config", aggressive, idle, batch, "--decisions", log])
        #expect(logged.status == 0, "\(logged)")
        let changes = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { try JSON.decode(String($0)) }
        #expect(!changes.isEmpty && logged.stderr.contains("\(changes.count) balloon changes of \(aggressive) written to \(log)"), "\(logged)")
        for change in changes {
            #expect(change["vm"]?.stringValue == "idle" || change["vm"]?.stringValue == "batch", "\(change)")
            #expect((change["time"]?.doubleValue ?? -1) >= 0 && change["to"]?.uint64Value != nil && change["reason"]?.stringValue != nil)
            #expect(change["text"]?.stringValue?.hasPrefix("\(change["vm"]?.stringValue ?? ""): ") == true, "\(change)")
        }

        let json = try await BuiltCLI.run(["simulate", "--config", conservative, idle, batch, "--json"])
        #expect(json.status == 0, "\(json)")
        let object = try JSON.decode(json.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(object["config"]?.stringValue == conservative)
        #expect(object["seconds"]?.doubleValue == 599)
        #expect(object["host"]?["total"]?.uint64Value == 4 << 30)
        #expect(object["vms"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["idle", "batch"])
        #expect(object["figures"]?["out_of_memory_events"]?.int64Value != nil)
        #expect(object["figures"]?["returned_mean"]?.doubleValue ?? 0 > 0)
    }

    @Test func everyBadInputIsNamed() async throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbsim")
        defer { TestEnvironment.removeDirectory(directory) }
        let config = TestEnvironment.repositoryRoot + "/Configs/conservative.toml"
        let idle = try Self.writeTrace("idle", in: directory) { _ in 300 * Self.mib }

        let none = try await BuiltCLI.run(["simulate", "--config", config])
        #expect(none.status == 2 && none.stderr.contains("name at least one trace file"), "\(none)")

        let missing = try await BuiltCLI.run(["simulate", "--config", config, directory + "/nope.trace"])
        #expect(missing.status == 1 && missing.stderr.contains("cannot read the trace \(directory)/nope.trace: No such file"), "\(missing)")

        let broken = directory + "/broken.trace"
        var text = try String(contentsOfFile: idle, encoding: .utf8)
        text += "{\"t\": 1, \"actual\": \"lots\"}\n"
        try text.write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try await BuiltCLI.run(["simulate", "--config", config, broken])
        #expect(bad.status == 1 && bad.stderr.contains("\(broken)") && bad.stderr.contains("602"), "\(bad)")

        let twice = try await BuiltCLI.run(["simulate", "--config", config, idle, idle])
        #expect(twice.status == 1 && twice.stderr.contains("a second trace of the VM idle"), "\(twice)")

        let badConfig = directory + "/bad.toml"
        try "[daemon]\ninterval = \"soon\"\n".write(toFile: badConfig, atomically: true, encoding: .utf8)
        let refused = try await BuiltCLI.run(["simulate", "--config", badConfig, idle])
        #expect(refused.status == 2 && refused.stderr.contains("\(badConfig):2"), "\(refused)")

        let size = try await BuiltCLI.run(["simulate", "--config", config, idle, "--host-memory", "lots"])
        #expect(size.status == 2 && size.stderr.contains("--host-memory"), "\(size)")
        let share = try await BuiltCLI.run(["simulate", "--config", config, idle, "--host-memory", "50%"])
        #expect(share.status == 2 && share.stderr.contains("must be a size"), "\(share)")
        let tooSmall = try await BuiltCLI.run(["simulate", "--config", config, idle, "--host-memory", "1GiB", "--host-use", "1GiB"])
        #expect(tooSmall.status == 2 && tooSmall.stderr.contains("leaves nothing after --host-use"), "\(tooSmall)")
    }
}
