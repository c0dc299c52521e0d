/// The summary table at the top of the report: each config's figures side by side, and with several configs the
/// better figure of each row marked (more memory returned; less time short, fewer would-be OOMs, fewer changes,
/// memory back sooner).
enum ReportSummary {
    /// The table; `labels` head the columns (the configs, with their letters when there are several).
    static func table(_ runs: [SimulationRun], labels: [String]) -> String {
        var html = "<table class=\"summary\"><thead><tr><th>figure</th>"
        for (run, label) in zip(runs, labels) {
            html += "<th>\(ReportText.escape(label))<br><code>\(ReportText.escape(run.config))</code></th>"
        }
        html += "<th></th></tr></thead><tbody>\n"
        for row in FigureTable.rows(runs) {
            html += "<tr><td>\(row.label)</td>"
            for (index, text) in row.values.enumerated() {
                html += index == row.better ? "<td class=\"better\">\(text) ✓</td>" : "<td>\(text)</td>"
            }
            html += "<td class=\"note\">\(row.note)</td></tr>\n"
        }
        return html + "</tbody></table>"
    }
}
