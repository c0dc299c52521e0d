import QBalloon
import Testing

@Suite struct DurationParsingTests {
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
}
