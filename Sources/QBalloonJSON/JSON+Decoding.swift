import CJansson

extension JSON {
    /// Decodes one JSON value from `bytes` with jansson.
    ///
    /// Integers above `Int64.max` (up to `UInt64.max`) are kept exactly; jansson alone would reject them.
    /// - Parameters:
    ///   - bytes: UTF-8 JSON text holding exactly one value (surrounding whitespace allowed).
    ///   - limits: the largest input and the deepest nesting accepted.
    ///   - keys: member names met often, made into strings once (``JSONKeys``).
    /// - Throws: ``JSONError`` naming the problem and where the parser gave up.
    public static func decode(_ bytes: UnsafeRawBufferPointer, limits: JSONLimits = .default, keys: JSONKeys? = nil) throws -> JSON {
        guard bytes.count <= limits.maxBytes else {
            throw JSONError(
                code: .tooLarge,
                message: "JSON text of \(bytes.count) bytes is over the limit of \(limits.maxBytes) bytes")
        }
        let scan = try JSONPreScan.scan(bytes, maxDepth: limits.maxDepth)
        // jansson refuses `\u0000` in strings; with wide integers it must not get the chance to read one as
        // the marker, so such input goes to jansson as it is and gets its error.
        if scan.wideIntegers.isEmpty || scan.hasNulEscape {
            return try parse(bytes, allowNul: false, wideIntegers: false, keys: keys)
        }
        let rewritten = scan.rewritingWideIntegers(bytes)
        return try rewritten.withUnsafeBytes { (buffer) throws -> JSON in
            try parse(buffer, allowNul: true, wideIntegers: true, keys: keys)
        }
    }

    /// Decodes one JSON value from `bytes`. See ``decode(_:limits:)-(UnsafeRawBufferPointer,_)``.
    public static func decode(_ bytes: [UInt8], limits: JSONLimits = .default) throws -> JSON {
        try bytes.withUnsafeBytes { (buffer) throws -> JSON in try decode(buffer, limits: limits) }
    }

    /// Decodes one JSON value from a string's UTF-8 text.
    public static func decode(_ text: String, limits: JSONLimits = .default) throws -> JSON {
        var text = text
        return try text.withUTF8 { (buffer) throws -> JSON in
            try decode(UnsafeRawBufferPointer(buffer), limits: limits)
        }
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, allowNul: Bool, wideIntegers: Bool, keys: JSONKeys?) throws -> JSON {
        var error = json_error_t()
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        guard let root = json_loadb(base, bytes.count, qb_json_flags_decode(allowNul ? 1 : 0), &error) else {
            throw JSONError(code: .syntax, message: syntaxMessage(error))
        }
        defer { qb_json_decref(root) }
        return JanssonTree(wideIntegers: wideIntegers, keys: keys).value(of: root)
    }

    private static func syntaxMessage(_ error: json_error_t) -> String {
        var error = error
        let text = withUnsafeBytes(of: &error.text) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return "invalid JSON at line \(error.line), column \(error.column): \(text)"
    }
}

/// The text marking an integer above `Int64.max` that the pre-scan turned into a string for jansson:
/// a NUL byte (which valid JSON text can only carry as an escape) then `#`.
enum WideIntegerMarker {
    static let escaped: [UInt8] = escaped(nuls: 1)
    static let decodedPrefix: (UInt8, UInt8) = (0, UInt8(ascii: "#"))

    /// The marker as jansson writes it, with `nuls` NUL bytes before the `#`, from the opening quote on.
    static func escaped(nuls: Int) -> [UInt8] {
        Array("\"".utf8) + Array(repeating: Array(#"\u0000"#.utf8), count: nuls).joined() + Array("#".utf8)
    }
}

/// Walks a jansson tree once and builds the Swift value.
private struct JanssonTree {
    let wideIntegers: Bool
    let keys: JSONKeys?

    func value(of node: UnsafeMutablePointer<json_t>) -> JSON {
        switch json_type(rawValue: UInt32(qb_json_type(node))) {
        case JSON_OBJECT:
            var members = [String: JSON](minimumCapacity: json_object_size(node))
            var iterator = json_object_iter(node)
            while let current = iterator {
                let keyLength = json_object_iter_key_len(current)
                let bytes = UnsafeRawBufferPointer(start: json_object_iter_key(current), count: keyLength)
                let key = keys?.name(bytes) ?? String(decoding: bytes, as: UTF8.self)
                members[key] = value(of: json_object_iter_value(current))
                iterator = json_object_iter_next(node, current)
            }
            return .object(members)
        case JSON_ARRAY:
            let count = json_array_size(node)
            var elements = [JSON]()
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(value(of: json_array_get(node, index)))
            }
            return .array(elements)
        case JSON_STRING:
            let length = json_string_length(node)
            let bytes = UnsafeRawBufferPointer(start: json_string_value(node), count: length)
            if wideIntegers, length > 2, bytes[0] == WideIntegerMarker.decodedPrefix.0,
                bytes[1] == WideIntegerMarker.decodedPrefix.1,
                let wide = UInt64(String(decoding: bytes.dropFirst(2), as: UTF8.self))
            {
                return .uint(wide)
            }
            return .string(String(decoding: bytes, as: UTF8.self))
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
