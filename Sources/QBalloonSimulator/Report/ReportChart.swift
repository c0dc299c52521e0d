/// One chart of the report as inline SVG: a plot area with the time axis below and the size axis on the left, grid
/// lines at the ticks, shaded intervals, then lines. Coordinates are rounded to one decimal and lines drop the
/// points a straight run does not need, so a chart stays small whatever the trace.
///
/// ```swift
/// var chart = ReportChart(size: .wide, time: TimeAxis(start: 0, end: 3600), memory: SizeAxis(holding: 8 << 30, steps: 4))
/// chart.shade(episodes, as: .outOfMemory, run: 0, what: "would-be OOM")
/// chart.line(times: times, values: actual, series: .actual, run: 0)
/// let svg = chart.svg(label: "web: memory over time")
/// ```
struct ReportChart {
    /// A chart's size in pixels and the margins around its plot area.
    struct Size: Hashable {
        var width: Double
        var height: Double
        var left = 64.0
        var right = 20.0
        var top = 8.0
        var bottom = 34.0

        var plotWidth: Double { width - left - right }
        var plotHeight: Double { height - top - bottom }

        /// The host panel, and a VM's when there are only one or two.
        static let wide = Size(width: 1320, height: 250)
        /// A VM's in the grid of many.
        static let compact = Size(width: 640, height: 190)
    }

    /// What a line shows; its colour comes from the page's style sheet (``ReportStyle``).
    enum Series: String, CaseIterable {
        case max, actual, target, need, available
        case hostTotal = "host-total", hostAvailable = "host-available", returned, reserve
    }

    /// What a shaded interval is.
    enum Shade: String {
        case short, outOfMemory = "oom"
    }

    let size: Size
    let time: TimeAxis
    let memory: SizeAxis
    private var shades: [String] = []
    private var lines: [String] = []

    init(size: Size, time: TimeAxis, memory: SizeAxis) {
        self.size = size
        self.time = time
        self.memory = memory
    }

    /// The x of a Unix time, clamped to the plot.
    func x(_ unixSeconds: Double) -> Double {
        let fraction = Swift.min(Swift.max((unixSeconds - time.start) / time.length, 0), 1)
        return size.left + fraction * size.plotWidth
    }

    /// The y of a size in bytes, clamped to the plot.
    func y(_ bytes: Double) -> Double {
        let fraction = Swift.min(Swift.max(bytes / memory.topBytes, 0), 1)
        return size.top + (1 - fraction) * size.plotHeight
    }

    /// Shades each episode the full height of the plot; a run after the first is hatched (class `r1`, `r2`), so
    /// two configs' intervals stay apart where they overlap. Each rectangle's tooltip says what and when.
    mutating func shade(_ episodes: [Episode], as shade: Shade, run: Int, what: String) {
        for episode in episodes {
            let left = x(episode.start)
            // At least a pixel and a half, so a short episode still shows.
            let width = Swift.max(x(episode.end) - left, 1.5)
            let when = timeLabel(episode.start) + "–" + timeLabel(episode.end)
            let worst = shade == .short ? "least available " : "short by "
            shades.append(
                "<rect class=\"\(shade.rawValue) r\(run)\" x=\"\(ReportText.coordinate(left))\" y=\"\(ReportText.coordinate(size.top))\" "
                    + "width=\"\(ReportText.coordinate(width))\" height=\"\(ReportText.coordinate(size.plotHeight))\">"
                    + "<title>\(ReportText.escape(what)) \(when) (\(ReportText.duration(episode.seconds))), \(worst)\(ReportText.size(episode.worst))</title></rect>")
        }
    }

    /// A line through the points (times and values in step); `stepped` holds each value until the next point.
    /// Runs after the first are dashed (class `r1`, `r2`).
    mutating func line(times: [Double], values: [UInt64], series: Series, run: Int, stepped: Bool = false) {
        let count = Swift.min(times.count, values.count)
        guard count > 0 else { return }
        var points: [(Double, Double)] = []
        points.reserveCapacity(stepped ? 2 * count : count)
        for index in 0..<count {
            let point = (rounded(x(times[index])), rounded(y(Double(values[index]))))
            if stepped, let last = points.last, last.1 != point.1 { points.append((point.0, last.1)) }
            points.append(point)
        }
        polyline(Self.simplified(points), series: series, run: run)
    }

