/// Text for a terminal screen: widths measured in columns without the ANSI escapes, cutting and padding to a
/// width, attributes, bars and sparklines. Pure, so `top`'s rendering is tested without a terminal.
enum ScreenText {
    static let escape = "\u{1B}["
    static let reset = "\u{1B}[0m"

    /// Attributes by their SGR numbers.
    enum Attribute: String, Sendable {
        case bold = "1"
        case dim = "2"
        case reverse = "7"
        case red = "31"
        case green = "32"
        case yellow = "33"
        case cyan = "36"
    }

    /// `text` with `attributes` on, and everything off after it (nothing when `enabled` is false).
    static func styled(_ text: String, _ attributes: [Attribute], enabled: Bool = true) -> String {
        guard enabled, !attributes.isEmpty, !text.isEmpty else { return text }
        return escape + attributes.map(\.rawValue).joined(separator: ";") + "m" + text + reset
    }

    /// The columns `text` takes on a terminal: escapes take none, wide (East Asian) characters two, combining
    /// marks none.
    static func width(_ text: String) -> Int {
        plain(text).unicodeScalars.reduce(0) { $0 + width(of: $1) }
    }

    static func width(of scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if value < 0x20 || (0x7F..<0xA0).contains(value) { return 0 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        let wide: [ClosedRange<UInt32>] = [
            0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
            0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD,
        ]
        return wide.contains { $0.contains(value) } ? 2 : 1
    }

    /// Plain `text` (no escapes) cut to at most `width` columns, with `…` where it was cut.
    static func cut(_ text: String, _ width: Int) -> String {
        guard width > 0 else { return "" }
        guard self.width(text) > width else { return text }
        var result = ""
        var used = 0
        for character in text {
            let columns = self.width(String(character))
            if used + columns > width - 1 { break }
            result.append(character)
            used += columns
        }
        return result + "…"
    }

    /// Plain `text` cut or padded with spaces to exactly `width` columns; `right` aligns it right.
    static func fit(_ text: String, _ width: Int, right: Bool = false) -> String {
        let cutText = cut(text, width)
        let padding = String(repeating: " ", count: max(0, width - self.width(cutText)))
        return right ? padding + cutText : cutText + padding
    }

    /// A line (escapes allowed) cut to at most `width` columns, escapes kept, attributes reset at the cut.
    static func clip(_ line: String, _ width: Int) -> String {
        guard self.width(line) > width else { return line }
        var result = ""
        var used = 0
        var inEscape = false
        for scalar in line.unicodeScalars {
            if inEscape {
                result.unicodeScalars.append(scalar)
                if scalar != "[", (0x40...0x7E).contains(scalar.value) { inEscape = false }
                continue
            }
            if scalar == "\u{1B}" {
                inEscape = true
                result.unicodeScalars.append(scalar)
                continue
            }
            let columns = Self.width(of: scalar)
            if used + columns > width { break }
            result.unicodeScalars.append(scalar)
            used += columns
        }
        return result.contains("\u{1B}") ? result + reset : result
    }

    /// The line without its escapes.
    static func plain(_ line: String) -> String {
        var result = ""
        var inEscape = false
        for scalar in line.unicodeScalars {
            if inEscape {
                if scalar != "[", (0x40...0x7E).contains(scalar.value) { inEscape = false }
                continue
            }
            if scalar == "\u{1B}" {
                inEscape = true
                continue
            }
            result.unicodeScalars.append(scalar)
        }
        return result
    }

    static let sparks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let eighths: [Character] = ["▏", "▎", "▍", "▌", "▋", "▊", "▉"]

    /// A sparkline of `values` (each 0...1, nil for no figure: a space), one character each.
    static func sparkline(_ values: [Double?]) -> String {
        String(values.map { value -> Character in
            guard let value, value.isFinite else { return " " }
            let level = Int((min(1, max(0, value)) * 7).rounded())
            return sparks[level]
        })
    }

    /// A bar `width` columns wide, filled to `fraction` (0...1) with eighth blocks, the rest spaces.
    static func bar(_ fraction: Double, width columns: Int) -> String {
        guard columns > 0 else { return "" }
        let clamped = fraction.isFinite ? min(1, max(0, fraction)) : 0
        let eighthsFilled = Int((clamped * Double(columns * 8)).rounded())
        var text = String(repeating: "█", count: eighthsFilled / 8)
        if eighthsFilled % 8 > 0 { text.append(eighths[eighthsFilled % 8 - 1]) }
        return text + String(repeating: " ", count: columns - width(text))
    }

    /// A size in at most 6 columns, for columns: `3.75G`, `768M`, `12.4G`, `512K`, `-` when unknown.
    static func shortSize(_ bytes: UInt64?) -> String {
        guard let bytes else { return "-" }
        let units: [(String, Double)] = [("T", 0x1p40), ("G", 0x1p30), ("M", 0x1p20), ("K", 0x1p10)]
        for (unit, scale) in units where Double(bytes) >= scale {
            let value = Double(bytes) / scale
            let text: String
            if value >= 100 {
                text = "\(Int(value.rounded()))"
            } else if value >= 10 {
                text = trimmed((value * 10).rounded() / 10)
            } else {
                text = trimmed((value * 100).rounded() / 100)
            }
            return text + unit
        }
        return "\(bytes)B"
    }

    private static func trimmed(_ value: Double) -> String {
        if value == value.rounded() { return "\(Int(value))" }
        var text = "\(value)"
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}
