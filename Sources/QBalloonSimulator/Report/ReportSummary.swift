/// The summary table at the top of the report: each config's figures side by side, and with several configs the
/// better figure of each row marked (more memory returned; less time short, fewer would-be OOMs, fewer changes,
/// memory back sooner).
enum ReportSummary {
    /// Which way a figure is better.
    enum Better {
        case higher, lower, neither
    }

    struct Row {
        var name: String
        var note: String
        var better: Better
        /// Per run: the figure as shown, and the number compared (nil when there is none).
        var cells: [(text: String, value: Double?)]
    }

    static func rows(_ runs: [SimulationRun]) -> [Row] {
        func row(_ name: String, _ note: String, _ better: Better, _ cell: (SimulationFigures) -> (String, Double?)) -> Row {
            Row(name: name, note: note, better: better, cells: runs.map { cell($0.figures) })
        }
        func optionalSeconds(_ seconds: Double?) -> (String, Double?) {
            seconds.map { (ReportText.duration($0), $0) } ?? ("—", nil)
        }
        return [
            row("memory returned, mean", "RAM minus actual, summed over the VMs, averaged over the run", .higher) {
                (ReportText.size($0.returnedMean), $0.returnedMean)
            },
            row("memory returned, least", "the least returned at any moment", .higher) {
                (ReportText.size($0.returnedLeast), Double($0.returnedLeast))
            },
            row("time short", "guests' available memory below a tenth of what they had, summed over the VMs", .lower) {
                (ReportText.duration($0.shortSeconds), $0.shortSeconds)
            },
            row("would-be OOM events", "a guest needing more than it had: a real one meets its OOM killer", .lower) {
                ("\($0.outOfMemoryEvents)", Double($0.outOfMemoryEvents))
            },
            row("would-be OOM time", "summed over the VMs", .lower) {
                (ReportText.duration($0.outOfMemorySeconds), $0.outOfMemorySeconds)
            },
            row("balloon changes per VM-hour", "how often a balloon was moved", .lower) {
                (ReportText.decimal($0.changesPerVMHour, places: 2), $0.changesPerVMHour)
            },
            row("memory back, median", "from a guest going short to its balloon giving memory back", .lower) {
                optionalSeconds($0.memoryBackP50)
            },
            row("memory back, 99th percentile", "", .lower) { optionalSeconds($0.memoryBackP99) },
            row("short with no memory back", "episodes that ended without it (at max, or the need fell)", .neither) {
                ("\($0.shortWithoutMemoryBack)", Double($0.shortWithoutMemoryBack))
            },
            row("VM-hours", "", .neither) { (ReportText.decimal($0.vmHours), $0.vmHours) },
        ]
    }

    /// The index of the run whose figure is better, or nil: one run, a row with no better way, a figure missing,
    /// or a tie as shown (two figures that print the same are not told apart).
    static func best(_ row: Row) -> Int? {
        guard row.cells.count > 1, row.better != .neither else { return nil }
        let values = row.cells.compactMap(\.value)
        guard values.count == row.cells.count else { return nil }
        let pick = row.better == .higher ? values.max()! : values.min()!
        let winners = row.cells.indices.filter { row.cells[$0].value == pick }
        guard winners.count == 1, let winner = winners.first else { return nil }
        let winningText = row.cells[winner].text
        guard row.cells.indices.allSatisfy({ $0 == winner || row.cells[$0].text != winningText }) else { return nil }
        return winner
    }

    /// The table; `labels` head the columns (the configs, with their letters when there are several).
    static func table(_ runs: [SimulationRun], labels: [String]) -> String {
        var html = "<table class=\"summary\"><thead><tr><th>figure</th>"
        for (run, label) in zip(runs, labels) {
            html += "<th>\(ReportText.escape(label))<br><code>\(ReportText.escape(run.config))</code></th>"
        }
        html += "<th></th></tr></thead><tbody>\n"
        for row in rows(runs) {
            let winner = best(row)
            html += "<tr><td>\(row.name)</td>"
            for (index, cell) in row.cells.enumerated() {
                html += index == winner ? "<td class=\"better\">\(cell.text) ✓</td>" : "<td>\(cell.text)</td>"
            }
            html += "<td class=\"note\">\(row.note)</td></tr>\n"
        }
        return html + "</tbody></table>"
    }
}
