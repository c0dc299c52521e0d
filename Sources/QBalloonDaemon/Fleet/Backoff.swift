/// Capped exponential backoff between reconnect attempts, as a plain value.
///
/// ```swift
/// var backoff = Backoff(initial: 0.5, cap: 30)
/// backoff.nextDelay()   // 0.5, then 1, 2, 4 ... 30, 30
/// backoff.reset()       // after a good connection
/// ```
struct Backoff: Sendable, Hashable {
    let initial: Double
    let cap: Double
    private(set) var attempts = 0

    init(initial: Double = 0.5, cap: Double = 30) {
        self.initial = initial
        self.cap = cap
    }

    /// The wait before the next attempt, in seconds.
    mutating func nextDelay() -> Double {
        let delay = min(cap, initial * Double(1 << min(attempts, 30)))
        attempts += 1
        return delay
    }

    mutating func reset() {
        attempts = 0
    }
}
