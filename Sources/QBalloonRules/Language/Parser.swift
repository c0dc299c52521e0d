/// Parses an expression of the rule language into ``Syntax``.
///
/// Precedence, loosest first: `or`; `and`; `not`; `COND for DURATION`; comparisons (one per level, no
/// chains); `+ -`; `* /`; unary `-`; `P% of X`; literals, names, calls and parentheses. So
/// `available > 40% of actual for 60s and swap_in_rate == 0` holds the comparison for 60 s, and
/// `(a or b) for 60s` holds a whole disjunction.
struct Parser {
    private let tokens: [Token]
    private var index = 0

    private init(tokens: [Token]) { self.tokens = tokens }

    /// The most tokens an expression may have. Parsing, checking and evaluating recurse once per level of
    /// nesting (a parenthesis, a `not`, an operand of a chain of `+`), so an expression of thousands of them
    /// would overflow the stack and crash the daemon; real ones have tens.
    static let maxTokens = 256

    static func parse(_ text: String) throws(ExpressionError) -> Syntax {
        let tokens = try Lexer.tokens(text)
        if tokens.count > maxTokens + 1 {  // and the end
            throw ExpressionError(
                "the expression is too long: at most \(maxTokens) names, numbers and operators", at: tokens[maxTokens].range)
        }
        var parser = Parser(tokens: tokens)
        if parser.current.kind == .end {
            throw ExpressionError("the expression is empty", at: parser.current.range)
        }
        let syntax = try parser.orExpression()
        if parser.current.kind != .end {
            let token = parser.current
            if token.kind == .symbol(.close) {
                throw ExpressionError("unexpected ')' with no '(' before it", at: token.range)
            }
            throw ExpressionError(
                "unexpected \(parser.describe(token)) after the end of the expression", at: token.range)
        }
        return syntax
    }

    private var current: Token { tokens[index] }

    private mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func describe(_ token: Token) -> String {
        switch token.kind {
        case .end: return "end of the expression"
        case .identifier(let name): return "'\(name)'"
        case .keyword(let keyword): return "'\(keyword.rawValue)'"
        case .symbol(let symbol): return "'\(symbol.rawValue)'"
        case .number: return "number"
        }
    }

    private mutating func heldExpression() throws(ExpressionError) -> Syntax {
        var condition = try comparison()
        while current.kind == .keyword(.for) {
            let keyword = advance()
            let durationToken = current
            guard case .number(let seconds, let type) = durationToken.kind else {
                throw ExpressionError(
                    "expected a duration after 'for', like 'for 60s'", at: durationToken.range)
            }
            guard type == .duration else {
                let hint = type == .number ? ": add a unit, like '60s'" : ""
                throw ExpressionError(
                    "'for' needs a duration, not \(type)\(hint)", at: durationToken.range)
            }
            _ = advance()
            condition = .held(condition, seconds: seconds, keyword.range.union(durationToken.range))
        }
        return condition
    }

    private mutating func orExpression() throws(ExpressionError) -> Syntax {
        var left = try andExpression()
        while current.kind == .keyword(.or) {
            let op = advance()
            left = .binary(.or, left, try andExpression(), op.range)
        }
        return left
    }

    private mutating func andExpression() throws(ExpressionError) -> Syntax {
        var left = try notExpression()
        while current.kind == .keyword(.and) {
            let op = advance()
            left = .binary(.and, left, try notExpression(), op.range)
        }
        return left
    }

    private mutating func notExpression() throws(ExpressionError) -> Syntax {
        if current.kind == .keyword(.not) {
            let op = advance()
            return .not(try notExpression(), op.range)
        }
        return try heldExpression()
    }

    private static let comparisons: [Token.Symbol: BinaryOperator] = [
        .less: .less, .lessOrEqual: .lessOrEqual, .greater: .greater, .greaterOrEqual: .greaterOrEqual,
        .equal: .equal, .notEqual: .notEqual,
    ]

    private mutating func comparison() throws(ExpressionError) -> Syntax {
        let left = try additive()
        guard case .symbol(let symbol) = current.kind, let op = Self.comparisons[symbol] else { return left }
        let opToken = advance()
        let right = try additive()
        if case .symbol(let next) = current.kind, Self.comparisons[next] != nil {
            throw ExpressionError(
                "comparisons cannot be chained: write 'a < b and b < c'", at: current.range)
        }
        return .binary(op, left, right, opToken.range)
    }

    private mutating func additive() throws(ExpressionError) -> Syntax {
        var left = try multiplicative()
        while case .symbol(let symbol) = current.kind, symbol == .plus || symbol == .minus {
            let op = advance()
            left = .binary(symbol == .plus ? .add : .subtract, left, try multiplicative(), op.range)
        }
        return left
    }

    private mutating func multiplicative() throws(ExpressionError) -> Syntax {
        var left = try unary()
        while case .symbol(let symbol) = current.kind, symbol == .times || symbol == .divide {
            let op = advance()
            left = .binary(symbol == .times ? .multiply : .divide, left, try unary(), op.range)
        }
        return left
    }

    private mutating func unary() throws(ExpressionError) -> Syntax {
        if current.kind == .symbol(.minus) {
            let op = advance()
            return .negate(try unary(), op.range)
        }
        let base = try primary()
        if current.kind == .keyword(.of) {
            let op = advance()
            return .percentOf(base, try primary(), op.range)
        }
        return base
    }

    private mutating func primary() throws(ExpressionError) -> Syntax {
        let token = current
        switch token.kind {
        case .number(let value, let type):
            _ = advance()
            if type == .number, case .identifier(let word) = current.kind, Lexer.isUnit(word) {
                throw ExpressionError(
                    "write the unit right after its number, without a space", at: token.range.union(current.range))
            }
            return .literal(value, type, token.range)
        case .keyword(.true):
            _ = advance()
            return .boolean(true, token.range)
        case .keyword(.false):
            _ = advance()
            return .boolean(false, token.range)
        case .identifier(let name):
            _ = advance()
            guard current.kind == .symbol(.open) else { return .variable(name, token.range) }
            let open = advance()
            var arguments: [Syntax] = []
            if current.kind != .symbol(.close) {
                while true {
                    arguments.append(try orExpression())
                    if current.kind == .symbol(.comma) {
                        _ = advance()
                        continue
                    }
                    break
                }
            }
            guard current.kind == .symbol(.close) else {
                throw ExpressionError(
                    "expected ',' or ')' in the call of '\(name)', found \(describe(current))", at: current.range,
                    caret: nil)
                    .orMissingParen(open: open, at: current)
            }
            let close = advance()
            return .call(name, arguments, token.range, whole: token.range.union(close.range))
        case .symbol(.open):
            let open = advance()
            let inner = try orExpression()
            guard current.kind == .symbol(.close) else {
                if current.kind == .end {
                    throw ExpressionError("'(' is never closed", at: open.range)
                }
                throw ExpressionError("expected ')', found \(describe(current))", at: current.range)
            }
            _ = advance()
            return inner
        case .end:
            throw ExpressionError("the expression ends too early: expected a value", at: token.range)
        case .keyword(let keyword):
            throw ExpressionError("expected a value, found '\(keyword.rawValue)'", at: token.range)
        case .symbol(let symbol):
            throw ExpressionError("expected a value, found '\(symbol.rawValue)'", at: token.range)
        }
    }
}

extension ExpressionError {
    fileprivate func orMissingParen(open: Token, at token: Token) -> ExpressionError {
        token.kind == .end ? ExpressionError("'(' is never closed", at: open.range) : self
    }
}
