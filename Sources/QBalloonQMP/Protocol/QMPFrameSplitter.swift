/// Finds where each JSON message ends in a QMP byte stream.
///
/// QMP is a stream of JSON values, not lines: QEMU ends each message with `\r\n`, but a monitor with
/// `pretty=on` spreads one message over many lines, and a reader may get half a message or several at
/// once. The splitter keeps its place between calls, so feeding a message byte by byte costs no more than
/// feeding it whole.
package struct QMPFrameSplitter: Sendable {
    /// The largest message accepted, in bytes.
    package let maxMessageBytes: Int
    /// The deepest nesting accepted.
    package let maxDepth: Int

    // Scan state for the message in progress.
    private var scanned = 0
    private var started = false
    private var depth = 0
    private var inString = false
    private var escaped = false

    package init(maxMessageBytes: Int = 16 << 20, maxDepth: Int = 1024) {
        self.maxMessageBytes = maxMessageBytes
        self.maxDepth = maxDepth
    }

    /// What ``next(in:)`` found.
    package enum Frame: Sendable, Equatable {
        /// Skip this many bytes of whitespace between messages, then call again.
        case skip(Int)
        /// A whole message is the first `count` bytes; consume them, then call again.
        case message(count: Int)
        /// The bytes so far end inside a message: call again with the same bytes and more after them.
        case needMoreData
    }

    /// Why the stream cannot be split.
    package enum FrameError: Error, Sendable, Equatable, CustomStringConvertible {
        case notAnObject(byte: UInt8)
        case tooLarge(limit: Int)
        case tooDeep(limit: Int)

        package var description: String {
            switch self {
            case .notAnObject(let byte):
                let shown = (0x20..<0x7f).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
                return "expected a JSON object, got \(shown)"
            case .tooLarge(let limit): return "message over the limit of \(limit) bytes"
            case .tooDeep(let limit): return "message nested deeper than \(limit) levels"
            }
        }
    }

    /// Looks for the end of the first message in `bytes`, which must start where the last call's message
    /// (or skip) ended, and hold at least the bytes the last `.needMoreData` call saw.
    package mutating func next(in bytes: UnsafeRawBufferPointer) throws(FrameError) -> Frame {
        if !started {
            var leading = 0
            while leading < bytes.count, Self.isWhitespace(bytes[leading]) { leading += 1 }
            if leading > 0 { return .skip(leading) }
            guard let first = bytes.first else { return .needMoreData }
            // QEMU only ever sends objects; a client sends objects too.
            guard first == UInt8(ascii: "{") else { throw .notAnObject(byte: first) }
            started = true
            scanned = 0
        }
        // The scan state lives in locals while the loop runs (stored back when it stops): kept in the struct, every
        // byte wrote it to memory.
        var index = scanned
        var depth = self.depth
        var inString = self.inString
        var escaped = self.escaped
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            index += 1
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth { throw .tooDeep(limit: maxDepth) }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                // The message started with '{', so depth cannot go below 0 before it ends here.
                depth -= 1
                if depth == 0 {
                    if index > maxMessageBytes { throw .tooLarge(limit: maxMessageBytes) }
                    self.reset()
                    return .message(count: index)
                }
            default:
                break
            }
        }
        scanned = index
        self.depth = depth
        self.inString = inString
        self.escaped = escaped
        if scanned > maxMessageBytes { throw .tooLarge(limit: maxMessageBytes) }
        return .needMoreData
    }

    private mutating func reset() {
        scanned = 0
        started = false
        depth = 0
        inString = false
        escaped = false
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0a || byte == 0x0d || byte == 0x09
    }
}
