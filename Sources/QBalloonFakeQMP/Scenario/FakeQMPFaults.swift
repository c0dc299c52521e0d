/// Ways the fake monitor misbehaves on purpose, to test how a client copes.
///
/// Faults about replies (`close`, `delay`, `hang`, `garbage`) are decided per command by name; a command
/// that is not an object with `execute` has no name and gets none of them.
///
/// ```swift
/// var faults = FakeQMPFaults()
/// faults.hangOn = .only(["query-balloon"])   // query-balloon is never answered
/// ```
public struct FakeQMPFaults: Sendable, Hashable {
    /// Send no greeting: the client waits for one in vain.
    public var noGreeting: Bool
    /// Answer this many commands (counting `qmp_capabilities`), then close the connection when the next
    /// one arrives, without answering it.
    public var closeAfterCommands: Int?
    /// Close the connection, without answering, when one of these commands arrives.
    public var closeOn: FakeQMPCommandSet
    /// Seconds to wait before answering the commands in ``delayOn``. Replies stay in order, so the ones after a
    /// delayed reply wait too, as with QEMU, which runs one command at a time.
    public var replyDelay: Double
    /// The commands ``replyDelay`` applies to.
    public var delayOn: FakeQMPCommandSet
    /// Never answer these commands; replies to later commands wait behind them forever.
    public var hangOn: FakeQMPCommandSet
    /// Answer these commands with bytes that are not JSON.
    public var garbageOn: FakeQMPCommandSet
    /// Write everything (greeting, replies, events) in pieces of at most this many bytes, one write each.
    public var writeChunkSize: Int?
    /// The VM has no balloon device (`balloon` and `query-balloon` fail with `DeviceNotActive`).
    public var noBalloonDevice: Bool
    /// The guest never reports statistics: they stay all-ones and `last-update` stays 0.
    public var noGuestStats: Bool

    public init(
        noGreeting: Bool = false, closeAfterCommands: Int? = nil, closeOn: FakeQMPCommandSet = .none,
        replyDelay: Double = 0, delayOn: FakeQMPCommandSet = .all, hangOn: FakeQMPCommandSet = .none,
        garbageOn: FakeQMPCommandSet = .none, writeChunkSize: Int? = nil, noBalloonDevice: Bool = false,
        noGuestStats: Bool = false
    ) {
        self.noGreeting = noGreeting
        self.closeAfterCommands = closeAfterCommands
        self.closeOn = closeOn
        self.replyDelay = replyDelay
        self.delayOn = delayOn
        self.hangOn = hangOn
        self.garbageOn = garbageOn
        self.writeChunkSize = writeChunkSize
        self.noBalloonDevice = noBalloonDevice
        self.noGuestStats = noGuestStats
    }

    /// A well-behaved monitor.
    public static let none = FakeQMPFaults()
}
