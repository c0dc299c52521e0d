import QBalloonJSON

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
