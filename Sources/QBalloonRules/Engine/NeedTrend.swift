#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How fast a guest's need moves, from its statistics reports: the slope of its used and available memory over
/// a window (`trend_window`), the slope between its last two reports, and the fastest growth over the window
/// seen lately. (Over the window, not between two reports: a one-off jump between two reports, extrapolated over
/// the daemon's reaction time, would ask for more headroom than the guest ever used.)
///
/// A plain value, fed once per new report. A guest whose need is rising is never shrunk, and the headroom a
/// shrink must leave grows with the fastest recent growth (``peakGrowth(at:)``) times the time the daemon needs
/// to react.
struct NeedTrend: Sendable {
    /// Reports inside the window (and the one just before it), oldest first; at most ``capacity``.
    private var reports: [Report] = []
    /// Bytes per second over the window; NaN until two reports at least a second apart.
    private(set) var usedRate = Double.nan
    private(set) var availableRate = Double.nan
    /// Bytes per second between the last two reports.
    private(set) var lastUsedRate = Double.nan
    private var peak = 0.0
    private var peakAt = -Double.infinity
    /// The highest use in each slice of the peak window (a window's length over ``peakSlices``), oldest first.
    private var slices: [Slice] = []
    /// The most the guest used within the peak window (bytes), as of the last report; NaN before one.
    private(set) var peakUsed = Double.nan
    var sliceCount: Int { slices.count }

    struct Slice: Sendable {
        var start: Double
        var used: Double
    }

    struct Report: Sendable {
        var time: Double
        var used: Double
        var available: Double
    }

    /// The most reports kept, whatever the window: a guest reporting every second over a long window keeps a sample.
    static let capacity = 64
    /// The fastest growth seen fades with this half-life, in seconds.
    static let peakHalfLife = 300.0

    /// Whether the need is known to be rising faster than `threshold` (bytes per second).
    /// - Returns: nil while the trend is not known yet (fewer than two reports a second apart).
    func isRising(faster threshold: Double) -> Bool? {
        guard !usedRate.isNaN else { return nil }
        let recent = lastUsedRate.isNaN ? usedRate : Swift.max(usedRate, lastUsedRate)
        return recent > threshold
    }

    /// The peak window is kept in this many slices, whatever its length: bounded memory for any report rate.
    static let peakSlices = 32

    /// The fastest growth of the used memory seen lately, in bytes per second, fading with ``peakHalfLife``.
    func peakGrowth(at now: Double) -> Double {
        guard peak > 0 else { return 0 }
        return peak * exp2(-Swift.max(0, now - peakAt) / Self.peakHalfLife)
    }

    /// Records a report made at `time`.
    mutating func add(time: Double, used: Double, available: Double, window: Double, peakWindow: Double = 0) {
        guard !used.isNaN else { return }
        notePeak(time: time, used: used, window: peakWindow)
        if let last = reports.last {
            guard time >= last.time + 0.5 else { return }
            lastUsedRate = (used - last.used) / (time - last.time)
        }
        reports.append(Report(time: time, used: used, available: available))
        // Keep the newest report at or before the window's start, and everything after it.
        while reports.count > 2, reports[1].time <= time - window { reports.removeFirst() }
        if reports.count > Self.capacity { reports.removeFirst(reports.count - Self.capacity) }
        let oldest = reports[0]
        let span = time - oldest.time
        if span >= 1 {
            usedRate = (used - oldest.used) / span
            availableRate = available.isNaN || oldest.available.isNaN ? .nan : (available - oldest.available) / span
        }
        let growth = usedRate.isNaN ? 0 : usedRate
        if growth >= peakGrowth(at: time) {
            peak = growth
            peakAt = time
        }
    }

    /// Keeps the highest use per slice of the last `window` seconds; with no window, only the use now.
    private mutating func notePeak(time: Double, used: Double, window: Double) {
        guard window > 0 else {
            slices.removeAll()
            peakUsed = used
            return
        }
        let width = window / Double(Self.peakSlices)
        if let last = slices.last, time >= last.start, time < last.start + width {
            slices[slices.count - 1].used = Swift.max(last.used, used)
        } else {
            slices.append(Slice(start: time, used: used))
        }
        // A slice that ended before the window's start is forgotten.
        slices.removeAll { $0.start + width <= time - window }
        if slices.count > Self.peakSlices + 1 { slices.removeFirst(slices.count - Self.peakSlices - 1) }
        peakUsed = slices.reduce(used) { Swift.max($0, $1.used) }
    }
}
