import QBalloonJSON
import Synchronization

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

    // Hostile monitors: a QEMU taken over by its guest, or something that only pretends to be QEMU.

    /// Every `qom-list` reply also lists this many `child<container>` objects (`flood[0]`, `flood[1]`...).
    public var qomListFlood: Int?
    /// Answer these commands with a valid reply padded past a megabyte (a `padding` member of 2 MiB).
    public var oversizedOn: FakeQMPCommandSet
    /// Answer these commands with a `return` value nested 200 arrays deep.
    public var deepOn: FakeQMPCommandSet
    /// After every reply, send this many `RTC_CHANGE` events at once.
    public var eventFlood: Int?
    /// Report figures that cannot be true.
    public var lie: FakeQMPLie?

    public init(
        noGreeting: Bool = false, closeAfterCommands: Int? = nil, closeOn: FakeQMPCommandSet = .none,
        replyDelay: Double = 0, delayOn: FakeQMPCommandSet = .all, hangOn: FakeQMPCommandSet = .none,
        garbageOn: FakeQMPCommandSet = .none, writeChunkSize: Int? = nil, noBalloonDevice: Bool = false,
        noGuestStats: Bool = false, qomListFlood: Int? = nil, oversizedOn: FakeQMPCommandSet = .none,
        deepOn: FakeQMPCommandSet = .none, eventFlood: Int? = nil, lie: FakeQMPLie? = nil
    ) {
        self.qomListFlood = qomListFlood
        self.oversizedOn = oversizedOn
        self.deepOn = deepOn
        self.eventFlood = eventFlood
        self.lie = lie
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

    /// The bytes of a `qom-list` reply with the flood appended to its entries, when this fault applies: built by
    /// splicing text, as a flood of 200,000 entries would take the fake itself seconds to build as JSON.
    func floodedListing(_ reply: JSON, command name: String?) -> [UInt8]? {
        guard name == "qom-list", let flood = qomListFlood, flood > 0, let entries = reply["return"], entries.arrayValue != nil
        else { return nil }
        var bytes = Array(#"{"return": "#.utf8)
        var listed = entries.encoded()
        listed.removeLast()  // "]"
        if listed.count > 1 { listed.append(UInt8(ascii: ",")) }
        bytes += listed
        bytes += Self.floodEntries(flood)
        bytes += Array(#"], "id": "#.utf8) + (reply["id"] ?? .null).encoded() + [UInt8(ascii: "}")]
        return bytes
    }

    private static let floodCache = Mutex<[Int: [UInt8]]>([:])

    private static func floodEntries(_ count: Int) -> [UInt8] {
        if let cached = floodCache.withLock({ $0[count] }) { return cached }
        var text = ""
        text.reserveCapacity(count * 48)
        for index in 0..<count {
            if index > 0 { text += "," }
            text += #"{"name": "flood["# + String(index) + #"]", "type": "child<container>"}"#
        }
        let bytes = Array(text.utf8)
        floodCache.withLock { $0[count] = bytes }
        return bytes
    }

    /// The reply to command `name` as this monitor sends it: `reply` (a `{"return": ...}` object) tampered
    /// with as the faults say, and how many flood events follow it.
    /// - Parameters:
    ///   - ram: the VM's RAM, for the lies.
    ///   - count: how many commands this connection has run, for lies that grow.
    func tamper(_ reply: JSON, command name: String?, ram: UInt64, count: Int) -> (reply: JSON, events: Int) {
        guard let name, var members = reply.objectValue, let value = members["return"] else { return (reply, 0) }
        var result = value
        if let lie {
            result = lie.apply(to: result, command: name, ram: ram, count: count)
        }
        if deepOn.contains(name) {
            var nested: JSON = result
            for _ in 0..<200 { nested = .array([nested]) }
            result = nested
        }
        members["return"] = result
        if oversizedOn.contains(name) { members["padding"] = .string(String(repeating: "x", count: 2 << 20)) }
        return (.object(members), eventFlood ?? 0)
    }
}

/// Figures a hostile monitor reports that cannot be true.
public enum FakeQMPLie: String, Sendable, Hashable, CaseIterable {
    /// `query-balloon` answers twice the VM's RAM.
    case actualAboveRAM
    /// The guest reports more free memory than its total.
    case freeAboveTotal
    /// The guest reports a total above the VM's RAM.
    case totalAboveRAM
    /// The guest's swap-in counter grows by a hundred times its RAM a command.
    case absurdRates

    func apply(to value: JSON, command: String, ram: UInt64, count: Int) -> JSON {
        switch (self, command) {
        case (.actualAboveRAM, "query-balloon"):
            return ["actual": .unsigned(ram * 2)]
        case (.freeAboveTotal, "qom-get"), (.totalAboveRAM, "qom-get"), (.absurdRates, "qom-get"):
            guard var object = value.objectValue, var stats = object["stats"]?.objectValue else { return value }
            switch self {
            case .freeAboveTotal:
                let total = stats["stat-total-memory"]?.uint64Value ?? ram
                stats["stat-free-memory"] = .unsigned(total + (256 << 20))
            case .totalAboveRAM:
                stats["stat-total-memory"] = .unsigned(ram * 4)
            default:
                stats["stat-swap-in"] = .unsigned(UInt64(count) * ram * 100)
            }
            object["stats"] = .object(stats)
            return .object(object)
        default:
            return value
        }
    }
}
