import Foundation
import Testing
@testable import QBalloonRules

/// Rule expressions the fuzzer (scripts/fuzz.sh) found crashing the rule language, kept in
/// Fixtures/fuzz/regressions/rules/.
@Suite("Rule language fuzz regressions")
struct ExpressionFuzzRegressionTests {
    static let directory = fuzzRegressions("rules")

    /// Thousands of nested parentheses, `not`s or minus signs, or a sum of thousands of terms, overflowed the stack
    /// in the parser or the checker (one level of recursion each): such an expression is now refused for its
    /// length before it is parsed.
    @Test("an expression nested thousands deep is an error, not a stack overflow", arguments: [
        "deep-parentheses.txt", "deep-negation.txt", "deep-not.txt", "long-sum.txt",
    ])
    func deepExpression(file: String) throws {
        let text = try String(contentsOfFile: "\(Self.directory)/\(file)", encoding: .utf8)
        var layout = FrameLayout()
        let error = try #require(throws: ExpressionErrors.self) {
            try ExpressionCompiler.compile(text, expecting: .bool, layout: &layout)
        }
        #expect(error.errors.map(\.message) == ["the expression is too long: at most 256 names, numbers and operators"])
    }

    @Test("an expression of 256 tokens still compiles")
    func longestExpression() throws {
        // `not`, `used`, 126 times `+ 1M`, `>`, `0`.
        let text = "not used" + String(repeating: " + 1M", count: 126) + " > 0"
        var layout = FrameLayout()
        _ = try ExpressionCompiler.compile(text, expecting: .bool, layout: &layout)
        #expect(throws: ExpressionErrors.self) {
            try ExpressionCompiler.compile(text + " and true", expecting: .bool, layout: &layout)
        }
    }
}
