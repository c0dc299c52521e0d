import QBalloonCore
import Testing

@Suite struct DurationTextTests {
    static let durations: [(String, Duration)] = [
        ("2s", .seconds(2)),
        ("500ms", .milliseconds(500)),
        ("5m", .seconds(300)),
        ("1h", .seconds(3600)),
        ("1.5s", .milliseconds(1500)),
        ("3", .seconds(3)),
        ("0.25", .milliseconds(250)),
        ("0s", .zero),
        (" 2 s ", .seconds(2)),
        ("1.5h", .seconds(5400)),
        ("0.1ms", .microseconds(100)),
    ]

    @Test(arguments: durations)
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
    }

    static let errors: [(String, String)] = [
        ("-1s", "a duration cannot be negative"),
        ("-1", "a duration cannot be negative"),
        ("2x", "expected a number with ms, s, m or h, like '2s'"),
        ("", "expected a number with ms, s, m or h"),
        ("s", "expected a number with ms, s, m or h"),
        ("ms", "expected a number with ms, s, m or h"),
        ("5 min", "expected a number with ms, s, m or h"),
        ("2S", "expected a number with ms, s, m or h"),
        ("nan", "expected a number with ms, s, m or h"),
        ("infs", "expected a number with ms, s, m or h"),
        ("1e9s", "too long"),
        ("300000h", "too long"),
    ]

    @Test(arguments: errors)
    func refuses(text: String, reason: String) {
        let error = #expect(throws: DurationError.self) { try DurationText.parse(text) }
        #expect(error?.text == text)
        #expect(error?.reason.hasPrefix(reason) == true, "\(error?.reason ?? "")")
        #expect(error?.description.hasPrefix("bad duration '\(text)': ") == true)
    }

    @Test(arguments: [
        (Duration.seconds(2), 2.0), (.milliseconds(1500), 1.5), (.zero, 0), (.microseconds(250), 0.00025),
    ])
    func secondsAsDouble(duration: Duration, seconds: Double) {
        #expect(duration.seconds == seconds)
    }

    static let exact: [(Double, String)] = [
        (0, "0s"), (2, "2s"), (0.5, "500ms"), (0.0001, "0.1ms"), (1.5, "1.5s"), (90, "90s"), (120, "2m"),
        (600, "10m"), (3600, "1h"), (5400, "90m"), (7200, "2h"), (1.23456, "1.235s"), (-2, "-2s"),
    ]

    @Test(arguments: exact)
    func formatsExactly(seconds: Double, expected: String) {
        #expect(DurationText.format(seconds: seconds) == expected)
    }

    static let approximate: [(Double, String)] = [
        (0, "0s"), (0.4, "0s"), (1.6, "2s"), (119, "119s"), (120, "2m"), (150, "3m"), (7199, "120m"), (7200, "2h"),
        (9000, "3h"),
    ]

    @Test(arguments: approximate)
    func formatsApproximately(seconds: Double, expected: String) {
        #expect(DurationText.format(seconds: seconds, style: .approximate) == expected)
    }

    @Test(arguments: ["2s", "500ms", "10m", "1h", "1.5s", "90s"])
    func formattedParsesBack(text: String) throws {
        #expect(DurationText.format(try DurationText.parse(text)) == text)
    }
}
