import QBalloonJSON
import Testing

/// Reading a decoded text in place (`JSON.withDecoded`, `JSONNode`): the same values as the JSON tree, the same
/// errors as `JSON.decode`.
@Suite struct JSONNodeTests {
    static func withNode<R>(_ text: String, _ body: (JSONNode) throws -> R) throws -> R {
        try Array(text.utf8).withUnsafeBytes { try JSON.withDecoded($0, body) }
    }

    @Test(arguments: [
        #"{"return": {"stats": {"stat-available-memory": 18446744073709551615, "stat-free-memory": 5}, "last-update": 5}, "id": 1}"#,
        ##"{"a": [1, -2, 3.5, "x", true, false, null, {"b": []}], "c": {}, "\u00e9": "#1"}"##,
        ##"[9223372036854775807, 9223372036854775808, -9223372036854775808, "#1", 18446744073709551615]"##,
        #""text""#,
        #"12"#,
    ])
    func theTreeItBuildsIsTheDecodedOne(text: String) throws {
        #expect(try Self.withNode(text) { $0.json } == JSON.decode(text))
    }

    @Test func readsMembersAndNumbers() throws {
        let text = #"{"return": {"actual": 1073741824, "wide": 18446744073709551615, "minus": -1, "s": "1"}, "id": 7}"#
        try Self.withNode(text) { node in
            #expect(node.isObject)
            #expect(node.count == 2)
            #expect(node["id"]?.int64Value == 7)
            #expect(node["return"]?["actual"]?.uint64Value == 1 << 30)
            #expect(node["return"]?["wide"]?.uint64Value == .max)
            #expect(node["return"]?["wide"]?.int64Value == nil, "above Int64.max")
            #expect(node["return"]?["minus"]?.int64Value == -1)
            #expect(node["return"]?["minus"]?.uint64Value == nil)
            #expect(node["return"]?["s"]?.uint64Value == nil, "a string is no number")
            #expect(node["missing"] == nil)
            #expect(node["id"]?["x"] == nil, "a member of a number")
            #expect(node["return"]?["actual"]?.isObject == false)
        }
    }

    @Test func membersInTheTextsOrder() throws {
        let names = try Self.withNode(##"{"z": 1, "a": "#5", "m": [1, 2], "z": 3, "w": 18446744073709551615}"##) { node in
            var names: [String] = []
            node.forEachMember { name, _ in names.append(String(decoding: name, as: UTF8.self)) }
            #expect(node["m"]?.count == 2)
            #expect(node["z"]?.int64Value == 3, "the last of a name given twice")
            #expect(node["a"]?.uint64Value == nil, "a string")
            #expect(node["w"]?.uint64Value == .max)
            return names
        }
        #expect(names == ["z", "a", "m", "w"])
    }

    @Test(arguments: [#"{"a": "#, "[[[[1]]]]", "{\"a\": 1} 2", ""])
    func theSameErrorsAsDecode(text: String) throws {
        let limits = JSONLimits(maxBytes: 64, maxDepth: 3)
        let bytes = Array(text.utf8)
        let decodeError = #expect(throws: JSONError.self) { try bytes.withUnsafeBytes { try JSON.decode($0, limits: limits) } }
        let nodeError = #expect(throws: JSONError.self) {
            try bytes.withUnsafeBytes { try JSON.withDecoded($0, limits: limits) { _ in Issue.record("read \(text)") } }
        }
        #expect(nodeError == decodeError)
    }

    @Test(arguments: [
        JSON.object(["stats": .object(["stat-free-memory": .uint(.max), "n": .int(-1)]), "name": .string("web")]),
        // A string that looks like the marker of a wide integer stays a string.
        JSON.array([.uint(.max), .string("\u{0}#1"), .string("\u{0}\u{0}#2")]),
        JSON.string("\u{0}#3"),
        JSON.double(.nan),
    ])
    func aTreeReadAsANode(value: JSON) {
        var read: JSON?
        value.withNode { read = $0.json }
        #expect(read == (value == .double(.nan) || value.doubleValue?.isNaN == true ? .null : value))
    }
}
