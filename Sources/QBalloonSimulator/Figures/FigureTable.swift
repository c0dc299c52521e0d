/// The summary figures of one or two runs as rows of text, the better figure of each row marked: what
/// `qballoon simulate` prints and the report's table shows, written once.
///
/// ```swift
/// for row in FigureTable.rows([first, second]) {
///     print(row.label, row.values, row.better.map { "config \($0 + 1) is better" } ?? "")
/// }
/// ```
public enum FigureTable {
    /// One figure for each run.
    public struct Row: Sendable, Hashable {
        public var label: String
        /// What the figure is, in a few words (the report shows it beside the row).
        public var note: String
        public var values: [String]
        /// Which run's figure is better (an index into the runs): nil with one run, a figure missing, a tie as shown,
        /// or a row with no better way.
        public var better: Int?
    }

    /// Whether more is better, or less, or neither.
    enum Direction {
        case more
        case less
        case neither
    }

    /// The rows, in the order they are shown.
    public static func rows(_ runs: [SimulationRun]) -> [Row] {
        func row(
            _ label: String, _ note: String, _ direction: Direction, _ value: (SimulationFigures) -> Double?,
            _ text: (Double) -> String
        ) -> Row {
            let values = runs.map { value($0.figures) }
            let texts = values.map { $0.map(text) ?? "-" }
            // Figures that read the same are a tie, however they differ in the last bits.
            let better = Set(texts).count == 1 ? nil : Self.better(values, direction)
            return Row(label: label, note: note, values: texts, better: better)
        }
        let size: (Double) -> String = { ReportText.size($0) }
        let duration: (Double) -> String = { ReportText.duration($0) }
        let count: (Double) -> String = { "\(Int($0))" }
        return [
            row("memory returned, mean", "RAM minus actual, summed over the VMs, averaged over the run", .more, { $0.returnedMean }, size),
            row(
                "memory returned, least", "the least returned at any moment after the warm-up", .more,
                { Double($0.returnedLeast) }, size),
            row(
                "time short", "guests' available memory below a tenth of what they had, summed over the VMs", .less,
                { $0.shortSeconds }, duration),
            row(
                "would-be OOM events", "a guest needing more than it had: a real one meets its OOM killer", .less,
                { Double($0.outOfMemoryEvents) }, count),
            row("would-be OOM time", "summed over the VMs", .less, { $0.outOfMemorySeconds }, duration),
            row(
                "balloon changes per VM-hour", "how often a balloon was moved", .less, { $0.changesPerVMHour },
                { ReportText.decimal($0, places: 2) }),
            row(
                "memory back, median", "from a guest going short to its balloon giving memory back", .less,
                { $0.memoryBackP50 }, duration),
            row("memory back, 99th percentile", "", .less, { $0.memoryBackP99 }, duration),
            row(
                "host out of memory", "after the warm-up, the guests held more than the host has for them: a real host swaps, or its OOM killer acts",
                .less, { $0.hostOvercommittedSeconds }, duration),
            row(
                "short with no memory back", "episodes that ended without it (at max, or the need fell)", .neither,
                { Double($0.shortWithoutMemoryBack) }, count),
            row("VM-hours", "", .neither, { $0.vmHours }, { ReportText.decimal($0) }),
        ]
    }

    /// The index of the best value: nil with fewer than two values, one missing, a tie for the best, or no better way.
    static func better(_ values: [Double?], _ direction: Direction) -> Int? {
        let known = values.compactMap { $0 }
        guard direction != .neither, known.count >= 2, known.count == values.count else { return nil }
        let best = direction == .more ? known.max()! : known.min()!
        let winners = known.indices.filter { known[$0] == best }
        return winners.count == 1 ? winners[0] : nil
    }
}
