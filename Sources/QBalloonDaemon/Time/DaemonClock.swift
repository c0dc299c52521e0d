/// The daemon's monotonic time, from any `Clock` (`ContinuousClock` in production, a clock a test moves by
/// hand): how long since the daemon started, and sleeping until a moment of it.
package struct DaemonClock: Sendable {
    /// Time since the clock was made.
    package let now: @Sendable () -> Duration
    /// Sleeps until `now()` reaches the given moment; throws `CancellationError` when the task is cancelled.
    package let sleep: @Sendable (_ until: Duration) async throws -> Void

    /// ``now`` in seconds.
    package var seconds: Double {
        let moment = now()
        return Double(moment.components.seconds) + Double(moment.components.attoseconds) / 1e18
    }

    package init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        self.now = { origin.duration(to: clock.now) }
        self.sleep = { moment in try await clock.sleep(until: origin.advanced(by: moment), tolerance: nil) }
    }
}
