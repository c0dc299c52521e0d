import Foundation
import QBalloonTestSupport
import Testing

@testable import QBalloonSimulator

/// The HTML report as a plain value: self-contained, escaped, a panel per VM, shading where the episodes are, the
/// better figures marked; and, with Chromium, a page that renders.
struct SimulationReportTests {
    static let hour = 3600.0

    /// One VM over an hour with a flat timeline, one would-be OOM episode from 0:15 to 0:30 and one short episode.
    static func oneVM(name: String = "web", config: String = "a.toml") -> SimulationRun {
        let start = SampleRuns.start
        let times = (1...60).map { start + Double($0) * 60 }
        let gib = SampleRuns.gib
        let timeline = Timeline(
            times: times, actual: times.map { _ in 3 * gib }, target: times.map { _ in 3 * gib },
            need: times.map { _ in 2 * gib }, available: times.map { _ in gib })
        let vm = VMRun(
            name: name, ram: 4 * gib, max: 4 * gib, min: gib / 2, timeline: timeline,
            short: [Episode(start: start + 2400, end: start + 2700, worst: 100 * SampleRuns.mib)],
            outOfMemory: [Episode(start: start + 900, end: start + 1800, worst: 300 * SampleRuns.mib)],
            figures: VMFigures(
                returnedMean: Double(gib), returnedLeast: gib, shortSeconds: 300, outOfMemoryEvents: 1,
                outOfMemorySeconds: 900, changes: 2))
        return SampleRuns.run(config: config, vms: [vm], hours: 1)
    }

    @Test func thePageFetchesNothingAndRunsNoScript() {
        let pages = [
            SimulationReport.html([Self.oneVM()], title: "one"),
            SimulationReport.html([Self.oneVM(), Self.oneVM(config: "b.toml")], title: "two"),
        ]
        for page in pages {
            for outside in ["http://", "https://", "src=", "href=", "<script", "@import", "url(http", "<link", "<iframe"] {
                #expect(!page.lowercased().contains(outside), "the page has \(outside)")
            }
            #expect(page.hasPrefix("<!DOCTYPE html>"))
            #expect(page.contains("<meta charset=\"utf-8\">"))
        }
    }

    @Test func namesAndPathsFromTheUserAreEscaped() {
        let page = SimulationReport.html(
            [Self.oneVM(name: "<b>&\"x\"", config: "/etc/<i>.toml")], title: "runs of <script>")
        #expect(page.contains("&lt;b&gt;&amp;&quot;x&quot;"))
        #expect(page.contains("/etc/&lt;i&gt;.toml"))
        #expect(page.contains("runs of &lt;script&gt;"))
        #expect(!page.contains("<b>&"))
        #expect(!page.contains("<i>"))
        #expect(!page.contains("<script"))
    }

    @Test func everyVMHasAPanelWithItsNameWorstFirst() {
        let vms = [
            SampleRuns.vm("calm", index: 0, spikeAt: 2),
            SampleRuns.vm("spiky", index: 3, tight: true),
            SampleRuns.vm("busy", index: 1, tight: true, spikeAt: 0.3),
        ]
        let page = SimulationReport.html([SampleRuns.run(config: "a.toml", vms: vms)], title: "fleet")
        let panels = page.components(separatedBy: "<section class=\"panel vm\"").dropFirst()
        #expect(panels.count == 3)
        let names = panels.map { panel in
            String(panel.split(separator: "<h3>")[1].split(separator: "</h3>")[0])
        }
        #expect(Set(names) == ["calm", "spiky", "busy"])
        let events = names.map { name in vms.first { $0.name == name }!.figures.outOfMemoryEvents }
        #expect(events == events.sorted(by: >), "worst first: \(names) \(events)")
        #expect(names.last == "calm")
        #expect(page.contains("never short"))
    }

    @Test func anOutOfMemoryEpisodeIsShadedWhereItHappened() {
        let page = SimulationReport.html([Self.oneVM()], title: "one")
        // One VM gets a wide chart; the episode runs from a quarter to a half of the hour.
        let size = ReportChart.Size.wide
        let c = ReportText.coordinate
        let oom = "<rect class=\"oom r0\" x=\"\(c(size.left + size.plotWidth / 4))\" y=\"\(c(size.top))\" "
            + "width=\"\(c(size.plotWidth / 4))\" height=\"\(c(size.plotHeight))\">"
        #expect(page.contains(oom), "expected \(oom)")
        let short = "<rect class=\"short r0\" x=\"\(c(size.left + size.plotWidth * 2 / 3))\""
        #expect(page.contains(short), "expected \(short)")
        #expect(page.contains("<title>would-be OOM 0:15–0:30 (15m 00s), short by 300.0 MiB</title>"))
        #expect(page.contains("<span class=\"badge oom\">1 would-be OOM (15m 00s)</span>"))
    }

