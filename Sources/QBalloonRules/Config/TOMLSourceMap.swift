/// Where keys and tables sit in a TOML file's text.
///
/// TOMLKit 0.6.0 gives source positions only for parse errors, not for values, so once the file has parsed
/// this scans its lines: it follows `[table]` and `[[array]]` headers (counting array entries) and records
/// the line and value column of each `key = value`, skipping comments, multi-line strings and multi-line
/// arrays. A key is found by its table path and name: `vm[1].min`, `defaults.step`, `rule[0].when`.
struct TOMLSourceMap: Sendable {
    struct Position: Sendable, Hashable {
        /// 1-based line of the key.
        let line: Int
        /// 1-based column where the value starts (its opening quote for a string).
        let column: Int
        /// Whether the value is a multi-line string (`"""` or `'''`) whose text starts on the next line.
        let startsOnNextLine: Bool
        /// Whether the value is a basic or literal string on one line (so columns inside it map directly).
        let isSingleLineString: Bool
    }

    private(set) var keys: [String: Position] = [:]
    private(set) var tables: [String: Int] = [:]
    /// The first `[table]` or `[[array]]` header whose name starts with a character no key can start with
    /// (`[*]`, a `[` that ends its line), as (line, column) of that character: toml++ asserts on those, which
    /// aborts the process, so they are refused before it sees them.
    private(set) var badHeader: (line: Int, column: Int)?
    let lines: [String]

    init(_ text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        var table = ""
        var arrayCounts: [String: Int] = [:]
        var index = 0
        while index < lines.count {
            let scalars = Array(lines[index].unicodeScalars)
            let lineNumber = index + 1
            index += 1
            var i = lineNumber == 1 && scalars.first == "\u{FEFF}" ? 1 : 0  // a byte order mark, as toml++ skips it
            while i < scalars.count, scalars[i] == " " || scalars[i] == "\t" { i += 1 }
            guard i < scalars.count, scalars[i] != "#" else { continue }
            if scalars[i] == "[" {
                if badHeader == nil, let column = Self.badHeaderNameColumn(scalars, bracket: i) {
                    badHeader = (lineNumber, column)
                }
                let isArray = i + 1 < scalars.count && scalars[i + 1] == "["
                let nameStart = i + (isArray ? 2 : 1)
                var nameEnd = nameStart
                while nameEnd < scalars.count, scalars[nameEnd] != "]" { nameEnd += 1 }
                let name = Self.unquote(String(String.UnicodeScalarView(scalars[nameStart..<nameEnd])))
                if isArray {
                    let count = arrayCounts[name, default: 0]
                    arrayCounts[name] = count + 1
                    table = "\(name)[\(count)]"
                } else {
                    table = name
                }
                tables[table] = lineNumber
                continue
            }
            // key = value
            var keyEnd = i
            var quote: Unicode.Scalar?
            while keyEnd < scalars.count {
                let c = scalars[keyEnd]
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == "\"" || c == "'" {
                    quote = c
                } else if c == "=" {
                    break
                }
                keyEnd += 1
            }
            guard keyEnd < scalars.count else { continue }
            let key = Self.unquote(String(String.UnicodeScalarView(scalars[i..<keyEnd])))
            var valueStart = keyEnd + 1
            while valueStart < scalars.count, scalars[valueStart] == " " || scalars[valueStart] == "\t" {
                valueStart += 1
            }
            let rest = String(String.UnicodeScalarView(scalars[min(valueStart, scalars.count)...]))
            var startsOnNextLine = false
            var singleLineString = false
            for delimiter in ["\"\"\"", "'''"] where rest.hasPrefix(delimiter) {
                let after = rest.dropFirst(3)
                if !after.contains(delimiter) {
                    startsOnNextLine = after.trimmingWhitespace.isEmpty
                    while index < lines.count, !lines[index].contains(delimiter) { index += 1 }
                    index += 1
                }
            }
            if !rest.hasPrefix("\"\"\""), !rest.hasPrefix("'''"), rest.hasPrefix("\"") || rest.hasPrefix("'") {
                singleLineString = true
            }
            if rest.hasPrefix("[") {
                var depth = Self.bracketDepth(rest)
                while depth > 0, index < lines.count {
                    depth += Self.bracketDepth(lines[index])
                    index += 1
                }
            }
            let path = table.isEmpty ? key : "\(table).\(key)"
            keys[path] = Position(
                line: lineNumber, column: valueStart + 1, startsOnNextLine: startsOnNextLine,
                isSingleLineString: singleLineString)
        }
    }

    /// The 1-based column where the name of the header opening at `bracket` starts, if no key can start there:
    /// not a bare-key character, a quote or the closing `]` (whose error toml++ reports itself).
    private static func badHeaderNameColumn(_ scalars: [Unicode.Scalar], bracket: Int) -> Int? {
        var i = bracket + 1
        let spaced = i < scalars.count && (scalars[i] == " " || scalars[i] == "\t")
        while i < scalars.count, scalars[i] == " " || scalars[i] == "\t" { i += 1 }
        if i < scalars.count, scalars[i] == "[" {
            if spaced { return nil }  // `[ [`: toml++ refuses it
            i += 1
            while i < scalars.count, scalars[i] == " " || scalars[i] == "\t" { i += 1 }
        }
        guard i < scalars.count else { return i + 1 }  // the line break (or the end) right after the bracket
        let c = scalars[i]
        let startsKey =
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || c == "-"
            || c == "\"" || c == "'" || c == "]"
        return startsKey ? nil : i + 1
    }

    private static func unquote(_ text: String) -> String {
        var name = String(text.trimmingWhitespace)
        if name.count >= 2, let first = name.first, first == "\"" || first == "'", name.last == first {
            name = String(name.dropFirst().dropLast())
        }
        return name
    }

    /// `[` minus `]` outside strings and comments.
    private static func bracketDepth(_ text: String) -> Int {
        var depth = 0
        var quote: Character?
        for c in text {
            if let q = quote {
                if c == q { quote = nil }
                continue
            }
            switch c {
            case "\"", "'": quote = c
            case "#": return depth
            case "[": depth += 1
            case "]": depth -= 1
            default: break
            }
        }
        return depth
    }
}

extension StringProtocol {
    fileprivate var trimmingWhitespace: Substring {
        var text = self[...]
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return Substring(text)
    }
}
