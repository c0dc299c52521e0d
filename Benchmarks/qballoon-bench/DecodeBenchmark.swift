import Foundation
import QBalloonJSON

/// Decoding the same reply bytes with ``JSON/decode(_:limits:)`` (jansson) and with Foundation's
/// `JSONSerialization`, alternating in rounds.
struct DecodeBenchmark {
    struct Payload {
        var name: String
        var bytes: [UInt8]
    }

    struct Result {
        var payload: String
        var bytes: Int
        var iterations: Int
        var blocks: Int
        /// Median over blocks of the mean time per decode, in nanoseconds.
        var oursNanoseconds: Double
        var foundationNanoseconds: Double
        /// The fastest block's mean time per decode: the least disturbed by other load.
        var oursBestNanoseconds: Double
        var foundationBestNanoseconds: Double
        var speedup: Double { foundationNanoseconds / oursNanoseconds }
        var bestSpeedup: Double { foundationBestNanoseconds / oursBestNanoseconds }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `iterations` decodes each, in blocks of about 30 ms that alternate between the two decoders, so load
    /// from other processes (this machine is shared) falls on both alike; figures are medians over blocks.
    static func run(_ payload: Payload, iterations: Int, blocks: Int) throws -> Result {
        let bytes = payload.bytes
        let data = Data(bytes)
        let perBlock = max(1, iterations / blocks)
        // Warm both up (allocator, caches, lazy initialisation in Foundation).
        for _ in 0..<max(1, perBlock / 4) {
            blackHole(try JSON.decode(bytes))
            blackHole(try JSONSerialization.jsonObject(with: data))
        }
        var ours: [Double] = []
        var theirs: [Double] = []
        for block in 0..<blocks {
            for turn in 0..<2 {
                if (block + turn) % 2 == 0 {
                    let begin = monotonicNanoseconds()
                    for _ in 0..<perBlock {
                        let value = try JSON.decode(bytes)
                        blackHole(value)
                    }
                    ours.append(Double(monotonicNanoseconds() - begin) / Double(perBlock))
                } else {
                    let begin = monotonicNanoseconds()
                    for _ in 0..<perBlock {
                        let value = try JSONSerialization.jsonObject(with: data)
                        blackHole(value)
                    }
                    theirs.append(Double(monotonicNanoseconds() - begin) / Double(perBlock))
                }
            }
        }
        return Result(
            payload: payload.name, bytes: bytes.count, iterations: blocks * perBlock, blocks: blocks,
            oursNanoseconds: ours.median, foundationNanoseconds: theirs.median,
            oursBestNanoseconds: ours.min() ?? .nan, foundationBestNanoseconds: theirs.min() ?? .nan)
    }

    // MARK: Payloads

    static let allOnes = "18446744073709551615"

    /// What a Linux guest with the balloon driver reports (512 MiB VM): hugetlb counters stay unreported.
    static let realisticStats: [(String, String)] = [
        ("stat-swap-in", "0"),
        ("stat-swap-out", "0"),
        ("stat-major-faults", "1187"),
        ("stat-minor-faults", "3954211"),
        ("stat-free-memory", "201547776"),
        ("stat-total-memory", "505589760"),
        ("stat-available-memory", "389541888"),
        ("stat-disk-caches", "171270144"),
    ]

    /// Turns QEMU's unreported guest-stats reply into one with a real guest's figures, keeping QEMU's exact
    /// formatting and key order.
    static func realisticVariant(of reply: [UInt8]) throws -> [UInt8] {
        var text = String(decoding: reply, as: UTF8.self)
        for (key, value) in realisticStats {
            let unreported = "\"\(key)\": \(allOnes)"
            guard text.contains(unreported) else {
                throw Failure(description: "guest-stats reply has no \(unreported): \(text)")
            }
            text = text.replacingOccurrences(of: unreported, with: "\"\(key)\": \(value)")
        }
        text = text.replacingOccurrences(of: "\"last-update\": 0", with: "\"last-update\": 1732675512")
        return Array(text.utf8)
    }

    // MARK: Checks

    /// Both decoders must read the payload; ours must keep the all-ones value exactly.
    static func checkOurs(_ bytes: [UInt8], expecting expected: [(String, UInt64)]) throws {
        let stats = try JSON.decode(bytes)["return"]?["stats"]
        for (key, value) in expected {
            guard stats?[key]?.uint64Value == value else {
                throw Failure(description: "JSON.decode read \(key) as \(String(describing: stats?[key])), expected \(value)")
            }
        }
    }

    /// What Foundation makes of `18446744073709551615`.
    static func foundationAllOnes(_ bytes: [UInt8], key: String) throws -> (type: String, text: String, exact: Bool) {
        let object = try JSONSerialization.jsonObject(with: Data(bytes))
        guard let reply = object as? [String: Any], let returned = reply["return"] as? [String: Any],
            let stats = returned["stats"] as? [String: Any], let value = stats[key]
        else {
            throw Failure(description: "JSONSerialization did not return the stats object")
        }
        let number = value as? NSNumber
        let exact = (value as? UInt64) == UInt64.max || number?.stringValue == allOnes
        let shown = number.map { "\($0.stringValue) (uint64Value \($0.uint64Value), doubleValue \($0.doubleValue))" } ?? "\(value)"
        return (String(describing: type(of: value)), shown, exact)
    }
}
