/// A VM's balloon, however it is reached (QMP, libvirt): read its size and RAM, set its target. Following a
/// change until the guest gets there is written once, here, for all of them.
///
/// ```swift
/// let outcome = try await balloon.setTarget(2 << 30, waiting: BalloonWait(timeout: .seconds(60)))
/// ```
public protocol BalloonControl: Sendable {
    /// The guest's current size: RAM minus what it has given back so far (not the target).
    func actual() async throws -> UInt64
    /// The VM's RAM; the balloon can never go above it.
    func maxBytes() async throws -> UInt64
    /// Asks the guest to give back or take memory until it has `bytes`; returns at once.
    func setTarget(_ bytes: UInt64) async throws
}

/// How ``BalloonControl/setTarget(_:waiting:)`` follows the balloon.
public struct BalloonWait: Sendable {
    /// Give up after this long.
    public var timeout: Duration
    /// Count the balloon as stalled when it has not moved for this long short of its target.
    public var stallAfter: Duration
    /// How often to read `actual`.
    public var pollEvery: Duration
    /// On a stalled inflation, give the guest some room back (``StallRecovery``): set the target to where
    /// the balloon stopped plus the give-back. A guest stalls because it has no memory left to free; left at
    /// that point its next allocation fails (a Linux guest panics with "System is deadlocked on memory").
    public var stopAtStall: Bool

    public init(
        timeout: Duration = .seconds(60), stallAfter: Duration = .seconds(2), pollEvery: Duration = .milliseconds(200),
        stopAtStall: Bool = true
    ) {
        self.timeout = timeout
        self.stallAfter = stallAfter
        self.pollEvery = pollEvery
        self.stopAtStall = stopAtStall
    }
}

extension BalloonControl {
    /// Sets the target and follows the balloon until it gets there, stalls, or the wait times out.
    public func setTarget(_ bytes: UInt64, waiting wait: BalloonWait) async throws -> BalloonOutcome {
        let ram = try await maxBytes()
        try await setTarget(bytes)
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> Double { (clock.now - start).seconds }
        var progress = BalloonProgress(requested: bytes, ramBytes: ram, startedAt: 0, stallAfter: wait.stallAfter.seconds)
        while true {
            let actual = try await actual()
            switch progress.observe(actual: actual, at: elapsed()) {
            case .reached:
                return BalloonOutcome(requested: bytes, target: progress.target, actual: actual, result: .reached)
            case .stalled:
                var resetTo: UInt64?
                // Only an inflation leaves the guest without memory; a deflation that stalls keeps its target.
                if wait.stopAtStall && progress.isInflating(actual: actual) {
                    let reset = StallRecovery.target(
                        stoppedAt: actual, ramBytes: ram, giveBack: StallRecovery.giveBack(ramBytes: ram))
                    try await setTarget(reset)
                    resetTo = reset
                }
                return BalloonOutcome(
                    requested: bytes, target: progress.target, actual: actual, result: .stalled, resetTo: resetTo)
            case .moving:
                if elapsed() >= wait.timeout.seconds {
                    return BalloonOutcome(requested: bytes, target: progress.target, actual: actual, result: .timeout)
                }
            }
            try await Task.sleep(for: wait.pollEvery)
        }
    }
}

/// How a change of the balloon ended.
public struct BalloonOutcome: Sendable, Hashable {
    public enum Result: String, Sendable, Hashable {
        /// The guest got to the target.
        case reached
        /// The guest stopped moving short of the target.
        case stalled
        /// The wait ended before the guest got there.
        case timeout
        /// The target was sent and not followed.
        case sent
    }

    /// What was asked for.
    public var requested: UInt64
    /// Where the VM will stop: the request clamped to RAM and rounded to pages.
    public var target: UInt64
    /// The guest's size when the wait ended.
    public var actual: UInt64
    public var result: Result
    /// After a stall, the target it was reset to (where the balloon stopped plus some room), if it was.
    public var resetTo: UInt64?

    public init(requested: UInt64, target: UInt64, actual: UInt64, result: Result, resetTo: UInt64? = nil) {
        self.requested = requested
        self.target = target
        self.actual = actual
        self.result = result
        self.resetTo = resetTo
    }
}
