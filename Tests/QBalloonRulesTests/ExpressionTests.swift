import Testing
@testable import QBalloonRules

@Suite("Rule language: parsing and evaluation")
struct ExpressionTests {
    static let figures: [Variable: Double] = [
        .actual: 4096 * 1_048_576, .max: 8192 * 1_048_576, .min: 2048 * 1_048_576, .available: 2048 * 1_048_576,
        .used: 1024 * 1_048_576, .total: 4096 * 1_048_576, .statsAge: 3, .swapInRate: 0, .majorFaultsRate: 60,
        .hostPSISomeAvg10: 12.5, .pressure: 0,
    ]

    @Test(
        "conditions",
        arguments: [
            ("available > 40% of actual", true),
            ("available > 60% of actual", false),
            ("available < 10% of actual or major_faults_rate > 50", true),
            ("available < 10% of actual and major_faults_rate > 50", false),
            ("not (available < 1GiB)", true),
            ("used + 30% of used < 2GiB", true),
            ("stats_age > 2s and stats_age < 1m", true),
            ("stats_age > 2", true),
            ("swap_in_rate > 0", false),
            ("major_faults_rate > 50/s", true),
            ("swap_in_rate >= 1MiB/s", false),
            ("host_psi_some_avg10 > 10%", true),
            ("host_psi_some_avg10 > 10", true),
            ("used / total > 0.2", true),
            ("available == 2048M", true),
            ("available != 2GiB", false),
            ("min(available, used) == 1GiB", true),
            ("max(available, used, 3GiB) == 3GiB", true),
            ("pressure == false", true),
            ("true and not false", true),
            ("actual - 1GiB * 2 == 2GiB", true),
            ("(actual - 1GiB) * 2 == 6GiB", true),
            ("-1GiB + actual == 3GiB", true),
            ("1.5G == 1536MiB", true),
            ("used * 2 / 1024 == 2MiB", true),
            ("used / 1s > 1MiB/s", true),
            ("swap_in_rate * 10s == 0", true),
            ("stats_age > 500ms", true),
        ])
    func condition(text: String, expected: Bool) throws {
        #expect(try evaluate(text, Self.figures) == (expected ? 1 : 0))
    }

    @Test(
        "sizes",
        arguments: [
            ("used + 30% of used", 1331.2),
            ("actual + 25% of actual", 5120),
            ("max", 8192),
            ("max(used + 30% of used, 1536MiB)", 1536),
            ("min(used, 512M)", 512),
            ("50% of max", 4096),
            ("2GiB", 2048),
            ("1073741824", 1024),
        ])
    func size(text: String, mebibytes: Double) throws {
        let value = try #require(try evaluate(text, expecting: .bytes, Self.figures))
        #expect(abs(value / 1_048_576 - mebibytes) < 0.001)
    }

    @Test("unknown figures follow three-valued logic")
    func unknown() throws {
        // `free` is not in the figures: unknown.
        #expect(try evaluate("free < 1GiB", Self.figures) == nil)
        #expect(try evaluate("free < 1GiB and available > 100GiB", Self.figures) == 0)
        #expect(try evaluate("free < 1GiB or available > 1GiB", Self.figures) == 1)
        #expect(try evaluate("not (free < 1GiB)", Self.figures) == nil)
        #expect(try evaluate("min(free, 1GiB)", expecting: .bytes, Self.figures) == nil)
        #expect(try evaluate("actual / (used - used)", expecting: .count, Self.figures) == nil)
    }

    @Test("'for' binds tighter than and/or, looser than comparisons")
    func forPrecedence() throws {
        let syntax = try Parser.parse("available > 40% of actual for 60s and swap_in_rate == 0")
        guard case .binary(.and, .held(.binary(.greater, _, _, _), let seconds, _), _, _) = syntax else {
            Issue.record("parsed as \(syntax)")
            return
        }
        #expect(seconds == 60)
        guard case .held(.binary(.or, _, _, _), 300, _) = try Parser.parse("(a or b) for 5m") else {
            Issue.record("parenthesized 'for' not held as a whole")
            return
        }
    }

    @Test("lexer units", arguments: [
        ("2GiB", 2.0 * 1_073_741_824, ValueType.bytes), ("512M", 512.0 * 1_048_576, .bytes), ("5m", 300, .duration),
        ("500ms", 0.5, .duration), ("1h", 3600, .duration), ("40%", 40, .percent), ("50/s", 50, .rate),
        ("1MiB/s", 1_048_576, .rate), ("12", 12, .number), ("0.25", 0.25, .number), ("3k", 3072, .bytes),
        ("100B", 100, .bytes),
    ])
    func units(text: String, value: Double, type: ValueType) throws {
        let tokens = try Lexer.tokens(text)
        #expect(tokens.first?.kind == .number(value, type))
        #expect(tokens.count == 2)
    }
}
