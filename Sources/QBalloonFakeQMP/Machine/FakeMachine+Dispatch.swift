import QBalloonJSON
import QBalloonQMP

/// What answering one input produced.
struct FakeQMPOutcome: Sendable {
    /// The command's name, when the input named one (faults are chosen by it).
    var command: String?
    /// Events to send before the reply (`SHUTDOWN` for `quit`).
    var events: [JSON] = []
    var reply: JSON
    /// Close the connection after the reply (`quit`).
    var closesConnection = false
}

extension FakeMachine {
    /// Answers one decoded input as QEMU's `qmp_dispatch` and monitor do: input checks, capability
    /// negotiation, the command table, argument checks, and the id echoed verbatim.
    mutating func handle(_ request: JSON, session: inout FakeQMPSession, now: Double) -> FakeQMPOutcome {
        guard case .object(let members) = request else {
            return FakeQMPOutcome(reply: Self.errorReply(.generic("QMP input must be a JSON object"), id: nil))
        }
        let id = members["id"]
        let name = members["execute"]?.stringValue ?? members["exec-oob"]?.stringValue
        var outcome = FakeQMPOutcome(command: name, reply: .null)
        do {
            let command = try Self.checkInput(members, outOfBand: session.outOfBand && session.negotiated)
            let arguments = members["arguments"]?.objectValue ?? [:]
            let result = try run(
                command.name, outOfBand: command.outOfBand, arguments: arguments, session: &session, now: now)
            outcome.events = result.events
            outcome.closesConnection = result.closesConnection
            outcome.reply = Self.successReply(result.value, id: id)
        } catch {
            outcome.reply = Self.errorReply(error, id: id)
        }
        return outcome
    }

    /// QEMU's `qmp_dispatch_check_obj`: only `execute` (or `exec-oob` with OOB on), `arguments` and `id`.
    private static func checkInput(
        _ members: [String: JSON], outOfBand: Bool
    ) throws(QMPServerError) -> (name: String, outOfBand: Bool) {
        var commandKey: String?
        for key in members.keys.sorted() {
            let value = members[key]!
            switch key {
            case "execute", "exec-oob":
                // `exec-oob` is a member only once the client enabled OOB.
                guard key == "execute" || outOfBand else {
                    throw QMPServerError.generic("QMP input member '\(key)' is unexpected")
                }
                guard value.stringValue != nil else {
                    throw QMPServerError.generic("QMP input member '\(key)' must be a string")
                }
                if let commandKey {
                    throw QMPServerError.generic("QMP input member '\(key)' clashes with '\(commandKey)'")
                }
                commandKey = key
            case "arguments":
                guard value.objectValue != nil else {
                    throw QMPServerError.generic("QMP input member 'arguments' must be an object")
                }
            case "id":
                continue
            default:
                throw QMPServerError.generic("QMP input member '\(key)' is unexpected")
            }
        }
        guard let commandKey, let name = members[commandKey]?.stringValue else {
            throw QMPServerError.generic("QMP input lacks member 'execute'")
        }
        return (name, commandKey == "exec-oob")
    }

    private mutating func run(
        _ name: String, outOfBand: Bool, arguments: [String: JSON], session: inout FakeQMPSession, now: Double
    ) throws(QMPServerError) -> FakeCommandResult {
        guard session.negotiated else {
            // Before negotiation the table holds only qmp_capabilities, and QEMU rewords "not found".
            guard name == "qmp_capabilities" else {
                throw QMPServerError(
                    errorClass: "CommandNotFound", desc: "Expecting capabilities negotiation with 'qmp_capabilities'")
            }
            return try qmpCapabilities(arguments, session: &session)
        }
        guard Self.commandNames.contains(name) else { throw QMPServerError.commandNotFound(name) }
        if outOfBand { throw QMPServerError.generic("The command \(name) does not support OOB") }
        return try execute(name, arguments: arguments, session: &session, now: now)
    }

    static func successReply(_ value: JSON, id: JSON?) -> JSON {
        var members: [String: JSON] = ["return": value]
        if let id { members["id"] = id }
        return .object(members)
    }

    static func errorReply(_ error: QMPServerError, id: JSON?) -> JSON {
        var members: [String: JSON] = ["error": ["class": .string(error.errorClass), "desc": .string(error.desc)]]
        if let id { members["id"] = id }
        return .object(members)
    }
}
