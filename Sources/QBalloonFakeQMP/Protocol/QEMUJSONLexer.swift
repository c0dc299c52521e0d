/// A token from ``QEMUJSONLexer``.
struct QEMUJSONToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case leftBrace, rightBrace, leftBracket, rightBracket, colon, comma
        case integer, float, keyword, string
        /// A byte that cannot start or continue a token here; the text ends with it.
        case error
    }

    var kind: Kind
    /// The token's bytes (with quotes for strings).
    var text: [UInt8]
}

/// QEMU's JSON lexer (`qobject/json-lexer.c`, QEMU 3.0 to 7.2), byte for byte: the same tokens, the same
/// bytes in an error token, and the same recovery after one, so the fake answers garbage exactly as QEMU
/// does.
///
/// Like QEMU it accepts single-quoted strings and any lowercase word as a keyword (the parser rejects
/// unknown ones). After an error it skips input up to a structural character (`{ } [ ] : ,`), a control
/// character other than tab, or the bytes 0xFE/0xFF, and starts over there.
struct QEMUJSONLexer: Sendable {
    /// QEMU's limit on one token.
    static let maxTokenBytes = 64 << 20

    private enum State: Sendable {
        case start, recovery
        case doubleQuoted, doubleQuotedEscape, singleQuoted, singleQuotedEscape
        case zero, digits, sign, mantissa, mantissaDigits, exponentE, exponentSign, exponentDigits
        case keyword
    }

    /// What one byte does in one state.
    private enum Step {
        /// Take the byte, go to this state.
        case take(State)
        /// The token ended before this byte: emit it and look at the byte again from the start.
        case endBefore(QEMUJSONToken.Kind)
        /// Take the byte: it ends the token.
        case endWith(QEMUJSONToken.Kind)
        /// Drop what was read and look at the byte again from the start (leaving recovery).
        case resync
        /// Take the byte: it makes the token an error.
        case fail
    }

    private var state: State = .start
    private var token: [UInt8] = []

    /// Feeds one byte, calling `emit` for each token it completes.
    mutating func feed(_ byte: UInt8, emit: (QEMUJSONToken) -> Void) {
        var consumed = false
        while !consumed {
            switch step(byte) {
            case .take(let next):
                consumed = true
                state = next
                // Whitespace and skipped bytes never become part of a token.
                if next == .start || next == .recovery {
                    token.removeAll(keepingCapacity: true)
                } else {
                    token.append(byte)
                }
            case .endBefore(let kind):
                emit(QEMUJSONToken(kind: kind, text: token))
                token.removeAll(keepingCapacity: true)
                state = .start
            case .endWith(let kind):
                consumed = true
                token.append(byte)
                emit(QEMUJSONToken(kind: kind, text: token))
                token.removeAll(keepingCapacity: true)
                state = .start
            case .resync:
                token.removeAll(keepingCapacity: true)
                state = .start
            case .fail:
                consumed = true
                token.append(byte)
                emit(QEMUJSONToken(kind: .error, text: token))
                token.removeAll(keepingCapacity: true)
                state = .recovery
            }
        }
        if token.count > Self.maxTokenBytes {
            emit(QEMUJSONToken(kind: .error, text: Array(token.prefix(16))))
            token.removeAll()
            state = .recovery
        }
    }

    private func step(_ byte: UInt8) -> Step {
        let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        switch state {
        case .recovery:
            switch byte {
            case 0x09: return .take(.recovery)
            case 0x00..<0x20, 0xFE, 0xFF: return .resync
            case UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ":"),
                UInt8(ascii: ","):
                return .resync
            default: return .take(.recovery)
            }
        case .doubleQuoted, .singleQuoted:
            let quote = state == .doubleQuoted ? UInt8(ascii: "\"") : UInt8(ascii: "'")
            guard (0x20...0xFD).contains(byte) else { return .fail }
            if byte == UInt8(ascii: "\\") {
                return .take(state == .doubleQuoted ? .doubleQuotedEscape : .singleQuotedEscape)
            }
            if byte == quote { return .endWith(.string) }
            return .take(state)
        case .doubleQuotedEscape:
            return (0x20...0xFD).contains(byte) ? .take(.doubleQuoted) : .fail
        case .singleQuotedEscape:
            return (0x20...0xFD).contains(byte) ? .take(.singleQuoted) : .fail
        case .zero:
            if isDigit { return .fail }
            if byte == UInt8(ascii: ".") { return .take(.mantissa) }
            return .endBefore(.integer)
        case .digits:
            if isDigit { return .take(.digits) }
            if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return .take(.exponentE) }
            if byte == UInt8(ascii: ".") { return .take(.mantissa) }
            return .endBefore(.integer)
        case .sign:
            if byte == UInt8(ascii: "0") { return .take(.zero) }
            return isDigit ? .take(.digits) : .fail
        case .mantissa:
            return isDigit ? .take(.mantissaDigits) : .fail
        case .mantissaDigits:
            if isDigit { return .take(.mantissaDigits) }
            if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return .take(.exponentE) }
            return .endBefore(.float)
        case .exponentE:
            if byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") { return .take(.exponentSign) }
            return isDigit ? .take(.exponentDigits) : .fail
        case .exponentSign:
            return isDigit ? .take(.exponentDigits) : .fail
        case .exponentDigits:
            return isDigit ? .take(.exponentDigits) : .endBefore(.float)
        case .keyword:
            return (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? .take(.keyword) : .endBefore(.keyword)
        case .start:
            switch byte {
            case UInt8(ascii: "\""): return .take(.doubleQuoted)
            case UInt8(ascii: "'"): return .take(.singleQuoted)
            case UInt8(ascii: "0"): return .take(.zero)
            case UInt8(ascii: "1")...UInt8(ascii: "9"): return .take(.digits)
            case UInt8(ascii: "-"): return .take(.sign)
            case UInt8(ascii: "{"): return .endWith(.leftBrace)
            case UInt8(ascii: "}"): return .endWith(.rightBrace)
            case UInt8(ascii: "["): return .endWith(.leftBracket)
            case UInt8(ascii: "]"): return .endWith(.rightBracket)
            case UInt8(ascii: ","): return .endWith(.comma)
            case UInt8(ascii: ":"): return .endWith(.colon)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return .take(.keyword)
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): return .take(.start)
            default: return .fail
            }
        }
    }
}
