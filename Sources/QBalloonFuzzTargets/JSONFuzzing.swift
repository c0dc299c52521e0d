import QBalloon
import QBalloonCore
import QBalloonJSON

/// Arbitrary bytes as JSON text. Whatever decodes must decode the same under tighter limits (or be refused
/// for exceeding them), and its encoding, plain and with sorted keys, must decode back to the same value. Read as
/// a `guest-stats` value (or a reply's `return`), it gives the same statistics or error in place in jansson's tree
/// as from the JSON tree.
enum JSONFuzzing {
    static let tight = JSONLimits(maxBytes: 1024, maxDepth: 8)

    static func run(_ input: UnsafeRawBufferPointer) {
        let value = try? JSON.decode(input)
        let limited: JSON?
        do {
            limited = try JSON.decode(input, limits: tight)
        } catch let error as JSONError {
            limited = nil
            check(!error.message.isEmpty, "an error without a message")
        } catch {
            fatalError("JSON.decode threw \(type(of: error)), not JSONError")
        }
        if let limited { check(limited == value, "tight limits changed the value") }
        guard let value else { return }
        checkGuestStats(input, value: value)
        if input.count <= tight.maxBytes, depth(of: value) <= tight.maxDepth {
            check(limited != nil, "refused under limits it keeps")
        }
        for sortedKeys in [false, true] {
            let text = value.encoded(sortedKeys: sortedKeys)
            let again: JSON
            do {
                again = try JSON.decode(text)
            } catch {
                fatalError("the encoding of a decoded value does not decode (\(error)): \(String(decoding: text, as: UTF8.self))")
            }
            check(again == value, "the encoding does not decode to the same value: \(String(decoding: text, as: UTF8.self))")
        }
    }

    /// `GuestStats(qomNode:)`, what a poll reads, against `GuestStats(qomValue:)` on the same text.
    static func checkGuestStats(_ input: UnsafeRawBufferPointer, value: JSON) {
        let tree = Result { () throws(BalloonError) in try GuestStats(qomValue: value["return"] ?? value, address: "fuzz") }
        let inPlace = try? JSON.withDecoded(input) { node in
            Result { () throws(BalloonError) in try GuestStats(qomNode: node["return"] ?? node, address: "fuzz") }
        }
        switch (tree, inPlace) {
        case (.success(let expected), .success(let read)?):
            check(read == expected && read.all == expected.all, "guest stats read in place differ from the tree's")
        case (.failure(let expected), .failure(let error)?):
            check(error.description == expected.description, "guest stats read in place fail otherwise: \(error) / \(expected)")
        default:
            fatalError("guest stats: the tree gave \(tree), in place \(String(describing: inPlace))")
        }
    }

    /// How deep arrays and objects nest: 0 for a scalar, 1 for `[]`.
    static func depth(of value: JSON) -> Int {
        switch value {
        case .array(let elements): return 1 + (elements.map(depth(of:)).max() ?? 0)
        case .object(let members): return 1 + (members.values.map(depth(of:)).max() ?? 0)
        default: return 0
        }
    }
}
