import QBalloonJSON
import QBalloonQMP

/// A command's arguments, checked the way QEMU's QAPI input visitor checks them: members are visited in
/// the schema's order (the first missing or wrongly typed one is reported), then any member left over is
/// "unexpected".
struct FakeQMPArguments {
    private let members: [String: JSON]
    private var visited: Set<String> = []

    init(_ members: [String: JSON]) {
        self.members = members
    }

    /// A required `int` member.
    mutating func integer(_ name: String) throws(QMPServerError) -> Int64 {
        let value = try required(name)
        guard let number = value.int64Value else { throw Self.wrongType(name, "integer") }
        return number
    }

    /// A required `str` member.
    mutating func string(_ name: String) throws(QMPServerError) -> String {
        let value = try required(name)
        guard let text = value.stringValue else { throw Self.wrongType(name, "string") }
        return text
    }

    /// A required member of type `any`.
    mutating func any(_ name: String) throws(QMPServerError) -> JSON {
        try required(name)
    }

    /// An optional member, unchecked.
    mutating func optional(_ name: String) -> JSON? {
        visited.insert(name)
        return members[name]
    }

    /// Fails on a member the command does not take.
    func finish() throws(QMPServerError) {
        for name in members.keys.sorted() where !visited.contains(name) {
            throw QMPServerError.generic("Parameter '\(name)' is unexpected")
        }
    }

    static func wrongType(_ name: String, _ expected: String) -> QMPServerError {
        .generic("Invalid parameter type for '\(name)', expected: \(expected)")
    }

    private mutating func required(_ name: String) throws(QMPServerError) -> JSON {
        visited.insert(name)
        guard let value = members[name] else { throw QMPServerError.generic("Parameter '\(name)' is missing") }
        return value
    }
}
