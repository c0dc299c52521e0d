import QBalloonCore
import QBalloonJSON

/// Why a balloon operation failed. Every description names the monitor socket.
public struct BalloonError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable { case noDevice, noStats, badReply, badTarget }
        let base: Base
        /// The VM has no virtio-balloon device.
        public static let noDevice = Code(base: .noDevice)
        /// The guest does not report memory statistics (no driver, or polling never produced a sample).
        public static let noStats = Code(base: .noStats)
        /// QEMU answered with something of the wrong shape.
        public static let badReply = Code(base: .badReply)
        /// The requested target cannot be used.
        public static let badTarget = Code(base: .badTarget)
        public var description: String {
            switch base {
            case .noDevice: return "noDevice"
            case .noStats: return "noStats"
            case .badReply: return "badReply"
            case .badTarget: return "badTarget"
            }
        }
    }

    public let code: Code
    public let address: String
    public let detail: String

    public init(code: Code, address: String, detail: String) {
        self.code = code
        self.address = address
        self.detail = detail
    }

    public var description: String { "\(address): \(detail)" }

    /// A reply as an error message shows it: its first 200 bytes, and how long it was if longer.
    public static func excerpt(_ value: JSON) -> String {
        // Members in key order: the same reply reads the same in every error (a dictionary's order varies).
        PeerText.excerpt(value.encodedString(sortedKeys: true), limit: 200)
    }
}
