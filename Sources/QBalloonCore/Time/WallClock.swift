#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The time of day in Unix seconds, the scale QEMU stamps statistics (`last-update`) and events with.
///
/// A seam: the daemon and the one-shot commands read the time through it, so tests hand them a clock they
/// move by hand.
///
/// ```swift
/// let now = WallClock.system.now()
/// let age = stats.age(now: now)
/// ```
public struct WallClock: Sendable {
    private let read: @Sendable () -> Double

    /// A clock read by `now`, in seconds since the Unix epoch.
    public init(_ now: @escaping @Sendable () -> Double) {
        self.read = now
    }

    /// The current time, in seconds since the Unix epoch.
    public func now() -> Double { read() }

    /// The system's real-time clock.
    public static let system = WallClock {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
