/// Why a libvirt operation failed. Every description names the connection's URI and, when there is one, the
/// domain, then libvirt's own message: `qemu:///system domain web: Domain not found: no domain with matching name 'web'`.
public struct LibvirtError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable { case connect, noDomain, noBalloon, noStats, call, badReply, closed, timeout }
        let base: Base
        /// The connection could not be opened (a bad URI, no daemon, no permission).
        public static let connect = Code(base: .connect)
        /// No domain of that name on this connection.
        public static let noDomain = Code(base: .noDomain)
        /// The domain has no balloon (`<memballoon model='none'/>`).
        public static let noBalloon = Code(base: .noBalloon)
        /// The guest does not report memory statistics (no driver, or polling never produced a sample).
        public static let noStats = Code(base: .noStats)
        /// A libvirt call failed.
        public static let call = Code(base: .call)
        /// libvirt answered with something qballoon cannot use.
        public static let badReply = Code(base: .badReply)
        /// libvirt did not answer within the connection's call timeout.
        public static let timeout = Code(base: .timeout)
        /// The connection was closed before the call.
        public static let closed = Code(base: .closed)
        public var description: String {
            switch base {
            case .connect: "connect"
            case .noDomain: "noDomain"
            case .noBalloon: "noBalloon"
            case .noStats: "noStats"
            case .call: "call"
            case .badReply: "badReply"
            case .closed: "closed"
            case .timeout: "timeout"
            }
        }
    }

    public let code: Code
    public let uri: String
    public let domain: String?
    /// What failed and why, with libvirt's message when it gave one.
    public let detail: String

    public init(code: Code, uri: String, domain: String? = nil, detail: String) {
        self.code = code
        self.uri = uri
        self.domain = domain
        self.detail = detail
    }

    public var description: String {
        (domain.map { "\(uri) domain \($0)" } ?? uri) + ": " + detail
    }
}
