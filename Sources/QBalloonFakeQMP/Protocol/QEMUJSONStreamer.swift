import QBalloonJSON

/// QEMU's JSON message splitter (`qobject/json-streamer.c`): collects tokens until braces and brackets
/// balance (or go negative), then parses them as one value. A lexer error ends the message at once with
/// `JSON parse error, stray '...'`; either way it starts afresh, so a client can always resynchronise.
struct QEMUJSONStreamer: Sendable {
    /// One complete input: a value, or the `desc` of the error QEMU answers it with.
    enum Item: Sendable, Equatable {
        case value(JSON)
        case error(String)
    }

    static let maxTokenBytes = 64 << 20
    static let maxTokenCount = 2 << 20
    static let maxNesting = 1 << 10

    private var lexer = QEMUJSONLexer()
    private var tokens: [QEMUJSONToken] = []
    private var braces = 0
    private var brackets = 0
    private var tokenBytes = 0

    /// Feeds bytes, returning every input they complete, in order.
    mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> [Item] {
        var items: [Item] = []
        var lexer = self.lexer
        for byte in bytes {
            lexer.feed(byte) { token in
                if let item = self.process(token) { items.append(item) }
            }
        }
        self.lexer = lexer
        return items
    }

    private mutating func process(_ token: QEMUJSONToken) -> Item? {
        switch token.kind {
        case .leftBrace: braces += 1
        case .rightBrace: braces -= 1
        case .leftBracket: brackets += 1
        case .rightBracket: brackets -= 1
        case .error:
            reset()
            return .error("JSON parse error, stray '\(String(decoding: token.text, as: UTF8.self))'")
        default: break
        }
        if tokenBytes + token.text.count + 1 > Self.maxTokenBytes {
            reset()
            return .error("JSON token size limit exceeded")
        }
        if tokens.count + 1 > Self.maxTokenCount {
            reset()
            return .error("JSON token count limit exceeded")
        }
        if braces + brackets > Self.maxNesting {
            reset()
            return .error("JSON nesting depth limit exceeded")
        }
        tokens.append(token)
        tokenBytes += token.text.count
        if (braces > 0 || brackets > 0) && braces >= 0 && brackets >= 0 { return nil }
        defer { reset() }
        do {
            return .value(try QEMUJSONParser.parse(tokens))
        } catch {
            return .error("JSON parse error, \(error.message)")
        }
    }

    private mutating func reset() {
        tokens.removeAll(keepingCapacity: true)
        braces = 0
        brackets = 0
        tokenBytes = 0
    }
}
