import QBalloonJSON

/// A fake VM as its monitor sees it: the guest, its balloon device and QOM tree, and the `BALLOON_CHANGE`
/// events its balloon raises. A plain value driven by the times it is given; the server owns one per VM.
///
/// Events are found lazily: nothing ticks; the server asks ``dueEvents(now:)`` at ``nextWakeup()`` (or a
/// test calls it after moving a manual clock). While nobody listens (no negotiated client) it needs no
/// wake-ups at all.
struct FakeMachine: Sendable {
    /// The guest reacts to a `balloon` command this long after it, like a real driver.
    static let reactionDelay = 0.05

    var guest: FakeGuest
    let qom: FakeQOMTree
    private var limiter = BalloonEventLimiter()
    private var lastRaisedActual: UInt64
    /// Some client has negotiated and gets events.
    private(set) var isListening = false
    private var reactionAt: Double?
    private var lastSample: Double

    /// A VM that starts at `startTime`.
    init(scenario: FakeGuestScenario, faults: FakeQMPFaults, startTime: Double) {
        self.guest = FakeGuest(scenario: scenario, startTime: startTime, reportsStats: !faults.noGuestStats)
        let placement: FakeQOMTree.Placement
        if faults.noBalloonDevice {
            placement = .none
        } else if let id = scenario.balloon.id {
            placement = .withID(id)
        } else {
            placement = .anonymous
        }
        self.qom = FakeQOMTree(placement: placement)
        self.lastRaisedActual = guest.actual
        self.lastSample = startTime
    }

    var hasBalloon: Bool { qom.balloonPath != nil }

    /// Catches the guest up to `now`.
    mutating func advance(to now: Double) {
        guest.advance(to: now)
    }

    // MARK: Events

    /// Whether a negotiated client is connected. Events raised while nobody listens are dropped, as QEMU
    /// drops them for monitors that have not negotiated.
    mutating func setListening(_ listening: Bool, now: Double) {
        guard listening != isListening else { return }
        advance(to: now)
        isListening = listening
        lastRaisedActual = guest.actual
        lastSample = now
        if !listening {
            limiter = BalloonEventLimiter()
            reactionAt = nil
        }
    }

    /// The guest was just asked to move its balloon.
    mutating func balloonTargetChanged(now: Double) {
        if isListening { reactionAt = now + Self.reactionDelay }
    }

    /// The events due by `now`, in order.
    mutating func dueEvents(now: Double) -> [JSON] {
        guard hasBalloon else { return [] }
        advance(to: now)
        lastSample = now
        if let reaction = reactionAt, now >= reaction { reactionAt = nil }
        var events: [JSON] = []
        if isListening {
            let actual = guest.actual
            if actual != lastRaisedActual {
                lastRaisedActual = actual
                let event = QEMUIdentity.event(
                    "BALLOON_CHANGE", data: ["actual": .unsigned(actual)], at: min(now, guest.lastActualChange))
                if let ready = limiter.raise(event, now: now) { events.append(ready) }
            }
        }
        if let ready = limiter.fire(now: now) { events.append(ready) }
        return events
    }

    /// When ``dueEvents(now:)`` should next be asked, or `nil` when nothing can happen until a command.
    func nextWakeup() -> Double? {
        var wake = limiter.deadline
        guard hasBalloon, isListening else { return wake }
        func earliest(_ time: Double) { wake = min(wake ?? time, time) }
        if let reactionAt { earliest(reactionAt) }
        // Moving, or stalled and waiting for the guest to free memory: look once a second.
        if !guest.isBalloonSettled { earliest(lastSample + BalloonEventLimiter.period) }
        return wake
    }
}
