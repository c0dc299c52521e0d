import Foundation
@testable import QBalloonDaemon
import QBalloonCore
import QBalloonRules
import QBalloonTestSupport
import Testing

/// The Grafana dashboard and the Prometheus alerts under `contrib/` name only metrics the daemon exports, and the
/// alerts pass `promtool check rules` (required under CI; Debian's `prometheus` package has promtool).
@Suite struct ContribFilesTests {
    static let files = ["contrib/grafana/qballoon.json", "contrib/prometheus/alerts.yml"]

    /// Every metric name the daemon exports, from a registry that saw one VM and the host.
    static func exported() -> Set<String> {
        let metrics = DaemonMetrics()
        var facts = VMFacts(name: "vm", link: "unix:/run/qemu/vm.qmp")
        facts.actual = 1 << 30
        facts.ramBytes = 2 << 30
        facts.lastTarget = 1 << 30
        facts.stats = GuestStats(total: 1 << 30, available: 512 << 20, lastUpdate: 100)
        facts.errors = 1
        facts.reconnects = 1
        metrics.record(facts, status: .ok, verdict: nil, changed: true, pinned: true, paused: true, now: 101)
        metrics.countOperatorAct("pin")
        metrics.record(
            host: HostSample(
                total: 8 << 30, available: 4 << 30, pressure: MemoryPressure(someAvg10: 1, fullAvg10: 0.5)),
            reserve: 1 << 30)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        return Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            line.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
        })
    }

    static func named(in text: String) -> Set<String> {
        var names: Set<String> = []
        var rest = text[...]
        while let range = rest.range(of: "qballoon_") {
            let name = rest[range.lowerBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            names.insert(String(name))
            rest = rest[range.upperBound...]
        }
        return names
    }

    @Test(arguments: ContribFilesTests.files)
    func namesOnlyExportedMetrics(file: String) throws {
        let text = try String(contentsOfFile: TestEnvironment.repositoryRoot + "/" + file, encoding: .utf8)
        let exported = Self.exported()
        let named = Self.named(in: text)
        #expect(!named.isEmpty)
        #expect(named.subtracting(exported).isEmpty, "\(file) names metrics the daemon does not export: \(named.subtracting(exported).sorted())")
    }

    @Test func theDashboardIsJSONAGrafanaCanImport() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestEnvironment.repositoryRoot + "/contrib/grafana/qballoon.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["title"] as? String == "qballoon")
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 8)
        #expect(panels.allSatisfy { ($0["targets"] as? [[String: Any]])?.isEmpty == false })
    }

    @Test func promtoolAcceptsTheAlerts() async throws {
        let promtool = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: promtool) else {
            if TestEnvironment.isCI { Issue.record("CI=true but promtool is missing (Debian package prometheus)") }
            return
        }
        let result = try await BuiltCLI.run(
            ["check", "rules", TestEnvironment.repositoryRoot + "/contrib/prometheus/alerts.yml"], executable: promtool)
        #expect(result.status == 0, "\(result)")
        #expect((result.stdout + result.stderr).contains("SUCCESS: 7 rules found"), "\(result)")
    }
}
