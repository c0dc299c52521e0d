import QBalloonRules

/// Arbitrary bytes as a rule expression, compiled as a `when` (with and without `pressure` allowed) and as a
/// `set`. Every refusal has at least one error, inside the text, whose excerpt can be drawn; what compiles is
/// evaluated over unknown, small and large figures. An expression that fits on one line is also loaded in a
/// config, where its errors are placed at a line and column of the file.
enum RuleExpressionFuzzing {
    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let length = text.unicodeScalars.count
        for (expected, allowPressure) in [(ValueType.bool, true), (.bool, false), (.bytes, true)] {
            var layout = FrameLayout()
            do {
                let compiled = try ExpressionCompiler.compile(
                    text, expecting: expected, allowPressure: allowPressure, layout: &layout)
                check(compiled.type == expected, "compiled as \(compiled.type), not \(expected)")
                for figure in [Double.nan, 0, 1, 4096, 1e18, -1] {
                    // Every figure at `figure`, conditions (`pressure`, the `for` slots) unknown or true.
                    var frame = [Double](repeating: figure.isNaN ? .nan : 1, count: layout.size)
                    for variable in Variable.allCases where variable.type != .bool { frame[variable.rawValue] = figure }
                    let value = frame.withUnsafeBufferPointer { compiled($0.baseAddress!) }
                    if expected == .bool {
                        check(value.isNaN || value == 0 || value == 1, "a condition evaluated to \(value)")
                    }
                }
            } catch {
                check(!error.errors.isEmpty, "refused without an error")
                for problem in error.errors {
                    check(!problem.message.isEmpty, "an error without a message")
                    check(
                        problem.range.start >= 0 && problem.range.start <= length,
                        "an error at \(problem.range.start) in a text of \(length) characters")
                    let excerpt = problem.excerpt(of: text)
                    check(excerpt.lines.count == 2, "an excerpt of \(excerpt.lines.count) lines")
                }
            }
        }
        // In a config, as a TOML literal string: where the text can be one.
        guard !text.contains("'"), !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return }
        let config = """
            [[vm]]
            qmp = "/run/qemu/*.qmp"

            [defaults]
            pressure = '\(text)'

            [[rule]]
            name = "fuzz"
            when = '\(text)'
            set = '\(text)'
            """
        do {
            _ = try QBalloonConfig.parse(config, file: "fuzz.toml")
        } catch {
            for problem in error.errors { _ = problem.description }
        }
    }
}
