/// The type of a value in the rule language. The checker gives every expression one, so `available > 60s`
/// (bytes against a duration) is refused when the config is loaded.
public enum ValueType: String, Sendable, Hashable, CustomStringConvertible {
    /// A size in bytes: `2GiB`, `available`.
    case bytes
    /// A plain quantity: `major_faults`, or the ratio of two sizes (`used / total`).
    case count
    /// Something per second: `swap_in_rate`, `50/s`, `1MiB/s`.
    case rate
    /// A length of time: `60s`, `stats_age`.
    case duration
    /// A percentage: `40%`, `host_psi_some_avg10`. Turned into a size with `of`: `40% of actual`.
    case percent
    /// A condition: `available < 1GiB`, `pressure`.
    case bool
    /// A number written without a unit: it takes the type of what it meets (`stats_age > 10` is 10 seconds,
    /// `actual > 0` is 0 bytes, `major_faults_rate > 50` is 50 per second).
    case number

    public var description: String {
        switch self {
        case .bytes: return "bytes"
        case .count: return "a count"
        case .rate: return "a rate"
        case .duration: return "a duration"
        case .percent: return "a percentage"
        case .bool: return "a condition"
        case .number: return "a number"
        }
    }

    var isNumeric: Bool { self != .bool }
}
