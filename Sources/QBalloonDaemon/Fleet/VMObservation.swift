import QBalloon
import QBalloonQMP

/// What the daemon last saw of one VM.
public struct VMObservation: Sendable {
    public var name: String
    public var address: QMPAddress
    public var health: VMHealth
    /// The balloon's current size.
    public var actual: UInt64?
    /// The VM's RAM (base plus hot-plugged).
    public var maxBytes: UInt64?
    /// The guest's last statistics; their age is `now - stats.lastUpdate`.
    public var stats: GuestStats?
    /// When this observation was made, in Unix seconds.
    public var observedAt: Double
    /// The last target the daemon sent, if any.
    public var lastTarget: UInt64?
    /// Reconnects since the daemon started.
    public var reconnects: Int
    /// QMP errors since the daemon started.
    public var errors: Int

    public init(name: String, address: QMPAddress) {
        self.name = name
        self.address = address
        self.health = .connecting
        self.observedAt = 0
        self.reconnects = 0
        self.errors = 0
    }
}
