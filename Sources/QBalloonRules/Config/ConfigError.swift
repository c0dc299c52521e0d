/// One thing wrong with a config file, with where it is: the file, the line, the column, what it belongs to
/// (`[defaults]`, `vm "db"`, `rule "reclaim idle memory"`) and, for expressions, the text with a caret.
///
///     Configs/x.toml:31: rule "reclaim idle memory": when: unknown variable 'avialable' (did you mean 'available'?)
///         avialable > 40% of actual for 60s
///         ^~~~~~~~~
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public let file: String
    /// 1-based; 0 when the error is about the file as a whole.
    public let line: Int
    /// 1-based column of the offending value (or, in an expression, of the caret); 0 if unknown.
    public let column: Int
    /// What the error belongs to: `[daemon]`, `vm "db"`, `rule "..."`; empty for the file itself.
    public let context: String
    public let message: String
    /// For expressions: the expression's line and a marker line under it.
    public let excerpt: [String]
    /// Whether the header shows the column (expression errors show it with the caret instead).
    let showsColumn: Bool

    public init(
        file: String, line: Int, column: Int, context: String, message: String, excerpt: [String] = [],
        showsColumn: Bool = true
    ) {
        self.file = file
        self.line = line
        self.column = column
        self.context = context
        self.message = message
        self.excerpt = excerpt
        self.showsColumn = showsColumn
    }

    public var description: String {
        var header = file
        if line > 0 {
            header += ":\(line)"
            if showsColumn, column > 0 { header += ":\(column)" }
        }
        header += ": "
        if !context.isEmpty { header += context + ": " }
        header += message
        return ([header] + excerpt).joined(separator: "\n")
    }
}

/// Every error found in a config file: loading does not stop at the first one.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [ConfigError]

    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
