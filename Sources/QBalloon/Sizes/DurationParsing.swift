extension Duration {
    /// Parses a duration as users write it: `500ms`, `2s`, `1.5s`, `5m`, `1h`, or a plain number of seconds.
    /// - Throws: ``DurationError`` naming the text.
    public static func parse(_ text: String) throws -> Duration {
        let trimmed = text.trimmingWhitespace
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = trimmed
        var scale = 1.0
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count).trimmingWhitespace
            scale = factor
            break
        }
        guard !number.isEmpty, let value = Double(number), value.isFinite else {
            throw DurationError(text: text, reason: "expected a number with ms, s, m or h, like '2s'")
        }
        guard value >= 0 else { throw DurationError(text: text, reason: "a duration cannot be negative") }
        let seconds = value * scale
        guard seconds < 1e9 else { throw DurationError(text: text, reason: "too long") }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// The duration in seconds, as a floating-point number.
    public var seconds: Double {
        let (whole, atto) = components
        return Double(whole) + Double(atto) / 1e18
    }
}

/// A duration that cannot be parsed.
public struct DurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let reason: String
    public var description: String { "bad duration '\(text)': \(reason)" }
}
