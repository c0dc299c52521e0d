/// Why some bytes could not be decoded as JSON.
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: Hashable { case tooLarge, tooDeep, syntax, unencodable }
        fileprivate let base: Base
        /// The input is bigger than ``JSONLimits/maxBytes``.
        public static let tooLarge = Code(base: .tooLarge)
        /// The input nests arrays and objects deeper than ``JSONLimits/maxDepth``.
        public static let tooDeep = Code(base: .tooDeep)
        /// The input is not valid JSON.
        public static let syntax = Code(base: .syntax)
        /// A value that JSON cannot represent (a NaN or infinite number).
        public static let unencodable = Code(base: .unencodable)
        public var description: String {
            switch base {
            case .tooLarge: return "tooLarge"
            case .tooDeep: return "tooDeep"
            case .syntax: return "syntax"
            case .unencodable: return "unencodable"
            }
        }
    }

    public let code: Code
    /// What went wrong, in words, with the position where the parser gave up when there is one.
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Bounds on what ``JSON/decode(_:limits:)`` accepts, so a hostile or broken peer cannot make it use
/// unbounded memory or stack.
public struct JSONLimits: Sendable, Hashable {
    /// The largest input accepted, in bytes.
    public var maxBytes: Int
    /// The deepest nesting of arrays and objects accepted (QEMU's own limit is 1024).
    public var maxDepth: Int

    public init(maxBytes: Int = 16 << 20, maxDepth: Int = 1024) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    /// 16 MiB and 1024 levels.
    public static let `default` = JSONLimits()
}
