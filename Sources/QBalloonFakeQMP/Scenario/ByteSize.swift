/// Sizes as scenario files write them: a number and a binary unit, `"2GiB"`, `"300MiB"`, `"1.5G"`, `"4096"`.
///
/// Units are powers of 1024, as QEMU's `-m 512M` reads them: `B` (or none), `K`/`KiB`, `M`/`MiB`, `G`/`GiB`,
/// `T`/`TiB`, any letter case. Decimal units (`KB`, `MB`, `GB`) are refused rather than guessed at.
enum ByteSize {
    /// The number of bytes `text` means, or `nil` when it is not a size.
    static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingSpaces
        var numberEnd = trimmed.startIndex
        while numberEnd < trimmed.endIndex, trimmed[numberEnd].isASCII,
            trimmed[numberEnd].isNumber || trimmed[numberEnd] == "."
        {
            numberEnd = trimmed.index(after: numberEnd)
        }
        let numberText = trimmed[..<numberEnd]
        guard !numberText.isEmpty, let number = Double(numberText), number.isFinite else { return nil }
        let unit = trimmed[numberEnd...].trimmingSpaces.lowercased()
        let multiplier: Double
        switch unit {
        case "", "b": multiplier = 1
        case "k", "kib": multiplier = 1024
        case "m", "mib": multiplier = 1024 * 1024
        case "g", "gib": multiplier = 1024 * 1024 * 1024
        case "t", "tib": multiplier = 1024 * 1024 * 1024 * 1024
        default: return nil
        }
        let bytes = (number * multiplier).rounded()
        guard bytes >= 0, bytes < 1.8e19 else { return nil }
        return UInt64(bytes)
    }

    /// A short human form, `"1.5GiB"`, for messages.
    static func format(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1024, index < units.count - 1 {
            value /= 1024
            index += 1
        }
        if value == value.rounded() { return "\(Int(value))\(units[index])" }
        return "\((value * 100).rounded() / 100)\(units[index])"
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return Substring(text)
    }
}
