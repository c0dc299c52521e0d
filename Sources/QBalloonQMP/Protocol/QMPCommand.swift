import QBalloonJSON

/// A command to send: `{"execute": NAME, "arguments": {...}, "id": ID}`.
///
/// The wire form up to the id is made when the command is: a command kept and sent again (a poll's `qom-get`) is
/// encoded once, and each send only writes its id.
package struct QMPCommand: Sendable, Hashable {
    package var name: String {
        didSet { head = Self.head(name: name, arguments: arguments) }
    }
    package var arguments: [String: JSON]? {
        didSet { head = Self.head(name: name, arguments: arguments) }
    }
    /// `{"execute":NAME,"arguments":{...},"id":`, from the two above.
    private var head: [UInt8]

    package init(_ name: String, arguments: [String: JSON]? = nil) {
        self.name = name
        self.arguments = arguments
        self.head = Self.head(name: name, arguments: arguments)
    }

    /// The wire form with `id`, ending in a newline.
    package func encoded(id: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(head.count + 22)
        bytes.append(contentsOf: head)
        if id >= 0, id < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(id))
        } else {
            bytes.append(contentsOf: String(id).utf8)
        }
        bytes.append(UInt8(ascii: "}"))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private static func head(name: String, arguments: [String: JSON]?) -> [UInt8] {
        // Written by hand around jansson: a dictionary plus a jansson tree for `{"execute": NAME, "id": N}` costs
        // more than the few bytes it produces.
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
        return bytes
    }
}
