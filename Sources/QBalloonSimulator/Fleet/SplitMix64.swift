/// A small seeded random number generator (SplitMix64): the same seed gives the same numbers on every
/// machine and every run, so a fleet drawn with a seed can be drawn again.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

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
    static func forVM(_ index: Int, seed: UInt64) -> SplitMix64 {
        var mixer = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        return SplitMix64(seed: mixer.next())
    }
}
