/// Durations as people write and read them: the one parser (`500ms`, `2s`, `1.5s`, `5m`, `1h`, or a plain
/// number of seconds) and the one formatter, for the command line, config files, decisions and messages.
///
/// ```swift
/// let interval = try DurationText.parse("500ms")          // .milliseconds(500)
/// DurationText.format(.seconds(600))                      // "10m"
/// DurationText.format(seconds: 150, style: .approximate)  // "3m", for "last report 3m ago"
/// ```
public enum DurationText {
    /// Parses a duration.
    /// - Throws: ``DurationError`` naming the text.
    public static func parse(_ text: String) throws(DurationError) -> Duration {
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

    /// How ``format(seconds:style:)`` writes a duration.
    public enum Style: Sendable, Hashable {
        /// As a config would write it, exact to the millisecond: `2s`, `500ms`, `10m`, `1h`, `1.5s`, `90s`.
        case exact
        /// Rounded to whole seconds below two minutes, whole minutes below two hours, whole hours above:
        /// `5s`, `3m`, `2h`. For ages.
        case approximate
    }

    /// Formats a duration in the ``Style/exact`` style.
    public static func format(_ duration: Duration) -> String {
        format(seconds: duration.seconds)
    }

    /// Formats a number of seconds.
    public static func format(seconds: Double, style: Style = .exact) -> String {
        guard seconds.isFinite else { return "\(seconds)s" }
        if seconds < 0 { return "-" + format(seconds: -seconds, style: style) }
        switch style {
        case .approximate:
            if seconds < 120 { return number(seconds.rounded()) + "s" }
            if seconds < 7200 { return number((seconds / 60).rounded()) + "m" }
            return number((seconds / 3600).rounded()) + "h"
        case .exact:
            if seconds == 0 { return "0s" }
            if seconds < 1 { return number(seconds * 1000) + "ms" }
            if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return number(seconds / 3600) + "h" }
            if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return number(seconds / 60) + "m" }
            return number(seconds) + "s"
        }
    }

    /// A whole number as is, anything else to three decimals.
    private static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded)
    }
}

/// A duration that cannot be parsed.
public struct DurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let reason: String
    public var description: String { "bad duration '\(text)': \(reason)" }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    package var seconds: Double {
        let (whole, atto) = components
        return Double(whole) + Double(atto) / 1e18
    }
}
