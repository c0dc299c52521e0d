import QBalloonJSON
import QBalloonQMP
import Testing

@Suite struct QMPMessageTests {
    static let greetingText = """
        {"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, \
        "package": "Debian 1:7.2+dfsg-7+deb12u7"}, "capabilities": ["oob"]}}
        """

    static let messages: [(String, QMPMessage)] = [
        (
            greetingText,
            .greeting(
                QMPGreeting(
                    version: QEMUVersion(major: 7, minor: 2, micro: 22, package: "Debian 1:7.2+dfsg-7+deb12u7"),
                    capabilities: ["oob"]))
        ),
        (
            #"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 9}, "package": ""}, "capabilities": []}}"#,
            .greeting(QMPGreeting(version: QEMUVersion(major: 9, minor: 0, micro: 0), capabilities: []))
        ),
        (#"{"return": {}, "id": 1}"#, .success(id: .int(1), value: .object([:]))),
        (#"{"return": {"actual": 1073741824}}"#, .success(id: nil, value: .object(["actual": .int(1 << 30)]))),
        (#"{"return": [], "id": "abc"}"#, .success(id: .string("abc"), value: .array([]))),
        (
            #"{"error": {"class": "DeviceNotActive", "desc": "No balloon device has been activated"}, "id": 2}"#,
            .failure(
                id: .int(2),
                error: QMPServerError(errorClass: "DeviceNotActive", desc: "No balloon device has been activated"))
        ),
        (
            #"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword 'x'"}}"#,
            .failure(
                id: nil,
                error: QMPServerError(errorClass: "GenericError", desc: "JSON parse error, invalid keyword 'x'"))
        ),
        (
            #"{"timestamp": {"seconds": 1700000000, "microseconds": 250000}, "event": "BALLOON_CHANGE", "#
                + #""data": {"actual": 536870912}}"#,
            .event(
                QMPEvent(
                    name: "BALLOON_CHANGE", data: .object(["actual": .int(536_870_912)]), timestamp: 1_700_000_000.25))
        ),
        (
            #"{"event": "STOP", "timestamp": {"seconds": 12, "microseconds": 500000}}"#,
            .event(QMPEvent(name: "STOP", data: .null, timestamp: 12.5))
        ),
    ]

    @Test(arguments: messages)
    func parses(text: String, expected: QMPMessage) throws {
        #expect(try QMPMessage(JSON.decode(text)) == expected)
    }

    static let badShapes: [(JSON, String)] = [
        (.array([]), "expected a JSON object, got an array"),
        (.string("QMP"), "expected a JSON object, got a string"),
        (.object([:]), "an object that is no reply, event or greeting: {}"),
        (.object(["execute": .string("x")]), #"an object that is no reply, event or greeting: {"execute":"x"}"#),
        (.object(["error": .string("boom")]), "an error reply without 'class' and 'desc' strings"),
        (.object(["error": .object(["class": .string("GenericError")])]), "an error reply without 'class' and 'desc'"),
        (.object(["error": .object(["class": .int(1), "desc": .string("d")])]), "an error reply without"),
        (.object(["event": .int(5)]), "an event whose name is not a string"),
    ]

    @Test(arguments: badShapes)
    func badShapesThrow(json: JSON, message: String) {
        let error = #expect(throws: QMPMessageError.self) { try QMPMessage(json) }
        #expect(error?.description.hasPrefix(message) == true, "\(error?.description ?? "")")
    }

    @Test func commandEncodingIsOneLineWithTheId() throws {
        let bytes = QMPCommand("balloon", arguments: ["value": .uint(.max)]).encoded(id: 12)
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        let json = try JSON.decode(bytes)
        #expect(
            json
                == .object([
                    "execute": .string("balloon"), "arguments": .object(["value": .uint(.max)]), "id": .int(12),
                ]))
        let bare = try JSON.decode(QMPCommand("query-balloon").encoded(id: -1))
        #expect(bare == .object(["execute": .string("query-balloon"), "id": .int(-1)]))
    }

    @Test(arguments: [
        (QEMUVersion(major: 7, minor: 2, micro: 22, package: " v7.2.22 "), "7.2.22 (v7.2.22)"),
        (QEMUVersion(major: 8, minor: 1, micro: 0), "8.1.0"),
        (QEMUVersion(major: 8, minor: 1, micro: 0, package: "   "), "8.1.0"),
    ])
    func versionDescription(version: QEMUVersion, expected: String) {
        #expect(version.description == expected)
    }

    @Test func serverErrorDescription() {
        let error = QMPServerError(errorClass: "DeviceNotFound", desc: "no such path")
        #expect(error.description == "DeviceNotFound: no such path")
    }
}
