import Foundation
import QBalloon
import QBalloonCore
import QBalloonTestSupport
import Testing

@testable import QBalloonDaemon

/// `[daemon] record_dir`: every VM recorded into a trace per day that `qballoon record`'s reader reads back, a new
/// file (with its header) at midnight UTC, and a folder that never holds more than `record_max_bytes`.
@Suite(.timeLimit(.minutes(1)))
struct TraceRecorderTests {
    /// 2023-11-14 23:59:58 UTC.
    static let beforeMidnight = 1_700_006_398.0
    static let stats = GuestStats(free: 300 << 20, total: 1 << 30, available: 600 << 20, lastUpdate: 1_700_006_397)

    @Test func fileNamesCarryTheVMAndTheUTCDay() {
        #expect(TraceRecorder.fileName(vm: "db", time: Self.beforeMidnight) == "db.2023-11-14.trace")
        #expect(TraceRecorder.fileName(vm: "db", time: Self.beforeMidnight + 2) == "db.2023-11-15.trace")
        #expect(TraceRecorder.fileName(vm: "a/b", time: 0) == "a_b.1970-01-01.trace")
        #expect(TraceRecorder.fileName(vm: ".hidden", time: 0) == "_hidden.1970-01-01.trace")
    }

    @Test func aDayPerFileEachReadsBack() throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbtr")
        defer { TestEnvironment.removeDirectory(directory) }
        let recorder = try TraceRecorder(directory: directory + "/traces", maxBytes: 1 << 20, interval: 1, logger: CapturedLogs().logger())
        for second in 0..<4 {
            recorder.record(vm: "db", ramBytes: 2 << 30, actual: 1 << 30, stats: Self.stats, at: Self.beforeMidnight + Double(second))
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/traces").sorted()
        #expect(files == ["db.2023-11-14.trace", "db.2023-11-15.trace"])
        let first = try Trace(parsing: String(contentsOfFile: directory + "/traces/" + files[0], encoding: .utf8))
        let second = try Trace(parsing: String(contentsOfFile: directory + "/traces/" + files[1], encoding: .utf8))
        #expect(first.samples.count == 2 && second.samples.count == 2)
        #expect(first.header.vm == "db" && first.header.ramBytes == 2 << 30 && first.header.interval == 1)
        #expect(second.header.start == Self.beforeMidnight + 2, "the new day's file starts with its own header")
        #expect(first.samples[0].stats.available == 600 << 20 && first.samples[0].actual == 1 << 30)
    }

    @Test func theFolderNeverHoldsMoreThanItsBudgetOldestDaysFirst() throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbtr")
        defer { TestEnvironment.removeDirectory(directory) }
        // A trace from an earlier day is already there: it goes first.
        let old = directory + "/db.2023-11-01.trace"
        try String(repeating: "x", count: 3000).write(toFile: old, atomically: true, encoding: .utf8)
        let recorder = try TraceRecorder(directory: directory, maxBytes: 8000, interval: 1, logger: CapturedLogs().logger())
        #expect(recorder.totalBytes == 3000)
        var time = Self.beforeMidnight - 3600
        for _ in 0..<40 {
            recorder.record(vm: "db", ramBytes: 2 << 30, actual: 1 << 30, stats: Self.stats, at: time)
            recorder.record(vm: "web", ramBytes: 2 << 30, actual: 1 << 30, stats: Self.stats, at: time)
            time += 1
            #expect(recorder.totalBytes <= 8000)
        }
        #expect(!FileManager.default.fileExists(atPath: old), "the oldest day is dropped first")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory)
        let onDisk = try left.reduce(UInt64(0)) { $0 + ((try FileManager.default.attributesOfItem(atPath: directory + "/" + $1)[.size] as? UInt64) ?? 0) }
        #expect(onDisk == recorder.totalBytes && onDisk <= 8000, "\(left)")
        for file in left {
            #expect(throws: Never.self) { try Trace(parsing: String(contentsOfFile: directory + "/" + file, encoding: .utf8)) }
        }
    }

    @Test func theDaemonRecordsEveryVMEachRound() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("a")
            try await fleet.startVM("b")
            let traces = fleet.directory + "/traces"
            try await fleet.startDaemon(
                config: TestConfig.daemon(extra: "record_dir = \"\(traces)\"") + TestConfig.defaults() + TestConfig.vm("a", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.reclaimRule)
            var actuals: [String: [UInt64]] = [:]
            try await fleet.rounds(12) { report in
                for row in report.rows { if let actual = row.actual { actuals[row.vm, default: []].append(actual) } }
            }
            try await fleet.stopDaemon()
            for vm in ["a", "b"] {
                let files = try FileManager.default.contentsOfDirectory(atPath: traces).filter { $0.hasPrefix(vm + ".") }
                #expect(files.count == 1, "\(files)")
                let trace = try Trace(parsing: String(contentsOfFile: traces + "/" + files[0], encoding: .utf8))
                #expect(trace.header.vm == vm && trace.header.ramBytes == 2 * TestFleet.gib)
                #expect(trace.header.qemu == "simulated", "what the VM's connection said runs it")
                #expect(trace.samples.count >= (actuals[vm]?.count ?? 0), "a sample per round it was read")
                let recorded = Set(trace.samples.map(\.actual))
                #expect(recorded.isSuperset(of: Set(actuals[vm] ?? [])), "the balloon's moves are in the trace")
                #expect(recorded.count > 1, "the reclaim rule moved it")
                #expect(trace.samples.allSatisfy { $0.stats.total != nil })
            }
        }
    }
}
