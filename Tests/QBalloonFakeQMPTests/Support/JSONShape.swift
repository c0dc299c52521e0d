import QBalloonJSON

/// Compares a fake's message with QEMU's recorded one by shape: the same keys at every level, the same JSON
/// types, arrays of the same length, and the same strings and booleans. Numbers only need to be numbers
/// (sizes, counters and timestamps vary), except under `id`, which QEMU echoes verbatim.
enum JSONShape {
    /// The differences, as `path: what` lines; empty when the shapes match.
    static func differences(expected: JSON, actual: JSON, path: String = "") -> [String] {
        let here = path.isEmpty ? "(top)" : path
        if path == "id" || path.hasPrefix("id.") || path.hasPrefix("id[") {
            return numericallyEqual(expected, actual) ? [] : ["\(here): expected \(expected), got \(actual)"]
        }
        switch (expected, actual) {
        case (.object(let want), .object(let got)):
            var lines: [String] = []
            let missing = Set(want.keys).subtracting(got.keys).sorted()
            let extra = Set(got.keys).subtracting(want.keys).sorted()
            if !missing.isEmpty { lines.append("\(here): missing keys \(missing)") }
            if !extra.isEmpty { lines.append("\(here): unexpected keys \(extra)") }
            for key in want.keys.sorted() where got[key] != nil {
                lines += differences(
                    expected: want[key]!, actual: got[key]!, path: path.isEmpty ? key : "\(path).\(key)")
            }
            return lines
        case (.array(let want), .array(let got)):
            guard want.count == got.count else {
                return ["\(here): expected \(want.count) elements, got \(got.count)"]
            }
            return zip(want, got).enumerated().flatMap { index, pair in
                differences(expected: pair.0, actual: pair.1, path: "\(path)[\(index)]")
            }
        case (.int, .int), (.int, .uint), (.int, .double), (.uint, .int), (.uint, .uint), (.uint, .double),
            (.double, .int), (.double, .uint), (.double, .double):
            return []
        case (.string(let want), .string(let got)):
            return want == got ? [] : ["\(here): expected \"\(want)\", got \"\(got)\""]
        case (.bool(let want), .bool(let got)):
            return want == got ? [] : ["\(here): expected \(want), got \(got)"]
        case (.null, .null):
            return []
        default:
            return ["\(here): expected \(expected.typeName) \(expected), got \(actual.typeName) \(actual)"]
        }
    }

    /// Equal, with numbers compared by value whatever their case.
    static func numericallyEqual(_ lhs: JSON, _ rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.object(let left), .object(let right)):
            return left.count == right.count
                && left.allSatisfy { key, value in
                    right[key].map { numericallyEqual(value, $0) } ?? false
                }
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { numericallyEqual($0, $1) }
        default:
            if let left = lhs.doubleValue, let right = rhs.doubleValue { return left == right }
            return lhs == rhs
        }
    }
}