    @Test func linesSitOnTheScaleOfTheirAxes() {
        let page = SimulationReport.html([Self.oneVM()], title: "one")
        let size = ReportChart.Size.wide
        // 4 GiB of RAM: an axis to 4 GiB in 1 GiB steps, so the flat actual line of 3 GiB is a quarter down.
        let axis = SizeAxis(holding: 4 * SampleRuns.gib, steps: 5)
        #expect(axis.unit == "GiB" && axis.top == 4 && axis.step == 1)
        let height = ReportText.coordinate(size.top + size.plotHeight / 4)
        let firstX = ReportText.coordinate(size.left + size.plotWidth / 60)
        let right = ReportText.coordinate(size.left + size.plotWidth)
        #expect(page.contains("<polyline class=\"actual r0\" points=\"\(firstX),\(height) \(right),\(height)\"/>"))
        for label in ["1 GiB", "4 GiB", "0:00", "0:30", "1:00", "time since start (h:mm)"] {
            #expect(page.contains(">\(label)</text>"), "no axis label \(label)")
        }
    }

    @Test func axesSayTheirUnits() {
        #expect(SizeAxis(holding: 700 * SampleRuns.mib, steps: 4).ticks.map(\.label) == ["0", "200 MiB", "400 MiB", "600 MiB", "800 MiB"])
        #expect(SizeAxis(holding: 5 * SampleRuns.gib / 2, steps: 5).ticks.map(\.label) == ["0", "1 GiB", "2 GiB", "3 GiB"])
        #expect(TimeAxis(start: 0, end: 90).ticks(atMost: 5).map(\.label) == ["0s", "30s", "60s", "90s"])
        #expect(TimeAxis(start: 0, end: 7200).ticks(atMost: 5).map(\.label) == ["0:00", "0:30", "1:00", "1:30", "2:00"])
        #expect(TimeAxis(start: 0, end: 7200).title == "time since start (h:mm)")
    }

    @Test func numbersAreWrittenForPeople() {
        #expect(ReportText.size(512 * SampleRuns.mib) == "512.0 MiB")
        #expect(ReportText.size(3 * SampleRuns.gib / 2) == "1.5 GiB")
        #expect(ReportText.duration(4.5) == "4.5s")
        #expect(ReportText.duration(750) == "12m 30s")
        #expect(ReportText.duration(3 * 3600 + 300) == "3h 05m")
        #expect(ReportText.clock(5400) == "1:30")
        #expect(ReportText.utc(SampleRuns.start) == "2025-01-10 12:00 UTC")
        #expect(ReportText.utc(951_782_400) == "2000-02-29 00:00 UTC")
        #expect(ReportText.coordinate(12.04) == "12" && ReportText.coordinate(-0.25) == "-0.3")
    }

    @Test func theLegendNamesEveryLineAndShading() {
        let page = SimulationReport.html([Self.oneVM()], title: "one")
        for key in ["max (the most it may have)", "actual (the balloon", "target (stepped)", "need (guest)", "available (guest)",
                    "short</span>", "would-be OOM</span>", "host available", "memory returned", "reserve</span>"] {
            #expect(page.contains(key), "no legend entry \(key)")
        }
    }

    /// A compares with B: A returns more memory, B has no would-be OOM and changes balloons less often.
    @Test func theCompareTableMarksTheBetterFigureOfEachRow() throws {
        let gentle = SampleRuns.run(config: "gentle.toml", vms: [SampleRuns.vm("web", index: 1)])
        let tight = SampleRuns.run(config: "tight.toml", vms: [SampleRuns.vm("web", index: 1, tight: true)])
        try #require(tight.figures.returnedMean > gentle.figures.returnedMean)
        try #require(tight.figures.outOfMemoryEvents > gentle.figures.outOfMemoryEvents)
        let page = SimulationReport.html([tight, gentle], title: "compare")
        #expect(cells(of: "memory returned, mean", in: page).map(\.better) == [true, false])
        #expect(cells(of: "would-be OOM events", in: page).map(\.better) == [false, true])
        #expect(cells(of: "would-be OOM time", in: page).map(\.better) == [false, true])
        // The same figure in both: neither is marked, nor is a figure with no better way.
        #expect(cells(of: "memory back, median", in: page).map(\.better) == [false, false])
        #expect(cells(of: "VM-hours", in: page).map(\.better) == [false, false])
        #expect(page.contains("<td class=\"better\">\(ReportText.size(tight.figures.returnedMean)) ✓</td>"))
        // Both configs on the same axes: B dashed and hatched.
        #expect(page.contains("<polyline class=\"actual r0\"") && page.contains("<polyline class=\"actual r1\""))
        #expect(page.contains("<rect class=\"oom r0\""))
        #expect(page.contains("A: solid") && page.contains("B: dashed") && page.contains("B would-be OOM"))
        #expect(page.contains("tight.toml") && page.contains("gentle.toml"))
    }

