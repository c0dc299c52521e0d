import Synchronization

/// A clock that only moves when told to, for tests that step simulated time with no sleeps.
///
/// ```swift
/// let clock = ManualClock()
/// let server = try await FakeQMPServer.start(listen: address, scenario: .idle, clock: .manual(clock))
/// clock.advance(by: 2)
/// await server.tick()
/// ```
public final class ManualClock: Sendable {
    private let time: Mutex<Double>

    /// A clock reading `start` seconds since the Unix epoch.
    public init(start: Double = 1_700_000_000) {
        self.time = Mutex(start)
    }

    /// The current time, in seconds since the Unix epoch.
    public func now() -> Double { time.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: Double) {
        time.withLock { $0 += max(0, seconds) }
    }

    /// Sets the clock; it never goes back.
    public func set(_ seconds: Double) {
        time.withLock { $0 = max($0, seconds) }
    }
}
