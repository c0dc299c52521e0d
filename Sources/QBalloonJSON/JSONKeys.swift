/// Member names a decoder meets in message after message, made into strings once.
///
/// A name over 15 bytes does not fit inside a Swift string, so decoding it allocates; QEMU's guest statistics
/// (`stat-available-memory`, ...) are such names, a dozen in every reply. Decoding with a table of them, a member
/// named like one shares the table's string instead (the same text: nothing else changes).
///
/// ```swift
/// let keys = JSONKeys(["stat-available-memory", "stat-total-memory"])
/// let reply = try JSON.decode(bytes, keys: keys)
/// ```
public struct JSONKeys: Sendable {
    /// The names by their length in UTF-8 bytes; only those too long to fit inside a string.
    private let byLength: [[(bytes: [UInt8], name: String)]]

    public init(_ names: [String]) {
        var byLength: [[(bytes: [UInt8], name: String)]] = []
        for name in Set(names) where name.utf8.count > Self.inlineBytes {
            let length = name.utf8.count
            if byLength.count <= length { byLength += Array(repeating: [], count: length + 1 - byLength.count) }
            byLength[length].append((Array(name.utf8), name))
        }
        self.byLength = byLength
    }

    /// The longest name a Swift string holds inline (on 64-bit platforms).
    static let inlineBytes = 15

    /// The table's string for these UTF-8 bytes, if it has one.
    func name(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard bytes.count > Self.inlineBytes, bytes.count < byLength.count else { return nil }
        for candidate in byLength[bytes.count] where candidate.bytes.withUnsafeBytes({ $0.elementsEqual(bytes) }) {
            return candidate.name
        }
        return nil
    }
}
