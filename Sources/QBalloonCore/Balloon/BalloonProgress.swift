/// Follows a balloon toward its target from samples of `actual`, as a plain value: it says when the guest got
/// there, or stalled: came no closer for `stallAfter` seconds. The one stall detector, shared by `qballoon set`
/// and the daemon's engine. The caller supplies the time.
///
/// ```swift
/// var progress = BalloonProgress(requested: 1 << 30, ramBytes: 2 << 30, startedAt: 0, stallAfter: 2)
/// progress.observe(actual: 2 << 30, at: 0.25)   // .moving
/// progress.observe(actual: 2 << 30, at: 2.5)    // .stalled: no closer for 2 s
/// ```
public struct BalloonProgress: Sendable, Hashable {
    /// Where QEMU will actually stop: the request clamped to RAM and rounded the way QEMU counts pages.
    public let target: UInt64
    /// Seconds without coming closer after which a balloon short of its target counts as stalled.
    public let stallAfter: Double
    /// The smallest distance to the target seen so far; nil before the first sample.
    private var closest: UInt64?
    /// When the balloon last came closer.
    private var lastProgress: Double

    public enum Status: Sendable, Hashable {
        case moving
        case reached
        case stalled
    }

    /// Starts following a balloon just asked to go to `requested`.
    /// - Parameters:
    ///   - startedAt: when the target was sent (any clock, in seconds, as long as ``observe(actual:at:)`` uses it too).
    ///   - actual: the balloon's size when the target was sent, if known; otherwise the first sample counts as a move.
    public init(requested: UInt64, ramBytes: UInt64, startedAt: Double, stallAfter: Double, from actual: UInt64? = nil) {
        self.target = BalloonPages.effectiveTarget(requested: requested, ramBytes: ramBytes)
        self.stallAfter = stallAfter
        self.lastProgress = startedAt
        self.closest = actual.map { Self.distance($0, target) }
    }

    /// Records `actual` as seen at `now` and says where the balloon stands. Only coming closer to the target
    /// than ever before counts as progress: a balloon that moves away (a guest deflating on OOM) or bounces
    /// back and forth is not getting there.
    public mutating func observe(actual: UInt64, at now: Double) -> Status {
        let distance = Self.distance(actual, target)
        if distance < BalloonPages.size { return .reached }
        if closest.map({ distance < $0 }) ?? true {
            closest = distance
            lastProgress = now
            return .moving
        }
        return now - lastProgress >= stallAfter ? .stalled : .moving
    }

    /// Whether the balloon, at `actual`, still has to inflate (take memory from the guest) to get there.
    public func isInflating(actual: UInt64) -> Bool { actual > target &+ BalloonPages.size }

    /// Whether the balloon, at `actual`, still has to deflate (give the guest memory) to get there.
    public func isDeflating(actual: UInt64) -> Bool { actual &+ BalloonPages.size < target }

    private static func distance(_ a: UInt64, _ b: UInt64) -> UInt64 { a > b ? a - b : b - a }
}
