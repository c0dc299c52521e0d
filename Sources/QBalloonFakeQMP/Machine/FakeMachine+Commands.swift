import QBalloonJSON
import QBalloonQMP

/// A command's result.
struct FakeCommandResult: Sendable {
    var value: JSON
    var events: [JSON] = []
    var closesConnection = false
}

extension FakeMachine {
    /// The commands the fake knows; every other one is `CommandNotFound`.
    static let commandNames: [String] = [
        "qmp_capabilities", "query-version", "query-status", "query-commands", "query-qmp-schema", "quit",
        "query-balloon", "balloon", "query-memory-size-summary", "qom-list", "qom-get", "qom-set",
    ]

    /// Runs command `name` after negotiation.
    mutating func execute(
        _ name: String, arguments: [String: JSON], session: inout FakeQMPSession, now: Double
    ) throws(QMPServerError) -> FakeCommandResult {
        var args = FakeQMPArguments(arguments)
        switch name {
        case "qmp_capabilities":
            return try qmpCapabilities(arguments, session: &session)
        case "query-version":
            try args.finish()
            return FakeCommandResult(value: QEMUIdentity.version)
        case "query-status":
            try args.finish()
            let paused = guest.scenario.startPaused
            return FakeCommandResult(
                value: ["status": paused ? "prelaunch" : "running", "singlestep": false, "running": .bool(!paused)])
        case "query-commands":
            try args.finish()
            return FakeCommandResult(value: .array(Self.commandNames.map { ["name": .string($0)] }))
        case "query-qmp-schema":
            try args.finish()
            return FakeCommandResult(value: Self.schema)
        case "quit":
            try args.finish()
            let shutdown = QEMUIdentity.event("SHUTDOWN", data: ["guest": false, "reason": "host-qmp-quit"], at: now)
            return FakeCommandResult(value: [:], events: [shutdown], closesConnection: true)
        case "query-balloon":
            try args.finish()
            guard hasBalloon else { throw QMPServerError.noBalloon }
            advance(to: now)
            return FakeCommandResult(value: ["actual": .unsigned(guest.actual)])
        case "balloon":
            let value = try args.integer("value")
            try args.finish()
            guard hasBalloon else { throw QMPServerError.noBalloon }
            guard value > 0 else { throw QMPServerError.generic("Parameter 'target' expects a size") }
            guest.setTarget(value, at: now)
            balloonTargetChanged(now: now)
            return FakeCommandResult(value: [:])
        case "query-memory-size-summary":
            try args.finish()
            return FakeCommandResult(value: ["base-memory": .unsigned(guest.scenario.ram), "plugged-memory": 0])
        case "qom-list":
            let path = try args.string("path")
            try args.finish()
            return FakeCommandResult(value: try qomList(path))
        case "qom-get":
            let path = try args.string("path")
            let property = try args.string("property")
            try args.finish()
            return FakeCommandResult(value: try qomGet(path, property: property, now: now))
        case "qom-set":
            let path = try args.string("path")
            let property = try args.string("property")
            let value = try args.any("value")
            try args.finish()
            try qomSet(path, property: property, value: value, now: now)
            return FakeCommandResult(value: [:])
        default:
            throw QMPServerError.commandNotFound(name)
        }
    }

    /// `qmp_capabilities`, before or after negotiation.
    mutating func qmpCapabilities(
        _ arguments: [String: JSON], session: inout FakeQMPSession
    ) throws(QMPServerError) -> FakeCommandResult {
        var args = FakeQMPArguments(arguments)
        var outOfBand = false
        if let enable = args.optional("enable") {
            guard let items = enable.arrayValue else { throw FakeQMPArguments.wrongType("enable", "array") }
            for (index, item) in items.enumerated() {
                guard let capability = item.stringValue else {
                    throw FakeQMPArguments.wrongType("enable[\(index)]", "string")
                }
                // QEMU 7.2 really names the list element 'null' here.
                guard capability == "oob" else {
                    throw QMPServerError.generic("Parameter 'null' does not accept value '\(capability)'")
                }
                outOfBand = true
            }
        }
        try args.finish()
        guard !session.negotiated else {
            throw QMPServerError(
                errorClass: "CommandNotFound", desc: "Capabilities negotiation is already complete, command ignored")
        }
        session.negotiated = true
        session.outOfBand = outOfBand
        return FakeCommandResult(value: [:])
    }

    /// A small stand-in for QEMU's schema (the real one is 186 KB): the commands above and the two events,
    /// with shapes a schema reader accepts.
    private static let schema: JSON = {
        var entries: [JSON] = commandNames.map {
            ["name": .string($0), "meta-type": "command", "arg-type": "0", "ret-type": "any"]
        }
        entries.append(["name": "SHUTDOWN", "meta-type": "event", "arg-type": "0"])
        entries.append(["name": "BALLOON_CHANGE", "meta-type": "event", "arg-type": "0"])
        entries.append(["name": "0", "meta-type": "object", "members": []])
        entries.append(["name": "any", "meta-type": "builtin", "json-type": "value"])
        return .array(entries)
    }()
}
