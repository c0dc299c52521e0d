/// Text in the report: what came from the user escaped for HTML, and numbers as people read them (sizes in MiB or
/// GiB with one decimal, durations in s/m/h, times since the run's start as h:mm). No Foundation: the same
/// output on every machine and locale.
enum ReportText {
    /// Text made safe inside HTML elements and quoted attributes: `<b>&"x"` becomes `&lt;b&gt;&amp;&quot;x&quot;`.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// A number to `places` decimals, half away from zero: `decimal(1.25)` is `"1.3"`, `decimal(2, places: 0)` `"2"`.
    static func decimal(_ value: Double, places: Int = 1) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 1e15 else { return "\(value)" }
        let whole = Int64(scaled)
        let unit = Int64(scale)
        var text = String(whole / unit)
        if places > 0 {
            let fraction = String(whole % unit)
            text += "." + String(repeating: "0", count: places - fraction.count) + fraction
        }
        return value < 0 && whole != 0 ? "-" + text : text
    }

    /// A coordinate for SVG: one decimal, and no `.0` (`12.5`, `300`), to keep the file small.
    static func coordinate(_ value: Double) -> String {
        let text = decimal(value, places: 1)
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    static let mebibyte = 1_048_576.0
    static let gibibyte = 1_073_741_824.0

    /// Bytes with one decimal: MiB below 1 GiB, GiB from there (`512.0 MiB`, `1.5 GiB`, `0 MiB`).
    static func size(_ bytes: Double) -> String {
        if bytes == 0 { return "0 MiB" }
        if abs(bytes) < gibibyte { return decimal(bytes / mebibyte) + " MiB" }
        return decimal(bytes / gibibyte) + " GiB"
    }

    static func size(_ bytes: UInt64) -> String { size(Double(bytes)) }

    /// A length of time for a figure: `0s`, `4.5s`, `45s`, `12m 30s`, `3h 05m`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "\(seconds)" }
        if seconds < 10 { return (seconds == seconds.rounded() ? decimal(seconds, places: 0) : decimal(seconds)) + "s" }
        let whole = Int64(seconds.rounded())
        if whole < 120 { return "\(whole)s" }
        if whole < 7200 { return "\(whole / 60)m " + twoDigits(whole % 60) + "s" }
        return "\(whole / 3600)h " + twoDigits(whole / 60 % 60) + "m"
    }

    /// A time since the run's start as a clock: `0:00`, `0:30`, `25:00` (hours and minutes).
    static func clock(_ seconds: Double) -> String {
        let minutes = Int64((seconds / 60).rounded())
        return "\(minutes / 60):" + twoDigits(minutes % 60)
    }

    /// A Unix time as a UTC date and time: `2025-01-10 12:00 UTC`.
    static func utc(_ unixSeconds: Double) -> String {
        guard unixSeconds.isFinite, abs(unixSeconds) < 1e12 else { return "\(unixSeconds)" }
        let seconds = Int64(unixSeconds.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let ofDay = seconds - days * 86400
        // Days since 1970-01-01 to a civil date, in 400-year eras that start on March 1st.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return "\(year)-" + twoDigits(month) + "-" + twoDigits(day) + " " + twoDigits(ofDay / 3600) + ":"
            + twoDigits(ofDay / 60 % 60) + " UTC"
    }

    private static func twoDigits(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
