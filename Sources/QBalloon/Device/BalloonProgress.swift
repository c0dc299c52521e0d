/// Follows a balloon toward its target from samples of `actual`, as a plain value: it says when the
/// guest got there, or stalled (stopped moving short of it). The caller supplies the time.
///
/// ```swift
/// var progress = BalloonProgress(requested: 1 << 30, ramBytes: 2 << 30, now: 0, stallAfter: 5)
/// progress.observe(actual: 2 << 30, at: 0.25)   // .moving
/// ```
public struct BalloonProgress: Sendable, Hashable {
    /// Where QEMU will actually stop: the request clamped to RAM and rounded the way QEMU counts pages.
    public let target: UInt64
    /// Seconds without movement after which a balloon short of its target counts as stalled.
    public let stallAfter: Double
    private var lastActual: UInt64?
    private var lastMove: Double

    public enum Status: Sendable, Hashable {
        case moving
        case reached
        case stalled
    }

    public init(requested: UInt64, ramBytes: UInt64, now: Double, stallAfter: Double) {
        self.target = Self.effectiveTarget(requested: requested, ramBytes: ramBytes)
        self.stallAfter = stallAfter
        self.lastMove = now
    }

    /// QEMU keeps `(ram - target) / 4 KiB` pages in the balloon (rounded down), after clamping to RAM.
    public static func effectiveTarget(requested: UInt64, ramBytes: UInt64) -> UInt64 {
        guard requested < ramBytes else { return ramBytes }
        let pages = (ramBytes - requested) / 4096
        return ramBytes - pages * 4096
    }

    /// Records `actual` as seen at `now` and says where the balloon stands.
    public mutating func observe(actual: UInt64, at now: Double) -> Status {
        let distance = actual > target ? actual - target : target - actual
        if distance < 4096 { return .reached }
        if actual != lastActual {
            lastActual = actual
            lastMove = now
            return .moving
        }
        return now - lastMove >= stallAfter ? .stalled : .moving
    }
}
