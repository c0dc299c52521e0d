import QBalloonQMP
import Testing

/// Splits `text` the way the decoder does: skip, take messages, stop at `.needMoreData`.
private func split(_ text: String, splitter: inout QMPFrameSplitter) throws -> (messages: [String], rest: String) {
    var bytes = Array(text.utf8)
    var messages: [String] = []
    while true {
        let frame = try bytes.withUnsafeBytes { try splitter.next(in: $0) }
        switch frame {
        case .skip(let count):
            bytes.removeFirst(count)
        case .message(let count):
            messages.append(String(decoding: bytes.prefix(count), as: UTF8.self))
            bytes.removeFirst(count)
        case .needMoreData:
            return (messages, String(decoding: bytes, as: UTF8.self))
        }
    }
}

private func split(_ text: String, maxMessageBytes: Int = 1 << 20, maxDepth: Int = 1024) throws -> (
    messages: [String], rest: String
) {
    var splitter = QMPFrameSplitter(maxMessageBytes: maxMessageBytes, maxDepth: maxDepth)
    return try split(text, splitter: &splitter)
}

@Suite struct QMPFrameSplitterTests {
    static let streams: [(String, [String])] = [
        (#"{"return": {}}"# + "\r\n", [#"{"return": {}}"#]),
        (#"{"a":1}{"b":2}"#, [#"{"a":1}"#, #"{"b":2}"#]),
        (#"{"a":1}"# + "\r\n" + #"{"b":2}"# + "\r\n" + #"{"c":3}"# + "\r\n", [#"{"a":1}"#, #"{"b":2}"#, #"{"c":3}"#]),
        (" \t\r\n\n" + #"{"a":1}"#, [#"{"a":1}"#]),
        (#"{"s": "a}b"}"#, [#"{"s": "a}b"}"#]),
        (#"{"s": "\"{"}"#, [#"{"s": "\"{"}"#]),
        (#"{"s": "x\\\\"}{"t": 1}"#, [#"{"s": "x\\\\"}"#, #"{"t": 1}"#]),
        (#"{"s": "\\"}{"t": "\\\""}"#, [#"{"s": "\\"}"#, #"{"t": "\\\""}"#]),
        (#"{"a": [1, {"b": [[]]}], "c": "]]}}"}"#, [#"{"a": [1, {"b": [[]]}], "c": "]]}}"}"#]),
        (
            "{\n    \"return\": {\n        \"actual\": 1073741824\n    }\n}\n{\n    \"event\": \"X\"\n}\n",
            ["{\n    \"return\": {\n        \"actual\": 1073741824\n    }\n}", "{\n    \"event\": \"X\"\n}"]
        ),
        // Whatever is inside the braces is the JSON decoder's business, not the splitter's.
        (#"{"a":1]{"b":2}"#, [#"{"a":1]"#, #"{"b":2}"#]),
        ("{not json}", ["{not json}"]),
    ]

    @Test(arguments: streams)
    func splitsWholeStream(text: String, expected: [String]) throws {
        let result = try split(text)
        #expect(result.messages == expected)
        #expect(result.rest.allSatisfy { $0.isWhitespace })
    }

    @Test(arguments: streams)
    func splitsTheSameWhenFedByteByByte(text: String, expected: [String]) throws {
        var splitter = QMPFrameSplitter()
        var pending = ""
        var messages: [String] = []
        for character in text.unicodeScalars {
            pending.unicodeScalars.append(character)
            let result = try split(pending, splitter: &splitter)
            messages += result.messages
            pending = result.rest
        }
        #expect(messages == expected)
    }

    @Test(arguments: ["", " ", "\r\n", "{", #"{"a": "}"#, #"{"a": {"b": 1}"#, #"{"a": "\"#])
    func partialInputNeedsMoreData(text: String) throws {
        let result = try split(text)
        #expect(result.messages.isEmpty)
    }

    @Test func partialMessageResumesWhereItStopped() throws {
        var splitter = QMPFrameSplitter()
        let whole = Array(#"{"s": "}\"", "n": [1]}"#.utf8)
        for cut in 1..<whole.count {
            let frame = try whole[..<cut].withUnsafeBytes { try splitter.next(in: $0) }
            #expect(frame == .needMoreData, "cut at \(cut)")
        }
        let frame = try whole.withUnsafeBytes { try splitter.next(in: $0) }
        #expect(frame == .message(count: whole.count))
    }

    @Test(arguments: [
        ("[1]", UInt8(ascii: "[")),
        ("\r\n\"text\"", UInt8(ascii: "\"")),
        ("42", UInt8(ascii: "4")),
        ("}", UInt8(ascii: "}")),
        ("]", UInt8(ascii: "]")),
        (#"{"a":1} [2]"#, UInt8(ascii: "[")),
    ])
    func topLevelNonObjectIsRefused(text: String, byte: UInt8) {
        #expect(throws: QMPFrameSplitter.FrameError.notAnObject(byte: byte)) { try split(text) }
    }

    @Test func nonObjectErrorShowsTheByte() {
        let bracket = QMPFrameSplitter.FrameError.notAnObject(byte: UInt8(ascii: "["))
        #expect(bracket.description == "expected a JSON object, got '['")
        #expect(QMPFrameSplitter.FrameError.notAnObject(byte: 0).description == "expected a JSON object, got byte 0x0")
        #expect(QMPFrameSplitter.FrameError.tooLarge(limit: 10).description == "message over the limit of 10 bytes")
        #expect(QMPFrameSplitter.FrameError.tooDeep(limit: 3).description == "message nested deeper than 3 levels")
    }

    @Test(arguments: [
        (#"{"a":"12345"}"#, 13, true),
        (#"{"a":"123456"}"#, 13, false),
        // An unfinished message over the limit fails before its end arrives.
        (#"{"a":"1234567890"#, 13, false),
        // Whitespace between messages does not count.
        ("      " + #"{"a":"12345"}"#, 13, true),
    ])
    func sizeLimit(text: String, limit: Int, accepted: Bool) throws {
        if accepted {
            #expect(try split(text, maxMessageBytes: limit).messages.count == 1)
        } else {
            #expect(throws: QMPFrameSplitter.FrameError.tooLarge(limit: limit)) {
                try split(text, maxMessageBytes: limit)
            }
        }
    }

    @Test(arguments: [
        (#"{"a":{"b":[1]}}"#, 3, true),
        (#"{"a":{"b":[[1]]}}"#, 3, false),
        (#"{"a":"{{{{[[[["}"#, 1, true),
        // Too deep is seen before the message ends.
        (String(repeating: "{\"a\":", count: 100_000), 1024, false),
    ])
    func depthLimit(text: String, limit: Int, accepted: Bool) throws {
        if accepted {
            #expect(try split(text, maxDepth: limit).messages.count == 1)
        } else {
            #expect(throws: QMPFrameSplitter.FrameError.tooDeep(limit: limit)) { try split(text, maxDepth: limit) }
        }
    }

    @Test func defaults() {
        let splitter = QMPFrameSplitter()
        #expect(splitter.maxMessageBytes == 16 << 20)
        #expect(splitter.maxDepth == 1024)
    }
}
