import QBalloonRules

/// What one decision round saw and did, for live displays (the demo's table) and tests.
public struct RoundReport: Sendable {
    public struct Row: Sendable {
        public var vm: String
        public var status: VMStatus
        public var actual: UInt64?
        /// The last target the VM accepted.
        public var target: UInt64?
        /// The VM's RAM.
        public var max: UInt64?
        public var available: UInt64?
        /// Whether the VM's pressure condition held this round.
        public var pressured: Bool
        /// The rule (or safety reason) behind the last change sent to this VM.
        public var lastReason: String?
    }

    /// Wall-clock time of the round, in Unix seconds.
    public var time: Double
    public var rows: [Row]
    /// Every decision of the round that changes a balloon.
    public var changes: [Decision]
    public var host: HostSample
    public var dryRun: Bool

    /// The row of one VM.
    public func row(_ vm: String) -> Row? { rows.first { $0.vm == vm } }
}
