import QBalloonJSON

/// QEMU's recursive-descent JSON parser (`qobject/json-parser.c`) over one message's tokens, with its
/// error texts (the first error wins, as in QEMU): `expecting value`, `missing : in object pair`,
/// `duplicate key`, `invalid keyword 'x'`, ...
enum QEMUJSONParser {
    struct Failure: Error, Sendable {
        /// The text after `JSON parse error, `.
        var message: String
    }

    static func parse(_ tokens: [QEMUJSONToken]) throws(Failure) -> JSON {
        var cursor = Cursor(tokens: tokens)
        return try cursor.value()
    }

    private struct Cursor {
        let tokens: [QEMUJSONToken]
        var index = 0

        var peek: QEMUJSONToken? { index < tokens.count ? tokens[index] : nil }

        mutating func pop() -> QEMUJSONToken? {
            defer { index += 1 }
            return peek
        }

        mutating func value() throws(Failure) -> JSON {
            guard let token = peek else { throw Failure(message: "premature EOI") }
            switch token.kind {
            case .leftBrace: return try object()
            case .leftBracket: return try array()
            case .integer, .float, .string: return try literal()
            case .keyword: return try keyword()
            default: throw Failure(message: "expecting value")
            }
        }

        mutating func object() throws(Failure) -> JSON {
            _ = pop()
            var members: [String: JSON] = [:]
            guard let first = peek else { throw Failure(message: "premature EOI") }
            if first.kind == .rightBrace {
                _ = pop()
                return .object(members)
            }
            try pair(into: &members)
            guard var token = pop() else { throw Failure(message: "premature EOI") }
            while token.kind != .rightBrace {
                guard token.kind == .comma else { throw Failure(message: "expected separator in dict") }
                try pair(into: &members)
                guard let next = pop() else { throw Failure(message: "premature EOI") }
                token = next
            }
            return .object(members)
        }

        mutating func pair(into members: inout [String: JSON]) throws(Failure) {
            guard peek != nil else { throw Failure(message: "premature EOI") }
            guard case .string(let key) = try value() else { throw Failure(message: "key is not a string in object") }
            guard let colon = pop() else { throw Failure(message: "premature EOI") }
            guard colon.kind == .colon else { throw Failure(message: "missing : in object pair") }
            let member = try value()
            guard members[key] == nil else { throw Failure(message: "duplicate key") }
            members[key] = member
        }

        mutating func array() throws(Failure) -> JSON {
            _ = pop()
            var elements: [JSON] = []
            guard let first = peek else { throw Failure(message: "premature EOI") }
            if first.kind == .rightBracket {
                _ = pop()
                return .array(elements)
            }
            elements.append(try value())
            guard var token = pop() else { throw Failure(message: "premature EOI") }
            while token.kind != .rightBracket {
                guard token.kind == .comma else { throw Failure(message: "expected separator in list") }
                elements.append(try value())
                guard let next = pop() else { throw Failure(message: "premature EOI") }
                token = next
            }
            return .array(elements)
        }

        mutating func keyword() throws(Failure) -> JSON {
            let token = pop()!
            switch token.text {
            case Array("true".utf8): return .bool(true)
            case Array("false".utf8): return .bool(false)
            case Array("null".utf8): return .null
            default: throw Failure(message: "invalid keyword '\(String(decoding: token.text, as: UTF8.self))'")
            }
        }

        mutating func literal() throws(Failure) -> JSON {
            let token = pop()!
            let text = String(decoding: token.text, as: UTF8.self)
            switch token.kind {
            case .string:
                return .string(try QEMUJSONParser.string(token.text))
            case .integer:
                // Like QEMU: signed 64-bit if it fits, else unsigned 64-bit, else a double.
                if let value = Int64(text) { return .int(value) }
                if !text.hasPrefix("-"), let value = UInt64(text) { return .unsigned(value) }
                return .double(Double(text) ?? 0)
            default:
                return .double(Double(text) ?? 0)
            }
        }
    }

