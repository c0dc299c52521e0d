import NIOCore
import NIOEmbedded
import NIOTestUtils
import QBalloonJSON
import QBalloonQMP
import Testing

@Suite struct QMPFrameDecoderTests {
    /// Decodes everything in `text` with one decoder, as the channel would.
    static func frames(_ text: String, decoder: QMPFrameDecoder = QMPFrameDecoder()) throws -> [QMPFrame] {
        var decoder = decoder
        var buffer = ByteBuffer(string: text)
        var frames: [QMPFrame] = []
        while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
        return frames
    }

    static func json(_ text: String) -> QMPFrame {
        .json(try! JSON.decode(text))
    }

    static let greeting = #"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "#
        + #""capabilities": ["oob"]}}"#
    static let reply = #"{"return": {"actual": 1073741824}, "id": 1}"#
    static let event = #"{"event": "BALLOON_CHANGE", "data": {"actual": 1}}"#
    static let stats = #"{"return": {"stats": {"stat-free-memory": 18446744073709551615}, "last-update": 0}, "id": 3}"#

    /// What arrives on the wire, and the frames it holds.
    static let pairs: [(String, [QMPFrame])] = [
        (greeting + "\r\n", [json(greeting)]),
        (#"{"return": {}, "id": -1}"# + "\r\n", [json(#"{"return": {}, "id": -1}"#)]),
        // No separator between two messages.
        (reply + event, [json(reply), json(event)]),
        // pretty=on, with braces and quotes inside a string.
        ("\n  {\n    \"return\": {\n        \"s\": \"a}b\\\"{\"\n    }\n}\n", [json(#"{"return": {"s": "a}b\"{"}}"#)]),
        // An escaped backslash at the end of a string.
        (#"{"return": "x\\\\", "id": 2}"# + "\r\n", [json(#"{"return": "x\\\\", "id": 2}"#)]),
        (stats + "\r\n", [json(stats)]),
    ]

    @Test func verifierFeedsByteByByteAndInChunks() throws {
        let inputOutputPairs = Self.pairs.map { (ByteBuffer(string: $0.0), $0.1) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: inputOutputPairs) {
            QMPFrameDecoder()
        }
    }

    @Test func severalMessagesInOneBuffer() throws {
        let text = #"{"a": 1}"# + "\r\n" + #"{"b": "}{"}"# + #"{"c": [1, 2]}"# + "\n\n" + "{\n\"d\"\n:\nnull\n}"
        let expected: [QMPFrame] = [
            .json(.object(["a": .int(1)])), .json(.object(["b": .string("}{")])),
            .json(.object(["c": .array([.int(1), .int(2)])])), .json(.object(["d": .null])),
        ]
        #expect(try Self.frames(text) == expected)
    }

    @Test func invalidMessageIsReportedAndTheNextStillDecodes() throws {
        let text = #"{"a": 1,}"# + "\r\n" + #"{"return": {}, "id": 4}"# + "\r\n" + #"{nope}{"id": 5}{"x": 1]{"id": 6}"#
        let frames = try Self.frames(text)
        try #require(frames.count == 6)
        guard case .invalid(let first) = frames[0], case .invalid(let third) = frames[2] else {
            Issue.record("expected invalid frames, got \(frames)")
            return
        }
        #expect(first.code == .syntax)
        #expect(first.message.contains("line 1"))
        #expect(third.code == .syntax)
        #expect(frames[1] == .json(.object(["return": .object([:]), "id": .int(4)])))
        #expect(frames[3] == .json(.object(["id": .int(5)])))
        // A mismatched bracket ends the message early: that message is invalid, the next one is fine.
        if case .invalid(let error) = frames[4] { #expect(error.code == .syntax) } else { Issue.record("\(frames[4])") }
        #expect(frames[5] == .json(.object(["id": .int(6)])))
    }

    @Test func messageOverTheJSONLimitsIsInvalidNotFatal() throws {
        // The splitter's bracket count agrees, but a wide integer over UInt64.max is no JSON we accept.
        let frames = try Self.frames(#"{"n": 18446744073709551616}{"n": 18446744073709551615}"#)
        try #require(frames.count == 2)
        if case .invalid(let error) = frames[0] { #expect(error.code == .syntax) } else { Issue.record("\(frames[0])") }
        #expect(frames[1] == .json(.object(["n": .uint(.max)])))
    }

    @Test func partialMessageWaits() throws {
        var decoder = QMPFrameDecoder()
        var buffer = ByteBuffer(string: #"{"return": {"actual": 10"#)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString("24}, \"id\": 1}\r\n")
        let expected = QMPFrame.json(.object(["return": .object(["actual": .int(1024)]), "id": .int(1)]))
        #expect(try decoder.decode(buffer: &buffer) == expected)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == nil)
    }

    @Test(arguments: [
        ("[1]", QMPFrameSplitter.FrameError.notAnObject(byte: UInt8(ascii: "["))),
        ("  \"greeting\"", .notAnObject(byte: UInt8(ascii: "\""))),
        ("}", .notAnObject(byte: UInt8(ascii: "}"))),
        (#"{"a": "12345678901234567890"}"#, .tooLarge(limit: 16)),
        (#"{"a": {"b": {"c": {}}}}"#, .tooDeep(limit: 3)),
    ])
    func streamErrorsAreThrown(text: String, error: QMPFrameSplitter.FrameError) {
        let decoder = QMPFrameDecoder(maxMessageBytes: 16, maxDepth: 3)
        #expect(throws: error) { try Self.frames(text, decoder: decoder) }
    }

    @Test func streamErrorsReachTheChannel() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(QMPFrameDecoder()))
        #expect(throws: QMPFrameSplitter.FrameError.notAnObject(byte: UInt8(ascii: "["))) {
            try channel.writeInbound(ByteBuffer(string: "[1, 2]"))
        }
        _ = try? channel.finish()
    }

    @Test func channelDeliversFramesInOrder() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(QMPFrameDecoder()))
        try channel.writeInbound(ByteBuffer(string: #"{"event": "A"}"# + "\r\n" + #"{"ev"#))
        try channel.writeInbound(ByteBuffer(string: #"ent": "B"}"# + "\r\n"))
        #expect(try channel.readInbound(as: QMPFrame.self) == .json(.object(["event": .string("A")])))
        #expect(try channel.readInbound(as: QMPFrame.self) == .json(.object(["event": .string("B")])))
        #expect(try channel.readInbound(as: QMPFrame.self) == nil)
        #expect(try channel.finish().isClean)
    }
}