    /// A horizontal line across the plot at `bytes`.
    mutating func level(_ bytes: UInt64, series: Series, run: Int) {
        let height = rounded(y(Double(bytes)))
        polyline([(rounded(size.left), height), (rounded(size.left + size.plotWidth), height)], series: series, run: run)
    }

    /// The whole chart: axes, grid, shading under the lines.
    func svg(label: String) -> String {
        let plotBottom = size.top + size.plotHeight
        let c = ReportText.coordinate
        var parts: [String] = []
        parts.append(
            "<svg class=\"chart\" width=\"\(c(size.width))\" height=\"\(c(size.height))\" "
                + "viewBox=\"0 0 \(c(size.width)) \(c(size.height))\" role=\"img\" aria-label=\"\(ReportText.escape(label))\">")
        parts.append("<rect class=\"plot\" x=\"\(c(size.left))\" y=\"\(c(size.top))\" width=\"\(c(size.plotWidth))\" height=\"\(c(size.plotHeight))\"/>")
        for tick in memory.ticks {
            let height = c(y(tick.bytes))
            parts.append("<line class=\"grid\" x1=\"\(c(size.left))\" y1=\"\(height)\" x2=\"\(c(size.left + size.plotWidth))\" y2=\"\(height)\"/>")
            parts.append("<text class=\"tick\" x=\"\(c(size.left - 5))\" y=\"\(height)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(tick.label)</text>")
        }
        let timeTicks = time.ticks(atMost: Int(size.plotWidth / 64))
        for tick in timeTicks {
            let left = c(x(time.start + tick.offset))
            parts.append("<line class=\"grid\" x1=\"\(left)\" y1=\"\(c(size.top))\" x2=\"\(left)\" y2=\"\(c(plotBottom))\"/>")
            parts.append("<text class=\"tick\" x=\"\(left)\" y=\"\(c(plotBottom + 13))\" text-anchor=\"middle\">\(tick.label)</text>")
        }
        parts.append("<text class=\"axis\" x=\"\(c(size.left + size.plotWidth))\" y=\"\(c(size.height - 3))\" text-anchor=\"end\">\(time.title)</text>")
        parts.append(contentsOf: shades)
        parts.append(contentsOf: lines)
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    private mutating func polyline(_ points: [(Double, Double)], series: Series, run: Int) {
        let text = points.map { ReportText.coordinate($0.0) + "," + ReportText.coordinate($0.1) }.joined(separator: " ")
        lines.append("<polyline class=\"\(series.rawValue) r\(run)\" points=\"\(text)\"/>")
    }

    private func timeLabel(_ unixSeconds: Double) -> String {
        let offset = unixSeconds - time.start
        return time.inSeconds ? ReportText.decimal(offset, places: 0) + "s" : ReportText.clock(offset)
    }

    private func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }

    /// The points without repeats and without the middle of a flat or vertical run (which draw nothing more).
    static func simplified(_ points: [(Double, Double)]) -> [(Double, Double)] {
        var kept: [(Double, Double)] = []
        kept.reserveCapacity(points.count)
        for point in points {
            if let last = kept.last, last == point { continue }
            if kept.count >= 2 {
                let last = kept[kept.count - 1]
                let before = kept[kept.count - 2]
                let flat = before.1 == last.1 && last.1 == point.1 && before.0 <= last.0 && last.0 <= point.0
                let vertical = before.0 == last.0 && last.0 == point.0
                    && (before.1 <= last.1) == (last.1 <= point.1)
                if flat || vertical {
                    kept[kept.count - 1] = point
                    continue
                }
            }
            kept.append(point)
        }
        return kept
    }
}
