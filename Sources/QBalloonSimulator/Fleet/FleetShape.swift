import QBalloon
import QBalloonCore

/// What a recorded shape trace says, as shares of the guest's MemTotal so it scales to any RAM: the figures a
/// fleet's VMs are drawn from.
struct FleetShape: Sendable {
    /// How a shape's VMs behave over a day, told by the shape trace's VM name.
    enum Kind: Sendable, Hashable {
        /// Flat, with a little noise.
        case idle
        /// Grows at a steady rate, holds, frees all at once: once or twice a day.
        case batch
        /// Grows slowly the whole time, until a reboot resets it.
        case leak
        /// Page cache filled by reads and dropped a while later, at random times.
        case burstyCache
        /// Anything else: the recorded curve itself, repeated.
        case other

        init(name: String) {
            let name = name.lowercased()
            if name.contains("batch") {
                self = .batch
            } else if name.contains("leak") {
                self = .leak
            } else if name.contains("cache") {
                self = .burstyCache
            } else if name.contains("idle") {
                self = .idle
            } else {
                self = .other
            }
        }
    }

    var name: String
    var kind: Kind
    /// The kernel's reserve (`actual - total`) as a share of `actual`.
    var reservedShare: Double
    /// The guest's use with nothing running (its lowest tenth), a share of MemTotal.
    var baseUsed: Double
    /// The most in use above `baseUsed`, a share of MemTotal.
    var peakExtra: Double
    /// How much use moves around `baseUsed` when idle (the spread of its lower quarter), a share of MemTotal.
    var noise: Double
    /// The fastest rise of use over 10 s, a share of MemTotal per second.
    var riseRate: Double
    /// Use's average growth over the whole trace, a share of MemTotal per second.
    var growth: Double
    /// The page cache while use is at its lowest, a share of MemTotal.
    var baseCache: Double
    /// The most page cache above `baseCache`, a share of MemTotal.
    var peakCacheExtra: Double
    /// The fastest rise of the page cache over 10 s, a share of MemTotal per second.
    var cacheFillRate: Double
    /// For `.other`: the used share over time, one point a minute (seconds since the trace's start).
    var curve: [(at: Double, used: Double)]

    /// The figures of `trace`; nil if its guest never reported MemTotal and MemAvailable.
    init?(_ trace: Trace) {
        let reported = trace.samples.compactMap { sample -> (t: Double, actual: Double, total: Double, used: Double, caches: Double)? in
            guard let total = sample.stats.total, total > 0, let used = sample.stats.used else { return nil }
            return (sample.time - trace.header.start, Double(sample.actual), Double(total), Double(used), Double(sample.stats.diskCaches ?? 0))
        }
        guard let first = reported.first else { return nil }
        let total = first.total
        name = trace.header.vm
        kind = Kind(name: trace.header.vm)
        reservedShare = max(0, first.actual - first.total) / max(first.actual, 1)
        let used = reported.map(\.used).sorted()
        func quantile(_ sorted: [Double], _ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q))] }
        // A leak's lowest tenth is already some way along: its first sample is where it started.
        let base = min(quantile(used, 0.1), first.used)
        baseUsed = base / total
        peakExtra = max(0, (used.last ?? base) - base) / total
        // Its lower quarter only: a guest holding page cache shows less available for it (Linux keeps the low
        // watermark out of MemAvailable), which is not use moving.
        noise = max(0, quantile(used, 0.25) - quantile(used, 0.05)) / total
        func fastestRise(_ values: [(t: Double, v: Double)]) -> Double {
            var best = 0.0
            var lower = 0
            for upper in values.indices {
                while values[upper].t - values[lower].t > 10 { lower += 1 }
                let span = values[upper].t - values[lower].t
                if span >= 5 { best = max(best, (values[upper].v - values[lower].v) / span) }
            }
            return best
        }
        riseRate = fastestRise(reported.map { ($0.t, $0.used) }) / total
        let last = reported[reported.count - 1]
        growth = last.t > first.t ? (last.used - first.used) / (last.t - first.t) / total : 0
        let quiet = reported.min { $0.used < $1.used } ?? first
        baseCache = quiet.caches / total
        peakCacheExtra = max(0, (reported.map(\.caches).max() ?? quiet.caches) - quiet.caches) / total
        cacheFillRate = fastestRise(reported.map { ($0.t, $0.caches) }) / total
        var curve: [(at: Double, used: Double)] = []
        for sample in reported where curve.last.map({ sample.t - $0.at >= 60 }) ?? true {
            curve.append((sample.t, sample.used / total))
        }
        self.curve = curve
    }
}
