/// A span of an expression's text, in characters (Unicode scalars) from its start; `end` is exclusive.
public struct SourceRange: Sendable, Hashable {
    public var start: Int
    public var end: Int

    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = max(end, start + 1)
    }

    func union(_ other: SourceRange) -> SourceRange { SourceRange(min(start, other.start), max(end, other.end)) }
}

/// What is wrong with a `when`, `set` or `pressure` expression, and where: found when the config is loaded.
public struct ExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    /// The span to underline.
    public let range: SourceRange
    /// Where the caret goes (an operator between its underlined operands); the start of `range` if `nil`.
    public let caret: SourceRange?

    public init(_ message: String, at range: SourceRange, caret: SourceRange? = nil) {
        self.message = message
        self.range = range
        self.caret = caret
    }

    public var description: String { message }

    /// The character offset of the caret.
    public var column: Int { (caret ?? range).start }

    /// The line of `text` holding the error and the marker line under it, each indented by `indent`:
    ///
    ///     available > 40% of actual for 60s
    ///     ^~~~~~~~~
    ///
    /// Returns the two lines and how many line breaks precede the error in `text` (for multi-line strings).
    public func excerpt(of text: String, indent: String = "    ") -> (lines: [String], lineOffset: Int) {
        let scalars = Array(text.unicodeScalars)
        var lineStart = 0
        var lineOffset = 0
        let anchor = min(column, scalars.count)
        for index in 0..<anchor where scalars[index] == "\n" {
            lineStart = index + 1
            lineOffset += 1
        }
        var lineEnd = lineStart
        while lineEnd < scalars.count, scalars[lineEnd] != "\n" { lineEnd += 1 }
        var line = String(String.UnicodeScalarView(scalars[lineStart..<lineEnd]))
        while line.last == " " || line.last == "\r" { line.removeLast() }
        // Operands are underlined with `~`, the operator gets `^~`, and the spaces around it stay blank.
        var gapStart = caret?.start ?? 0
        while caret != nil, gapStart > range.start, gapStart <= scalars.count, scalars[gapStart - 1] == " " {
            gapStart -= 1
        }
        var gapEnd = caret?.end ?? 0
        while gapEnd < Swift.min(range.end, scalars.count), scalars[gapEnd] == " " { gapEnd += 1 }
        var marker = ""
        let lastColumn = max(min(range.end, lineEnd), anchor + 1)
        for index in lineStart..<lastColumn {
            if let caret, index >= caret.start, index < caret.end {
                marker += index == caret.start ? "^" : "~"
            } else if caret == nil, index == range.start {
                marker += "^"
            } else if index >= range.start, index < range.end {
                let inGap = caret.map { index >= gapStart && index < $0.start || index >= $0.end && index < gapEnd } ?? false
                marker += inGap ? " " : "~"
            } else {
                marker += " "
            }
        }
        while marker.last == " " { marker.removeLast() }
        return ([indent + line, indent + marker], lineOffset)
    }
}
