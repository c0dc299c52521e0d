/// Checks an expression's names and types and compiles it to closures: every error is found here, when the
/// config loads, not when the rule first fires.
///
/// ```swift
/// var layout = FrameLayout()
/// let when = try ExpressionCompiler.compile("available > 40% of actual for 60s", expecting: .bool, layout: &layout)
/// ```
package struct ExpressionCompiler {
    private let source: [Unicode.Scalar]
    private var errors: [ExpressionError] = []
    private var variables: [Variable] = []
    private var held: [HeldCondition] = []
    private var layout: FrameLayout
    private let allowPressure: Bool

    private init(_ text: String, layout: FrameLayout, allowPressure: Bool) {
        self.source = Array(text.unicodeScalars)
        self.layout = layout
        self.allowPressure = allowPressure
    }

    /// Compiles `text`, which must have type `expected` (`.bool` or `.bytes`).
    /// - Throws: every ``ExpressionError`` found (at least one), in the order of the text.
    package static func compile(
        _ text: String, expecting expected: ValueType, allowPressure: Bool = true, layout: inout FrameLayout
    ) throws(ExpressionErrors) -> CompiledExpression {
        let syntax: Syntax
        do {
            syntax = try Parser.parse(text)
        } catch {
            throw ExpressionErrors(errors: [error])
        }
        var compiler = ExpressionCompiler(text, layout: layout, allowPressure: allowPressure)
        let node = compiler.compile(syntax)
        if let node, compiler.errors.isEmpty {
            let type = node.type == .number && expected == .bytes ? .bytes : node.type
            if type != expected {
                let what = expected == .bool ? "a condition, like 'available < 10% of actual'" : "a size, like 'used + 1GiB'"
                var message = "expected \(what), but this is \(node.type)"
                if node.type == .percent, expected == .bytes {
                    message += ": write '\(compiler.text(syntax.range)) of max' (or of actual, total...)"
                }
                compiler.errors.append(ExpressionError(message, at: syntax.range))
            }
        }
        guard let node, compiler.errors.isEmpty else {
            throw ExpressionErrors(errors: compiler.errors.sorted { $0.column < $1.column })
        }
        layout = compiler.layout
        return CompiledExpression(
            source: text, type: expected, variables: compiler.variables, evaluate: node.evaluate,
            heldConditions: compiler.held)
    }

    private struct Node {
        let type: ValueType
        let evaluate: CompiledExpression.Evaluate
        /// The value, when it does not depend on any figure.
        let constant: Double?

        init(_ type: ValueType, constant: Double) {
            self.type = type
            self.constant = constant
            self.evaluate = { _ in constant }
        }

        init(_ type: ValueType, _ evaluate: @escaping CompiledExpression.Evaluate) {
            self.type = type
            self.constant = nil
            self.evaluate = evaluate
        }
    }

    private func text(_ range: SourceRange) -> String {
        let start = Swift.min(range.start, source.count)
        let end = Swift.min(range.end, source.count)
        return String(String.UnicodeScalarView(source[start..<end]))
    }

    private func quoted(_ syntax: Syntax) -> String { "'\(text(syntax.range))'" }

    private mutating func fail(_ message: String, _ syntax: Syntax, caret: SourceRange? = nil) -> Node? {
        errors.append(ExpressionError(message, at: syntax.range, caret: caret))
        return nil
    }

    private mutating func compile(_ syntax: Syntax) -> Node? {
        switch syntax {
        case .literal(let value, let type, _):
            return Node(type, constant: value)
        case .boolean(let value, _):
            return Node(.bool, constant: value ? 1 : 0)
        case .variable(let name, let range):
            guard let variable = Variable.byName[name] else {
                var message = "unknown variable '\(name)'"
                if Variable.functions.contains(name) == false,
                    let suggestion = closestMatch(to: name, in: Variable.allCases.map(\.name))
                {
                    message += " (did you mean '\(suggestion)'?)"
                }
                errors.append(ExpressionError(message, at: range))
                return nil
            }
            if variable == .pressure, !allowPressure {
                return fail("'pressure' cannot be used inside the pressure condition itself", syntax)
            }
            if !variables.contains(variable) { variables.append(variable) }
            let slot = variable.rawValue
            return Node(variable.type) { $0[slot] }
        case .negate(let operandSyntax, let range):
            guard let operand = compile(operandSyntax) else { return nil }
            guard operand.type.isNumeric else {
                return fail("'-' needs a number, but \(quoted(operandSyntax)) is \(operand.type)", syntax, caret: range)
            }
            if let value = operand.constant { return Node(operand.type, constant: -value) }
            let inner = operand.evaluate
            return Node(operand.type) { -inner($0) }
        case .not(let operandSyntax, let range):
            guard let operand = compile(operandSyntax) else { return nil }
            guard operand.type == .bool else {
                return fail("'not' needs a condition, but \(quoted(operandSyntax)) is \(operand.type)", syntax, caret: range)
            }
            let inner = operand.evaluate
            return Node(.bool) { frame in
                let value = inner(frame)
                return value.isNaN ? .nan : 1 - value
            }
        case .binary(let op, let leftSyntax, let rightSyntax, let opRange):
            let left = compile(leftSyntax)
            let right = compile(rightSyntax)
            guard let left, let right else { return nil }
            return binary(op, left, right, leftSyntax, rightSyntax, syntax, opRange)
        case .percentOf(let percentSyntax, let baseSyntax, let opRange):
            let percent = compile(percentSyntax)
            let base = compile(baseSyntax)
            guard let percent, let base else { return nil }
            guard percent.type == .percent else {
                return fail(
                    "'of' needs a percentage before it, like '40% of actual', but \(quoted(percentSyntax)) is \(percent.type)",
                    syntax, caret: opRange)
            }
            guard base.type.isNumeric else {
                return fail("'of' needs a number after it, but \(quoted(baseSyntax)) is \(base.type)", syntax, caret: opRange)
            }
            let type = base.type
            if let p = percent.constant, let b = base.constant { return Node(type, constant: p / 100 * b) }
            let (p, b) = (percent.evaluate, base.evaluate)
            if let constant = percent.constant {
                let fraction = constant / 100
                return Node(type) { fraction * b($0) }
            }
            return Node(type) { p($0) / 100 * b($0) }
        case .call(let name, let argumentSyntax, let nameRange, _):
            guard Variable.functions.contains(name) else {
                var message: String
                if Variable.byName[name] != nil {
                    message = "'\(name)' is a figure, not a function"
                } else {
                    message = "unknown function '\(name)'"
                    if let suggestion = closestMatch(to: name, in: Variable.functions) {
                        message += " (did you mean '\(suggestion)'?)"
                    } else {
                        message += " (functions: min, max)"
                    }
                }
                errors.append(ExpressionError(message, at: nameRange))
                return nil
            }
            let arguments = argumentSyntax.map { compile($0) }
            guard arguments.allSatisfy({ $0 != nil }) else { return nil }
            let nodes = arguments.compactMap { $0 }
            guard nodes.count >= 2 else {
                return fail("'\(name)' needs at least two values, like '\(name)(used, 1GiB)'", syntax, caret: nameRange)
            }
            var type = ValueType.number
            for (node, argument) in zip(nodes, argumentSyntax) {
                guard node.type.isNumeric else {
                    return fail("'\(name)' needs numbers, but \(quoted(argument)) is \(node.type)", syntax, caret: nameRange)
                }
                guard let unified = Self.unify(type, node.type) else {
                    return fail(
                        "'\(name)' needs values of one kind, but \(quoted(argument)) is \(node.type) and the values before it are \(type)",
                        syntax, caret: nameRange)
                }
                type = unified
            }
            let isMax = name == "max"
            if nodes.allSatisfy({ $0.constant != nil }) {
                let values = nodes.map { $0.constant! }
                return Node(type, constant: isMax ? values.max()! : values.min()!)
            }
            let evaluators = nodes.map(\.evaluate)
            if evaluators.count == 2 {
                let (a, b) = (evaluators[0], evaluators[1])
                return Node(type) { frame in
                    let x = a(frame)
                    let y = b(frame)
                    if x.isNaN || y.isNaN { return .nan }
                    return isMax ? Swift.max(x, y) : Swift.min(x, y)
                }
            }
            return Node(type) { frame in
                var result = evaluators[0](frame)
                for evaluate in evaluators.dropFirst() {
                    let value = evaluate(frame)
                    if value.isNaN || result.isNaN { return .nan }
                    result = isMax ? Swift.max(result, value) : Swift.min(result, value)
                }
                return result
            }
        case .held(let conditionSyntax, let seconds, let range):
            guard let condition = compile(conditionSyntax) else { return nil }
            guard condition.type == .bool else {
                return fail("'for' needs a condition before it, but \(quoted(conditionSyntax)) is \(condition.type)", syntax, caret: range)
            }
            let slot = layout.allocate()
            held.append(HeldCondition(slot: slot, seconds: seconds, condition: condition.evaluate))
            return Node(.bool) { $0[slot] }
        }
    }

    /// The common type of two operands that must agree: a plain number takes the other's type.
    static func unify(_ a: ValueType, _ b: ValueType) -> ValueType? {
        if a == b { return a }
        if a == .number, b.isNumeric { return b }
        if b == .number, a.isNumeric { return a }
        return nil
    }

    private func mismatchHint(_ a: ValueType, _ b: ValueType) -> String {
        let pair = Set([a, b])
        if pair == [.percent, .bytes] { return "; turn a percentage into a size with 'of', like '10% of actual'" }
        if pair == [.rate, .bytes] { return "; write a rate per second, like '1MiB/s'" }
        if pair == [.rate, .count] { return "; write a rate per second, like '50/s'" }
        return ""
    }

    private mutating func binary(
        _ op: BinaryOperator, _ left: Node, _ right: Node, _ leftSyntax: Syntax, _ rightSyntax: Syntax,
        _ syntax: Syntax, _ opRange: SourceRange
    ) -> Node? {
        let (a, b) = (left.evaluate, right.evaluate)
        switch op {
        case .and, .or:
            for (node, operand) in [(left, leftSyntax), (right, rightSyntax)] where node.type != .bool {
                return fail(
                    "'\(op.rawValue)' needs conditions on both sides, but \(quoted(operand)) is \(node.type)",
                    syntax, caret: opRange)
            }
            if op == .and {
                return Node(.bool) { frame in
                    let x = a(frame)
                    if x == 0 { return 0 }
                    let y = b(frame)
                    if y == 0 { return 0 }
                    return x.isNaN || y.isNaN ? .nan : 1
                }
            }
            return Node(.bool) { frame in
                let x = a(frame)
                if x == 1 { return 1 }
                let y = b(frame)
                if y == 1 { return 1 }
                return x.isNaN || y.isNaN ? .nan : 0
            }
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual:
            if left.type == .bool || right.type == .bool {
                if left.type == .bool, right.type == .bool {
                    if op != .equal, op != .notEqual {
                        return fail("'\(op.rawValue)' compares numbers, but both sides are conditions", syntax, caret: opRange)
                    }
                } else {
                    let operand = left.type == .bool ? leftSyntax : rightSyntax
                    return fail(
                        "'\(op.rawValue)' compares numbers, but \(quoted(operand)) is a condition", syntax, caret: opRange)
                }
            } else if Self.unify(left.type, right.type) == nil {
                return fail(
                    "cannot compare \(left.type) (\(quoted(leftSyntax))) with \(right.type) (\(quoted(rightSyntax)))"
                        + mismatchHint(left.type, right.type), syntax, caret: opRange)
            }
            let compare: @Sendable (Double, Double) -> Bool
            switch op {
            case .equal: compare = { $0 == $1 }
            case .notEqual: compare = { $0 != $1 }
            case .less: compare = { $0 < $1 }
            case .lessOrEqual: compare = { $0 <= $1 }
            case .greater: compare = { $0 > $1 }
            default: compare = { $0 >= $1 }
            }
            if let x = left.constant, let y = right.constant { return Node(.bool, constant: compare(x, y) ? 1 : 0) }
            if let y = right.constant {
                switch op {
                case .less: return Node(.bool) { frame in let x = a(frame); return x.isNaN ? .nan : (x < y ? 1 : 0) }
                case .greater: return Node(.bool) { frame in let x = a(frame); return x.isNaN ? .nan : (x > y ? 1 : 0) }
                default: break
                }
            }
            return Node(.bool) { frame in
                let x = a(frame)
                let y = b(frame)
                if x.isNaN || y.isNaN { return .nan }
                return compare(x, y) ? 1 : 0
            }
        case .add, .subtract:
            for (node, operand) in [(left, leftSyntax), (right, rightSyntax)] where !node.type.isNumeric {
                return fail("'\(op.rawValue)' needs numbers, but \(quoted(operand)) is \(node.type)", syntax, caret: opRange)
            }
            guard let type = Self.unify(left.type, right.type) else {
                let phrase = op == .add ? "add \(right.type) (\(quoted(rightSyntax))) to" : "subtract \(right.type) (\(quoted(rightSyntax))) from"
                return fail(
                    "cannot \(phrase) \(left.type) (\(quoted(leftSyntax)))" + mismatchHint(left.type, right.type),
                    syntax, caret: opRange)
            }
            if let x = left.constant, let y = right.constant {
                return Node(type, constant: op == .add ? x + y : x - y)
            }
            if op == .add { return Node(type) { a($0) + b($0) } }
            return Node(type) { a($0) - b($0) }
        case .multiply, .divide:
            for (node, operand) in [(left, leftSyntax), (right, rightSyntax)] where !node.type.isNumeric {
                return fail("'\(op.rawValue)' needs numbers, but \(quoted(operand)) is \(node.type)", syntax, caret: opRange)
            }
            guard let type = op == .multiply ? Self.product(left.type, right.type) : Self.quotient(left.type, right.type)
            else {
                let verb = op == .multiply ? "multiply" : "divide"
                var message = "cannot \(verb) \(left.type) (\(quoted(leftSyntax))) by \(right.type) (\(quoted(rightSyntax)))"
                if left.type == .percent || right.type == .percent {
                    message += "; take a percentage of a value with 'of', like '25% of actual'"
                }
                return fail(message, syntax, caret: opRange)
            }
            if op == .multiply {
                if let x = left.constant, let y = right.constant { return Node(type, constant: x * y) }
                return Node(type) { a($0) * b($0) }
            }
            if let x = left.constant, let y = right.constant, y != 0 { return Node(type, constant: x / y) }
            if let y = right.constant, y == 0 {
                return fail("division by zero", syntax, caret: opRange)
            }
            return Node(type) { frame in
                let y = b(frame)
                return y == 0 ? .nan : a(frame) / y
            }
        }
    }

    /// The type of a product: a plain number or a count scales anything; a rate times a duration is a count.
    static func product(_ a: ValueType, _ b: ValueType) -> ValueType? {
        if a == .number { return b }
        if b == .number { return a }
        if a == .count, b != .percent { return b }
        if b == .count, a != .percent { return a }
        if Set([a, b]) == [.rate, .duration] { return .count }
        return nil
    }

    /// The type of a quotient: like over like is a count (a ratio); a size or count per duration is a rate.
    static func quotient(_ a: ValueType, _ b: ValueType) -> ValueType? {
        if b == .number || b == .count { return a == .number ? b : a }
        if a == b { return .count }
        if b == .duration, a == .bytes || a == .count { return .rate }
        return nil
    }
}

/// Every error found in one expression.
package struct ExpressionErrors: Error, Sendable {
    package let errors: [ExpressionError]
}
