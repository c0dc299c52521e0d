import QBalloonJSON
import Testing

@Suite struct JSONEncodingTests {
    static let everyCase: [JSON] = [
        .null,
        .bool(true),
        .bool(false),
        .int(0),
        .int(-1),
        .int(.min),
        .int(.max),
        .uint(UInt64(Int64.max) + 1),
        .uint(.max),
        .double(1.5),
        .double(-0.25),
        .double(0.1),
        .double(1e300),
        .double(5e-324),
        .string(""),
        .string("plain"),
        .string("quote \" backslash \\ slash / newline \n tab \t cr \r control \u{1} del \u{7f}"),
        .string("héllo ✓ 😀"),
        .string("\"{"),
        .string("a}b"),
        .array([]),
        .array([.int(1), .string("a"), .null, .array([.bool(true), .array([.bool(false)])])]),
        .object([:]),
        .object([
            "a": .int(1), "b": .object(["c": .array([.bool(true), .uint(.max)])]), "": .string("empty key"),
            "é\"": .double(2.5),
        ]),
    ]

    @Test(arguments: everyCase)
    func roundTrip(value: JSON) throws {
        let text = value.encoded()
        #expect(try JSON.decode(text) == value, "\(value.encodedString())")
        #expect(try JSON.decode(value.encodedString()) == value)
        #expect(try JSON.decode(value.encoded(sortedKeys: true)) == value)
    }

    static let compactTexts: [(JSON, String)] = [
        (.null, "null"),
        (.bool(true), "true"),
        (.int(.min), "-9223372036854775808"),
        (.int(.max), "9223372036854775807"),
        (.uint(UInt64(Int64.max) + 1), "9223372036854775808"),
        (.uint(.max), "18446744073709551615"),
        // A small value in the `.uint` case is still a plain integer.
        (.uint(5), "5"),
        (.double(1), "1.0"),
        (.double(.nan), "null"),
        (.double(.infinity), "null"),
        (.double(-.infinity), "null"),
        (.array([.int(1), .double(.nan), .uint(.max)]), "[1,null,18446744073709551615]"),
        (.object(["n": .uint(.max)]), #"{"n":18446744073709551615}"#),
        (
            .object(["a": .array([.uint(.max), .object(["b": .uint(.max - 1)])])]),
            #"{"a":[18446744073709551615,{"b":18446744073709551614}]}"#
        ),
        (.string("a\"b\\c\n\u{1}"), #""a\"b\\c\n\u0001""#),
        (.string("é✓/"), #""é✓/""#),
        (.object(["k": .array([.int(1), .int(2)])]), #"{"k":[1,2]}"#),
    ]

    @Test(arguments: compactTexts)
    func compactText(value: JSON, expected: String) {
        #expect(value.encodedString() == expected)
        #expect(value.encoded() == Array(expected.utf8))
        #expect(value.description == expected)
    }

    @Test func sortedKeysAreDeterministic() {
        var forward: [String: JSON] = [:]
        var backward: [String: JSON] = [:]
        let keys = (0..<50).map { "key\($0)" }
        for (index, key) in keys.enumerated() { forward[key] = .int(Int64(index)) }
        for (index, key) in keys.enumerated().reversed() { backward[key] = .int(Int64(index)) }
        backward["nested"] = ["z": 1, "a": .uint(.max), "m": nil]
        forward["nested"] = ["m": nil, "a": .uint(.max), "z": 1]

        let first = JSON.object(forward).encodedString(sortedKeys: true)
        #expect(first == JSON.object(backward).encodedString(sortedKeys: true))
        #expect(first == JSON.object(forward).encodedString(sortedKeys: true))
        #expect(first.hasPrefix(#"{"key0":0,"key1":1,"key10":10,"#))
        #expect(first.hasSuffix(#""nested":{"a":18446744073709551615,"m":null,"z":1}}"#))
    }

    @Test func sortedKeysExample() {
        let value: JSON = ["b": 2, "a": ["d": 4, "c": 3], "c": [["z": 1, "y": 2]]]
        #expect(value.encodedString(sortedKeys: true) == #"{"a":{"c":3,"d":4},"b":2,"c":[{"y":2,"z":1}]}"#)
    }

    /// A string that looks like the encoder's internal marker for wide integers stays a string.
    static let markerLookalikes: [(JSON, String)] = [
        (.array([.string("\u{0}#5"), .uint(.max)]), #"["\u0000#5",18446744073709551615]"#),
        (.array([.uint(.max), .string("x\"\u{0}#5")]), #"[18446744073709551615,"x\"\u0000#5"]"#),
        (
            .object(["\u{0}#6": .uint(.max), "s": .string("\u{0}\u{0}#7")]),
            #"{"\u0000#6":18446744073709551615,"s":"\u0000\u0000#7"}"#
        ),
        (
            .array([.string("\u{0}#18446744073709551615"), .uint(.max), .string("\u{0}")]),
            #"["\u0000#18446744073709551615",18446744073709551615,"\u0000"]"#
        ),
    ]

    @Test(arguments: markerLookalikes)
    func stringsLikeTheWideIntegerMarkerStayStrings(value: JSON, expected: String) {
        #expect(value.encodedString(sortedKeys: true) == expected)
    }
}
