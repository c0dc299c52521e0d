/// The parsed form of an expression, before names and types are checked.
indirect enum Syntax: Sendable, Hashable {
    case literal(Double, ValueType, SourceRange)
    case boolean(Bool, SourceRange)
    case variable(String, SourceRange)
    case negate(Syntax, SourceRange)
    case not(Syntax, SourceRange)
    /// `+ - * / < <= > >= == != and or`, with the operator's own span.
    case binary(BinaryOperator, Syntax, Syntax, SourceRange)
    /// `40% of actual`, with the span of `of`.
    case percentOf(Syntax, Syntax, SourceRange)
    /// `min(a, b, ...)`, `max(...)`: the span of the name.
    case call(String, [Syntax], SourceRange, whole: SourceRange)
    /// `COND for 60s`: held continuously that long. The span of `for DURATION`.
    case held(Syntax, seconds: Double, SourceRange)

    var range: SourceRange {
        switch self {
        case .literal(_, _, let range), .boolean(_, let range), .variable(_, let range): return range
        case .negate(let operand, let range), .not(let operand, let range): return range.union(operand.range)
        case .binary(_, let left, let right, _), .percentOf(let left, let right, _):
            return left.range.union(right.range)
        case .call(_, _, _, let whole): return whole
        case .held(let condition, _, let range): return condition.range.union(range)
        }
    }
}

enum BinaryOperator: String, Sendable, Hashable {
    case add = "+", subtract = "-", multiply = "*", divide = "/"
    case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "==", notEqual = "!="
    case and, or

    var isComparison: Bool {
        switch self {
        case .less, .lessOrEqual, .greater, .greaterOrEqual, .equal, .notEqual: return true
        default: return false
        }
    }
}
