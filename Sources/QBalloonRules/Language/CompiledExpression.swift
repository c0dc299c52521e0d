/// A compiled expression: a tree of closures over the evaluation frame, built once when the config loads.
///
/// Values are `Double`s in base units (bytes, seconds, percent points, per second); conditions are 1 (true),
/// 0 (false) or NaN (unknown: a figure the guest has not reported). Unknown follows three-valued logic:
/// `unknown and false` is false, `unknown or true` is true, a comparison with an unknown is unknown, and a
/// rule whose `when` is unknown does not fire.
public struct CompiledExpression: Sendable {
    typealias Evaluate = @Sendable (UnsafePointer<Double>) -> Double

    /// The expression as written.
    public let source: String
    /// Its type: `.bool` for conditions, `.bytes` for targets.
    public let type: ValueType
    /// The figures it reads, in order of first use (for the decision's explanation).
    public let variables: [Variable]
    let evaluate: Evaluate
    /// Its `COND for DURATION` parts, inner ones first: the engine updates them every interval.
    let heldConditions: [HeldCondition]

    package func callAsFunction(_ frame: UnsafePointer<Double>) -> Double { evaluate(frame) }
}

/// A `COND for DURATION` inside an expression: its condition, how long it must hold, and the frame slot where
/// the engine stores whether it has held that long.
struct HeldCondition: Sendable {
    let slot: Int
    let seconds: Double
    let condition: CompiledExpression.Evaluate
}

/// Hands out the frame slots of `for` conditions; the variables take the first slots.
package struct FrameLayout: Sendable {
    package private(set) var size = Variable.allCases.count

    package init() {}

    mutating func allocate() -> Int {
        defer { size += 1 }
        return size
    }
}
