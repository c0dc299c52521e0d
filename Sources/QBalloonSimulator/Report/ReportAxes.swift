/// The x axis of every chart: time since the run's start, ticked at round steps, in seconds for a run shorter than
/// ten minutes (`0s`, `30s`, `60s`) and as h:mm otherwise (`0:00`, `0:30`, `1:00`).
struct TimeAxis: Hashable {
    /// The run's start and end (Unix seconds); the axis goes from 0 to `end - start`.
    var start: Double
    var end: Double

    var length: Double { Swift.max(end - start, 1) }
    var inSeconds: Bool { length < 600 }
    var title: String { inSeconds ? "time since start (s)" : "time since start (h:mm)" }

    /// Round offsets from the start, at most `count` + 1 of them, each with its label.
    func ticks(atMost count: Int) -> [(offset: Double, label: String)] {
        let steps: [Double] =
            inSeconds
            ? [1, 2, 5, 10, 15, 30, 60, 120, 300]
            : [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172_800, 604_800]
        let step = steps.first { length / $0 <= Double(Swift.max(count, 1)) } ?? (length / Double(Swift.max(count, 1))).rounded(.up)
        var ticks: [(Double, String)] = []
        var offset = 0.0
        while offset <= length + 1e-9 {
            ticks.append((offset, inSeconds ? ReportText.decimal(offset, places: 0) + "s" : ReportText.clock(offset)))
            offset += step
        }
        return ticks
    }
}

/// The y axis of a chart: from 0 bytes to a round size at or above the largest figure drawn, in MiB below 2 GiB
/// and GiB from there, each tick labelled with its unit (`512 MiB`, `1.5 GiB`).
struct SizeAxis: Hashable {
    /// The unit's name and size in bytes.
    var unit: String
    var unitBytes: Double
    /// The distance between ticks and the top of the axis, in the unit.
    var step: Double
    var top: Double

    var topBytes: Double { top * unitBytes }

    /// An axis that holds `largest` bytes with at most `count` steps.
    init(holding largest: UInt64, steps count: Int) {
        let bytes = Double(largest)
        if bytes >= 2 * ReportText.gibibyte {
            (unit, unitBytes) = ("GiB", ReportText.gibibyte)
        } else {
            (unit, unitBytes) = ("MiB", ReportText.mebibyte)
        }
        let value = Swift.max(bytes / unitBytes, 1)
        var candidate = 1.0
        var found: Double?
        while found == nil {
            for factor in [1.0, 2, 2.5, 5] where found == nil && (value / (candidate * factor)).rounded(.up) <= Double(count) {
                found = candidate * factor
            }
            candidate *= 10
        }
        step = found ?? 1
        top = (value / step).rounded(.up) * step
    }

    /// The ticks from 0 to the top, in bytes, each with its label.
    var ticks: [(bytes: Double, label: String)] {
        let count = Int((top / step).rounded())
        return (0...count).map { index in
            let value = Double(index) * step
            let number = value == value.rounded() ? ReportText.decimal(value, places: 0) : ReportText.decimal(value)
            return (value * unitBytes, index == 0 ? "0" : number + " " + unit)
        }
    }
}
