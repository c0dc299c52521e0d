/// The host's memory at one moment, from `/proc/meminfo` and `/proc/pressure/memory`. A figure the host
/// did not give (no PSI in the kernel, a line missing) is `nil`.
public struct HostSample: Sendable, Hashable {
    public var total: UInt64?
    public var available: UInt64?
    public var free: UInt64?
    public var swapTotal: UInt64?
    public var swapFree: UInt64?
    /// Memory pressure stall information, in percent of time (0...100).
    public var pressure: MemoryPressure?

    public init(
        total: UInt64? = nil, available: UInt64? = nil, free: UInt64? = nil, swapTotal: UInt64? = nil,
        swapFree: UInt64? = nil, pressure: MemoryPressure? = nil
    ) {
        self.total = total
        self.available = available
        self.free = free
        self.swapTotal = swapTotal
        self.swapFree = swapFree
        self.pressure = pressure
    }

    /// Builds a sample from the text of `/proc/meminfo` and, if the kernel has PSI, `/proc/pressure/memory`.
    ///
    /// ```swift
    /// let host = HostSample(meminfo: "MemTotal: 16318420 kB\nMemAvailable: 9000000 kB\n", pressure: nil)
    /// ```
    public init(meminfo: String, pressure: String?) {
        let fields = Self.parseMeminfo(meminfo)
        self.init(
            total: fields["MemTotal"], available: fields["MemAvailable"], free: fields["MemFree"],
            swapTotal: fields["SwapTotal"], swapFree: fields["SwapFree"],
            pressure: pressure.flatMap(MemoryPressure.init(parsing:)))
    }

    /// The fields of `/proc/meminfo` in bytes (`kB` values are KiB). Lines that do not parse are skipped.
    public static func parseMeminfo(_ text: String) -> [String: UInt64] {
        var fields: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let parts = line[line.index(after: colon)...].split(separator: " ")
            guard let first = parts.first, let number = UInt64(first) else { continue }
            if parts.count > 1, parts[1] == "kB" {
                let (bytes, overflow) = number.multipliedReportingOverflow(by: 1024)
                if !overflow { fields[name] = bytes }
            } else {
                fields[name] = number
            }
        }
        return fields
    }
}

/// Memory pressure from `/proc/pressure/memory`: the share of time some (or all) tasks waited for memory.
public struct MemoryPressure: Sendable, Hashable {
    public var someAvg10: Double
    public var someAvg60: Double
    public var someAvg300: Double
    public var fullAvg10: Double?
    public var fullAvg60: Double?
    public var fullAvg300: Double?

    public init(
        someAvg10: Double, someAvg60: Double = 0, someAvg300: Double = 0, fullAvg10: Double? = nil,
        fullAvg60: Double? = nil, fullAvg300: Double? = nil
    ) {
        self.someAvg10 = someAvg10
        self.someAvg60 = someAvg60
        self.someAvg300 = someAvg300
        self.fullAvg10 = fullAvg10
        self.fullAvg60 = fullAvg60
        self.fullAvg300 = fullAvg300
    }

    /// Parses `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and the `full` line; `nil` without a `some` line.
    public init?(parsing text: String) {
        var some: [String: Double]?
        var full: [String: Double]?
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let kind = words.first else { continue }
            var values: [String: Double] = [:]
            for word in words.dropFirst() {
                let pair = word.split(separator: "=", maxSplits: 1)
                if pair.count == 2, let value = Double(pair[1]) { values[String(pair[0])] = value }
            }
            if kind == "some" { some = values } else if kind == "full" { full = values }
        }
        guard let some, let avg10 = some["avg10"] else { return nil }
        self.init(
            someAvg10: avg10, someAvg60: some["avg60"] ?? 0, someAvg300: some["avg300"] ?? 0,
            fullAvg10: full?["avg10"], fullAvg60: full?["avg60"], fullAvg300: full?["avg300"])
    }
}
