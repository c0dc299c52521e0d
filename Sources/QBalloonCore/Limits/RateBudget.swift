/// How much a peer may send: a burst, refilled at a steady rate (a token bucket). A plain value; time is a
/// parameter in seconds on any monotonic clock.
///
/// ```swift
/// var events = RateBudget(burst: 200, perSecond: 50)
/// if !events.spend(1, at: now) { /* the monitor floods: cut it off */ }
/// ```
public struct RateBudget: Sendable, Hashable {
    /// The most that may be spent at once, after a quiet spell.
    public let burst: Double
    /// What comes back each second, up to ``burst``.
    public let perSecond: Double
    /// What may be spent now (as of ``lastTime``).
    public private(set) var available: Double
    private var lastTime: Double?

    public init(burst: Double, perSecond: Double) {
        self.burst = max(0, burst)
        self.perSecond = max(0, perSecond)
        self.available = self.burst
    }

    /// Spends `amount` at `now`. Returns false, spending nothing, when less than `amount` is left: the peer
    /// went over its budget.
    public mutating func spend(_ amount: Double, at now: Double) -> Bool {
        if let lastTime, now > lastTime {
            available = min(burst, available + (now - lastTime) * perSecond)
        }
        if lastTime.map({ now > $0 }) ?? true { lastTime = now }
        guard amount <= available else { return false }
        available -= amount
        return true
    }
}
