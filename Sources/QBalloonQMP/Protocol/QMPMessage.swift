import QBalloonJSON

/// One message from a QMP server.
package enum QMPMessage: Sendable, Hashable {
    case greeting(QMPGreeting)
    /// A successful reply: its `id` (`nil` when the command had none) and its `return` value.
    case success(id: JSON?, value: JSON)
    /// An error reply; QEMU answers unparseable input with one that has no `id`.
    case failure(id: JSON?, error: QMPServerError)
    case event(QMPEvent)

    /// Reads a decoded JSON object as a QMP message.
    /// - Throws: a description of what is missing, when the object is no QMP message.
    package init(_ json: JSON) throws(QMPMessageError) {
        guard case .object(let members) = json else {
            throw QMPMessageError("expected a JSON object, got \(json.typeName)")
        }
        if let value = members["return"] {
            self = .success(id: members["id"], value: value)
        } else if let error = members["error"] {
            guard let errorClass = error["class"]?.stringValue, let desc = error["desc"]?.stringValue else {
                throw QMPMessageError("an error reply without 'class' and 'desc' strings: \(json)")
            }
            self = .failure(id: members["id"], error: QMPServerError(errorClass: errorClass, desc: desc))
        } else if let name = members["event"] {
            guard let name = name.stringValue else { throw QMPMessageError("an event whose name is not a string") }
            let seconds = members["timestamp"]?["seconds"]?.doubleValue ?? 0
            let micros = members["timestamp"]?["microseconds"]?.doubleValue ?? 0
            self = .event(QMPEvent(name: name, data: members["data"] ?? .null, timestamp: seconds + micros / 1e6))
        } else if let qmp = members["QMP"] {
            let version = qmp["version"]?["qemu"]
            self = .greeting(
                QMPGreeting(
                    version: QEMUVersion(
                        major: Int(version?["major"]?.int64Value ?? 0),
                        minor: Int(version?["minor"]?.int64Value ?? 0),
                        micro: Int(version?["micro"]?.int64Value ?? 0),
                        package: qmp["version"]?["package"]?.stringValue ?? ""),
                    capabilities: qmp["capabilities"]?.arrayValue?.compactMap(\.stringValue) ?? []))
        } else {
            throw QMPMessageError("an object that is no reply, event or greeting: \(json)")
        }
    }
}

/// A JSON object that is not a QMP message.
package struct QMPMessageError: Error, Sendable, Hashable, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}
