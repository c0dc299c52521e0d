import QBalloonJSON

/// Arbitrary bytes as JSON text. Whatever decodes must decode the same under tighter limits (or be refused
/// for exceeding them), and its encoding, plain and with sorted keys, must decode back to the same value.
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

    /// How deep arrays and objects nest: 0 for a scalar, 1 for `[]`.
    static func depth(of value: JSON) -> Int {
        switch value {
        case .array(let elements): return 1 + (elements.map(depth(of:)).max() ?? 0)
        case .object(let members): return 1 + (members.values.map(depth(of:)).max() ?? 0)
        default: return 0
        }
    }
}