    @Test func thePageIsWellFormedEnough() {
        let vms = (0..<12).map { SampleRuns.vm("vm-\($0)", index: $0, tight: $0 % 2 == 0) }
        let page = SimulationReport.html(
            [SampleRuns.run(config: "a.toml", vms: vms), SampleRuns.run(config: "b.toml", vms: vms.reversed())], title: "fleet")
        for (open, close) in [("<svg", "</svg>"), ("<section", "</section>"), ("<table", "</table>"), ("<tr>", "</tr>"),
                              ("<div", "</div>"), ("<p class", "</p>"), ("<title>", "</title>"), ("<rect", ">")] {
            let opened = page.components(separatedBy: open).count - 1
            let closed = page.components(separatedBy: close).count - 1
            #expect(opened > 0 && (close == ">" || opened == closed), "\(open) \(opened) times, \(close) \(closed) times")
        }
        #expect(page.components(separatedBy: "<section class=\"panel vm\"").count - 1 == 12)
        for number in ["nan", "inf"] {
            for bad in ["=\"\(number)", ",\(number)", "\(number),", " \(number)\""] {
                #expect(!page.contains(bad), "a coordinate is \(number)")
            }
        }
    }

    @Test func aHundredVMsKeepThePageBounded() {
        let vms = (0..<100).map { SampleRuns.vm("vm-\($0)", index: $0, hours: 24, tight: $0 % 3 == 0, spikeAt: Double($0 % 10) / 10) }
        let page = SimulationReport.html([SampleRuns.run(config: "a.toml", vms: vms, hours: 24)], title: "fleet")
        #expect(page.utf8.count < 10_000_000, "\(page.utf8.count) bytes")
        #expect(page.contains("100 VMs, worst first"))
    }

    @Test func noRunsSayNothingWasSimulated() {
        #expect(SimulationReport.html([], title: "empty").contains("Nothing was simulated."))
    }

    @Test(requiresProgram("chromium", from: "chromium"))
    func chromiumRendersTheReport() async throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbreport")
        defer { TestEnvironment.removeDirectory(directory) }
        let vms = (0..<4).map { SampleRuns.vm("vm-\($0)", index: $0, tight: $0 % 2 == 0) }
        let page = SimulationReport.html([SampleRuns.run(config: "a.toml", vms: vms)], title: "render")
        try page.write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
        let shot = try await BuiltCLI.run(
            [TestEnvironment.repositoryRoot + "/scripts/report-screenshot.sh", directory + "/report.html", directory + "/report.png", "1400x900"],
            in: directory, timeout: 150, executable: "/bin/bash")
        #expect(shot.status == 0, "\(shot)")
        let png = try Data(contentsOf: URL(fileURLWithPath: directory + "/report.png"))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "not a PNG")
        #expect(png.count > 20_000, "a PNG of \(png.count) bytes: an empty page?")
    }

    /// Writes sample pages to look at (`QBALLOON_REPORT_OUT=FOLDER`, then scripts/report-screenshot.sh):
    /// one config, two compared, and a fleet of 100 VMs over a day. Does nothing without it.
    @Test func writesSamplePagesWhenAsked() throws {
        guard let folder = TestEnvironment.variables["QBALLOON_REPORT_OUT"] else { return }
        let few = (0..<3).map { SampleRuns.vm(["web", "db", "<b>&\"x\""][$0], index: $0 + 1, spikeAt: 0.3 + 0.2 * Double($0)) }
        let fewTight = (0..<3).map { SampleRuns.vm(["web", "db", "<b>&\"x\""][$0], index: $0 + 1, tight: true, spikeAt: 0.3 + 0.2 * Double($0)) }
        let gentle = SampleRuns.run(config: "/etc/qballoon/gentle.toml", vms: few)
        let tight = SampleRuns.run(config: "/etc/qballoon/tight.toml", vms: fewTight)
        try SimulationReport.html([tight], title: "qballoon simulate").write(toFile: folder + "/one.html", atomically: true, encoding: .utf8)
        try SimulationReport.html([tight, gentle], title: "qballoon simulate: tight vs gentle")
            .write(toFile: folder + "/compare.html", atomically: true, encoding: .utf8)
        let single = [SimulationReport.html([SampleRuns.run(config: "one.toml", vms: [fewTight[0]])], title: "one VM")]
        try single[0].write(toFile: folder + "/single.html", atomically: true, encoding: .utf8)
        let fleet = (0..<100).map { SampleRuns.vm("vm-\($0)", index: $0, hours: 24, tight: $0 % 3 == 0, spikeAt: Double($0 % 10) / 10) }
        try SimulationReport.html([SampleRuns.run(config: "fleet.toml", vms: fleet, hours: 24)], title: "qballoon simulate: 100 VMs")
            .write(toFile: folder + "/fleet.html", atomically: true, encoding: .utf8)
    }

    /// The cells of a row of the summary table, and whether each is marked better.
    private func cells(of row: String, in page: String) -> [(text: String, better: Bool)] {
        guard let start = page.range(of: "<tr><td>\(row)</td>") else {
            Issue.record("no row \(row)")
            return []
        }
        let rest = page[start.upperBound...]
        let line = rest[..<(rest.range(of: "</tr>")?.lowerBound ?? rest.endIndex)]
        return line.components(separatedBy: "<td").dropFirst().filter { !$0.hasPrefix(" class=\"note\"") }.map { cell in
            (String(cell.drop { $0 != ">" }.dropFirst().prefix { $0 != "<" }), cell.hasPrefix(" class=\"better\""))
        }
    }
}
