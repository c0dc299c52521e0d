import QBalloonJSON

/// QEMU's version, from the greeting or `query-version`.
public struct QEMUVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var micro: Int
    /// The distribution's package string, e.g. `Debian 1:7.2+dfsg-7+deb12u7`.
    public var package: String

    public init(major: Int, minor: Int, micro: Int, package: String = "") {
        self.major = major
        self.minor = minor
        self.micro = micro
        self.package = package
    }

    public var description: String {
        let package = self.package.trimmingSpaces
        return package.isEmpty ? "\(major).\(minor).\(micro)" : "\(major).\(minor).\(micro) (\(package))"
    }
}

/// The first message a QMP server sends.
public struct QMPGreeting: Sendable, Hashable {
    public var version: QEMUVersion
    /// Capabilities the server offers, e.g. `["oob"]`.
    public var capabilities: [String]

    public init(version: QEMUVersion, capabilities: [String]) {
        self.version = version
        self.capabilities = capabilities
    }
}

/// An asynchronous event, such as `BALLOON_CHANGE` or `SHUTDOWN`.
public struct QMPEvent: Sendable, Hashable {
    public var name: String
    /// The event's `data` member, `.null` when it has none.
    public var data: JSON
    /// QEMU's timestamp, in seconds since the Unix epoch.
    public var timestamp: Double

    public init(name: String, data: JSON, timestamp: Double) {
        self.name = name
        self.data = data
        self.timestamp = timestamp
    }
}

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

/// A command to send: `{"execute": NAME, "arguments": {...}, "id": ID}`.
package struct QMPCommand: Sendable, Hashable {
    package var name: String
    package var arguments: [String: JSON]?

    package init(_ name: String, arguments: [String: JSON]? = nil) {
        self.name = name
        self.arguments = arguments
    }

    /// The wire form with `id`, ending in a newline.
    package func encoded(id: Int) -> [UInt8] {
        // Written by hand around jansson: this runs for every command, and a dictionary plus a jansson
        // tree for `{"execute": NAME, "id": N}` costs more than the few bytes it produces.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(40 + name.utf8.count)
        bytes.append(contentsOf: #"{"execute":"#.utf8)
        if name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: name.utf8)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: JSON.string(name).encoded())
        }
        if let arguments {
            bytes.append(contentsOf: #","arguments":"#.utf8)
            bytes.append(contentsOf: JSON.object(arguments).encoded())
        }
        bytes.append(contentsOf: #","id":"#.utf8)
        bytes.append(contentsOf: String(id).utf8)
        bytes.append(contentsOf: "}\n".utf8)
        return bytes
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        var text = self[...]
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
