import QBalloonCore
import Testing

@Suite struct MemorySizeTests {
    static let sizes: [(String, MemorySize)] = [
        ("1073741824", .bytes(1_073_741_824)),
        ("512M", .bytes(512 << 20)),
        ("512m", .bytes(512 << 20)),
        ("2GiB", .bytes(2 << 30)),
        ("2 GiB", .bytes(2 << 30)),
        ("2gib", .bytes(2 << 30)),
        ("1.5G", .bytes(1_610_612_736)),
        ("1.5 GiB", .bytes(1_610_612_736)),
        ("4K", .bytes(4096)),
        ("4KiB", .bytes(4096)),
        ("1T", .bytes(1 << 40)),
        ("1TiB", .bytes(1 << 40)),
        ("100B", .bytes(100)),
        ("  8G \n", .bytes(8 << 30)),
        ("16777215T", .bytes(16_777_215 << 40)),
        ("50%", .percentOfMax(50)),
        ("100%", .percentOfMax(100)),
        ("0.5%", .percentOfMax(0.5)),
        ("12.5 %", .percentOfMax(12.5)),
    ]

    @Test(arguments: sizes)
    func parses(text: String, expected: MemorySize) throws {
        #expect(try MemorySize(text) == expected)
    }

    static let errors: [(String, String)] = [
        ("12XB", "unknown unit 'XB' (use K, M, G, T, KiB, MiB, GiB, TiB or %)"),
        ("-1G", "a size cannot be negative"),
        ("", "empty size"),
        ("   ", "empty size"),
        ("G", "no number before the unit"),
        ("0", "a size must be more than 0"),
        ("0G", "a size must be more than 0"),
        ("0.0001K", "a size must be at least 1 byte"),
        ("0%", "a percentage must be more than 0"),
        ("-5%", "a percentage must be more than 0"),
        ("150%", "a percentage cannot exceed 100"),
        ("100.5%", "a percentage cannot exceed 100"),
        ("abc%", "'abc' is not a number"),
        ("nan%", "'nan' is not a number"),
        ("%", "'' is not a number"),
        ("abc", "unknown unit 'abc'"),
        ("1.2.3G", "'1.2.3' is not a number"),
        ("99999999999T", "too large"),
        ("16777216T", "too large"),
        ("20000000000000000000", "too large"),
        ("99999999999.5T", "too large"),
    ]

    @Test(arguments: errors)
    func refuses(text: String, reason: String) {
        let error = #expect(throws: MemorySizeError.self) { try MemorySize(text) }
        #expect(error?.text == text)
        #expect(error?.reason.hasPrefix(reason) == true, "\(error?.reason ?? "")")
        #expect(error?.description == "bad size '\(text)': \(error?.reason ?? "")")
    }

    static let shares: [(MemorySize, UInt64, UInt64)] = [
        (.percentOfMax(50), 4 << 30, 2 << 30),
        (.percentOfMax(100), 4 << 30, 4 << 30),
        // 33% of 1 GiB is 354334801.92 bytes: down to the page below.
        (.percentOfMax(33), 1 << 30, 354_332_672),
        (.percentOfMax(0.5), 8 << 30, 42_946_560),
        // A RAM size that is not whole pages still gives whole pages.
        (.percentOfMax(100), 1_000_000, 999_424),
        (.percentOfMax(0.001), 1 << 30, 8192),
        // Near the top of UInt64, Double rounds up; the result still stays within the maximum.
        (.percentOfMax(100), (1 << 60) - 1, (1 << 60) - 4096),
        (.percentOfMax(100), .max, .max / 4096 * 4096),
        (.percentOfMax(99.99999999999999), .max, .max / 4096 * 4096),
        // Plain bytes ignore the maximum.
        (.bytes(12345), 4096, 12345),
    ]

    @Test(arguments: shares)
    func bytesOfMaxRoundsDownToPages(size: MemorySize, max: UInt64, expected: UInt64) {
        let bytes = size.bytes(ofMax: max)
        #expect(bytes == expected)
        if case .percentOfMax = size { #expect(bytes % 4096 == 0) }
    }

    static let formatted: [(UInt64, String)] = [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (4096, "4 KiB"),
        (512 << 20, "512 MiB"),
        (1 << 30, "1 GiB"),
        ((1 << 30) + 1, "1 GiB"),
        (1_610_612_736, "1.5 GiB"),
        ((5 << 30) / 4, "1.25 GiB"),
        (1_288_490_189, "1.2 GiB"),
        (1 << 40, "1 TiB"),
        (1 << 50, "1 PiB"),
        (1 << 60, "1 EiB"),
        (.max, "16 EiB"),
    ]

    @Test(arguments: formatted)
    func formatsBytes(bytes: UInt64, expected: String) {
        #expect(MemorySize.format(bytes) == expected)
    }

    static let descriptions: [(MemorySize, String)] = [
        (.bytes(512 << 20), "512 MiB"),
        (.bytes(100), "100 B"),
        (.percentOfMax(50), "50%"),
        (.percentOfMax(0.5), "0.5%"),
    ]

    @Test(arguments: descriptions)
    func describes(size: MemorySize, expected: String) {
        #expect(size.description == expected)
    }
}
