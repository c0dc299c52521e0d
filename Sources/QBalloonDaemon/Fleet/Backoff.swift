/// Capped exponential backoff between reconnect attempts, as a plain value.
///
/// ```swift
/// var backoff = Backoff(initial: 0.5, cap: 30)
/// backoff.nextDelay()   // 0.5, then 1, 2, 4 ... 30, 30
/// backoff.reset()       // after a good connection
/// ```
public struct Backoff: Sendable, Hashable {
    public let initial: Double
    public let cap: Double
    public private(set) var attempts = 0

    public init(initial: Double = 0.5, cap: Double = 30) {
        self.initial = initial
        self.cap = cap
    }

    /// The wait before the next attempt, in seconds.
    public mutating func nextDelay() -> Double {
        let delay = min(cap, initial * Double(1 << min(attempts, 30)))
        attempts += 1
        return delay
    }

    public mutating func reset() {
        attempts = 0
    }
}
