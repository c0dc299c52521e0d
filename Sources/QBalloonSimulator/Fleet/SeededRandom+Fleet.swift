import QBalloonCore

/// What drawing a fleet takes of the seeded generator (``SeededRandom``, in the core).
extension SeededRandom {
    /// A number in `range` (uniform), drawn without the standard library's algorithms, whose use of the
    /// generator is not promised to stay the same between Swift versions.
    mutating func double(in range: ClosedRange<Double>) -> Double {
        let unit = Double(next() >> 11) / Double(1 << 53)
        return range.lowerBound + (range.upperBound - range.lowerBound) * unit
    }

    /// An index below `count` (`count` > 0).
    mutating func index(below count: Int) -> Int {
        Int(next() % UInt64(count))
    }

    /// The generator of one VM of a fleet: its own stream, so a VM's draw does not depend on the others'.
    static func forVM(_ index: Int, seed: UInt64) -> SeededRandom {
        var mixer = SeededRandom(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        return SeededRandom(seed: mixer.next())
    }
}
