import QBalloonJSON
import Testing

/// Decoding with a table of often-met member names gives the same values as decoding without one.
@Suite struct JSONKeysTests {
    static let keys = JSONKeys(["stat-available-memory", "stat-total-memory", "short", "stat-total-memorx"])

    @Test(arguments: [
        #"{"stat-available-memory": 1, "stat-total-memory": 2, "short": 3}"#,
        #"{"stat-total-memorY": 1, "stat-total-memorx": 2, "stat-total-memor": 3, "stat-available-memoryy": 4}"#,
        #"{"return": {"stats": {"stat-available-memory": 18446744073709551615}, "last-update": 5}, "id": 1}"#,
        #"{"stat-available-memory": {"stat-available-memory": ["stat-total-memory"]}}"#,
        #"{"": 1, "\u00e9t\u00e9-stat-total-mem": 2, "stat-total-m\u00e9mory": 3}"#,
    ])
    func theSameValuesWithOrWithoutTheTable(text: String) throws {
        let plain = try JSON.decode(text)
        let keyed = try Array(text.utf8).withUnsafeBytes { try JSON.decode($0, keys: Self.keys) }
        #expect(keyed == plain)
    }

    @Test func aNameFromTheTableReadsAsItself() throws {
        let text = Array(#"{"stat-available-memory": 7}"#.utf8)
        let value = try text.withUnsafeBytes { try JSON.decode($0, keys: Self.keys) }
        #expect(value["stat-available-memory"]?.uint64Value == 7)
        #expect(value.objectValue?.keys.first == "stat-available-memory")
    }
}
