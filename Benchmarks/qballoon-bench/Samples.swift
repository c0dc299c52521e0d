/// Durations in nanoseconds and the figures the report shows.
struct Samples: Sendable {
    private(set) var nanoseconds: [UInt64] = []

    init(reservingCapacity capacity: Int = 0) {
        nanoseconds.reserveCapacity(capacity)
    }

    mutating func append(_ value: UInt64) { nanoseconds.append(value) }
    mutating func append(contentsOf other: Samples) { nanoseconds.append(contentsOf: other.nanoseconds) }

    var count: Int { nanoseconds.count }

    /// The value below which `fraction` of the samples fall (nearest rank).
    func percentile(_ fraction: Double) -> Double {
        precondition(!nanoseconds.isEmpty, "no samples")
        let sorted = nanoseconds.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return Double(sorted[min(max(rank, 0), sorted.count - 1)])
    }

    var median: Double {
        let sorted = nanoseconds.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? Double(sorted[middle]) : (Double(sorted[middle - 1]) + Double(sorted[middle])) / 2
    }

    var mean: Double { Double(nanoseconds.reduce(0, +)) / Double(nanoseconds.count) }
    var minimum: Double { Double(nanoseconds.min() ?? 0) }
}

extension Array where Element == Double {
    /// The median of a few per-round figures.
    var median: Double {
        let sorted = self.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
