/// How much memory the guest's applications use over time: points joined by straight lines, optionally
/// repeating, plus optional periodic bursts on top.
///
/// "Used" is anonymous memory: the guest cannot drop it to give memory to the balloon, only swap it out.
///
/// ```swift
/// let workload = FakeWorkload(points: [.init(at: 0, used: 300 << 20), .init(at: 30, used: 1 << 30)], loop: true)
/// workload.used(at: 15)   // 687865856 (halfway)
/// ```
public struct FakeWorkload: Sendable, Hashable {
    /// Memory in use at a moment, in seconds since the guest started.
    public struct Point: Sendable, Hashable {
        public var at: Double
        public var used: UInt64

        public init(at: Double, used: UInt64) {
            self.at = at
            self.used = used
        }
    }

    /// Bursts of extra use that repeat: each lasts `length` seconds, ramping up over `ramp` seconds at its start
    /// and down over `ramp` seconds at its end, and a new one starts every `every` seconds from `start`.
    public struct Bursts: Sendable, Hashable {
        public var every: Double
        public var length: Double
        public var extra: UInt64
        public var start: Double
        public var ramp: Double

        public init(every: Double, length: Double, extra: UInt64, start: Double = 0, ramp: Double = 0) {
            self.every = every
            self.length = length
            self.extra = extra
            self.start = start
            self.ramp = ramp
        }

        /// The extra memory in use at `time`.
        public func extra(at time: Double) -> Double {
            let since = time - start
            guard since >= 0, every > 0 else { return 0 }
            let phase = since.truncatingRemainder(dividingBy: every)
            guard phase < length else { return 0 }
            let full = Double(extra)
            guard ramp > 0 else { return full }
            if phase < ramp { return full * phase / ramp }
            if phase > length - ramp { return full * (length - phase) / ramp }
            return full
        }
    }

    /// At least one point, in increasing `at` order.
    public var points: [Point]
    /// Repeat the points forever, with a period equal to the last point's time.
    public var loop: Bool
    public var bursts: Bursts?

    public init(points: [Point], loop: Bool = false, bursts: Bursts? = nil) {
        self.points = points
        self.loop = loop
        self.bursts = bursts
    }

    /// A workload that always uses `used` bytes.
    public static func constant(_ used: UInt64) -> FakeWorkload {
        FakeWorkload(points: [Point(at: 0, used: used)])
    }

    /// The memory in use `time` seconds after the guest started.
    public func used(at time: Double) -> Double {
        base(at: time) + (bursts?.extra(at: time) ?? 0)
    }

    private func base(at time: Double) -> Double {
        guard let first = points.first, let last = points.last else { return 0 }
        var time = time
        if loop, last.at > 0, time > last.at {
            time = time.truncatingRemainder(dividingBy: last.at)
        }
        if time <= first.at { return Double(first.used) }
        if time >= last.at { return Double(last.used) }
        // The first point at or after `time` (a workload replayed from a trace has a point per second: search).
        var low = 1
        var high = points.count - 1
        while low < high {
            let middle = (low + high) / 2
            if points[middle].at < time { low = middle + 1 } else { high = middle }
        }
        let upper = points[low]
        let lower = points[low - 1]
        let span = upper.at - lower.at
        guard span > 0 else { return Double(upper.used) }
        let fraction = (time - lower.at) / span
        return Double(lower.used) + (Double(upper.used) - Double(lower.used)) * fraction
    }
}
