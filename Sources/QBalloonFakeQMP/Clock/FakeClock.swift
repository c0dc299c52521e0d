import QBalloonCore

/// Where the fake VM's time comes from: the wall clock, or a ``ManualClock`` a test moves by hand.
///
/// Times are seconds since the Unix epoch, as QEMU stamps events and `last-update`. The guest simulation
/// only ever reads the clock; with a manual clock nothing happens until the test moves it and calls
/// ``FakeQMPServer/tick()``.
public struct FakeClock: Sendable {
    private let read: @Sendable () -> Double
    /// True for a clock moved by hand: the server then arms no timers for the guest, only ``FakeQMPServer/tick()``
    /// moves it on.
    public let isManual: Bool

    /// A clock read by `now`.
    /// - Parameters:
    ///   - isManual: whether time only moves when the caller says so (see ``isManual``).
    ///   - now: seconds since the Unix epoch.
    public init(isManual: Bool, now: @escaping @Sendable () -> Double) {
        self.read = now
        self.isManual = isManual
    }

    /// The current time, in seconds since the Unix epoch.
    public func now() -> Double { read() }

    /// The system's real-time clock.
    public static let system = FakeClock(isManual: false) { WallClock.system.now() }

    /// A clock that reads `clock`.
    public static func manual(_ clock: ManualClock) -> FakeClock {
        FakeClock(isManual: true) { clock.now() }
    }
}
