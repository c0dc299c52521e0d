import QBalloonJSON

/// QEMU's rate limit for `BALLOON_CHANGE` (`monitor_qapi_event_queue`): at most one event per second. The
/// first goes out at once; one that comes sooner waits for the second to end, replacing any older one still
/// waiting, so the last value always arrives. Events keep the time they were raised as their timestamp.
struct BalloonEventLimiter: Sendable {
    static let period = 1.0

    /// While set, events wait until this time.
    private(set) var deadline: Double?
    private var pending: JSON?

    /// An event was raised at `now`: returns it if it may go out now, else keeps it for ``deadline``.
    mutating func raise(_ event: JSON, now: Double) -> JSON? {
        if deadline != nil {
            pending = event
            return nil
        }
        deadline = now + Self.period
        return event
    }

    /// The timer: at or after ``deadline``, returns the waiting event (and waits another period) or ends
    /// the limit.
    mutating func fire(now: Double) -> JSON? {
        guard let deadline, now >= deadline else { return nil }
        guard let event = pending else {
            self.deadline = nil
            return nil
        }
        pending = nil
        self.deadline = now + Self.period
        return event
    }
}
