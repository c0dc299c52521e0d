import Foundation
import InMemoryLogging
import Logging
@testable import QBalloonDaemon
import QBalloonJSON
@testable import QBalloonRules
import QBalloonTestSupport
import Testing

/// What the daemon writes is bounded too: lines about one VM in its log, and the decision log's file.
@Suite struct LogBoundsTests {
    @Test func linesAboutOneVMAreLimitedAndTheNextOneSaysHowManyWereLeftOut() {
        let logs = CapturedLogs()
        let logger = logs.logger()
        let budget = VMLogBudget()
        for index in 0..<100 { budget.log(logger, .warning, "line \(index)", now: 0) }
        #expect(logs.all.count == 20, "a burst of 20")
        #expect(budget.suppressed == 80)
        // 20 a minute: one every 3 s.
        budget.log(logger, .warning, "later", now: 2.9)
        #expect(logs.all.count == 20)
        budget.log(logger, .warning, "later", now: 3.1)
        #expect(logs.all.count == 21)
        #expect("\(logs.all.last!.message)" == "later (81 earlier lines about this VM left out: more than 20 a minute)")
        budget.log(logger, .warning, "quiet again", now: 100)
        #expect("\(logs.all.last!.message)" == "quiet again")
    }

    static func decision(_ vm: String) -> Decision {
        Decision(
            vm: vm, from: 2 << 30, to: 1 << 30, wanted: 1 << 30, reason: .rule("reclaim"), figures: [], adjustments: [],
            pressured: false)
    }

    @Test func theDecisionLogMovesAsideWhenFullAndKeepsOneOldFile() throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbdlog")
        defer { TestEnvironment.removeDirectory(directory) }
        let path = directory + "/decisions.jsonl"
        let log = try DecisionLog(path: path, maxBytes: 1000)
        let line = DecisionLog.line(for: Self.decision("vm"), at: 0, dryRun: false).encoded(sortedKeys: true).count + 1
        for index in 0..<10 { log.append(Self.decision("vm\(index)"), at: Double(index), dryRun: false) }
        let current = try String(contentsOfFile: path, encoding: .utf8)
        let previous = try String(contentsOfFile: path + ".1", encoding: .utf8)
        #expect(current.utf8.count <= 1000 && previous.utf8.count <= 1000)
        #expect(current.utf8.count + previous.utf8.count >= 1000 - line, "one old file is kept")
        #expect(current.hasSuffix("\"vm\":\"vm9\"}\n") || current.contains("\"vm\":\"vm9\""))
        #expect(!FileManager.default.fileExists(atPath: path + ".2"))
        // A log opened on a file already full moves it aside at the first line.
        let reopened = try DecisionLog(path: path, maxBytes: UInt64(current.utf8.count))
        reopened.append(Self.decision("again"), at: 11, dryRun: false)
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8) == current)
    }
}
