/// A key as `top` understands it.
enum TerminalKey: Sendable, Hashable {
    /// A printable character (letters, digits, punctuation, any UTF-8 character).
    case character(Character)
    case up
    case down
    case enter
    case escape
    case backspace
    /// Ctrl-C (raw mode delivers it as a byte, not as SIGINT).
    case interrupt
}

/// Turns the bytes a terminal sends into keys, however `read` cuts them: arrow keys come as escape sequences
/// (`ESC [ A`, or `ESC O A` in application mode), characters as UTF-8. An `ESC` with nothing after it in the same
/// read is the Escape key (terminals send a sequence in one write).
struct TerminalKeyDecoder: Sendable {
    private var pending: [UInt8] = []

    init() {}

    /// Takes one read's bytes; returns the keys they complete.
    mutating func decode(_ bytes: [UInt8]) -> [TerminalKey] {
        pending += bytes
        var keys: [TerminalKey] = []
        var index = 0
        while index < pending.count {
            let byte = pending[index]
            switch byte {
            case 0x1B:
                guard index + 1 < pending.count else {
                    // Alone at the end of this read: the Escape key.
                    keys.append(.escape)
                    index += 1
                    continue
                }
                let next = pending[index + 1]
                guard next == UInt8(ascii: "[") || next == UInt8(ascii: "O") else {
                    keys.append(.escape)
                    index += 1
                    continue
                }
                // A sequence: parameters, then a final byte in @...~.
                var end = index + 2
                while end < pending.count, !(0x40...0x7E).contains(pending[end]) { end += 1 }
                guard end < pending.count else {
                    // Cut off by the read: wait for the rest.
                    pending.removeFirst(index)
                    return keys
                }
                switch pending[end] {
                case UInt8(ascii: "A"): keys.append(.up)
                case UInt8(ascii: "B"): keys.append(.down)
                default: break  // other keys (right, left, F1...) do nothing here
                }
                index = end + 1
            case 0x0D, 0x0A:
                keys.append(.enter)
                index += 1
            case 0x7F, 0x08:
                keys.append(.backspace)
                index += 1
            case 0x03:
                keys.append(.interrupt)
                index += 1
            case 0x00..<0x20:
                index += 1
            default:
                let length = byte < 0xC0 ? 1 : byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : 4
                guard index + length <= pending.count else {
                    pending.removeFirst(index)
                    return keys
                }
                let text = String(decoding: pending[index..<(index + length)], as: UTF8.self)
                if let character = text.first, text != "\u{FFFD}" { keys.append(.character(character)) }
                index += length
            }
        }
        pending.removeAll()
        return keys
    }
}
