/// A token of the rule language.
struct Token: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        /// A literal with its value in base units (bytes, seconds, percent points, per second) and its type.
        case number(Double, ValueType)
        case identifier(String)
        case keyword(Keyword)
        case symbol(Symbol)
        case end
    }

    enum Keyword: String, Sendable, Hashable, CaseIterable {
        case and, or, not, of, `for`, `true`, `false`
    }

    enum Symbol: String, Sendable, Hashable {
        case plus = "+", minus = "-", times = "*", divide = "/"
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "==", notEqual = "!="
        case open = "(", close = ")", comma = ","
    }

    let kind: Kind
    let range: SourceRange
}

/// Splits an expression into tokens. Units stick to their number (`2GiB`, `60s`, `40%`, `1MiB/s`).
struct Lexer {
    private let scalars: [Unicode.Scalar]
    private var position = 0

    init(_ text: String) { self.scalars = Array(text.unicodeScalars) }

    static func tokens(_ text: String) throws(ExpressionError) -> [Token] {
        var lexer = Lexer(text)
        var tokens: [Token] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        position + offset < scalars.count ? scalars[position + offset] : nil
    }

    private static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
    }

    private static func isIdentifier(_ c: Unicode.Scalar) -> Bool { isIdentifierStart(c) || isDigit(c) }
    private static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }

    mutating func next() throws(ExpressionError) -> Token {
        while let c = peek(), c == " " || c == "\t" || c == "\n" || c == "\r" { position += 1 }
        let start = position
        guard let c = peek() else { return Token(kind: .end, range: SourceRange(start, start + 1)) }
        if Self.isDigit(c) || (c == "." && peek(1).map(Self.isDigit) == true) { return try number() }
        if Self.isIdentifierStart(c) {
            while let c = peek(), Self.isIdentifier(c) { position += 1 }
            let word = String(String.UnicodeScalarView(scalars[start..<position]))
            let range = SourceRange(start, position)
            if let keyword = Token.Keyword(rawValue: word) { return Token(kind: .keyword(keyword), range: range) }
            return Token(kind: .identifier(word), range: range)
        }
        let two = peek(1).map { String(c) + String($0) } ?? ""
        if let symbol = Token.Symbol(rawValue: two), two.count == 2 {
            position += 2
            return Token(kind: .symbol(symbol), range: SourceRange(start, position))
        }
        let hints: [String: String] = [
            "&&": "use 'and' instead of '&&'", "||": "use 'or' instead of '||'",
        ]
        if let hint = hints[two] { throw ExpressionError(hint, at: SourceRange(start, start + 2)) }
        switch c {
        case "!": throw ExpressionError("use 'not' instead of '!'", at: SourceRange(start, start + 1))
        case "=": throw ExpressionError("use '==' to compare", at: SourceRange(start, start + 1))
        case "%":
            throw ExpressionError(
                "'%' must follow a number, as in '40% of actual'", at: SourceRange(start, start + 1))
        default: break
        }
        if let symbol = Token.Symbol(rawValue: String(c)) {
            position += 1
            return Token(kind: .symbol(symbol), range: SourceRange(start, position))
        }
        let shown = c.isASCII && c.value >= 0x20 ? "'\(c)'" : "U+\(String(c.value, radix: 16, uppercase: true))"
        throw ExpressionError("unexpected character \(shown)", at: SourceRange(start, start + 1))
    }

    /// Size units: binary, like the config's sizes. Lower-case `m` is minutes, so MiB is `M` or `MiB`.
    private static let sizeUnits: [String: Double] = [
        "B": 1, "K": 1024, "k": 1024, "M": 1_048_576, "G": 1_073_741_824, "g": 1_073_741_824,
        "T": 1_099_511_627_776, "t": 1_099_511_627_776,
        "KiB": 1024, "MiB": 1_048_576, "GiB": 1_073_741_824, "TiB": 1_099_511_627_776,
        "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
        "KIB": 1024, "MIB": 1_048_576, "GIB": 1_073_741_824, "TIB": 1_099_511_627_776,
    ]
    private static let durationUnits: [String: Double] = ["ms": 0.001, "s": 1, "m": 60, "h": 3600]
    /// Whether `word` is a unit (or reads like one: `sec`, `GB`), for the "no space before the unit" hint.
    static func isUnit(_ word: String) -> Bool {
        let lookalikes = ["sec", "secs", "seconds", "min", "mins", "minutes", "hours", "kb", "mb", "gb", "tb"]
        return sizeUnits[word] != nil || durationUnits[word] != nil || lookalikes.contains(word.lowercased())
    }

    static let unitHelp = "sizes: B, K, M, G, T, KiB, MiB, GiB, TiB; durations: ms, s, m, h; or %"

    private mutating func number() throws(ExpressionError) -> Token {
        let start = position
        var sawDot = false
        while let c = peek(), Self.isDigit(c) || (c == "." && !sawDot) {
            if c == "." { sawDot = true }
            position += 1
        }
        let digits = String(String.UnicodeScalarView(scalars[start..<position]))
        guard let value = Double(digits) else {
            throw ExpressionError("'\(digits)' is not a number", at: SourceRange(start, position))
        }
        let unitStart = position
        if peek() == "%" {
            position += 1
            return Token(kind: .number(value, .percent), range: SourceRange(start, position))
        }
        while let c = peek(), Self.isIdentifier(c) { position += 1 }
        let unit = String(String.UnicodeScalarView(scalars[unitStart..<position]))
        var scaled = value
        var type = ValueType.number
        if unit.isEmpty {
        } else if let factor = Self.sizeUnits[unit] {
            scaled = value * factor
            type = .bytes
        } else if let factor = Self.durationUnits[unit] {
            scaled = value * factor
            type = .duration
        } else {
            let unitRange = SourceRange(unitStart, position)
            let upper = unit.uppercased()
            if ["KB", "MB", "GB", "TB"].contains(upper) {
                throw ExpressionError(
                    "unknown unit '\(unit)': sizes are binary, write \(upper.dropLast())iB or \(upper.dropLast())",
                    at: unitRange)
            }
            if ["S", "H", "MS", "SEC", "SECS", "SECONDS", "MIN", "MINS", "MINUTES", "HOURS"].contains(upper) {
                throw ExpressionError("unknown unit '\(unit)': durations are written ms, s, m or h", at: unitRange)
            }
            throw ExpressionError("unknown unit '\(unit)' (\(Self.unitHelp))", at: unitRange)
        }
        // A rate: `50/s`, `1MiB/s`. Only when `s` ends the word, so `1GiB/stats_age` stays a division.
        if peek() == "/", peek(1) == "s", peek(2).map(Self.isIdentifier) != true {
            guard type == .number || type == .bytes else {
                throw ExpressionError(
                    "only a number or a size can be per second, as in '50/s' or '1MiB/s'",
                    at: SourceRange(start, position + 2))
            }
            position += 2
            type = .rate
        }
        return Token(kind: .number(scaled, type), range: SourceRange(start, position))
    }
}
