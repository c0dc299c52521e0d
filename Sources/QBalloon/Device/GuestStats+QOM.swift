import QBalloonCore
import QBalloonJSON

extension GuestStats {
    /// The most statistics one `guest-stats` reply may hold.
    public static let maxStatistics = 64

    /// Reads the value of `qom-get ... property=guest-stats`: `{"stats": {"stat-...": N, ...}, "last-update": T}`.
    /// - Throws: ``BalloonError`` with code `badReply` when the shape is not QEMU's.
    public init(qomValue value: JSON, address: @autoclosure () -> String) throws(BalloonError) {
        guard let stats = value["stats"]?.objectValue else {
            throw BalloonError(
                code: .badReply, address: address(), detail: "guest-stats reply has no 'stats' object: \(BalloonError.excerpt(value))")
        }
        guard let lastUpdate = value["last-update"]?.int64Value ?? value["last-update"]?.uint64Value.map({ Int64(clamping: $0) }) else {
            throw BalloonError(
                code: .badReply, address: address(), detail: "guest-stats reply has no integer 'last-update': \(BalloonError.excerpt(value))")
        }
        // QEMU 7–9 send 10 to 12 statistics; a monitor that sends thousands is not QEMU.
        guard stats.count <= Self.maxStatistics else {
            throw BalloonError(
                code: .badReply, address: address(),
                detail: "guest-stats reply has \(stats.count) statistics (QEMU sends about a dozen; limit \(Self.maxStatistics))")
        }
        self.init(qemuNames: [:], lastUpdate: lastUpdate)
        // In name order: of several bad values, the error names the same one every time.
        for (name, stat) in stats.sorted(by: { $0.key < $1.key }) {
            guard let number = stat.uint64Value else {
                throw BalloonError(
                    code: .badReply, address: address(),
                    detail: "guest-stats value '\(name)' is \(stat.typeName), expected an unsigned integer")
            }
            record(name, number)
        }
    }

    /// Reads the same value as ``init(qomValue:address:)``, in place in jansson's tree: what a poll decodes, with no
    /// ``JSON`` tree built for it. The same figures, and for a reply of another shape the same error (it is read
    /// as a tree then, and that says what is wrong).
    public init(qomNode node: JSONNode, address: @autoclosure () -> String) throws(BalloonError) {
        if let stats = node["stats"], stats.isObject, stats.count <= Self.maxStatistics, let seconds = node["last-update"],
            let lastUpdate = seconds.int64Value ?? seconds.uint64Value.map({ Int64(clamping: $0) })
        {
            var read = GuestStats(qemuNames: [:], lastUpdate: lastUpdate)
            var allNumbers = true
            stats.forEachMember { name, stat in
                guard allNumbers, let number = stat.uint64Value else {
                    allNumbers = false
                    return
                }
                read.record(utf8Name: name, number)
            }
            if allNumbers {
                self = read
                return
            }
        }
        try self.init(qomValue: node.json, address: address())
    }
}
