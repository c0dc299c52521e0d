/// A size as a user writes it: bytes (`1073741824`), a binary unit (`512M`, `2GiB`, `1.5G`; K, M, G, T and
/// KiB, MiB, GiB, TiB are all powers of 1024, `B` is bytes; any letter case), or a share of the VM's maximum
/// RAM (`50%`). Decimal units (`GB`) are refused rather than guessed at.
///
/// The one place sizes are parsed and formatted: the command line, config files and fake-server scenarios all
/// read sizes here, and every message shows bytes with ``format(_:)``.
///
/// ```swift
/// let size = try MemorySize("2GiB")                         // .bytes(2147483648)
/// let half = try MemorySize("50%").bytes(ofMax: 4 << 30)   // 2147483648
/// MemorySize.format(1_610_612_736)                          // "1.5 GiB"
/// ```
public enum MemorySize: Sendable, Hashable, CustomStringConvertible {
    case bytes(UInt64)
    /// A percentage (0...100) of the VM's maximum RAM.
    case percentOfMax(Double)

    /// Parses a size. Throws ``MemorySizeError`` naming the text and what is wrong with it.
    public init(_ text: String) throws(MemorySizeError) {
        let trimmed = text.trimmingWhitespace
        guard !trimmed.isEmpty else { throw MemorySizeError(text: text, reason: "empty size") }
        if trimmed.hasSuffix("%") {
            let number = trimmed.dropLast().trimmingWhitespace
            guard let percent = Double(number), percent.isFinite else {
                throw MemorySizeError(text: text, reason: "'\(number)' is not a number")
            }
            guard percent > 0 else { throw MemorySizeError(text: text, reason: "a percentage must be more than 0") }
            guard percent <= 100 else { throw MemorySizeError(text: text, reason: "a percentage cannot exceed 100") }
            self = .percentOfMax(percent)
            return
        }
        self = .bytes(try Self.bytes(parsing: text))
    }

    /// Parses a size in bytes (no percentage): `4096`, `300MiB`, `1.5G`.
    /// - Parameter allowingZero: whether `0` is a size (a scenario's workload may use nothing; a target may not).
    /// - Throws: ``MemorySizeError`` naming the text and what is wrong with it.
    public static func bytes(parsing text: String, allowingZero: Bool = false) throws(MemorySizeError) -> UInt64 {
        let trimmed = text.trimmingWhitespace
        guard !trimmed.isEmpty else { throw MemorySizeError(text: text, reason: "empty size") }
        if trimmed.hasPrefix("-") { throw MemorySizeError(text: text, reason: "a size cannot be negative") }
        let number = trimmed.prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") })
        let unit = trimmed[number.endIndex...].trimmingWhitespace
        guard let shift = units[unit.uppercased()] else {
            throw MemorySizeError(
                text: text, reason: "unknown unit '\(unit)' (use K, M, G, T, KiB, MiB, GiB, TiB or %)")
        }
        guard !number.isEmpty else { throw MemorySizeError(text: text, reason: "no number before the unit") }
        if let whole = UInt64(number) {
            let (result, overflow) = whole.multipliedReportingOverflow(by: 1 << shift)
            guard !overflow else { throw MemorySizeError(text: text, reason: "too large") }
            guard result > 0 || allowingZero else {
                throw MemorySizeError(text: text, reason: "a size must be more than 0")
            }
            return result
        }
        guard let fraction = Double(number), fraction.isFinite else {
            throw MemorySizeError(text: text, reason: "'\(number)' is not a number")
        }
        let result = fraction * Double(UInt64(1) << shift)
        guard result < 1.8e19 else { throw MemorySizeError(text: text, reason: "too large") }
        guard result >= 1 || (allowingZero && result == 0) else {
            throw MemorySizeError(text: text, reason: "a size must be at least 1 byte")
        }
        return UInt64(result)
    }

    /// The size in bytes; a percentage is taken of `maxBytes` and rounded down to a 4 KiB page.
    public func bytes(ofMax maxBytes: UInt64) -> UInt64 {
        switch self {
        case .bytes(let bytes): return bytes
        case .percentOfMax(let percent):
            let exact = Double(maxBytes) * percent / 100
            // Near the top of UInt64, Double rounds up past `maxBytes` (even past UInt64.max, which traps).
            let bytes = exact < 0x1p64 ? min(UInt64(exact), maxBytes) : maxBytes
            return BalloonPages.roundDown(bytes)
        }
    }

    public var description: String {
        switch self {
        case .bytes(let bytes): return Self.format(bytes)
        case .percentOfMax(let percent):
            return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
        }
    }

    /// Formats bytes for people: `512 MiB`, `1.5 GiB`, `4096 B`, with at most two decimals.
    public static func format(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        var rounded = (value * 100).rounded() / 100
        if rounded >= 1024, unit < units.count - 1 {
            // 1048575 bytes is 1023.999 KiB: show it as 1 MiB, not 1024 KiB.
            rounded = (rounded / 1024 * 100).rounded() / 100
            unit += 1
        }
        if rounded == rounded.rounded() { return "\(Int(rounded)) \(units[unit])" }
        var text = String(rounded)
        if text.hasSuffix("0"), text.contains(".") { text.removeLast() }
        return "\(text) \(units[unit])"
    }

    private static let units: [String: UInt64] = [
        "": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "KIB": 10, "MIB": 20, "GIB": 30, "TIB": 40,
    ]
}

/// A size that cannot be parsed.
public struct MemorySizeError: Error, Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let reason: String
    public var description: String { "bad size '\(text)': \(reason)" }
}

extension StringProtocol {
    var trimmingWhitespace: Substring {
        var text = self[...]
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return Substring(text)
    }
}
