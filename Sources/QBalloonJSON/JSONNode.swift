import CJansson

/// One value of a JSON text jansson decoded, read where jansson keeps it (``JSON/withDecoded(_:limits:keys:_:)``):
/// members are looked up in jansson's table, numbers read without a ``JSON`` tree. Like an unsafe buffer pointer,
/// a node is valid only during the call that hands it out; ``json`` copies it into a value that lasts.
///
/// ```swift
/// let total = try JSON.withDecoded(bytes) { $0["return"]?["stats"]?["stat-total-memory"]?.uint64Value }
/// ```
public struct JSONNode {
    private let node: UnsafeMutablePointer<json_t>
    /// How many NUL bytes start the marked string of an integer above `Int64.max` (``WideIntegerMarker``); 0 when
    /// the tree holds none.
    private let markerNuls: Int
    private let keys: JSONKeys?

    init(_ node: UnsafeMutablePointer<json_t>, markerNuls: Int, keys: JSONKeys?) {
        self.node = node
        self.markerNuls = markerNuls
        self.keys = keys
    }

    private var type: json_type { json_type(rawValue: UInt32(qb_json_type(node))) }

    /// The member `key` of an object; `nil` for a missing member or a value that is not an object.
    public subscript(key: String) -> JSONNode? {
        guard type == JSON_OBJECT else { return nil }
        var key = key
        return key.withUTF8 { name in
            name.withMemoryRebound(to: CChar.self) { name in
                json_object_getn(node, name.baseAddress, name.count).map { JSONNode($0, markerNuls: markerNuls, keys: keys) }
            }
        }
    }

    public var isObject: Bool { type == JSON_OBJECT }

    /// How many members an object has, how many elements an array; 0 for any other value.
    public var count: Int {
        switch type {
        case JSON_OBJECT: json_object_size(node)
        case JSON_ARRAY: json_array_size(node)
        default: 0
        }
    }

    /// Calls `body` with each member of an object, in the text's order (a name given twice: once, with the last
    /// value), its name as UTF-8 bytes valid during the call; nothing for any other value.
    public func forEachMember(_ body: (UnsafeRawBufferPointer, JSONNode) throws -> Void) rethrows {
        guard type == JSON_OBJECT else { return }
        var iterator = json_object_iter(node)
        while let current = iterator {
            let name = UnsafeRawBufferPointer(start: json_object_iter_key(current), count: json_object_iter_key_len(current))
            try body(name, JSONNode(json_object_iter_value(current), markerNuls: markerNuls, keys: keys))
            iterator = json_object_iter_next(node, current)
        }
    }

    /// The value as an unsigned 64-bit integer, if it is a non-negative integer: ``JSON/uint64Value`` of ``json``.
    public var uint64Value: UInt64? {
        switch type {
        case JSON_INTEGER:
            let value = json_integer_value(node)
            return value >= 0 ? UInt64(value) : nil
        case JSON_STRING:
            return wideInteger
        default:
            return nil
        }
    }

    /// The value as a signed 64-bit integer, if it is an integer that fits: ``JSON/int64Value`` of ``json``.
    public var int64Value: Int64? {
        type == JSON_INTEGER ? Int64(json_integer_value(node)) : nil
    }

    /// A string that stands for an integer above `Int64.max` (``WideIntegerMarker``): that integer.
    private var wideInteger: UInt64? {
        guard markerNuls > 0 else { return nil }
        let length = json_string_length(node)
        let bytes = UnsafeRawBufferPointer(start: json_string_value(node), count: length)
        guard length > markerNuls + 1, bytes.prefix(markerNuls).allSatisfy({ $0 == 0 }), bytes[markerNuls] == UInt8(ascii: "#") else {
            return nil
        }
        return UInt64(String(decoding: bytes.dropFirst(markerNuls + 1), as: UTF8.self))
    }

    /// The value as a ``JSON`` tree (built once, walking jansson's).
    public var json: JSON {
        switch type {
        case JSON_OBJECT:
            var members = [String: JSON](minimumCapacity: json_object_size(node))
            forEachMember { name, value in
                members[keys?.name(name) ?? String(decoding: name, as: UTF8.self)] = value.json
            }
            return .object(members)
        case JSON_ARRAY:
            let count = json_array_size(node)
            var elements = [JSON]()
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(JSONNode(json_array_get(node, index), markerNuls: markerNuls, keys: keys).json)
            }
            return .array(elements)
        case JSON_STRING:
            if let wide = wideInteger { return .uint(wide) }
            return .string(String(decoding: UnsafeRawBufferPointer(start: json_string_value(node), count: json_string_length(node)), as: UTF8.self))
        case JSON_INTEGER:
            return .int(Int64(json_integer_value(node)))
        case JSON_REAL:
            return .double(json_real_value(node))
        case JSON_TRUE:
            return .bool(true)
        case JSON_FALSE:
            return .bool(false)
        default:
            return .null
        }
    }
}
