import QBalloonJSON

/// An error QEMU answered a command with: its class (`GenericError`, `DeviceNotActive`, ...) and description.
///
/// It reaches a caller inside a ``QMPError`` with code ``QMPError/Code/commandFailed``:
///
/// ```swift
/// do {
///     _ = try await client.execute("query-balloon")
/// } catch let error as QMPError where error.serverError?.errorClass == "DeviceNotActive" {
///     print("this VM has no balloon device")
/// }
/// ```
public struct QMPServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// QEMU's error class, such as `GenericError`, `CommandNotFound`, `DeviceNotActive`, `DeviceNotFound`.
    public let errorClass: String
    /// QEMU's human-readable description.
    public let desc: String

    public init(errorClass: String, desc: String) {
        self.errorClass = errorClass
        self.desc = desc
    }

    public var description: String { "\(errorClass): \(desc)" }
}

/// Why a QMP operation failed. Every description names the monitor socket, and the command when the error
/// belongs to one: `unix:/run/qemu/db.qmp: query-balloon: no reply within 10s`.
///
/// ```swift
/// do {
///     _ = try await client.execute("balloon", arguments: ["value": .int(1 << 30)], timeout: .seconds(2))
/// } catch let error as QMPError {
///     switch error.code {
///     case .commandFailed: print("QEMU said no:", error.serverError?.desc ?? "")
///     case .timeout: print("QEMU is slow:", error)
///     default: print(error)   // the connection is gone or QEMU spoke no QMP; connect again
///     }
/// }
/// ```
public struct QMPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure: compare with the static members (`error.code == .timeout`). New codes may be
    /// added, so a `switch` over them needs a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable {
            case connectFailed, noGreeting, negotiationFailed, commandFailed, timeout, connectionClosed
            case protocolViolation, badReply, tooManyPending
        }
        let base: Base
        /// The socket could not be reached (missing, refused, no permission).
        public static let connectFailed = Code(base: .connectFailed)
        /// The socket accepted but QEMU sent no greeting in time (another client may hold the monitor).
        public static let noGreeting = Code(base: .noGreeting)
        /// `qmp_capabilities` was refused.
        public static let negotiationFailed = Code(base: .negotiationFailed)
        /// QEMU answered the command with an error; see ``QMPError/serverError``.
        public static let commandFailed = Code(base: .commandFailed)
        /// No reply came within the command's timeout.
        public static let timeout = Code(base: .timeout)
        /// The connection closed before the reply came.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The peer sent something QMP does not allow (not JSON, an unexpected message).
        public static let protocolViolation = Code(base: .protocolViolation)
        /// A reply arrived but its content is not what the command returns.
        public static let badReply = Code(base: .badReply)
        /// The client already waits for ``QMPClient/Options/maxPendingCommands`` replies (a monitor that answers
        /// nothing, or a caller that sends without waiting): the command was not sent.
        public static let tooManyPending = Code(base: .tooManyPending)

        public var description: String {
            switch base {
            case .connectFailed: return "connectFailed"
            case .noGreeting: return "noGreeting"
            case .negotiationFailed: return "negotiationFailed"
            case .commandFailed: return "commandFailed"
            case .timeout: return "timeout"
            case .connectionClosed: return "connectionClosed"
            case .protocolViolation: return "protocolViolation"
            case .badReply: return "badReply"
            case .tooManyPending: return "tooManyPending"
            }
        }
    }

    /// What kind of failure.
    public let code: Code
    /// The monitor the error happened on, as the user wrote it.
    public var address: String
    /// The command that failed, when the error belongs to one.
    public var command: String?
    /// QEMU's class and description, for ``Code/commandFailed`` and ``Code/negotiationFailed``.
    public var serverError: QMPServerError?
    /// More words on what happened.
    public var detail: String

    public init(code: Code, address: String, command: String? = nil, serverError: QMPServerError? = nil, detail: String) {
        self.code = code
        self.address = address
        self.command = command
        self.serverError = serverError
        self.detail = detail
    }

    /// `ADDRESS: COMMAND: DETAIL (QEMU said CLASS: DESC)`, leaving out what the error does not have.
    public var description: String {
        var text = "\(address): "
        if let command { text += "\(command): " }
        text += detail
        if let serverError { text += " (QEMU said \(serverError.errorClass): \(serverError.desc))" }
        return text
    }
}
