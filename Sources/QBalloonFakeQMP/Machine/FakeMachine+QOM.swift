import QBalloonJSON
import QBalloonQMP

extension FakeMachine {
    /// `qom-list`: the object's properties with their types.
    func qomList(_ path: String) throws(QMPServerError) -> JSON {
        switch qom.resolve(path) {
        case .found(let node):
            return .array(node.properties.map { ["name": .string($0.name), "type": .string($0.type)] })
        case .notFound:
            throw QMPServerError.deviceNotFound(path)
        case .ambiguous:
            throw QMPServerError.generic("Path '\(path)' is ambiguous")
        }
    }

    /// `qom-get`. The balloon's two properties are live; others read as their type's default.
    mutating func qomGet(_ path: String, property name: String, now: Double) throws(QMPServerError) -> JSON {
        // Unlike qom-list, qom-get and qom-set report an ambiguous path as not found.
        guard case .found(let node) = qom.resolve(path) else { throw QMPServerError.deviceNotFound(path) }
        guard let property = node.property(named: name) else {
            throw QMPServerError.generic("Property '\(node.typeName).\(name)' not found")
        }
        switch (node.role, property.name) {
        case (_, "type"):
            return .string(node.typeName)
        case (.balloonProxy, "guest-stats"), (.balloonBackend, "guest-stats"):
            advance(to: now)
            return guest.stats.json
        case (.balloonProxy, "guest-stats-polling-interval"), (.balloonBackend, "guest-stats-polling-interval"):
            advance(to: now)
            return .int(guest.pollingInterval)
        case (.balloonProxy, "deflate-on-oom"), (.balloonBackend, "deflate-on-oom"):
            return .bool(guest.scenario.balloon.deflateOnOOM)
        case (.balloonProxy, "free-page-reporting"), (.balloonBackend, "free-page-reporting"):
            return .bool(guest.scenario.balloon.freePageReporting)
        default:
            return Self.defaultValue(of: property, in: node)
        }
    }

    /// `qom-set`. Only `guest-stats-polling-interval` can be set.
    mutating func qomSet(_ path: String, property name: String, value: JSON, now: Double) throws(QMPServerError) {
        guard case .found(let node) = qom.resolve(path) else { throw QMPServerError.deviceNotFound(path) }
        guard let property = node.property(named: name) else {
            throw QMPServerError.generic("Property '\(node.typeName).\(name)' not found")
        }
        let isBalloon = node.role == .balloonProxy || node.role == .balloonBackend
        switch property.name {
        case "guest-stats-polling-interval" where isBalloon:
            guard let seconds = value.int64Value else {
                throw FakeQMPArguments.wrongType("guest-stats-polling-interval", "integer")
            }
            guard seconds >= 0 else { throw QMPServerError.generic("timer value must be greater than zero") }
            guard seconds <= Int64(UInt32.max) else { throw QMPServerError.generic("timer value is too big") }
            guest.setPollingInterval(seconds, at: now)
        case "guest-stats" where isBalloon:
            // The PCI device only aliases the property; QEMU names the real owner.
            throw QMPServerError.generic("Property 'virtio-balloon-device.guest-stats' is not writable")
        default:
            // The fake does not model setting any other property.
            throw QMPServerError.generic("Property '\(node.typeName).\(name)' is not writable")
        }
    }

    private static func defaultValue(of property: FakeQOMTree.Property, in node: FakeQOMTree.Node) -> JSON {
        let type = property.type
        if type.hasPrefix("child<") { return .string(node.path + "/" + property.name) }
        if type.hasPrefix("link<") { return .string("") }
        switch type {
        case "bool": return false
        case "str", "string": return ""
        case "int", "int32", "uint32", "uint64_t", "size": return 0
        case "OnOffAuto": return "auto"
        default: return [:]
        }
    }
}
