import QBalloon
import QBalloonRules

/// What one decision round saw and did, for live displays (the demo's table) and tests.
public struct RoundReport: Sendable {
    public struct Row: Sendable {
        public var vm: String
        public var health: VMHealth
        public var actual: UInt64?
        public var target: UInt64?
        public var max: UInt64?
        public var available: UInt64?
        public var pressured: Bool
        /// The rule (or safety reason) behind the last change sent to this VM.
        public var lastReason: String?
    }

    public var time: Double
    public var rows: [Row]
    /// Every decision of the round that changes a balloon.
    public var changes: [Decision]
    public var host: HostSample
    public var dryRun: Bool
}
