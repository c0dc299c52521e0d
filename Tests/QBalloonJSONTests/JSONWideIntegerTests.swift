import QBalloonJSON
import Testing

/// Integers at the edges of Int64 and UInt64, which jansson alone cannot read.
@Suite struct JSONWideIntegerTests {
    static let edgeTexts: [(String, JSON)] = [
        ("-9223372036854775808", .int(.min)),
        ("-9223372036854775807", .int(.min + 1)),
        ("9223372036854775807", .int(.max)),
        ("9223372036854775808", .uint(UInt64(Int64.max) + 1)),
        ("10000000000000000000", .uint(10_000_000_000_000_000_000)),
        ("18446744073709551614", .uint(.max - 1)),
        ("18446744073709551615", .uint(.max)),
        // Numbers that are not plain integers stay doubles, whatever their digits.
        ("18446744073709551615.0", .double(18446744073709551615.0)),
        ("18446744073709551616e0", .double(18446744073709551616.0)),
        ("1.8446744073709551615e19", .double(1.8446744073709551615e19)),
    ]

    @Test(arguments: edgeTexts)
    func edges(text: String, expected: JSON) throws {
        #expect(try JSON.decode(text) == expected)
        #expect(try JSON.decode("[\(text)]") == .array([expected]))
        #expect(try JSON.decode(#"{"n":\#(text)}"#) == .object(["n": expected]))
    }

    @Test(arguments: [
        "18446744073709551616",  // UInt64.max + 1
        "99999999999999999999",  // 20 digits, over UInt64.max
        "100000000000000000000",  // 21 digits
        "340282366920938463463374607431768211455",
        "-9223372036854775809",  // Int64.min - 1
        "-18446744073709551615",
        "[1, 18446744073709551616]",
        #"{"a": -9223372036854775809}"#,
        // Leading zeros are not JSON, however wide the number.
        "09223372036854775808",
        "018446744073709551615",
        "[00000000000000000001]",
    ])
    func outOfRangeIsAnError(text: String) throws {
        let error = try #require(throws: JSONError.self) { try JSON.decode(text) }
        #expect(error.code == .syntax, "\(error.message)")
    }

    @Test func wideIntegersInsideContainers() throws {
        let text = """
            {"a": {"b": [1, {"c": 18446744073709551615}, [9223372036854775808, -9223372036854775808]]},
             "d": [18446744073709551615, 18446744073709551615], "e": 9223372036854775807}
            """
        let expected = JSON.object([
            "a": .object(["b": .array([.int(1), .object(["c": .uint(.max)]), .array([.uint(1 << 63), .int(.min)])])]),
            "d": .array([.uint(.max), .uint(.max)]),
            "e": .int(.max),
        ])
        #expect(try JSON.decode(text) == expected)
    }

    /// The pre-scan must leave string contents alone: digits, escaped quotes and trailing backslashes.
    static let nextToStrings: [(String, JSON)] = [
        (#"["18446744073709551615", 18446744073709551615]"#, .array([.string("18446744073709551615"), .uint(.max)])),
        (#"{"18446744073709551615": 18446744073709551615}"#, .object(["18446744073709551615": .uint(.max)])),
        (
            #"["say \"18446744073709551615\"", 18446744073709551615]"#,
            .array([.string("say \"18446744073709551615\""), .uint(.max)])
        ),
        (#"["x\\", 18446744073709551615, "\\"]"#, .array([.string("x\\"), .uint(.max), .string("\\")])),
        (#"["\\\"", 9223372036854775808, "\"]"]"#, .array([.string("\\\""), .uint(1 << 63), .string("\"]")])),
        (
            #"{"k\"": "v\\\\", "n": 18446744073709551615, "s": "[{18446744073709551615}]"}"#,
            .object(["k\"": .string("v\\\\"), "n": .uint(.max), "s": .string("[{18446744073709551615}]")])
        ),
        (#"["\u0031\u0038", 18446744073709551615]"#, .array([.string("18"), .uint(.max)])),
    ]

    @Test(arguments: nextToStrings)
    func wideIntegersNextToStrings(text: String, expected: JSON) throws {
        #expect(try JSON.decode(text) == expected)
    }

    @Test func realGuestStatsReplyWithAllOnesValues() throws {
        let reply = """
            {"return": {"stats": {"stat-htlb-pgfail": 18446744073709551615, "stat-swap-out": 0, \
            "stat-available-memory": 1638400000, "stat-free-memory": 18446744073709551615, \
            "stat-minor-faults": 18446744073709551615, "stat-major-faults": 18446744073709551615, \
            "stat-total-memory": 2079453184, "stat-swap-in": 0, "stat-disk-caches": 18446744073709551615, \
            "stat-htlb-pgalloc": 18446744073709551615}, "last-update": 1700000000}, "id": 7}\r\n
            """
        let value = try JSON.decode(reply)
        #expect(value["id"] == 7)
        #expect(value["return"]?["last-update"] == .int(1_700_000_000))
        let stats = try #require(value["return"]?["stats"]?.objectValue)
        #expect(stats.count == 10)
        #expect(stats["stat-htlb-pgfail"] == .uint(.max))
        #expect(stats["stat-free-memory"]?.uint64Value == UInt64.max)
        #expect(stats["stat-swap-out"] == .int(0))
        #expect(stats["stat-total-memory"]?.uint64Value == 2_079_453_184)
        #expect(stats.values.allSatisfy { $0.uint64Value != nil })
    }

    @Test func strayNulEscapeNextToAWideIntegerIsStillRefused() throws {
        // On its own `"\u0000#5"` is refused; next to a wide integer it must not turn into the number 5.
        for text in [#"["\u0000#5", 18446744073709551615]"#, #"[18446744073709551615, {"\u0000#7": 1}]"#] {
            let error = try #require(throws: JSONError.self) { try JSON.decode(text) }
            #expect(error.code == .syntax)
        }
    }

    @Test(arguments: [UInt64(0), 1, UInt64(Int64.max), UInt64(Int64.max) + 1, .max - 1, .max])
    func unsignedRoundTripsThroughText(value: UInt64) throws {
        let json = JSON.unsigned(value)
        #expect(json.encodedString() == String(value))
        let back = try JSON.decode(json.encoded())
        #expect(back == json)
        #expect(back.uint64Value == value)
    }
}
