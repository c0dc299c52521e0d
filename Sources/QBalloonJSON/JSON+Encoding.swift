import CJansson

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension JSON {
    /// The compact JSON text of this value (no spaces, no newline), built with jansson.
    ///
    /// `.uint` values are written as plain integers, like QEMU writes its unsigned statistics.
    /// A NaN or infinite `.double` cannot be written in JSON and is written as `null`.
    /// - Parameter sortedKeys: write object members in key order (for output people read or diff).
    public func encoded(sortedKeys: Bool = false) -> [UInt8] {
        var builder = JanssonBuilder(markerNuls: 1)
        guard var root = builder.node(for: self) else { return Array("null".utf8) }
        if builder.sawWideInteger, builder.longestNulRun >= builder.markerNuls {
            // A string holds as many NULs in a row as the marker: rebuild with a marker no string can hold.
            qb_json_decref(root)
            builder = JanssonBuilder(markerNuls: builder.longestNulRun + 1)
            guard let again = builder.node(for: self) else { return Array("null".utf8) }
            root = again
        }
        defer { qb_json_decref(root) }
        guard let text = json_dumps(root, qb_json_flags_compact_any(sortedKeys ? 1 : 0)) else { return Array("null".utf8) }
        defer { free(text) }
        let raw = UnsafeRawBufferPointer(start: text, count: strlen(text))
        return builder.sawWideInteger ? Self.unmarkingWideIntegers(raw, nuls: builder.markerNuls) : Array(raw)
    }

    /// The compact JSON text of this value as a string.
    public func encodedString(sortedKeys: Bool = false) -> String {
        String(decoding: encoded(sortedKeys: sortedKeys), as: UTF8.self)
    }

    /// Replaces each marked string `"\u0000#DIGITS"` (with `nuls` NULs) by `DIGITS`. No string's text can
    /// match: every string holds fewer NULs in a row, and jansson escapes a quote inside a string.
    private static func unmarkingWideIntegers(_ raw: UnsafeRawBufferPointer, nuls: Int) -> [UInt8] {
        let marker = WideIntegerMarker.escaped(nuls: nuls)
        var output = [UInt8]()
        output.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            if raw[index] == marker[0], index + marker.count <= raw.count,
                raw[index..<(index + marker.count)].elementsEqual(marker)
            {
                var end = index + marker.count
                while end < raw.count, raw[end] != UInt8(ascii: "\"") { end += 1 }
                output.append(contentsOf: raw[(index + marker.count)..<end])
                index = end + 1
                continue
            }
            output.append(raw[index])
            index += 1
        }
        return output
    }
}

extension JSON {
    /// Lets `body` read this value as a ``JSONNode``: jansson's tree of its text, as
    /// ``withDecoded(_:limits:keys:_:)`` gives it (for a reader of nodes that is given a value as a tree).
    package func withNode(_ body: (JSONNode) -> Void) {
        var builder = JanssonBuilder(markerNuls: 1)
        var root = builder.node(for: self)
        if builder.sawWideInteger, builder.longestNulRun >= builder.markerNuls {
            // A string holds as many NULs in a row as the marker: rebuild with a marker no string can hold.
            root.map(qb_json_decref)
            builder = JanssonBuilder(markerNuls: builder.longestNulRun + 1)
            root = builder.node(for: self)
        }
        guard let root = root ?? json_null() else { return }
        defer { qb_json_decref(root) }
        body(JSONNode(root, markerNuls: builder.sawWideInteger ? builder.markerNuls : 0, keys: nil))
    }
}

private struct JanssonBuilder {
    /// How many NUL bytes start the marker string of a wide integer.
    let markerNuls: Int
    var sawWideInteger = false
    /// The most NUL bytes in a row in any string or key.
    var longestNulRun = 0

    init(markerNuls: Int) {
        self.markerNuls = markerNuls
    }

    private mutating func noteNuls(_ text: String) {
        guard text.utf8.contains(0) else { return }
        var run = 0
        for byte in text.utf8 {
            run = byte == 0 ? run + 1 : 0
            longestNulRun = max(longestNulRun, run)
        }
    }

    mutating func node(for value: JSON) -> UnsafeMutablePointer<json_t>? {
        switch value {
        case .null:
            return json_null()
        case .bool(let flag):
            return flag ? json_true() : json_false()
        case .int(let number):
            return json_integer(json_int_t(number))
        case .uint(let number):
            if number <= UInt64(Int64.max) { return json_integer(json_int_t(number)) }
            sawWideInteger = true
            // NUL bytes start the marker: jansson escapes them, and `encoded()` swaps the string for digits.
            var marked = [UInt8](repeating: 0, count: markerNuls)
            marked.append(UInt8(ascii: "#"))
            marked.append(contentsOf: String(number).utf8)
            return marked.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { json_stringn_nocheck($0.baseAddress, $0.count) }
            }
        case .double(let number):
            return json_real(number) ?? json_null()
        case .string(let text):
            noteNuls(text)
            var text = text
            return text.withUTF8 { buffer in
                buffer.withMemoryRebound(to: CChar.self) { json_stringn_nocheck($0.baseAddress, $0.count) }
            }
        case .array(let elements):
            let array = json_array()
            for element in elements {
                if let child = node(for: element) { json_array_append_new(array, child) }
            }
            return array
        case .object(let members):
            let object = json_object()
            for (key, member) in members {
                guard let child = node(for: member) else { continue }
                noteNuls(key)
                var key = key
                key.withUTF8 { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        _ = json_object_setn_new_nocheck(object, $0.baseAddress, $0.count, child)
                    }
                }
            }
            return object
        }
    }
}
