import Foundation
import InMemoryLogging
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonRules
import QBalloonTestSupport
import Testing

/// A dry run decides and logs everything and never sends `balloon`.
@Suite(.timeLimit(.minutes(1)))
struct DryRunTests {
    enum Source: String, CaseIterable, Sendable {
        /// `qballoon run --dry-run`
        case flag
        /// `dry_run = true` in the config
        case config
    }

    @Test(arguments: Source.allCases)
    func dryRunSendsNothingAndLogsEveryDecision(source: Source) async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("a")
            try await fleet.startVM("b")
            let logPath = fleet.directory + "/decisions.jsonl"
            let extra = "decision_log = \"\(logPath)\"\n" + (source == .config ? "dry_run = true" : "")
            try await fleet.startDaemon(
                config: TestConfig.daemon(extra: extra) + TestConfig.defaults() + TestConfig.vm("a", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.reclaimRule,
                dryRun: source == .flag)
            // Longer than stall_after (2s): a dry run must not mistake an unsent target for a stall.
            try await fleet.rounds(14) { report in
                #expect(report.dryRun)
                for vm in ["a", "b"] {
                    let target = try await fleet.guest(vm).target
                    #expect(target == 2 * TestFleet.gib, "\(vm) was sent a target")
                    #expect(report.row(vm)?.target == nil)
                }
            }
            let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n")
                .map { try JSON.decode(String($0)) }
            #expect(Set(lines.compactMap { $0["vm"]?.stringValue }) == ["a", "b"])
            for line in lines {
                #expect(line["dry_run"]?.boolValue == true)
                #expect(line["from"]?.uint64Value == 2 * TestFleet.gib)
                let to = try #require(line["to"]?.uint64Value, "\(line)")
                #expect(to < 2 * TestFleet.gib, "\(line)")
                #expect(line["rule"]?.stringValue == "reclaim idle memory", "\(line)")
                let figures = try #require(line["figures"]?.objectValue)
                #expect(figures["available"]?.uint64Value != nil && figures["used"]?.uint64Value != nil, "\(line)")
                #expect(line["adjustments"]?.arrayValue?.contains(.string("dry run: not sent")) == true, "\(line)")
                #expect(line["time"]?.doubleValue != nil)
            }
            #expect(!fleet.logs.matching("would set").isEmpty)
            #expect(fleet.logs.matching("set ").allSatisfy { "\($0.message)".hasPrefix("would set") })
        }
    }
}
