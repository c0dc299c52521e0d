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
        try withDecoded(bytes, limits: limits, keys: keys) { $0.json }
    }

    /// Decodes one JSON value from `bytes` with jansson, as ``decode(_:limits:keys:)`` does (same limits, same
    /// errors), and lets `body` read it in place: a decoder that wants a few members of a message it meets all the
    /// time reads them from jansson's tree without building a ``JSON`` value (issue 14).
    /// - Parameter body: reads the value; the node and every node reached from it are valid only during the call.
    public static func withDecoded<Result>(
        _ bytes: UnsafeRawBufferPointer, limits: JSONLimits = .default, keys: JSONKeys? = nil,
        _ body: (JSONNode) throws -> Result
    ) throws -> Result {
        guard bytes.count <= limits.maxBytes else {
            throw JSONError(
                code: .tooLarge,
                message: "JSON text of \(bytes.count) bytes is over the limit of \(limits.maxBytes) bytes")
        }
        let scan = try JSONPreScan.scan(bytes, maxDepth: limits.maxDepth)
        // jansson refuses `\u0000` in strings; with wide integers it must not get the chance to read one as
        // the marker, so such input goes to jansson as it is and gets its error.
        if scan.wideIntegers.isEmpty || scan.hasNulEscape {
            return try parse(bytes, allowNul: false, wideIntegers: false, keys: keys, body)
        }
        let rewritten = scan.rewritingWideIntegers(bytes)
        return try rewritten.withUnsafeBytes { (buffer) throws -> Result in
            try parse(buffer, allowNul: true, wideIntegers: true, keys: keys, body)
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

    private static func parse<Result>(
        _ bytes: UnsafeRawBufferPointer, allowNul: Bool, wideIntegers: Bool, keys: JSONKeys?, _ body: (JSONNode) throws -> Result
    ) throws -> Result {
        var error = json_error_t()
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        guard let root = json_loadb(base, bytes.count, qb_json_flags_decode(allowNul ? 1 : 0), &error) else {
            throw JSONError(code: .syntax, message: syntaxMessage(error))
        }
        defer { qb_json_decref(root) }
        return try body(JSONNode(root, markerNuls: wideIntegers ? 1 : 0, keys: keys))
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

    /// The marker as jansson writes it, with `nuls` NUL bytes before the `#`, from the opening quote on.
    static func escaped(nuls: Int) -> [UInt8] {
        Array("\"".utf8) + Array(repeating: Array(#"\u0000"#.utf8), count: nuls).joined() + Array("#".utf8)
    }
}