    /// Decodes a string token (quotes included) as QEMU's `parse_string` does.
    static func string(_ token: [UInt8]) throws(Failure) -> String {
        func byte(_ index: Int) -> UInt8 { index < token.count ? token[index] : 0 }
        var output: [UInt8] = []
        output.reserveCapacity(token.count)
        var index = 1
        let end = token.count - 1
        while index < end {
            if token[index] == UInt8(ascii: "\\") {
                let escapeStart = index
                let escaped = byte(index + 1)
                index += 2
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    output.append(escaped)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"):
                    var codePoint = hex4(token, at: index)
                    index += 4
                    if (0xD800...0xDBFF).contains(codePoint), byte(index) == UInt8(ascii: "\\"),
                        byte(index + 1) == UInt8(ascii: "u")
                    {
                        codePoint = 0x10000 + ((codePoint & 0x3FF) << 10)
                        let trailing = hex4(token, at: index + 2)
                        if (0xDC00...0xDFFF).contains(trailing) {
                            codePoint |= trailing & 0x3FF
                            index += 6
                        } else {
                            codePoint = -1
                        }
                    }
                    guard isValid(codePoint), let scalar = Unicode.Scalar(UInt32(codePoint)) else {
                        // QEMU prints the escape up to where it stopped reading, cut at the token's end.
                        let shown = token[escapeStart..<min(index, token.count)]
                        throw Failure(
                            message: "\(String(decoding: shown, as: UTF8.self)) is not a valid Unicode character")
                    }
                    output.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw Failure(message: "invalid escape sequence in string")
                }
            } else {
                guard let (scalar, length) = decodeUTF8(token, at: index, limit: end) else {
                    throw Failure(message: "invalid UTF-8 sequence in string")
                }
                output.append(contentsOf: Array(String(Character(scalar)).utf8))
                index += length
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Four hex digits at `index` as a number, or -1.
    private static func hex4(_ bytes: [UInt8], at index: Int) -> Int {
        var value = 0
        for offset in 0..<4 {
            let position = index + offset
            guard position < bytes.count else { return -1 }
            let digit: Int
            switch bytes[position] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(bytes[position] - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(bytes[position] - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(bytes[position] - UInt8(ascii: "A")) + 10
            default: return -1
            }
            value = value << 4 | digit
        }
        return value
    }

    /// QEMU's `is_valid_codepoint`: in range, no surrogates, no noncharacters.
    private static func isValid(_ codePoint: Int) -> Bool {
        guard codePoint >= 0, codePoint <= 0x10FFFF else { return false }
        if codePoint & 0xFFFFF800 == 0xD800 { return false }
        if (0xFDD0...0xFDEF).contains(codePoint) { return false }
        if codePoint & 0xFFFE == 0xFFFE { return false }
        return true
    }

    /// One character of QEMU's modified UTF-8 (`\xC0\x80` is NUL), or nil when invalid.
    private static func decodeUTF8(_ bytes: [UInt8], at index: Int, limit: Int) -> (Unicode.Scalar, Int)? {
        let first = bytes[index]
        if first < 0x80 { return (Unicode.Scalar(first), 1) }
        let length: Int
        var codePoint: Int
        switch first {
        case 0xC0...0xDF: (length, codePoint) = (2, Int(first & 0x1F))
        case 0xE0...0xEF: (length, codePoint) = (3, Int(first & 0x0F))
        case 0xF0...0xF7: (length, codePoint) = (4, Int(first & 0x07))
        default: return nil
        }
        guard index + length <= limit else { return nil }
        for offset in 1..<length {
            let next = bytes[index + offset]
            guard next & 0xC0 == 0x80 else { return nil }
            codePoint = codePoint << 6 | Int(next & 0x3F)
        }
        let minimum = [0, 0, 0x80, 0x800, 0x10000][length]
        if codePoint < minimum, !(length == 2 && codePoint == 0) { return nil }
        guard isValid(codePoint), let scalar = Unicode.Scalar(UInt32(codePoint)) else { return nil }
        return (scalar, length)
    }
}
