import Foundation
import QBalloon
import QBalloonCore
import QBalloonJSON
import Testing

/// A poll reads the guest's statistics in place in jansson's tree (`GuestStats(qomNode:)`, issue 14): the same
/// figures as reading the JSON tree (`GuestStats(qomValue:)`), and for a reply of another shape the same error.
@Suite struct GuestStatsInPlaceTests {
    static let address = "unix:/run/qemu/web.qmp"

    /// Both readings of one `return` value: the statistics, or the error's text.
    static func bothWays(_ text: String) throws -> (tree: Result<GuestStats, BalloonError>, inPlace: Result<GuestStats, BalloonError>) {
        let tree = Result { () throws(BalloonError) in try GuestStats(qomValue: try! JSON.decode(text), address: address) }
        let inPlace = try Array(text.utf8).withUnsafeBytes { bytes in
            try JSON.withDecoded(bytes) { node in Result { () throws(BalloonError) in try GuestStats(qomNode: node, address: address) } }
        }
        return (tree, inPlace)
    }

    static let manyStats = (0..<65).map { #""stat-x\#($0)": \#($0)"# }.joined(separator: ", ")

    @Test(arguments: [
        // QEMU 7.2's ten, some unreported (all-ones: above Int64.max, a wide integer for the decoder).
        #"{"stats": {"stat-swap-in": 10, "stat-swap-out": 20, "stat-major-faults": 30, "stat-minor-faults": 40, "stat-free-memory": 524288000, "stat-total-memory": 2147483648, "stat-available-memory": 1610612736, "stat-disk-caches": 734003200, "stat-htlb-pgalloc": 18446744073709551615, "stat-htlb-pgfail": 0}, "last-update": 1700000000}"#,
        #"{"stats": {"stat-free-memory": 18446744073709551614, "stat-new-in-qemu-9": 5, "stat-swap-in": 0}, "last-update": 0}"#,
        #"{"stats": {}, "last-update": 18446744073709551615}"#,
        // A name twice: jansson keeps the last, both ways.
        #"{"stats": {"stat-free-memory": 1, "stat-free-memory": 2}, "last-update": 5}"#,
        // Not QEMU's shape: each fails, with the same words.
        #"{"last-update": 5}"#,
        #"{"stats": [1, 2], "last-update": 5}"#,
        #"{"stats": {"stat-free-memory": 1}}"#,
        #"{"stats": {"stat-free-memory": 1}, "last-update": "yesterday"}"#,
        #"{"stats": {"stat-free-memory": 1}, "last-update": 1.5}"#,
        #"{"stats": {"stat-free-memory": -1}, "last-update": 5}"#,
        #"{"stats": {"stat-free-memory": "1"}, "last-update": 5}"#,
        #"{"stats": {"stat-free-memory": 1, "stat-total-memory": null}, "last-update": 5}"#,
        #"{"stats": {"stat-free-memory": 1.0}, "last-update": 5}"#,
        #"{"stats": {\#(manyStats)}, "last-update": 5}"#,
        #"[1]"#,
        #"null"#,
    ])
    func theSameEitherWay(text: String) throws {
        let (tree, inPlace) = try Self.bothWays(text)
        switch (tree, inPlace) {
        case (.success(let expected), .success(let read)):
            #expect(read == expected)
            #expect(read.all == expected.all)
            #expect(read.lastUpdate == expected.lastUpdate)
        case (.failure(let expected), .failure(let error)):
            #expect(error == expected)
            #expect(error.description == expected.description)
        default:
            Issue.record("tree: \(tree), in place: \(inPlace)")
        }
    }

    @Test func readsTheFigures() throws {
        let (_, inPlace) = try Self.bothWays(
            #"{"stats": {"stat-available-memory": 1610612736, "stat-total-memory": 2147483648, "stat-swap-in": 18446744073709551615, "stat-new": 3}, "last-update": 1700000000}"#
        )
        let stats = try inPlace.get()
        #expect(stats.available == 1_610_612_736)
        #expect(stats.total == 2_147_483_648)
        #expect(stats.swapIn == nil, "all-ones: unreported")
        #expect(stats.all["stat-swap-in"] == GuestStats.unreported)
        #expect(stats.others == ["stat-new": 3])
        #expect(stats.lastUpdate == 1_700_000_000)
    }

    /// Every `guest-stats` reply a real QEMU 7.2 sent while its transcripts were recorded.
    @Test func everyRecordedReply() throws {
        let directory = "/" + "\(#filePath)".split(separator: "/").dropLast(3).joined(separator: "/") + "/Fixtures/transcripts"
        var replies = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".jsonl") {
            let lines = try String(contentsOfFile: directory + "/" + file, encoding: .utf8).split(separator: "\n")
            for line in lines where line.contains("\"stat-") {
                guard let value = try JSON.decode(String(line))["recv"]?["return"], value["stats"] != nil else { continue }
                let (tree, inPlace) = try Self.bothWays(value.encodedString())
                #expect(try inPlace.get() == tree.get(), "\(file)")
                replies += 1
            }
        }
        #expect(replies > 0)
    }
}
