/// The HTML report of `qballoon simulate --report FILE.html`: one self-contained page (inline SVG and CSS, no
/// script, nothing fetched, so it opens offline) made from the runs alone.
///
/// It shows what was simulated (the configs, the VMs, the run's length, the host), the summary figures (with two
/// configs side by side, the better of each row marked), the host over time (available, memory returned, the
/// reserve) and one panel per VM, worst first: its max, actual, target, need and available over time, its short
/// intervals shaded amber and its would-be OOM intervals red. With `--compare` both configs share each chart's
/// axes: the second config's lines are dashed and its intervals hatched.
///
/// ```swift
/// let page = SimulationReport.html([baseline, candidate], title: "qballoon simulate")
/// try page.write(toFile: "report.html", atomically: true, encoding: .utf8)
/// ```
public enum SimulationReport {
    /// The page for one run, or for several configs over the same traces (compared on the same axes).
    /// - Parameters:
    ///   - runs: one run, or one per config; the first is the baseline (solid lines, plain shading).
    ///   - title: the page's heading and title (escaped like everything else that comes from the user).
    public static func html(_ runs: [SimulationRun], title: String) -> String {
        let labels = runs.count <= 1 ? ["config"] : runs.indices.map { String(UnicodeScalar(UInt8(65 + $0 % 26))) }
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(ReportText.escape(title))</title>
            <style>
            \(ReportStyle.css)
            </style></head><body>
            \(ReportStyle.patterns)
            <h1>\(ReportText.escape(title))</h1>

            """
        guard let first = runs.first else {
            return html + "<p class=\"what\">Nothing was simulated.</p>\n</body></html>\n"
        }
        html += simulated(runs, labels: labels)
        for (run, label) in zip(runs, labels) {
            for warning in run.warnings {
                html += "<p class=\"what\" style=\"color:#8a3b00\"><b>Warning</b> (\(ReportText.escape(label)) "
                html += "<code>\(ReportText.escape(run.config))</code>): \(ReportText.escape(warning))</p>\n"
            }
        }
        html += "<h2>Summary</h2>\n" + ReportSummary.table(runs, labels: labels) + "\n"
        let time = TimeAxis(start: runs.map(\.start).min() ?? first.start, end: runs.map(\.end).max() ?? first.end)
        html += hostPanel(runs, labels: labels, time: time)
        html += vmPanels(runs, labels: labels, time: time)
        return html + "</body></html>\n"
    }

    /// What was simulated, in a sentence or two.
    static func simulated(_ runs: [SimulationRun], labels: [String]) -> String {
        let first = runs[0]
        let names = Set(runs.flatMap { $0.vms.map(\.name) })
        var html = "<p class=\"what\">"
        if runs.count == 1 {
            html += "Config <code>\(ReportText.escape(first.config))</code>"
        } else {
            let configs = zip(labels, runs).enumerated().map { index, pair in
                "\(pair.0) <code>\(ReportText.escape(pair.1.config))</code> (\(index == 0 ? "solid lines, plain shading" : "dashed lines, hatched shading"))"
            }
            html += "Configs " + configs.joined(separator: " and ")
        }
        let start = runs.map(\.start).min() ?? first.start
        let end = runs.map(\.end).max() ?? first.end
        html += " replayed over the traces of \(names.count) VM\(names.count == 1 ? "" : "s"), from \(ReportText.utc(start)) "
        html += "for \(ReportText.duration(end - start)) (\(ReportText.decimal(first.figures.vmHours)) VM-hours).</p>\n"
        let hosts = runs.map { "\(ReportText.size($0.hostTotal)) of memory, \(ReportText.size($0.hostUse)) used by its own processes, a reserve of \(ReportText.size($0.reserve))" }
        if Set(hosts).count == 1 {
            html += "<p class=\"what\">Host: \(hosts[0]).</p>\n"
        } else {
            html += "<p class=\"what\">Host: " + zip(labels, hosts).map { "\($0): \($1)" }.joined(separator: "; ") + ".</p>\n"
        }
        return html
    }
}
