import QBalloonJSON
import Testing

@Suite struct JSONLimitsTests {
    @Test func defaults() {
        #expect(JSONLimits.default.maxBytes == 16 << 20)
        #expect(JSONLimits.default.maxDepth == 1024)
    }

    @Test(arguments: [
        (#"{"a":1}"#, 7, true),
        (#"{"a":12}"#, 7, false),
        ("  1  ", 4, false),
        ("[18446744073709551615]", 22, true),
        ("[18446744073709551615]", 21, false),
    ])
    func sizeCap(text: String, maxBytes: Int, accepted: Bool) throws {
        let limits = JSONLimits(maxBytes: maxBytes)
        if accepted {
            _ = try JSON.decode(text, limits: limits)
        } else {
            let error = try #require(throws: JSONError.self) { try JSON.decode(text, limits: limits) }
            #expect(error.code == .tooLarge)
            #expect(error.message.contains("\(text.utf8.count) bytes"))
            #expect(error.message.contains("limit of \(maxBytes) bytes"))
        }
    }

    static func nested(_ depth: Int, open: String = "[", close: String = "]", inner: String = "1") -> String {
        String(repeating: open, count: depth) + inner + String(repeating: close, count: depth)
    }

    @Test(arguments: [
        (nested(3), 3, true),
        (nested(4), 3, false),
        (nested(3, open: #"{"a":"#, close: "}"), 3, true),
        (nested(4, open: #"{"a":"#, close: "}"), 3, false),
        (#"[{"a":[1]}]"#, 3, true),
        (#"[{"a":[[1]]}]"#, 3, false),
        // Brackets inside strings do not nest.
        (#"["[[[[[[", "{{{{{", "\"[[[["]"#, 1, true),
        (#"{"a]]]]}}}}": 1}"#, 1, true),
        (nested(1024), 1024, true),
        (nested(1025), 1024, false),
    ])
    func depthCap(text: String, maxDepth: Int, accepted: Bool) throws {
        let limits = JSONLimits(maxDepth: maxDepth)
        if accepted {
            _ = try JSON.decode(text, limits: limits)
        } else {
            let error = try #require(throws: JSONError.self) { try JSON.decode(text, limits: limits) }
            #expect(error.code == .tooDeep)
            #expect(error.message.contains("\(maxDepth) levels"))
        }
    }

    @Test(arguments: [String(repeating: "[", count: 100_000), String(repeating: #"{"a":"#, count: 100_000)])
    func hundredThousandLevelsIsTooDeepNotACrash(text: String) throws {
        let error = try #require(throws: JSONError.self) { try JSON.decode(text) }
        #expect(error.code == .tooDeep)
    }

    @Test func errorCodesDescribeThemselves() {
        #expect(JSONError.Code.tooLarge.description == "tooLarge")
        #expect(JSONError.Code.tooDeep.description == "tooDeep")
        #expect(JSONError.Code.syntax.description == "syntax")
        #expect(JSONError.Code.unencodable.description == "unencodable")
    }
}

@Suite struct JSONAccessorTests {
    @Test func subscriptReadsObjectMembersOnly() {
        let value: JSON = ["a": ["b": 1]]
        #expect(value["a"]?["b"] == 1)
        #expect(value["missing"] == nil)
        #expect(JSON.array([1])["a"] == nil)
        #expect(JSON.string("a")["a"] == nil)
    }

    static let numbers: [(JSON, UInt64?, Int64?, Double?)] = [
        (.int(5), 5, 5, 5),
        (.int(-5), nil, -5, -5),
        (.int(.min), nil, .min, Double(Int64.min)),
        (.uint(.max), .max, nil, Double(UInt64.max)),
        (.double(2.5), nil, nil, 2.5),
        (.string("5"), nil, nil, nil),
        (.bool(true), nil, nil, nil),
        (.null, nil, nil, nil),
    ]

    @Test(arguments: numbers)
    func numberAccessors(value: JSON, unsigned: UInt64?, signed: Int64?, double: Double?) {
        #expect(value.uint64Value == unsigned)
        #expect(value.int64Value == signed)
        #expect(value.doubleValue == double)
    }

    static let canonical: [(UInt64, JSON)] = [
        (0, .int(0)),
        (UInt64(Int64.max), .int(.max)),
        (UInt64(Int64.max) + 1, .uint(UInt64(Int64.max) + 1)),
        (.max, .uint(.max)),
    ]

    @Test(arguments: canonical)
    func unsignedIsCanonical(value: UInt64, expected: JSON) {
        #expect(JSON.unsigned(value) == expected)
    }

    @Test func otherAccessors() {
        #expect(JSON.string("s").stringValue == "s")
        #expect(JSON.int(1).stringValue == nil)
        #expect(JSON.bool(false).boolValue == false)
        #expect(JSON.null.boolValue == nil)
        #expect(JSON.array([1]).arrayValue == [1])
        #expect(JSON.object(["a": 1]).objectValue == ["a": 1])
        #expect(JSON.null.isNull)
        #expect(!JSON.int(0).isNull)
    }

    static let namedTypes: [(JSON, String)] = [
        (.null, "null"), (.bool(true), "a boolean"), (.int(1), "a number"), (.uint(.max), "a number"),
        (.double(1), "a number"), (.string(""), "a string"), (.array([]), "an array"), (.object([:]), "an object"),
    ]

    @Test(arguments: namedTypes)
    func typeNames(value: JSON, name: String) {
        #expect(value.typeName == name)
    }

    @Test func literals() {
        let value: JSON = ["n": nil, "b": true, "i": 1, "d": 1.5, "s": "x", "a": [1, 2]]
        #expect(
            value
                == .object([
                    "n": .null, "b": .bool(true), "i": .int(1), "d": .double(1.5), "s": .string("x"),
                    "a": .array([.int(1), .int(2)]),
                ]))
    }
}
