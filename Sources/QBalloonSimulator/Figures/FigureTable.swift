import QBalloonCore

/// The summary figures of one or two runs as rows of text, the better figure of each row marked: what
/// `qballoon simulate` prints and the report's table shows.
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
        public var values: [String]
        /// Which run's figure is better (an index into the runs), nil with one run or a tie.
        public var better: Int?
    }

    /// Whether more is better or less.
    enum Direction {
        case more
        case less
    }

    /// The rows, in the order they are printed.
    public static func rows(_ runs: [SimulationRun]) -> [Row] {
        func row(_ label: String, _ direction: Direction, _ value: (SimulationFigures) -> Double?, _ text: (Double?) -> String) -> Row {
            let values = runs.map { value($0.figures) }
            let texts = values.map(text)
            // Figures that read the same are a tie, however they differ in the last bits.
            return Row(label: label, values: texts, better: Set(texts).count == 1 ? nil : better(values, direction))
        }
        func bytes(_ value: Double?) -> String { value.map { MemorySize.format(UInt64(max(0, $0.rounded()))) } ?? "-" }
        func seconds(_ value: Double?) -> String { value.map { DurationText.format(seconds: ($0 * 10).rounded() / 10) } ?? "-" }
        func count(_ value: Double?) -> String { value.map { "\(Int($0))" } ?? "-" }
        func rate(_ value: Double?) -> String {
            value.map { $0 >= 10 ? "\(Int($0.rounded()))" : "\(($0 * 100).rounded() / 100)" } ?? "-"
        }
        return [
            row("returned to the host, mean", .more, { $0.returnedMean }, bytes),
            row("returned to the host, least", .more, { Double($0.returnedLeast) }, bytes),
            row("time short (all VMs)", .less, { $0.shortSeconds }, seconds),
            row("would-be OOM events", .less, { Double($0.outOfMemoryEvents) }, count),
            row("time out of memory (all VMs)", .less, { $0.outOfMemorySeconds }, seconds),
            row("balloon changes per VM-hour", .less, { $0.changesPerVMHour }, rate),
            row("short to memory back, p50", .less, { $0.memoryBackP50 }, seconds),
            row("short to memory back, p99", .less, { $0.memoryBackP99 }, seconds),
            row("short, no memory back", .less, { Double($0.shortWithoutMemoryBack) }, count),
        ]
    }

    /// The index of the best value, nil with fewer than two known values or a tie for the best.
    static func better(_ values: [Double?], _ direction: Direction) -> Int? {
        let known = values.enumerated().compactMap { index, value in value.map { (index, $0) } }
        guard known.count >= 2, known.count == values.count else { return nil }
        let best = direction == .more ? known.map(\.1).max()! : known.map(\.1).min()!
        let winners = known.filter { $0.1 == best }
        return winners.count == 1 ? winners[0].0 : nil
    }
}
