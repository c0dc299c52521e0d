import QBalloonJSON
import Testing

@Suite struct JSONDecodingTests {
    static let scalars: [(String, JSON)] = [
        ("null", .null),
        ("true", .bool(true)),
        ("false", .bool(false)),
        ("0", .int(0)),
        ("-0", .int(0)),
        ("42", .int(42)),
        ("-42", .int(-42)),
        ("1.5", .double(1.5)),
        ("-2.5e3", .double(-2500)),
        ("1E2", .double(100)),
        (#""text""#, .string("text")),
        ("[]", .array([])),
        ("{}", .object([:])),
        (" \r\n\t[1, [2, {}]] \r\n", .array([.int(1), .array([.int(2), .object([:])])])),
        (
            #"{"a": {"b": [true, null, "c"]}, "d": 1.25}"#,
            .object(["a": .object(["b": .array([.bool(true), .null, .string("c")])]), "d": .double(1.25)])
        ),
    ]

    @Test(arguments: scalars)
    func decodes(text: String, expected: JSON) throws {
        #expect(try JSON.decode(text) == expected)
        #expect(try JSON.decode(Array(text.utf8)) == expected)
    }

    @Test(arguments: [
        // "\u00e9" and "\u2713" and a surrogate pair, then every short escape.
        (#""\u00e9\u2713\ud83d\ude00 \"\\\/\b\f\n\r\t""#, "é✓😀 \"\\/\u{8}\u{c}\n\r\t"),
        // Raw UTF-8, as QEMU writes non-ASCII text.
        (#""héllo ✓ 😀""#, "héllo ✓ 😀"),
        (#""\u0041\u00DF""#, "Aß"),
    ])
    func decodesUnicodeAndEscapes(text: String, expected: String) throws {
        #expect(try JSON.decode(text) == .string(expected))
    }

    @Test func decodesUnicodeKeys() throws {
        let value = try JSON.decode(#"{"clé": 1, "\u2713": 2, "a\"b": 3}"#)
        #expect(value == ["clé": 1, "✓": 2, "a\"b": 3])
    }

    @Test(arguments: [
        "",
        "   ",
        "[1,]",
        #"{"a" 1}"#,
        #"{"a": }"#,
        "[1] 2",
        "'a'",
        "nul",
        #""abc"#,
        #""\x""#,
        "[1, 2",
        "{\"a\": NaN}",
        "Infinity",
        "01",
        // jansson refuses NUL in strings (it hands out C strings).
        #""\u0000""#,
    ])
    func syntaxErrors(text: String) throws {
        let error = try #require(throws: JSONError.self) { try JSON.decode(text) }
        #expect(error.code == .syntax)
        #expect(error.message.hasPrefix("invalid JSON at line "), "\(error.message)")
    }

    @Test func invalidUTF8IsASyntaxError() throws {
        let error = try #require(throws: JSONError.self) { try JSON.decode([0x22, 0xff, 0xfe, 0x22]) }
        #expect(error.code == .syntax)
    }

    @Test(arguments: [
        ("{\"a\": 1,\n \"b\": }", "line 2, column 7"),
        ("[1, 2, x]", "line 1, column 8"),
        ("[\n\n\n1 2]", "line 4, column 3"),
    ])
    func syntaxErrorsSayWhere(text: String, position: String) throws {
        let error = try #require(throws: JSONError.self) { try JSON.decode(text) }
        #expect(error.code == .syntax)
        #expect(error.message.contains(position), "\(error.message)")
        #expect(error.description == error.message)
    }

    @Test func bigInputLikeTheQMPSchemaDecodes() throws {
        // query-qmp-schema is ~200 KB on one line; a few wide integers force the rewriting path.
        let count = 2_000
        var text = "{\"return\": ["
        for index in 0..<count {
            if index > 0 { text += ", " }
            text += #"{"name": "type-\#(index)", "meta-type": "object", "#
            text += #""members": [{"name": "m\#(index)", "type": "int"}], "#
            text += #""size": \#(index % 7 == 0 ? "18446744073709551615" : String(index))}"#
        }
        text += "], \"id\": 1}"
        #expect(text.utf8.count > 200_000)
        let value = try JSON.decode(text)
        let entries = try #require(value["return"]?.arrayValue)
        #expect(entries.count == count)
        #expect(entries[0]["size"] == .uint(.max))
        #expect(entries[1]["size"] == .int(1))
        #expect(entries[1999]["name"] == "type-1999")
        #expect(entries[1999]["members"]?.arrayValue?.first?["name"] == "m1999")
    }

    @Test func duplicateKeysKeepTheLast() throws {
        #expect(try JSON.decode(#"{"a": 1, "a": 2}"#) == ["a": 2])
    }
}
