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
        for (name, stat) in stats {
            guard let number = stat.uint64Value else {
                throw BalloonError(
                    code: .badReply, address: address(),
                    detail: "guest-stats value '\(name)' is \(stat.typeName), expected an unsigned integer")
            }
            record(name, number)
        }
    }
}
