import Foundation

/// The figures of one run: a table for people, then one flat JSON object for scripts.
struct Report {
    enum Value {
        case number(Double, decimals: Int)
        case integer(Int)
        case string(String)
        case bool(Bool)
        case object([(String, Value)])

        var json: String {
            switch self {
            case .number(let value, let decimals):
                guard value.isFinite else { return "null" }
                return String(format: "%.\(decimals)f", value)
            case .integer(let value): return String(value)
            case .string(let text): return Report.quoted(text)
            case .bool(let flag): return flag ? "true" : "false"
            case .object(let members):
                return "{" + members.map { "\(Report.quoted($0.0)): \($0.1.json)" }.joined(separator: ", ") + "}"
            }
        }
    }

    private(set) var entries: [(String, Value)] = []
    private var lines: [String] = []

    mutating func set(_ key: String, _ value: Value) {
        entries.removeAll { $0.0 == key }
        entries.append((key, value))
    }

    mutating func section(_ title: String) {
        lines.append("")
        lines.append(title)
        lines.append(String(repeating: "-", count: title.count))
    }

    /// A table row: a label, then cells padded into columns.
    mutating func row(_ label: String, _ cells: [String]) {
        let padded = label.padding(toLength: 44, withPad: " ", startingAt: 0)
        lines.append(padded + cells.map { $0.leftPadded(to: 12) }.joined(separator: " "))
    }

    mutating func note(_ text: String) {
        lines.append(text)
    }

    var table: String { lines.joined(separator: "\n") }

    var json: String { Value.object(entries).json }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// `12.3` style numbers for the table.
func format(_ value: Double, _ decimals: Int = 1) -> String {
    String(format: "%.\(decimals)f", value)
}
