import QBalloonJSON
import Testing

@testable import QBalloonFakeQMP

/// QEMU's input rules, from runs against QEMU 7.2 (`qemu-system-x86_64 -qmp ...` fed these bytes).
@Suite("QEMU JSON stream")
struct QEMUJSONStreamerTests {
    typealias Item = QEMUJSONStreamer.Item

    static func feed(_ text: String) -> [Item] {
        var streamer = QEMUJSONStreamer()
        return streamer.feed(Array(text.utf8))
    }

    static func parseError(_ message: String) -> Item { .error("JSON parse error, \(message)") }

    @Test(
        "answers bad input as QEMU 7.2 does",
        arguments: [
            ("}\n", [parseError("expecting value")]),
            ("]\n", [parseError("expecting value")]),
            ("%\n", [parseError("stray '%'")]),
            ("\u{1}\n", [parseError("stray '\u{1}'")]),
            ("garbage\n", [parseError("invalid keyword 'garbage'")]),
            (#"{"a":1,}"#, [parseError("expecting value")]),
            (#"{"a" 1}"#, [parseError("missing : in object pair")]),
            ("{1:2}", [parseError("key is not a string in object")]),
            (#"{"a":1 "b":2}"#, [parseError("expected separator in dict")]),
            ("[1 2]", [parseError("expected separator in list")]),
            (#"{"a":1,"a":2}"#, [parseError("duplicate key")]),
            (#"{"id":"\x"}"#, [parseError("invalid escape sequence in string")]),
            (#"{"id":"\u12"}"#, [parseError(#"\u12" is not a valid Unicode character"#)]),
            (#"{"id":tru}"#, [parseError("invalid keyword 'tru'")]),
            // "01": the lexer fails on the second digit, then recovers at the '}'.
            (#"{"id":01}"# + "\n", [parseError("stray '01'"), parseError("expecting value")]),
            (
                #"{"execute": }}}"# + "\n",
                [parseError("expecting value"), parseError("expecting value"), parseError("expecting value")]
            ),
        ])
    func badInput(_ text: String, _ expected: [Item]) {
        #expect(Self.feed(text) == expected)
    }

    @Test("resynchronises after garbage, as QEMU does")
    func resync() {
        #expect(
            Self.feed(#"garbage{"execute":"x"}"#)
                == [Self.parseError("invalid keyword 'garbage'"), .value(["execute": "x"])])
        #expect(Self.feed(#"@@@ {"execute":"x"}"#) == [Self.parseError("stray '@'"), .value(["execute": "x"])])
        #expect(
            Self.feed(#"{"execute": "q", "arguments": {"x": @}}"# + "\n")
                == [
                    Self.parseError("stray '@'"), Self.parseError("expecting value"),
                    Self.parseError("expecting value"),
                ])
    }

    @Test("reads values QEMU accepts, including its extensions")
    func values() {
        #expect(Self.feed("{'execute':'q','id':'sq'}") == [.value(["execute": "q", "id": "sq"])])
        #expect(Self.feed(#"{"a":1}{"b":2}"#) == [.value(["a": 1]), .value(["b": 2])])
        #expect(Self.feed("[1,2]\n") == [.value([1, 2])])
        #expect(Self.feed("\"s\"\n") == [.value("s")])
        // A number ends only when something follows it.
        #expect(Self.feed("42").isEmpty)
        #expect(Self.feed("42\n") == [.value(42)])
        #expect(Self.feed("-0.5e3 ") == [.value(.double(-500))])
        #expect(Self.feed("18446744073709551615 ") == [.value(.uint(UInt64.max))])
        #expect(Self.feed("123456789012345678901234567890 ") == [.value(.double(1.2345678901234568e+29))])
        #expect(Self.feed(#"{"s":"caf\u00e9 \ud83d\ude00 \/\n"}"#) == [.value(["s": "café 😀 /\n"])])
        #expect(Self.feed(#"{"s":"naïve"}"#) == [.value(["s": "naïve"])])
        #expect(Self.feed("[true,false,null]") == [.value([true, false, nil])])
    }

    @Test("nothing is answered while a value is open, however it is split")
    func split() {
        let text = #"{"execute": "query-balloon", "id": {"seq": [1, 2.5, null, true]}}"#
        var streamer = QEMUJSONStreamer()
        var items: [Item] = []
        for byte in text.utf8 {
            items += streamer.feed([byte])
        }
        #expect(items == [.value(["execute": "query-balloon", "id": ["seq": [1, 2.5, nil, true]]])])
        #expect(streamer.feed(Array("[1,2".utf8)).isEmpty)
        #expect(streamer.feed(Array("]\n".utf8)) == [.value([1, 2])])
    }

    @Test("nesting beyond QEMU's limit is refused, and the stream goes on")
    func nestingLimit() {
        var streamer = QEMUJSONStreamer()
        let deep = String(repeating: "[", count: 1025)
        let items = streamer.feed(Array(deep.utf8))
        #expect(items == [.error("JSON nesting depth limit exceeded")])
        #expect(streamer.feed(Array("\n{\"a\":1}".utf8)).last == .value(["a": 1]))
    }
}
