import QBalloon
import QBalloonCore
import QBalloonFakeQMP

extension FleetGenerator {
    /// `vm` as `qballoon record` would have seen it with its balloon left alone: a sample every `interval` seconds
    /// for `duration` seconds from `start` (Unix seconds), `actual` always its RAM, its guest reporting each second.
    ///
    /// MemTotal is RAM minus the kernel's reserve; in use is what the guest keeps plus the workload; the page cache
    /// takes what it wants of the rest, all of it counted available (the guest would drop it for memory); no swap.
    ///
    /// ```swift
    /// let trace = FleetGenerator.trace(of: vm, duration: 3600, interval: 10)   // 360 samples
    /// ```
    public static func trace(of vm: GeneratedVM, duration: Double, interval: Double = 1, start: Double = 1_800_000_000) -> Trace {
        let header = TraceHeader(vm: vm.name, ramBytes: vm.ram, interval: interval, qemu: qemu, start: start)
        guard interval > 0, duration > 0 else { return Trace(header: header, samples: []) }
        let count = min(Trace.maxSamples, Int((duration / interval).rounded(.down)))
        var workload = PointCursor(vm.workload.points)
        var cache = PointCursor(vm.pageCache.points)
        let total = vm.total
        var faults = 0.0
        var previous: Double?
        var samples: [TraceSample] = []
        samples.reserveCapacity(count)
        for index in 0..<count {
            let at = Double(index) * interval
            let time = ((start + at) * 1000).rounded() / 1000
            let running = workload.value(at: at)
            // Pages touched: a steady trickle, plus every page the workload takes.
            faults += 200 * interval + max(0, running - (previous ?? running)) / 4096
            previous = running
            // Whole pages, as a guest reports.
            let used = min(total, (vm.unfreeable + UInt64(running)) / 4096 * 4096)
            let caches = min(UInt64(cache.value(at: at)) / 4096 * 4096, total - used)
            let stats = GuestStats(
                swapIn: 0, swapOut: 0, majorFaults: 0, minorFaults: UInt64(faults), free: total - used - caches, total: total,
                available: total - used, diskCaches: caches, lastUpdate: Int64(time.rounded(.down)))
            samples.append(TraceSample(time: time, actual: vm.ram, stats: stats))
        }
        return Trace(header: header, samples: samples)
    }
}

/// Reads a line of points at times that only go forward, each in constant time.
struct PointCursor {
    private let points: [FakeWorkload.Point]
    private var index = 0

    init(_ points: [FakeWorkload.Point]) {
        self.points = points
    }

    mutating func value(at time: Double) -> Double {
        guard let first = points.first, let last = points.last else { return 0 }
        if time <= first.at { return Double(first.used) }
        if time >= last.at { return Double(last.used) }
        while index + 1 < points.count, points[index + 1].at < time { index += 1 }
        let lower = points[index]
        let upper = points[index + 1]
        let span = upper.at - lower.at
        guard span > 0 else { return Double(upper.used) }
        return Double(lower.used) + (Double(upper.used) - Double(lower.used)) * (time - lower.at) / span
    }
}
